//! The field catalog, record building, smart mapping, actions and manifest.
//!
//! Field names are the stable API (mappings and filters refer to them);
//! their order is the position of each value in a [`SourceRecord`]. Names
//! that mean what the Dropbox connector's mean are the same (`email`,
//! `given_name`, `surname`, `display_name`, `external_id`, `status`).

use crate::client::{API_ORIGIN, User};
use oomnitza_connector_sdk::mapping::date;
use oomnitza_connector_sdk::types::{
    ActionInfo, CredentialKind, FieldInfo, HostRequirement, Manifest, MappingRule, MappingSpec,
    RecordKind, RuleSource, SourceRecord, Transform, Value, ValueType,
};

/// (name, label, type, unique, description), in position order.
#[rustfmt::skip]
pub const FIELDS: [(&str, &str, ValueType, bool, &str); 14] = [
    ("scim_id", "Slack ID", ValueType::Text, true, "The user's Slack id (`U…`, or `W…` in an Enterprise Grid org), SCIM `id`. The record id."),
    ("user_name", "Username", ValueType::Text, true, "The user's Slack handle, SCIM `userName`."),
    ("email", "Email", ValueType::Text, true, "The user's primary email address (the `emails` entry marked primary, else the first)."),
    ("emails", "Emails", ValueType::TextList, false, "Every email address of the user, primary first."),
    ("given_name", "First Name", ValueType::Text, false, "SCIM `name.givenName`."),
    ("surname", "Last Name", ValueType::Text, false, "SCIM `name.familyName`."),
    ("display_name", "Display Name", ValueType::Text, false, "SCIM `displayName`: the name Slack shows."),
    ("title", "Title", ValueType::Text, false, "The user's job title, SCIM `title`."),
    ("department", "Department", ValueType::Text, false, "The enterprise extension's `department`."),
    ("manager_id", "Manager ID", ValueType::Text, false, "The Slack id of the user's manager (the enterprise extension's `manager`)."),
    ("external_id", "External ID", ValueType::Text, true, "SCIM `externalId`: the id the identity provider that provisioned the user gave it, if any."),
    ("status", "Status", ValueType::Text, false, "`active` or `deactivated`, from SCIM `active`."),
    ("timezone", "Time Zone", ValueType::Text, false, "The user's time zone (IANA name), SCIM `timezone`."),
    ("created", "Created", ValueType::Timestamp, false, "When the user was created (SCIM `meta.created`, in UTC); null if Slack sends none or no date."),
];

/// The field names, in position order.
pub fn field_names() -> Vec<String> {
    FIELDS.iter().map(|f| f.0.to_owned()).collect()
}

/// Slack's largest `count` for `GET /Users` (larger counts are served as
/// 1000, per Slack's 2019 changelog).
pub const MAX_PAGE_SIZE: u32 = 1000;

pub const DEACTIVATE_USER: &str = "deactivate-user";
pub const REACTIVATE_USER: &str = "reactivate-user";

fn text(value: Option<String>) -> Value {
    value
        .filter(|s| !s.trim().is_empty())
        .map_or(Value::Null, Value::Text)
}

/// RFC 3339 with any offset, as UTC `…Z`; anything else is null.
fn timestamp(value: Option<&str>) -> Value {
    let pattern = date::compile_pattern("%Y-%m-%dT%H:%M:%SZ").unwrap_or_default();
    value
        .and_then(date::parse_rfc3339)
        .map_or(Value::Null, |at| {
            Value::Timestamp(date::format(&at, &pattern))
        })
}

/// The source record of one user; consumes it.
pub fn build_record(user: User) -> SourceRecord {
    let mut emails: Vec<(String, bool)> = user
        .emails
        .into_iter()
        .filter_map(|e| Some((e.value?, e.primary == Some(true))))
        .filter(|(v, _)| !v.trim().is_empty())
        .collect();
    emails.sort_by_key(|(_, primary)| !primary); // stable: primary first
    let emails: Vec<String> = emails.into_iter().map(|(v, _)| v).collect();
    let (given, family) = user
        .name
        .map_or((None, None), |n| (n.given_name, n.family_name));
    let (department, manager) = user.enterprise.map_or((None, None), |e| {
        let manager = e.manager.and_then(|m| m.value.or(m.manager_id));
        (e.department, manager)
    });
    let status = user
        .active
        .map(|a| if a { "active" } else { "deactivated" });
    // Written in catalog order; `records_follow_the_catalog` checks it.
    let values = vec![
        Value::Text(user.id.clone()),
        text(user.user_name),
        text(emails.first().cloned()),
        if emails.is_empty() {
            Value::Null
        } else {
            Value::TextList(emails)
        },
        text(given),
        text(family),
        text(user.display_name),
        text(user.title),
        text(department),
        text(manager),
        text(user.external_id),
        text(status.map(str::to_owned)),
        text(user.timezone),
        timestamp(user.meta.as_ref().and_then(|m| m.created.as_deref())),
    ];
    debug_assert_eq!(values.len(), FIELDS.len());
    SourceRecord {
        id: user.id,
        values,
    }
}

fn rule(target: &str, field: &str, lower: bool, required: bool) -> MappingRule {
    MappingRule {
        target: target.to_owned(),
        source: RuleSource::Field(field.to_owned()),
        transforms: if lower {
            vec![Transform::LowerCase]
        } else {
            vec![]
        },
        required,
    }
}

