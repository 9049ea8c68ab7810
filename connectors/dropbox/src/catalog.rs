//! The Dropbox field catalog, record building and default mapping; what the
//! manifest says about fetching ([`crate::manifest`] assembles it).
//!
//! Field names are the stable API (mappings and filters refer to them);
//! their order is the position of each value in a [`SourceRecord`].

use crate::roles::{self, MEMBER_ROLE};
use crate::wire::TeamMemberInfoV2;
use oomnitza_connector_sdk::types::{
    FieldInfo, MappingRule, MappingSpec, RuleSource, SourceRecord, Transform, Value, ValueType,
};

/// The catalog's fields; `Field::X as usize` is the field's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    ConnectorSyncTime,
    TeamMemberId,
    AccountId,
    ExternalId,
    Email,
    EmailVerified,
    SecondaryEmails,
    Status,
    RemovedIsRecoverable,
    MembershipType,
    GivenName,
    Surname,
    DisplayName,
    FamiliarName,
    AbbreviatedName,
    JoinedOn,
    InvitedOn,
    SuspendedOn,
    PersistentId,
    IsDirectoryRestricted,
    ProfilePhotoUrl,
    Groups,
    MemberFolderId,
    RootFolderId,
    RoleIds,
    RoleNames,
    Role,
}

/// How many fields the catalog has.
pub const FIELD_COUNT: usize = 27;

/// One catalog entry, as static data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub field: Field,
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
    pub ty: ValueType,
    /// No two members share a non-empty value (a candidate sync key).
    pub unique: bool,
}

const fn def(
    field: Field,
    name: &'static str,
    label: &'static str,
    ty: ValueType,
    description: &'static str,
) -> FieldDef {
    FieldDef {
        field,
        name,
        label,
        description,
        ty,
        unique: false,
    }
}

/// A field no two members share a non-empty value of.
const fn unique(def: FieldDef) -> FieldDef {
    FieldDef {
        unique: true,
        ..def
    }
}

