//! The state machine behind the fake Dropbox's member actions (suspend,
//! unsuspend, remove, admin roles) and the strict argument decoding they
//! share, kept apart from HTTP so each rule is a plain function of the team.
//!
//! Every change goes through the [`Team`] overlay, so later `list_v2` pages
//! show it. The checks follow the error unions of Dropbox's `team.stone`
//! (`MembersSuspendError`, `MembersUnsuspendError`, `MembersRemoveError`,
//! `MembersSetPermissions2Error`); where the spec leaves the order of checks
//! open, the order here is: find the member, then its state, then the
//! argument combinations, then the other members named, then the last-admin
//! rule.

use serde_json::{Map, Value, json};

use crate::json::push_str;
use crate::server::kind;
use crate::team::{Member, MemberStatus, Role, Team, WireStyle};

/// One member action the fake Dropbox answered with 200 or a 409 route
/// error (requests refused with 400 or 401 are not actions).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRecord {
    /// The API function, e.g. `team/members/suspend`.
    pub route: String,
    /// The `team_member_id` of the member acted on; `None` when the
    /// selector matched nobody (`user_not_found`).
    pub team_member_id: Option<String>,
    /// The arguments as decoded, defaults filled in, selectors as sent
    /// (e.g. `{"user": {".tag": "email", "email": ".."}, "wipe_data": true}`).
    pub args: Value,
    /// `success` (suspend, unsuspend, set_admin_permissions_v2), `complete`
    /// or `async_job_id` (remove), or the 409 error tag.
    pub outcome: String,
    /// remove: the `team_member_id` the files went to, once resolved.
    pub transfer_dest_id: Option<String>,
    /// remove: the `team_member_id` of the transfer admin, once resolved.
    pub transfer_admin_id: Option<String>,
}

/// `UserSelectorArg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    TeamMemberId(String),
    ExternalId(String),
    Email(String),
}

impl Selector {
    /// The id, external id or email as sent.
    pub(crate) fn value(&self) -> &str {
        match self {
            Selector::TeamMemberId(s) | Selector::ExternalId(s) | Selector::Email(s) => s,
        }
    }

    fn tag(&self) -> &'static str {
        match self {
            Selector::TeamMemberId(_) => "team_member_id",
            Selector::ExternalId(_) => "external_id",
            Selector::Email(_) => "email",
        }
    }

    /// The member it names (removed members included); email matches
    /// case-insensitively.
    pub(crate) fn resolve(&self, team: &Team) -> Option<(usize, Member)> {
        match self {
            Selector::TeamMemberId(id) => team.by_team_member_id(id),
            Selector::ExternalId(id) => team.by_external_id(id),
            Selector::Email(email) => team.by_email(email),
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert(".tag".into(), Value::from(self.tag()));
        map.insert(self.tag().into(), Value::from(self.value()));
        Value::Object(map)
    }
}

// ---------------------------------------------------------------------------
// Argument decoding, as strict as Dropbox's: types, required fields, unknown
// fields, closed-union tags and string constraints all give a 400 message.

/// A JSON object taken apart field by field; [`Fields::finish`] rejects
/// whatever is left.
pub(crate) struct Fields {
    map: Map<String, Value>,
    /// `request body: ` or `request body: user: ` and so on.
    prefix: String,
}

