//! What the hostile components have in common (included by each crate with
//! `#[path]`): a plausible manifest, a trivial `map-records` and an `action`
//! that runs any name, and small helpers over the SDK's contract types.

use oomnitza_connector_sdk::types as wit;

/// The origin the hostile components declare (and pretend to be).
pub const DROPBOX_ORIGIN: &str = "https://api.dropboxapi.com";

/// A manifest shaped like a real connector's: two text fields (`email`,
/// unique, and `note`), fetch options `attack` and `target`, one declared
/// action.
pub fn manifest(name: &str, display_name: &str) -> wit::Manifest {
    wit::Manifest {
        name: name.to_owned(),
        display_name: display_name.to_owned(),
        version: "0.0.1".to_owned(),
        record_kinds: vec![wit::RecordKind::Users],
        fields: vec![
            field("email", "Email", "The member's email address.", true),
            field("note", "Note", "What the component observed.", false),
        ],
        default_mapping: wit::MappingSpec {
            rules: vec![
                rule("USER", wit::RuleSource::Field("email".to_owned())),
                rule("EMAIL", wit::RuleSource::Field("email".to_owned())),
                rule(
                    "PERMISSIONS_ID",
                    wit::RuleSource::Constant(wit::Value::Integer(1)),
                ),
            ],
            filters: vec![],
            sync_key: vec!["EMAIL".to_owned()],
        },
        hosts: vec![wit::HostRequirement {
            origin: DROPBOX_ORIGIN.to_owned(),
            credential: wit::CredentialKind::Oauth2Bearer,
            scopes: vec![],
            purpose: "pretends to be Dropbox".to_owned(),
        }],
        fetch_options: vec![
            param(
                "attack",
                "Attack",
                "Which attack `fetch` performs.",
                Some(text("none")),
            ),
            param(
                "target",
                "Target",
                "The URL an attack aims at (each attack has its default).",
                None,
            ),
        ],
        actions: vec![wit::ActionInfo {
            name: "declared-action".to_owned(),
            label: "Declared action".to_owned(),
            description: "The only action the manifest declares.".to_owned(),
            destructive: false,
            params: vec![],
        }],
        max_page_size: 1000,
    }
}

fn field(name: &str, label: &str, description: &str, unique: bool) -> wit::FieldInfo {
    wit::FieldInfo {
        name: name.to_owned(),
        label: label.to_owned(),
        description: description.to_owned(),
        ty: wit::ValueType::Text,
        unique,
    }
}

fn rule(target: &str, source: wit::RuleSource) -> wit::MappingRule {
    wit::MappingRule {
        target: target.to_owned(),
        source,
        transforms: vec![],
        required: false,
    }
}

fn param(
    name: &str,
    label: &str,
    description: &str,
    default: Option<wit::Value>,
) -> wit::ParamInfo {
    wit::ParamInfo {
        name: name.to_owned(),
        label: label.to_owned(),
        description: description.to_owned(),
        ty: wit::ValueType::Text,
        required: false,
        default,
    }
}

/// `map-records` without a mapping engine: every rule's value is
/// `values[0]` (null when the record has no values).
pub fn map_records(
    spec: &wit::MappingSpec,
    records: Vec<wit::SourceRecord>,
) -> Vec<wit::MapOutcome> {
    records
        .into_iter()
        .map(|r| {
            let first = r.values.into_iter().next().unwrap_or(wit::Value::Null);
            wit::MapOutcome::Mapped(wit::MappedRecord {
                source_id: r.id,
                values: vec![first; spec.rules.len()],
            })
        })
        .collect()
}

/// `fetch-mapped` from a fetched page and [`map_records`].
pub fn fetch_mapped(
    page: Result<wit::Page, wit::ConnectorError>,
    spec: &wit::MappingSpec,
) -> Result<wit::MappedPage, wit::ConnectorError> {
    let page = page?;
    Ok(wit::MappedPage {
        outcomes: map_records(spec, page.records),
        cursor: page.cursor,
        has_more: page.has_more,
    })
}

/// `action` for ANY name, declared or not: one `done` per target.
pub fn action(
    name: &str,
    targets: &[wit::UserRef],
) -> Vec<Result<wit::ActionResult, wit::ConnectorError>> {
    targets
        .iter()
        .map(|_| {
            Ok(wit::ActionResult {
                status: wit::ActionStatus::Done,
                detail: format!("ran {name}"),
                vendor_response: "{}".to_owned(),
                values: vec![],
            })
        })
        .collect()
}

pub fn text(s: impl Into<String>) -> wit::Value {
    wit::Value::Text(s.into())
}

/// The text option `name` of a fetch request, if given as text.
pub fn text_option(request: &wit::FetchRequest, name: &str) -> Option<String> {
    request.options.iter().find_map(|(k, v)| match v {
        wit::Value::Text(s) if k == name => Some(s.clone()),
        _ => None,
    })
}

/// One record: `[email, note]`.
pub fn record(
    id: impl Into<String>,
    email: impl Into<String>,
    note: impl Into<String>,
) -> wit::SourceRecord {
    wit::SourceRecord {
        id: id.into(),
        values: vec![text(email), text(note)],
    }
}

/// A last page of these records.
pub fn page(records: Vec<wit::SourceRecord>) -> wit::Page {
    wit::Page {
        records,
        cursor: None,
        has_more: false,
    }
}

/// The first `max` characters of `s`.
pub fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
