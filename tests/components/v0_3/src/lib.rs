//! A connector of contract **0.3.0**, as a component built before 0.4.0
//! was: wit-bindgen straight from `wit/since_v0.3.0/`, without the SDK
//! (which now builds 0.4.0 components). The host's tests load it to prove
//! it still runs 0.3.0 components (its 0.3.0 bindings, the conversions to
//! its working types, `seats` answered `none` without a call, and the old
//! way of saying a cursor expired: `conflict { tag: "invalid_cursor" }`).
//!
//! It lists a Dropbox team (`team/members/list_v2`, then
//! `list/continue_v2`) over `wasi:http`, with four fields (`email`,
//! `given_name`, `surname`, `status`), and maps records itself with a
//! small mapping engine: rule sources `field`, `constant`, `first-of` and
//! `template`; transforms `lower-case`, `upper-case`, `trim` and `default`;
//! `one-of` and `is-empty` filters. Anything else in a spec is
//! `invalid-input`. It declares no action. Natively the crate is empty.
#![cfg(target_arch = "wasm32")]
// The generated bindings and the export macro lower and lift through raw
// pointers.
#![allow(unsafe_code)]

mod http;
mod mapping;

wit_bindgen::generate!({
    world: "user-connector",
    path: "../../../wit/since_v0.3.0",
    generate_all,
});

use exports::oomnitza::connector::connector::Guest;
use exports::oomnitza::connector::types::{
    ActionResult, ConnectorError, CredentialKind, FetchRequest, FieldInfo, HostRequirement,
    Manifest, MapOutcome, MappedPage, MappingRule, MappingSpec, Page, RateLimit, RecordKind,
    RuleSource, SourceRecord, UnauthorizedError, UserRef, Value, ValueType, VendorConflict,
};

/// The origin the component calls (the host routes it to the fake).
pub const ORIGIN: &str = "https://api.dropboxapi.com";

/// The catalog, in record order: name, label, unique.
const FIELDS: [(&str, &str, bool); 4] = [
    ("email", "Email", true),
    ("given_name", "First name", false),
    ("surname", "Last name", false),
    ("status", "Status", false),
];

struct Component;

fn rule(target: &str, field: &str) -> MappingRule {
    MappingRule {
        target: target.to_owned(),
        source: RuleSource::Field(field.to_owned()),
        transforms: vec![],
        required: false,
    }
}

fn field_names() -> Vec<&'static str> {
    FIELDS.iter().map(|f| f.0).collect()
}

impl Guest for Component {
    fn describe() -> Manifest {
        Manifest {
            name: "dropbox-v0-3".to_owned(),
            display_name: "Dropbox Users (contract 0.3.0)".to_owned(),
            version: "0.0.3".to_owned(),
            record_kinds: vec![RecordKind::Users],
            fields: FIELDS
                .iter()
                .map(|(name, label, unique)| FieldInfo {
                    name: (*name).to_owned(),
                    label: (*label).to_owned(),
                    description: format!("The member's {label} at Dropbox."),
                    type_: ValueType::Text,
                    unique: *unique,
                })
                .collect(),
            default_mapping: MappingSpec {
                rules: vec![
                    MappingRule {
                        required: true,
                        ..rule("USER", "email")
                    },
                    rule("EMAIL", "email"),
                    rule("FIRST_NAME", "given_name"),
                    rule("LAST_NAME", "surname"),
                ],
                filters: vec![],
                sync_key: vec!["USER".to_owned()],
            },
            hosts: vec![HostRequirement {
                origin: ORIGIN.to_owned(),
                credential: CredentialKind::Oauth2Bearer,
                scopes: vec!["members.read".to_owned()],
                purpose: "List the team's members (team/members/list_v2, list/continue_v2)."
                    .to_owned(),
            }],
            fetch_options: vec![],
            actions: vec![],
            max_page_size: 1000,
        }
    }