impl Fields {
    /// The request body, which must be a JSON object.
    pub(crate) fn root(body: &[u8]) -> Result<Fields, String> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| "request body: could not decode input as JSON".to_string())?;
        Fields::new(value, "request body: ".to_string())
    }

    fn new(value: Value, prefix: String) -> Result<Fields, String> {
        match value {
            Value::Object(map) => Ok(Fields { map, prefix }),
            other => Err(format!("{prefix}expected object, got {}", kind(&other))),
        }
    }

    fn required(&mut self, name: &str) -> Result<Value, String> {
        self.map
            .remove(name)
            .ok_or_else(|| format!("{}missing required field '{name}'", self.prefix))
    }

    fn field_prefix(&self, name: &str) -> String {
        format!("{}{name}: ", self.prefix)
    }

    /// A `Boolean = default` field (null is not a boolean).
    pub(crate) fn bool_or(&mut self, name: &str, default: bool) -> Result<bool, String> {
        match self.map.remove(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(format!(
                "{}expected boolean, got {}",
                self.field_prefix(name),
                kind(&other)
            )),
        }
    }

    /// A required `String(min_length=1)` field.
    pub(crate) fn non_empty_string(&mut self, name: &str) -> Result<String, String> {
        let prefix = self.field_prefix(name);
        match self.required(name)? {
            Value::String(s) if s.is_empty() => {
                Err(format!("{prefix}string '' is shorter than 1 character"))
            }
            Value::String(s) => Ok(s),
            other => Err(format!("{prefix}expected string, got {}", kind(&other))),
        }
    }

    /// A required `UserSelectorArg` field.
    pub(crate) fn selector(&mut self, name: &str) -> Result<Selector, String> {
        let prefix = self.field_prefix(name);
        let value = self.required(name)?;
        parse_selector(value, &prefix)
    }

    /// An optional `UserSelectorArg?` field (absent or null: `None`).
    pub(crate) fn opt_selector(&mut self, name: &str) -> Result<Option<Selector>, String> {
        let prefix = self.field_prefix(name);
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => parse_selector(value, &prefix).map(Some),
        }
    }

    /// A required `List(UserSelectorArg)` field.
    pub(crate) fn selector_list(&mut self, name: &str) -> Result<Vec<Selector>, String> {
        let prefix = self.field_prefix(name);
        match self.required(name)? {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(k, v)| parse_selector(v, &format!("{prefix}[{k}]: ")))
                .collect(),
            other => Err(format!("{prefix}expected list, got {}", kind(&other))),
        }
    }

    /// `new_roles List(TeamMemberRoleId, max_items=1)?`: absent or null is
    /// an empty list.
    pub(crate) fn role_ids(&mut self, name: &str) -> Result<Vec<String>, String> {
        let prefix = self.field_prefix(name);
        let items = match self.map.remove(name) {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(format!("{prefix}expected list, got {}", kind(&other))),
        };
        if items.len() > 1 {
            return Err(format!(
                "{prefix}list has {} items, more than the maximum of 1",
                items.len()
            ));
        }
        items
            .into_iter()
            .enumerate()
            .map(|(k, v)| match v {
                Value::String(s) if s.len() > 128 => Err(format!(
                    "{prefix}[{k}]: '{s}' is longer than 128 characters"
                )),
                Value::String(s) if !s.starts_with("pid_dbtmr:") => Err(format!(
                    "{prefix}[{k}]: '{s}' did not match pattern 'pid_dbtmr:.*'"
                )),
                Value::String(s) => Ok(s),
                other => Err(format!(
                    "{prefix}[{k}]: expected string, got {}",
                    kind(&other)
                )),
            })
            .collect()
    }

    /// Fails on any field not taken.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self.map.keys().next() {
            Some(unknown) => Err(format!("{}unknown field '{unknown}'", self.prefix)),
            None => Ok(()),
        }
    }
}

/// A body that must be JSON `null` (routes without arguments).
pub(crate) fn parse_null(body: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| "request body: could not decode input as JSON".to_string())?;
    match value {
        Value::Null => Ok(()),
        other => Err(format!("request body: expected null, got {}", kind(&other))),
    }
}

fn parse_selector(value: Value, prefix: &str) -> Result<Selector, String> {
    const TAGS: [&str; 3] = ["team_member_id", "external_id", "email"];
    let mut map = match value {
        Value::Object(map) => map,
        Value::String(tag) if TAGS.contains(&tag.as_str()) => {
            return Err(format!("{prefix}tag '{tag}' requires a value"));
        }
        Value::String(tag) => return Err(format!("{prefix}unknown tag '{tag}'")),
        other => return Err(format!("{prefix}expected object, got {}", kind(&other))),
    };
    let tag = match map.remove(".tag") {
        Some(Value::String(tag)) => tag,
        Some(other) => {
            return Err(format!(
                "{prefix}.tag: expected string, got {}",
                kind(&other)
            ));
        }
        None => return Err(format!("{prefix}missing '.tag' key")),
    };
    if !TAGS.contains(&tag.as_str()) {
        return Err(format!("{prefix}unknown tag '{tag}'"));
    }
    let value = match map.remove(&tag) {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "{prefix}{tag}: expected string, got {}",
                kind(&other)
            ));
        }
        None => return Err(format!("{prefix}missing required field '{tag}'")),
    };
    if let Some(unknown) = map.keys().next() {
        return Err(format!("{prefix}unknown field '{unknown}'"));
    }
    match tag.as_str() {
        "team_member_id" => Ok(Selector::TeamMemberId(value)),
        "external_id" if value.chars().count() > 64 => Err(format!(
            "{prefix}external_id: '{value}' is longer than 64 characters"
        )),
        "external_id" => Ok(Selector::ExternalId(value)),
        _ if value.len() > 255 => Err(format!(
            "{prefix}email: '{value}' is longer than 255 characters"
        )),
        _ if !is_email_address(&value) => Err(format!(
            "{prefix}email: '{value}' is not a valid email address"
        )),
        _ => Ok(Selector::Email(value)),
    }
}