/// The catalog, in position order.
pub const FIELDS: [FieldDef; FIELD_COUNT] = [
    def(
        Field::ConnectorSyncTime,
        "connector_sync_time",
        "Connector Sync Time",
        ValueType::Timestamp,
        "When the connector run that fetched this record started (UTC).",
    ),
    unique(def(
        Field::TeamMemberId,
        "team_member_id",
        "ID",
        ValueType::Text,
        "The member's id in the Dropbox team (`dbmid:...`); identifies a team member in the Dropbox Business API. The record id.",
    )),
    unique(def(
        Field::AccountId,
        "account_id",
        "Dropbox Account ID",
        ValueType::Text,
        "The Dropbox account id of the user (`dbid:...`): the user who interacts, shares or uploads content in Dropbox. Absent for members who have not joined yet.",
    )),
    unique(def(
        Field::ExternalId,
        "external_id",
        "External ID",
        ValueType::Text,
        "The id an identity provider or directory sync assigned to the member, if any.",
    )),
    unique(def(
        Field::Email,
        "email",
        "Email",
        ValueType::Text,
        "The member's primary email address, as Dropbox stores it.",
    )),
    def(
        Field::EmailVerified,
        "email_verified",
        "Email Verified",
        ValueType::Boolean,
        "Whether the member has verified their primary email address.",
    ),
    def(
        Field::SecondaryEmails,
        "secondary_emails",
        "Secondary Emails",
        ValueType::TextList,
        "The member's secondary email addresses, verified or not.",
    ),
    def(
        Field::Status,
        "status",
        "Status",
        ValueType::Text,
        "The membership status: `active`, `invited`, `suspended` or `removed` (a status Dropbox adds later appears as its own tag).",
    ),
    def(
        Field::RemovedIsRecoverable,
        "removed_is_recoverable",
        "Removed (Recoverable)",
        ValueType::Boolean,
        "For a removed member, whether the removal can still be undone (Dropbox allows recovery for 7 days); null for other statuses.",
    ),
    def(
        Field::MembershipType,
        "membership_type",
        "Dropbox Membership Type",
        ValueType::Text,
        "The kind of seat the member holds: `full` (a licensed seat) or `limited` (no license, limited access).",
    ),
    def(
        Field::GivenName,
        "given_name",
        "First Name",
        ValueType::Text,
        "The member's given name.",
    ),
    def(
        Field::Surname,
        "surname",
        "Last Name",
        ValueType::Text,
        "The member's surname.",
    ),
    def(
        Field::DisplayName,
        "display_name",
        "Name",
        ValueType::Text,
        "The member's full name, as Dropbox displays it.",
    ),
    def(
        Field::FamiliarName,
        "familiar_name",
        "Familiar Name",
        ValueType::Text,
        "The name the member is familiarly called, usually the given name.",
    ),
    def(
        Field::AbbreviatedName,
        "abbreviated_name",
        "Abbreviated Name",
        ValueType::Text,
        "The member's initials, as shown on their avatar.",
    ),
    def(
        Field::JoinedOn,
        "joined_on",
        "Created at Timestamp",
        ValueType::Timestamp,
        "When the member joined the Dropbox team; null while the invitation is pending.",
    ),
    def(
        Field::InvitedOn,
        "invited_on",
        "Invited On",
        ValueType::Timestamp,
        "When the member was invited to the team.",
    ),
    def(
        Field::SuspendedOn,
        "suspended_on",
        "Suspended On",
        ValueType::Timestamp,
        "When the member was suspended, for a suspended member.",
    ),
    unique(def(
        Field::PersistentId,
        "persistent_id",
        "Persistent ID",
        ValueType::Text,
        "The persistent id set for the member by the team's identity provider (SAML), if any.",
    )),
    def(
        Field::IsDirectoryRestricted,
        "is_directory_restricted",
        "Directory Restricted",
        ValueType::Boolean,
        "Whether the member is hidden from the team directory.",
    ),
    def(
        Field::ProfilePhotoUrl,
        "profile_photo_url",
        "Profile Photo URL",
        ValueType::Text,
        "The URL of the member's profile photo, if they set one.",
    ),
    def(
        Field::Groups,
        "groups",
        "Groups",
        ValueType::TextList,
        "The ids of the Dropbox groups the member belongs to.",
    ),
    unique(def(
        Field::MemberFolderId,
        "member_folder_id",
        "Member Folder ID",
        ValueType::Text,
        "The namespace id of the member's own folder.",
    )),
    def(
        Field::RootFolderId,
        "root_folder_id",
        "Root Folder ID",
        ValueType::Text,
        "The namespace id of the member's root folder (the team space, for teams that have one).",
    ),
    def(
        Field::RoleIds,
        "role_ids",
        "Role IDs",
        ValueType::TextList,
        "The ids of the member's admin roles (`pid_dbtmr:...`); empty for a plain member.",
    ),
    def(
        Field::RoleNames,
        "role_names",
        "Role Names",
        ValueType::TextList,
        "The names of the member's admin roles (`Team admin`, `User management admin`, ...); empty for a plain member.",
    ),
    def(
        Field::Role,
        "role",
        "Role",
        ValueType::Text,
        "The member's role in one word: the name of their first admin role, or `Member` when they hold none.",
    ),
];

/// The field names, in position order.
pub const FIELD_NAMES: [&str; FIELD_COUNT] = {
    let mut names = [""; FIELD_COUNT];
    let mut i = 0;
    while i < FIELD_COUNT {
        names[i] = FIELDS[i].name;
        i += 1;
    }
    names
};

/// The largest page `fetch` accepts (Dropbox's own limit for `list_v2`).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The OAuth scopes the team token needs: reading members, changing them
/// (suspend, unsuspend, admin roles), removing them, and reading the team's
/// size and seats (`team_info.read`; only for the count hint and `seats`,
/// which work without: the host then shows no total and unknown seats).
pub const SCOPES: [&str; 4] = [
    "members.read",
    "members.write",
    "members.delete",
    "team_info.read",
];

/// The fetch option that also lists removed members.
pub const OPTION_INCLUDE_REMOVED: &str = "include_removed";

fn text(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::Text)
}

fn timestamp(value: Option<String>) -> Value {
    value.map_or(Value::Null, Value::Timestamp)
}

fn boolean(value: Option<bool>) -> Value {
    value.map_or(Value::Null, Value::Boolean)
}

fn text_list(value: Option<Vec<String>>) -> Value {
    value.map_or(Value::Null, Value::TextList)
}