    fn fetch(request: FetchRequest) -> Result<Page, ConnectorError> {
        if !(1..=1000).contains(&request.page_size) {
            return Err(ConnectorError::InvalidInput(format!(
                "page-size must be between 1 and 1000, got {}",
                request.page_size
            )));
        }
        if let Some((name, _)) = request.options.first() {
            return Err(ConnectorError::InvalidInput(format!(
                "unknown fetch option `{name}` (this connector accepts none)"
            )));
        }
        let (route, body) = match &request.cursor {
            None => (
                "team/members/list_v2",
                serde_json::json!({"limit": request.page_size, "include_removed": false}),
            ),
            Some(cursor) => (
                "team/members/list/continue_v2",
                serde_json::json!({ "cursor": cursor }),
            ),
        };
        let answer = http::post_json(&format!("{ORIGIN}/2/{route}"), body.to_string().as_bytes())
            .map_err(ConnectorError::Unavailable)?;
        let json: serde_json::Value = serde_json::from_slice(&answer.body)
            .ok()
            .unwrap_or_default();
        if !(200..300).contains(&answer.status) {
            return Err(error(route, answer.status, &json, &answer.body));
        }
        let text = |v: &serde_json::Value| match v.as_str() {
            Some(s) => Value::Text(s.to_owned()),
            None => Value::Null,
        };
        let members = json["members"].as_array().ok_or_else(|| {
            ConnectorError::Other(format!("malformed {route} response: no `members`"))
        })?;
        let records = members
            .iter()
            .map(|m| {
                let p = &m["profile"];
                let status = &p["status"];
                let status = status.get(".tag").unwrap_or(status);
                SourceRecord {
                    id: p["team_member_id"].as_str().unwrap_or_default().to_owned(),
                    values: vec![
                        text(&p["email"]),
                        text(&p["name"]["given_name"]),
                        text(&p["name"]["surname"]),
                        text(status),
                    ],
                }
            })
            .collect();
        Ok(Page {
            records,
            cursor: json["cursor"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
            has_more: json["has_more"].as_bool().unwrap_or(false),
        })
    }

    fn fetch_mapped(
        request: FetchRequest,
        spec: MappingSpec,
    ) -> Result<MappedPage, ConnectorError> {
        let compiled = mapping::Compiled::new(&spec, &field_names())?;
        let page = Self::fetch(request)?;
        Ok(MappedPage {
            outcomes: page.records.into_iter().map(|r| compiled.map(r)).collect(),
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }

    fn map_records(
        spec: MappingSpec,
        records: Vec<SourceRecord>,
    ) -> Result<Vec<MapOutcome>, ConnectorError> {
        let compiled = mapping::Compiled::new(&spec, &field_names())?;
        Ok(records.into_iter().map(|r| compiled.map(r)).collect())
    }

    fn action(
        name: String,
        _targets: Vec<UserRef>,
        _params: Vec<(String, Value)>,
    ) -> Result<Vec<Result<ActionResult, ConnectorError>>, ConnectorError> {
        Err(unknown_action(&name))
    }

    fn check_action(
        name: String,
        _params: Vec<(String, Value)>,
    ) -> Result<Vec<(String, Value)>, ConnectorError> {
        Err(unknown_action(&name))
    }

    fn count_hint(
        _kind: RecordKind,
        _options: Vec<(String, Value)>,
    ) -> Result<Option<u64>, ConnectorError> {
        Ok(None)
    }
}

fn unknown_action(name: &str) -> ConnectorError {
    ConnectorError::InvalidInput(format!(
        "unknown action `{name}` (this connector declares none)"
    ))
}

/// A Dropbox error answer as 0.3.0 says it: an expired cursor is a
/// `conflict` with Dropbox's own tag (`invalid_cursor`), 0.3.0 having no
/// case of its own for it.
fn error(route: &str, status: u16, json: &serde_json::Value, body: &[u8]) -> ConnectorError {
    let tag = json["error"][".tag"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let summary = json["error_summary"]
        .as_str()
        .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
    match status {
        401 => ConnectorError::Unauthorized(UnauthorizedError {
            expired: tag == "expired_access_token",
            tag,
            message: summary,
        }),
        409 => ConnectorError::Conflict(VendorConflict {
            tag,
            summary,
            user_message: None,
        }),
        429 => ConnectorError::RateLimited(RateLimit {
            retry_after_seconds: json["error"]["retry_after"]
                .as_u64()
                .map_or(1, |s| s.min(300) as u32),
            message: summary,
        }),
        500..=599 => ConnectorError::Unavailable(format!("Dropbox returned {status}: {summary}")),
        400 => ConnectorError::InvalidInput(format!("Dropbox returned 400: {summary}")),
        _ => ConnectorError::Other(format!("Dropbox returned {status} for {route}: {summary}")),
    }
}

export!(Component);