/// Dropbox's `EmailAddress` pattern:
/// `^['#&A-Za-z0-9._%+-]+@[A-Za-z0-9-][A-Za-z0-9.-]*\.[A-Za-z]{2,15}$`.
pub(crate) fn is_email_address(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"'#&._%+-".contains(&b));
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    let host_ok = host
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let tld_ok = (2..=15).contains(&tld.len()) && tld.bytes().all(|b| b.is_ascii_alphabetic());
    local_ok && host_ok && tld_ok
}

// ---------------------------------------------------------------------------
// Arguments

/// `MembersDeactivateArg` (suspend).
#[derive(Debug, Clone)]
pub(crate) struct SuspendArgs {
    pub user: Selector,
    pub wipe_data: bool,
}

impl SuspendArgs {
    pub(crate) fn parse(body: &[u8]) -> Result<SuspendArgs, String> {
        let mut f = Fields::root(body)?;
        let args = SuspendArgs {
            user: f.selector("user")?,
            wipe_data: f.bool_or("wipe_data", true)?,
        };
        f.finish()?;
        Ok(args)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({"user": self.user.to_json(), "wipe_data": self.wipe_data})
    }
}

/// `MembersUnsuspendArg`, `{user}`.
pub(crate) fn parse_user_only(body: &[u8]) -> Result<Selector, String> {
    let mut f = Fields::root(body)?;
    let user = f.selector("user")?;
    f.finish()?;
    Ok(user)
}

/// `MembersRemoveArg`.
#[derive(Debug, Clone)]
pub(crate) struct RemoveArgs {
    pub user: Selector,
    pub wipe_data: bool,
    pub transfer_dest_id: Option<Selector>,
    pub transfer_admin_id: Option<Selector>,
    pub keep_account: bool,
    pub retain_team_shares: bool,
    pub permanently_delete_files: bool,
}

impl RemoveArgs {
    pub(crate) fn parse(body: &[u8]) -> Result<RemoveArgs, String> {
        let mut f = Fields::root(body)?;
        let args = RemoveArgs {
            user: f.selector("user")?,
            wipe_data: f.bool_or("wipe_data", true)?,
            transfer_dest_id: f.opt_selector("transfer_dest_id")?,
            transfer_admin_id: f.opt_selector("transfer_admin_id")?,
            keep_account: f.bool_or("keep_account", false)?,
            retain_team_shares: f.bool_or("retain_team_shares", false)?,
            permanently_delete_files: f.bool_or("permanently_delete_files", false)?,
        };
        f.finish()?;
        Ok(args)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "user": self.user.to_json(),
            "wipe_data": self.wipe_data,
            "transfer_dest_id": self.transfer_dest_id.as_ref().map(Selector::to_json),
            "transfer_admin_id": self.transfer_admin_id.as_ref().map(Selector::to_json),
            "keep_account": self.keep_account,
            "retain_team_shares": self.retain_team_shares,
            "permanently_delete_files": self.permanently_delete_files,
        })
    }
}

/// `MembersSetPermissions2Arg`.
#[derive(Debug, Clone)]
pub(crate) struct SetRolesArgs {
    pub user: Selector,
    pub new_roles: Vec<String>,
}

impl SetRolesArgs {
    pub(crate) fn parse(body: &[u8]) -> Result<SetRolesArgs, String> {
        let mut f = Fields::root(body)?;
        let args = SetRolesArgs {
            user: f.selector("user")?,
            new_roles: f.role_ids("new_roles")?,
        };
        f.finish()?;
        Ok(args)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({"user": self.user.to_json(), "new_roles": self.new_roles})
    }
}