/// Builds the source record of one member; consumes it, so no string is
/// copied except the id (which is both the record id and a field).
pub fn build_record(member: TeamMemberInfoV2, sync_time: &str) -> SourceRecord {
    let p = member.profile;
    let name = p.name.unwrap_or_default();
    let removed_is_recoverable = if p.status.tag == "removed" {
        boolean(p.status.payload.is_recoverable)
    } else {
        Value::Null
    };
    let (role_ids, role_names, role) = match member.roles {
        None => (
            Value::Null,
            Value::Null,
            Value::Text(MEMBER_ROLE.to_owned()),
        ),
        Some(roles) => {
            let (ids, names, role) = roles::split(roles);
            (
                Value::TextList(ids),
                Value::TextList(names),
                Value::Text(role),
            )
        }
    };
    let sync_time = if sync_time.is_empty() {
        Value::Null
    } else {
        Value::Timestamp(sync_time.to_owned())
    };
    let id = p.team_member_id;

    // Written in catalog order; `catalog_order_matches_build_record` checks it.
    let values = vec![
        sync_time,
        Value::Text(id.clone()),
        text(p.account_id),
        text(p.external_id),
        Value::Text(p.email),
        boolean(p.email_verified),
        text_list(
            p.secondary_emails
                .map(|list| list.into_iter().map(|e| e.email).collect()),
        ),
        Value::Text(p.status.tag),
        removed_is_recoverable,
        p.membership_type
            .map_or(Value::Null, |t| Value::Text(t.tag)),
        text(name.given_name),
        text(name.surname),
        text(name.display_name),
        text(name.familiar_name),
        text(name.abbreviated_name),
        timestamp(p.joined_on),
        timestamp(p.invited_on),
        timestamp(p.suspended_on),
        text(p.persistent_id),
        boolean(p.is_directory_restricted),
        text(p.profile_photo_url),
        text_list(p.groups),
        text(p.member_folder_id),
        text(p.root_folder_id),
        role_ids,
        role_names,
        role,
    ];
    debug_assert_eq!(values.len(), FIELD_COUNT);
    SourceRecord { id, values }
}

fn rule(target: &str, field: &str, transforms: Vec<Transform>, required: bool) -> MappingRule {
    MappingRule {
        target: target.to_owned(),
        source: RuleSource::Field(field.to_owned()),
        transforms,
        required,
    }
}

/// The "smart mapping" of Oomnitza's Dropbox integration: email as both
/// username and email (both required, lower-cased, email the sync key), the
/// names, the Dropbox id and the member's status (so suspended, invited and
/// removed members show as such) in the custom fields `dropbox_user_id` and
/// `dropbox_status`, and the SaaS-user account keyed by email with the
/// member's role. No Oomnitza role (`PERMISSIONS_ID`): which role people
/// get is the operator's choice, and the host requires it.
pub fn default_mapping() -> MappingSpec {
    MappingSpec {
        rules: vec![
            rule("USER", "email", vec![Transform::LowerCase], true),
            rule("EMAIL", "email", vec![Transform::LowerCase], true),
            rule("FIRST_NAME", "given_name", vec![], false),
            rule("LAST_NAME", "surname", vec![], false),
            rule("dropbox_user_id", "team_member_id", vec![], false),
            rule("dropbox_status", "status", vec![], false),
            rule("saas.sync_key", "email", vec![Transform::LowerCase], false),
            rule("saas.role", "role", vec![], false),
        ],
        filters: vec![],
        sync_key: vec!["EMAIL".to_owned()],
    }
}