/// Email as username and email (required, lower-cased, email the sync key),
/// the names and title, and the Slack id and status in the custom fields
/// `slack_user_id` and `slack_status` (deactivated users are listed, and
/// show as such). No role: the operator chooses it.
pub fn default_mapping() -> MappingSpec {
    MappingSpec {
        rules: vec![
            rule("USER", "email", true, true),
            rule("EMAIL", "email", true, true),
            rule("FIRST_NAME", "given_name", false, false),
            rule("LAST_NAME", "surname", false, false),
            rule("POSITION", "title", false, false),
            rule("slack_user_id", "scim_id", false, false),
            rule("slack_status", "status", false, false),
        ],
        filters: vec![],
        sync_key: vec!["EMAIL".to_owned()],
    }
}

fn action(name: &str, label: &str, destructive: bool, description: &str) -> ActionInfo {
    ActionInfo {
        name: name.to_owned(),
        label: label.to_owned(),
        description: description.to_owned(),
        destructive,
        params: vec![],
    }
}

/// The connector's manifest.
pub fn manifest() -> Manifest {
    Manifest {
        name: "slack-scim".to_owned(),
        display_name: "Slack Users (SCIM)".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        record_kinds: vec![RecordKind::Users],
        fields: FIELDS
            .iter()
            .map(|&(name, label, ty, unique, description)| FieldInfo {
                name: name.to_owned(),
                label: label.to_owned(),
                description: description.to_owned(),
                ty,
                unique,
            })
            .collect(),
        default_mapping: default_mapping(),
        hosts: vec![HostRequirement {
            origin: API_ORIGIN.to_owned(),
            credential: CredentialKind::Oauth2Bearer,
            scopes: vec!["admin".to_owned()],
            purpose: "List the org's users (GET /scim/v2/Users, paged; its totalResults for progress displays), find a user by email or external id (filter) or id, and deactivate or reactivate them (PATCH /scim/v2/Users/<id>). Slack's SCIM API takes a token with the admin scope, from an org or workspace owner or admin.".to_owned(),
        }],
        fetch_options: vec![],
        actions: vec![
            action(DEACTIVATE_USER, "Deactivate user", true, "Deactivates the Slack user (SCIM PATCH active=false): Slack signs them out everywhere and they can no longer sign in; their account and messages are kept. Undo with reactivate-user. A user already deactivated is reported unchanged."),
            action(REACTIVATE_USER, "Reactivate user", false, "Reactivates a deactivated Slack user (SCIM PATCH active=true). A user already active is reported unchanged."),
        ],
        max_page_size: MAX_PAGE_SIZE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oomnitza_connector_sdk::mapping::CompiledSpec;

    fn user(json: &str) -> User {
        serde_json::from_str(json).expect("test user parses")
    }

    fn t(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn records_follow_the_catalog() {
        let r = build_record(user(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"W0A1","externalId":"okta-7","userName":"ada",
            "name":{"givenName":"Ada","familyName":"Lovelace"},"displayName":"Ada L","title":"Engineer","timezone":"Europe/London",
            "emails":[{"value":"ada.old@x.com","primary":false},{"value":"Ada@X.com","primary":true}],"active":false,
            "meta":{"created":"2016-06-13T16:52:53-07:00","location":"…"},"photos":[],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D","manager":{"value":"W0B2"}}}"#,
        ));
        assert_eq!(r.id, "W0A1");
        let expected = [
            t("W0A1"),
            t("ada"),
            t("Ada@X.com"),
            Value::TextList(vec!["Ada@X.com".into(), "ada.old@x.com".into()]),
            t("Ada"),
            t("Lovelace"),
            t("Ada L"),
            t("Engineer"),
            t("R&D"),
            t("W0B2"),
            t("okta-7"),
            t("deactivated"),
            t("Europe/London"),
            Value::Timestamp("2016-06-13T23:52:53Z".into()),
        ];
        let named: Vec<_> = FIELDS.iter().map(|f| f.0).zip(r.values).collect();
        let wanted: Vec<_> = FIELDS.iter().map(|f| f.0).zip(expected).collect();
        assert_eq!(named, wanted);
    }

    #[test]
    fn sparse_users_are_nulls() {
        let r = build_record(user(
            r#"{"id":"U1","emails":[{"value":""}],"title":" ","meta":{"created":"yesterday"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"managerId":"U2"}}}"#,
        ));
        let nulls = r.values.iter().filter(|v| **v == Value::Null).count();
        assert_eq!(nulls, FIELDS.len() - 2, "{:?}", r.values);
        assert_eq!(r.values[9], t("U2"), "Slack 1.1's managerId");
    }

    #[test]
    fn manifest_is_complete_and_its_mapping_valid() {
        let m = manifest();
        let mut names: Vec<_> = m.fields.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELDS.len(), "unique names");
        assert!(
            m.fields
                .iter()
                .all(|f| !f.label.is_empty() && !f.description.is_empty())
        );
        let unique: Vec<_> = m
            .fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(unique, ["scim_id", "user_name", "email", "external_id"]);
        assert_eq!(
            (m.hosts[0].origin.as_str(), &m.hosts[0].scopes[..]),
            ("https://api.slack.com", &["admin".to_owned()][..])
        );
        let actions: Vec<_> = m
            .actions
            .iter()
            .map(|a| (a.name.as_str(), a.destructive))
            .collect();
        assert_eq!(
            actions,
            [("deactivate-user", true), ("reactivate-user", false)]
        );
        assert!(
            m.default_mapping
                .rules
                .iter()
                .all(|r| r.target != "PERMISSIONS_ID"),
            "no role"
        );
        let names: Vec<&str> = FIELDS.iter().map(|f| f.0).collect();
        assert!(CompiledSpec::compile(&m.default_mapping, &names).is_ok());
    }
}