/// `MembersGetInfoV2Arg`, `{members}`.
pub(crate) fn parse_get_info(body: &[u8]) -> Result<Vec<Selector>, String> {
    let mut f = Fields::root(body)?;
    let members = f.selector_list("members")?;
    f.finish()?;
    Ok(members)
}

/// `async.PollArg`, `{async_job_id}`.
pub(crate) fn parse_poll(body: &[u8]) -> Result<String, String> {
    let mut f = Fields::root(body)?;
    let id = f.non_empty_string("async_job_id")?;
    f.finish()?;
    Ok(id)
}

// ---------------------------------------------------------------------------
// The actions

/// What an action did: the member it named (if found) and its result or
/// 409 error tag.
#[derive(Debug)]
pub(crate) struct Done<T> {
    pub team_member_id: Option<String>,
    pub result: Result<T, &'static str>,
}

/// Why a member could not be acted on: its id if found, and the tag.
type Refusal = (Option<String>, &'static str);

/// A found member's index and profile; `user_not_found`, or
/// `user_not_in_team` for a removed member or another team's account.
fn find_in_team(team: &Team, user: &Selector) -> Result<(usize, Member), Refusal> {
    match user.resolve(team) {
        None if outsider(team, user) => Err((None, "user_not_in_team")),
        None => Err((None, "user_not_found")),
        Some((_, m)) if m.status.is_removed() => Err((Some(m.team_member_id), "user_not_in_team")),
        Some(found) => Ok(found),
    }
}

/// Whether `user` names an account of another team.
fn outsider(team: &Team, user: &Selector) -> bool {
    matches!(user, Selector::Email(e) if team.is_outsider(e))
}

fn refused<T>((team_member_id, tag): Refusal) -> Done<T> {
    Done {
        team_member_id,
        result: Err(tag),
    }
}

fn fail<T>(m: &Member, tag: &'static str) -> Done<T> {
    Done {
        team_member_id: Some(m.team_member_id.clone()),
        result: Err(tag),
    }
}

/// Whether `m` (index `i`) is the team's only active Team admin.
fn is_last_admin(team: &Team, i: usize, m: &Member) -> bool {
    m.status == MemberStatus::Active && m.is_team_admin() && !team.has_other_active_team_admin(i)
}

/// `team/members/suspend`: an active member becomes suspended as of `now`.
pub(crate) fn suspend(team: &mut Team, args: &SuspendArgs, now: &str) -> Done<()> {
    let (i, mut m) = match find_in_team(team, &args.user) {
        Ok(found) => found,
        Err(refusal) => return refused(refusal),
    };
    if m.status != MemberStatus::Active {
        return fail(&m, "suspend_inactive_user");
    }
    if is_last_admin(team, i, &m) {
        return fail(&m, "suspend_last_admin");
    }
    m.status = MemberStatus::Suspended;
    m.suspended_on = Some(now.to_string());
    let id = m.team_member_id.clone();
    team.set_member(i, m);
    Done {
        team_member_id: Some(id),
        result: Ok(()),
    }
}

/// `team/members/unsuspend`: a suspended member becomes active again.
pub(crate) fn unsuspend(team: &mut Team, user: &Selector) -> Done<()> {
    let (i, mut m) = match find_in_team(team, user) {
        Ok(found) => found,
        Err(refusal) => return refused(refusal),
    };
    if m.status != MemberStatus::Suspended {
        return fail(&m, "unsuspend_non_suspended_member");
    }
    m.status = MemberStatus::Active;
    m.suspended_on = None;
    let id = m.team_member_id.clone();
    team.set_member(i, m);
    Done {
        team_member_id: Some(id),
        result: Ok(()),
    }
}

/// Who a successful removal handed the files to.
#[derive(Debug, Default)]
pub(crate) struct Removed {
    /// Index and `team_member_id` of the transfer destination.
    pub dest: Option<(usize, String)>,
    /// `team_member_id` of the transfer admin.
    pub admin: Option<String>,
}

/// `team/members/remove`. `busy_destination(i)` says whether member `i`
/// is the destination of a transfer still in progress.
pub(crate) fn remove(
    team: &mut Team,
    args: &RemoveArgs,
    busy_destination: impl Fn(usize) -> bool,
) -> Done<Removed> {
    let (i, mut m) = match find_in_team(team, &args.user) {
        Ok(found) => found,
        Err(refusal) => return refused(refusal),
    };
    if busy_destination(i) {
        return fail(&m, "member_is_transfer_destination");
    }
    let transfer = args.transfer_dest_id.is_some();
    let combination = if args.keep_account && args.wipe_data {
        Some("cannot_keep_account_and_delete_data")
    } else if args.keep_account && transfer {
        Some("cannot_keep_account_and_transfer")
    } else if args.keep_account && args.permanently_delete_files {
        Some("cannot_keep_account_and_permanently_delete")
    } else if args.keep_account && m.status == MemberStatus::Invited {
        Some("cannot_keep_invited_user_account")
    } else if args.retain_team_shares && args.wipe_data {
        Some("cannot_retain_shares_when_data_wiped")
    } else if args.retain_team_shares && !args.keep_account {
        Some("cannot_retain_shares_when_no_account_kept")
    } else if args.permanently_delete_files && transfer {
        Some("cannot_permanently_delete_and_transfer")
    } else {
        None
    };
    if let Some(tag) = combination {
        return fail(&m, tag);
    }

    let mut removed = Removed::default();
    if let Some(dest) = &args.transfer_dest_id {
        let (d, dm) = match dest.resolve(team) {
            None if outsider(team, dest) => return fail(&m, "transfer_dest_user_not_in_team"),
            None => return fail(&m, "transfer_dest_user_not_found"),
            Some((_, dm)) if dm.status.is_removed() => {
                return fail(&m, "transfer_dest_user_not_in_team");
            }
            Some(found) => found,
        };
        if d == i {
            return fail(&m, "removed_and_transfer_dest_should_differ");
        }
        if !dm.email_verified {
            return fail(&m, "recipient_not_verified");
        }
        if args.transfer_admin_id.is_none() {
            return fail(&m, "unspecified_transfer_admin_id");
        }
        removed.dest = Some((d, dm.team_member_id));
    }
    if let Some(admin) = &args.transfer_admin_id {
        let (a, am) = match admin.resolve(team) {
            None if outsider(team, admin) => return fail(&m, "transfer_admin_user_not_in_team"),
            None => return fail(&m, "transfer_admin_user_not_found"),
            Some((_, am)) if am.status.is_removed() => {
                return fail(&m, "transfer_admin_user_not_in_team");
            }
            Some(found) => found,
        };
        if a == i {
            return fail(&m, "removed_and_transfer_admin_should_differ");
        }
        if !am.is_team_admin() {
            return fail(&m, "transfer_admin_is_not_admin");
        }
        removed.admin = Some(am.team_member_id);
    }
    if is_last_admin(team, i, &m) {
        return fail(&m, "remove_last_admin");
    }

    // A kept (Basic) account is disconnected from the team and cannot be
    // recovered; permanently deleted files cannot be recovered either.
    m.status = MemberStatus::Removed {
        is_recoverable: !args.keep_account && !args.permanently_delete_files,
        is_disconnected: args.keep_account,
    };
    m.suspended_on = None;
    m.roles.clear();
    let id = m.team_member_id.clone();
    team.set_member(i, m);
    Done {
        team_member_id: Some(id),
        result: Ok(removed),
    }
}

/// `team/members/set_admin_permissions_v2`: the member's roles afterwards.
pub(crate) fn set_roles(team: &mut Team, args: &SetRolesArgs) -> Done<Vec<Role>> {
    let (i, mut m) = match find_in_team(team, &args.user) {
        Ok(found) => found,
        Err(refusal) => return refused(refusal),
    };
    let mut roles = Vec::with_capacity(args.new_roles.len());
    for id in &args.new_roles {
        match Role::by_id(id) {
            Some(role) => roles.push(role),
            None => return fail(&m, "role_not_found"),
        }
    }
    if m.status != MemberStatus::Active {
        return fail(&m, "cannot_set_permissions");
    }
    let keeps_team_admin = roles.contains(&Role::team_admin());
    if !keeps_team_admin && is_last_admin(team, i, &m) {
        return fail(&m, "last_admin");
    }
    m.roles = roles.clone();
    let id = m.team_member_id.clone();
    team.set_member(i, m);
    Done {
        team_member_id: Some(id),
        result: Ok(roles),
    }
}

/// `team/members/get_info_v2`'s result, written straight into a string.
pub(crate) fn render_get_info(team: &Team, style: &WireStyle, members: &[Selector]) -> String {
    let mut out = String::with_capacity(64 + members.len() * 1200);
    out.push_str("{\"members_info\":[");
    let mut member_json = String::with_capacity(1200);
    for (k, selector) in members.iter().enumerate() {
        if k > 0 {
            out.push(',');
        }
        match selector.resolve(team) {
            Some((_, m)) => {
                member_json.clear();
                m.write_json(style, &mut member_json);
                // TeamMemberInfoV2's fields inlined beside the tag.
                out.push_str("{\".tag\":\"member_info\",");
                out.push_str(member_json.strip_prefix('{').unwrap_or(&member_json));
            }
            None => {
                out.push_str("{\".tag\":\"id_not_found\",\"id_not_found\":");
                push_str(&mut out, selector.value());
                out.push('}');
            }
        }
    }
    out.push_str("]}");
    out
}

/// `TeamMemberRole` as JSON.
pub(crate) fn role_json(role: &Role) -> Value {
    json!({"role_id": role.role_id, "name": role.name, "description": role.description})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn email_pattern_matches_dropbox() {
        for ok in [
            "a@b.co",
            "o'brien+tag@sub.example.com",
            "x#y&z%w@a-b.c-d.museum",
            "a.b@-x.io",
        ] {
            assert!(is_email_address(ok), "{ok}");
        }
        for bad in [
            "",
            "plain",
            "@b.co",
            "a@b",
            "a@.b.co",
            "a@b.c",
            "a@b.c0m",
            "a b@c.com",
            "a@b_c.com",
            "a@b.abcdefghijklmnop",
            "ü@b.com",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }

    #[test]
    fn selectors_decode_strictly() {
        let ok = |v: Value| parse_selector(v, "p: ");
        assert_eq!(
            ok(json!({".tag": "email", "email": "A@B.co"})).unwrap(),
            Selector::Email("A@B.co".into())
        );
        assert_eq!(
            ok(json!({".tag": "external_id", "external_id": "x"})).unwrap(),
            Selector::ExternalId("x".into())
        );
        for (bad, needle) in [
            (json!("email"), "requires a value"),
            (json!("nobody"), "unknown tag"),
            (json!(5), "expected object"),
            (json!({"email": "a@b.co"}), "missing '.tag'"),
            (json!({".tag": 1}), "expected string"),
            (
                json!({".tag": "account_id", "account_id": "x"}),
                "unknown tag",
            ),
            (json!({".tag": "email"}), "missing required field 'email'"),
            (json!({".tag": "email", "email": 5}), "expected string"),
            (
                json!({".tag": "email", "email": "a@b.co", "x": 1}),
                "unknown field 'x'",
            ),
            (
                json!({".tag": "email", "email": "a@b.co", "team_member_id": "y"}),
                "unknown field",
            ),
            (json!({".tag": "email", "email": "nope"}), "valid email"),
            (
                json!({".tag": "external_id", "external_id": "9".repeat(65)}),
                "64",
            ),
        ] {
            let err = ok(bad.clone()).unwrap_err();
            assert!(
                err.starts_with("p: ") && err.contains(needle),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn remove_defaults_and_null_optionals() {
        let args = RemoveArgs::parse(
            br#"{"user": {".tag": "team_member_id", "team_member_id": "dbmid:x"},
                 "transfer_dest_id": null}"#,
        )
        .unwrap();
        assert!(args.wipe_data && !args.keep_account && !args.retain_team_shares);
        assert!(!args.permanently_delete_files);
        assert!(args.transfer_dest_id.is_none() && args.transfer_admin_id.is_none());
        let err = RemoveArgs::parse(
            br#"{"user": {".tag": "email", "email": "a@b.co"}, "keep_account": null}"#,
        )
        .unwrap_err();
        assert_eq!(
            err,
            "request body: keep_account: expected boolean, got null"
        );
    }

    #[test]
    fn last_admin_check_matches_generated_roles() {
        let team = Team::generate(5000, 3);
        for i in 0..team.len() {
            let m = team.member(i);
            assert_eq!(
                team.is_active_team_admin(i),
                m.status == MemberStatus::Active && m.is_team_admin(),
                "member {i}"
            );
        }
    }
}