/// The catalog as contract [`FieldInfo`]s.
pub fn field_infos() -> Vec<FieldInfo> {
    FIELDS
        .iter()
        .map(|f| FieldInfo {
            name: f.name.to_owned(),
            label: f.label.to_owned(),
            description: f.description.to_owned(),
            ty: f.ty,
            unique: f.unique,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{self, MembersListResult};

    fn members(json: &str) -> Vec<TeamMemberInfoV2> {
        wire::parse::<MembersListResult>(json.as_bytes())
            .expect("test page parses")
            .members
    }

    fn get<'a>(record: &'a SourceRecord, name: &str) -> &'a Value {
        let i = FIELD_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("known field");
        &record.values[i]
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn catalog_positions_follow_the_enum() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert_eq!(f.field as usize, i, "{}", f.name);
            assert!(!f.description.is_empty() && !f.label.is_empty());
        }
        let mut names = FIELD_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FIELD_COUNT, "field names are unique");
    }

    #[test]
    fn catalog_order_matches_build_record() {
        let page = r#"{"members":[{"profile":{"team_member_id":"dbmid:AAA","account_id":"dbid:1","external_id":"ext",
            "email":"Tami@Seagull.com","email_verified":true,"secondary_emails":[{"email":"t2@s.com","is_verified":false}],
            "status":{".tag":"active"},"name":{"given_name":"Tami","surname":"Gull","familiar_name":"T","display_name":"Tami Gull","abbreviated_name":"TG"},
            "membership_type":{".tag":"full"},"joined_on":"2015-05-12T15:50:38Z","invited_on":"2015-05-11T00:00:00Z",
            "suspended_on":"2016-01-01T00:00:00Z","persistent_id":"pid","is_directory_restricted":false,
            "profile_photo_url":"https://p/x.png","groups":["g:1","g:2"],"member_folder_id":"20","root_folder_id":"30"},
            "roles":[{"role_id":"pid_dbtmr:1","name":"Team admin"},{"role_id":"pid_dbtmr:2","name":"Billing admin"}]}],
            "cursor":"c","has_more":false}"#;
        let mut ms = members(page);
        let r = build_record(ms.remove(0), "2026-01-02T03:04:05Z");
        assert_eq!(r.id, "dbmid:AAA");
        assert_eq!(r.values.len(), FIELD_COUNT);
        let list = |v: &[&str]| Value::TextList(v.iter().map(|s| s.to_string()).collect());
        let expected = [
            (
                "connector_sync_time",
                Value::Timestamp("2026-01-02T03:04:05Z".into()),
            ),
            ("team_member_id", text("dbmid:AAA")),
            ("account_id", text("dbid:1")),
            ("external_id", text("ext")),
            ("email", text("Tami@Seagull.com")),
            ("email_verified", Value::Boolean(true)),
            ("secondary_emails", list(&["t2@s.com"])),
            ("status", text("active")),
            ("removed_is_recoverable", Value::Null),
            ("membership_type", text("full")),
            ("given_name", text("Tami")),
            ("surname", text("Gull")),
            ("display_name", text("Tami Gull")),
            ("familiar_name", text("T")),
            ("abbreviated_name", text("TG")),
            ("joined_on", Value::Timestamp("2015-05-12T15:50:38Z".into())),
            (
                "invited_on",
                Value::Timestamp("2015-05-11T00:00:00Z".into()),
            ),
            (
                "suspended_on",
                Value::Timestamp("2016-01-01T00:00:00Z".into()),
            ),
            ("persistent_id", text("pid")),
            ("is_directory_restricted", Value::Boolean(false)),
            ("profile_photo_url", text("https://p/x.png")),
            ("groups", list(&["g:1", "g:2"])),
            ("member_folder_id", text("20")),
            ("root_folder_id", text("30")),
            ("role_ids", list(&["pid_dbtmr:1", "pid_dbtmr:2"])),
            ("role_names", list(&["Team admin", "Billing admin"])),
            ("role", text("Team admin")),
        ];
        assert_eq!(expected.len(), FIELD_COUNT);
        for (name, value) in expected {
            assert_eq!(get(&r, name), &value, "{name}");
        }
    }

    #[test]
    fn sparse_and_removed_members() {
        let page = r#"{"members":[
            {"profile":{"team_member_id":"dbmid:R","email":"r@x.com","status":{".tag":"removed","is_recoverable":true,"is_disconnected":false}},"roles":[]},
            {"profile":{"team_member_id":"dbmid:S","email":"s@x.com","status":"removed"}},
            {"profile":{"team_member_id":"dbmid:I","email":"i@x.com","status":"invited"}}],
            "cursor":"c","has_more":true}"#;
        let records: Vec<_> = members(page)
            .into_iter()
            .map(|m| build_record(m, ""))
            .collect();
        assert_eq!(get(&records[0], "status"), &text("removed"));
        assert_eq!(
            get(&records[0], "removed_is_recoverable"),
            &Value::Boolean(true)
        );
        assert_eq!(get(&records[0], "role"), &text(MEMBER_ROLE));
        assert_eq!(get(&records[0], "role_ids"), &Value::TextList(vec![]));
        assert_eq!(get(&records[1], "removed_is_recoverable"), &Value::Null);
        let i = &records[2];
        assert_eq!(get(i, "removed_is_recoverable"), &Value::Null);
        assert_eq!(get(i, "connector_sync_time"), &Value::Null);
        assert_eq!(get(i, "given_name"), &Value::Null);
        assert_eq!(get(i, "groups"), &Value::Null);
        assert_eq!(get(i, "role_ids"), &Value::Null);
        assert_eq!(get(i, "role"), &text(MEMBER_ROLE));
    }
}
