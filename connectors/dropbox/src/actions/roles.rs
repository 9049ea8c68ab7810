//! `get-user-role` and `set-user-role`: reading members' admin roles in
//! batches, and replacing a member's admin role (by id, by name, or none).

use super::requests::{content_type, encode, member_infos, outcome};
use super::targets::{TargetResult, each_target, selector, who};
use crate::client::{self, ROUTE_AVAILABLE_ROLES, ROUTE_GET_INFO, ROUTE_SET_PERMISSIONS};
use crate::roles::MEMBER_ROLE;
use crate::wire::{
    self, AvailableRoles, MemberInfoItem, MembersSetPermissions2Arg, SetPermissionsResult,
    TeamMemberRole, Union, UserSelectorArg,
};
use oomnitza_connector_sdk::actions::{halts, not_attempted};
use oomnitza_connector_sdk::transport::Transport;
use oomnitza_connector_sdk::types::{ActionResult, ActionStatus, ConnectorError, UserRef, Value};

/// The `role` value that means "no admin role" (any case).
pub const ROLE_MEMBER: &str = "member";

/// How every Dropbox admin role id starts.
pub const ROLE_ID_PREFIX: &str = "pid_dbtmr:";

/// Members asked for per `get_info_v2` request.
pub const GET_INFO_BATCH: usize = 100;

/// The role values of a member: `role_ids`, `role_names`, `role`.
fn role_values(roles: Vec<TeamMemberRole>) -> Vec<(String, Value)> {
    let (ids, names, role) = crate::roles::split(roles);
    vec![
        ("role_ids".to_owned(), Value::TextList(ids)),
        ("role_names".to_owned(), Value::TextList(names)),
        ("role".to_owned(), Value::Text(role)),
    ]
}

fn role_sentence(who: &str, values: &[(String, Value)]) -> String {
    let names = values.iter().find_map(|(k, v)| match (k.as_str(), v) {
        ("role_names", Value::TextList(names)) => Some(names),
        _ => None,
    });
    match names {
        Some(names) if names.len() == 1 => {
            format!("{who} holds the Dropbox admin role {}.", names.join(""))
        }
        Some(names) if !names.is_empty() => {
            format!("{who} holds the Dropbox admin roles {}.", names.join(", "))
        }
        _ => format!("{who} holds no Dropbox admin role ({MEMBER_ROLE})."),
    }
}

pub(super) fn get_roles<T: Transport + ?Sized>(
    transport: &mut T,
    targets: &[UserRef],
) -> Vec<TargetResult> {
    let mut results: Vec<Option<TargetResult>> = vec![None; targets.len()];
    let mut asked: Vec<(usize, UserSelectorArg<'_>)> = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        match selector(target) {
            Ok(user) => asked.push((i, user)),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let mut halted: Option<ConnectorError> = None;
    for chunk in asked.chunks(GET_INFO_BATCH) {
        let answer = match &halted {
            Some(e) => Err(not_attempted(e)),
            None => {
                let members: Vec<UserSelectorArg<'_>> = chunk.iter().map(|(_, u)| *u).collect();
                member_infos(transport, &members)
            }
        };
        match answer {
            Ok(items) => {
                for (&(i, _), item) in chunk.iter().zip(items) {
                    results[i] =
                        Some(item.and_then(|(raw, info)| role_result(&targets[i], raw, info)));
                }
            }
            Err(e) => {
                if halted.is_none() && halts(&e) {
                    halted = Some(e.clone());
                }
                for &(i, _) in chunk {
                    results[i] = Some(Err(e.clone()));
                }
            }
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(ConnectorError::Other("target was not processed".to_owned())))
        })
        .collect()
}

fn role_result(
    target: &UserRef,
    raw: String,
    item: Union<MemberInfoItem>,
) -> Result<ActionResult, ConnectorError> {
    let who = who(target);
    match item.tag.as_str() {
        "member_info" => {
            let profile = item.payload.profile.ok_or_else(|| {
                ConnectorError::Other(format!(
                    "malformed {ROUTE_GET_INFO} response: member_info without a profile for {who}"
                ))
            })?;
            let mut values = role_values(item.payload.roles.unwrap_or_default());
            let detail = format!(
                "{} Their status is {}.",
                role_sentence(&who, &values),
                profile.status.tag
            );
            values.extend([
                ("status".to_owned(), Value::Text(profile.status.tag)),
                (
                    "team_member_id".to_owned(),
                    Value::Text(profile.team_member_id),
                ),
                ("email".to_owned(), Value::Text(profile.email)),
            ]);
            Ok(ActionResult {
                status: ActionStatus::Done,
                detail,
                vendor_response: raw,
                values,
            })
        }
        "id_not_found" => Err(ConnectorError::NotFound(format!(
            "no member of the Dropbox team matches {who}"
        ))),
        other => Err(ConnectorError::Other(format!(
            "unexpected answer `{other}` for {who} from {ROUTE_GET_INFO}"
        ))),
    }
}

/// The role a `set-user-role` call gives.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChosenRole {
    id: String,
    /// The name, when known before the call (given by name).
    name: Option<String>,
}

fn available_roles<T: Transport + ?Sized>(
    transport: &mut T,
) -> Result<Vec<TeamMemberRole>, ConnectorError> {
    let response = client::call(transport, ROUTE_AVAILABLE_ROLES, b"null")?;
    wire::parse::<AvailableRoles>(&response.body)
        .map(|r| r.roles)
        .map_err(|e| client::malformed(ROUTE_AVAILABLE_ROLES, content_type(&response), &e))
}

pub(super) fn set_roles<T: Transport + ?Sized>(
    transport: &mut T,
    targets: &[UserRef],
    role: &str,
) -> Result<Vec<TargetResult>, ConnectorError> {
    // `None`: no admin role. A name is looked up once, and only when some
    // target can be acted on; a failed lookup fails every target.
    let chosen: Result<Option<ChosenRole>, ConnectorError> = if role
        .eq_ignore_ascii_case(ROLE_MEMBER)
    {
        Ok(None)
    } else if role.starts_with(ROLE_ID_PREFIX) {
        Ok(Some(ChosenRole {
            id: role.to_owned(),
            name: None,
        }))
    } else if !targets.iter().any(|t| selector(t).is_ok()) {
        // Every target fails its selector before `chosen` is read.
        Ok(None)
    } else {
        match available_roles(transport) {
            Ok(roles) => {
                let wanted = role.to_lowercase();
                match roles
                    .iter()
                    .find(|r| r.name.trim().to_lowercase() == wanted)
                {
                    Some(r) => Ok(Some(ChosenRole {
                        id: r.role_id.clone(),
                        name: Some(r.name.clone()),
                    })),
                    None => {
                        let names: Vec<String> =
                            roles.iter().map(|r| format!("`{}`", r.name)).collect();
                        let available = if names.is_empty() {
                            "the Dropbox team lists no admin roles".to_owned()
                        } else {
                            format!("the Dropbox team's roles are {}", names.join(", "))
                        };
                        return Err(ConnectorError::InvalidInput(format!(
                            "unknown role `{role}`: {available} (or `{ROLE_MEMBER}` for no admin role)"
                        )));
                    }
                }
            }
            Err(e) => Err(e),
        }
    };
    Ok(each_target(targets, |target, user| {
        let chosen = chosen.clone()?;
        let new_roles: Vec<&str> = chosen.iter().map(|c| c.id.as_str()).collect();
        let body = encode(
            ROUTE_SET_PERMISSIONS,
            &MembersSetPermissions2Arg {
                user,
                new_roles: &new_roles,
            },
        )?;
        let response = client::call(transport, ROUTE_SET_PERMISSIONS, &body)?;
        // The change is made: the answer's values are best effort.
        let result = wire::parse::<SetPermissionsResult>(&response.body).ok();
        let mut values = Vec::new();
        let mut roles = None;
        if let Some(r) = result {
            if let Some(id) = r.team_member_id {
                values.push(("team_member_id".to_owned(), Value::Text(id)));
            }
            roles = r.roles;
        }
        let first_name = roles
            .as_ref()
            .and_then(|r| r.first())
            .map(|r| r.name.clone());
        if let Some(roles) = roles {
            values.extend(role_values(roles));
        }
        let who = who(target);
        let detail = match &chosen {
            None => {
                format!("Took every Dropbox admin role from {who}; they are now a plain member.")
            }
            Some(c) => {
                let name = c
                    .name
                    .clone()
                    .or(first_name)
                    .unwrap_or_else(|| c.id.clone());
                format!("Gave {who} the Dropbox admin role {name}.")
            }
        };
        Ok(outcome(ActionStatus::Done, detail, &response, values))
    }))
}

#[cfg(test)]
mod tests {
    use crate::actions::names::{GET_USER_ROLE, SET_USER_ROLE};
    use crate::actions::testing::{
        A, GET_INFO, ROLES, SET_ROLE, call, conflict, email, list, text,
    };
    use crate::errors;
    use oomnitza_connector_sdk::types::{ActionStatus, ConnectorError, UnauthorizedError, UserRef};

    const FOUND_A: &str = r#"{".tag":"member_info","profile":{"team_member_id":"dbmid:A","email":"a@x.com","status":{".tag":"active"},"name":{"given_name":"A"}},"roles":[{"role_id":"pid_dbtmr:1","name":"Team admin","description":"all"},{"role_id":"pid_dbtmr:4","name":"Billing admin","description":"bills"}]}"#;
    const FOUND_C: &str = r#"{".tag":"member_info","profile":{"team_member_id":"dbmid:C","email":"c@x.com","status":"suspended"}}"#;

    #[test]
    fn get_role_asks_for_every_target_at_once() {
        let answer = format!(
            r#"{{"members_info":[{FOUND_A}, {{".tag":"id_not_found","id_not_found":"dbmid:NOPE"}},{FOUND_C}]}}"#
        );
        let c = call(
            &[(200, &answer)],
            GET_USER_ROLE,
            &[
                email("a@x.com"),
                UserRef::Id("dbmid:NOPE".into()),
                UserRef::ExternalId("y".repeat(65)),
                UserRef::ExternalId("ext-c".into()),
            ],
            &[],
        );
        assert_eq!(c.urls(), [GET_INFO]);
        assert_eq!(
            c.bodies(),
            [format!(
                r#"{{"members":[{A},{{".tag":"team_member_id","team_member_id":"dbmid:NOPE"}},{{".tag":"external_id","external_id":"ext-c"}}]}}"#
            )]
        );
        let a = c.done(0);
        assert_eq!(a.status, ActionStatus::Done);
        assert_eq!(a.vendor_response, FOUND_A);
        assert_eq!(
            a.values,
            [
                ("role_ids".to_owned(), list(&["pid_dbtmr:1", "pid_dbtmr:4"])),
                (
                    "role_names".to_owned(),
                    list(&["Team admin", "Billing admin"])
                ),
                ("role".to_owned(), text("Team admin")),
                ("status".to_owned(), text("active")),
                ("team_member_id".to_owned(), text("dbmid:A")),
                ("email".to_owned(), text("a@x.com")),
            ]
        );
        assert_eq!(
            a.detail,
            "a@x.com holds the Dropbox admin roles Team admin, Billing admin. Their status is active."
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::NotFound(
                "no member of the Dropbox team matches team member dbmid:NOPE".into()
            )
        );
        assert!(matches!(c.failed(2), ConnectorError::InvalidInput(_)));
        let m = c.done(3);
        assert_eq!(m.vendor_response, FOUND_C);
        assert_eq!(
            m.values,
            [
                ("role_ids".to_owned(), list(&[])),
                ("role_names".to_owned(), list(&[])),
                ("role".to_owned(), text("Member")),
                ("status".to_owned(), text("suspended")),
                ("team_member_id".to_owned(), text("dbmid:C")),
                ("email".to_owned(), text("c@x.com")),
            ]
        );
        assert_eq!(
            m.detail,
            "the member with external id ext-c holds no Dropbox admin role (Member). Their status is suspended."
        );
    }

    fn not_found_answer(n: usize) -> String {
        let entries: Vec<String> = (0..n)
            .map(|i| format!(r#"{{".tag":"id_not_found","id_not_found":"u{i}@x.com"}}"#))
            .collect();
        format!(r#"{{"members_info":[{}]}}"#, entries.join(","))
    }

    #[test]
    fn get_role_splits_more_than_100_targets() {
        let targets: Vec<UserRef> = (0..250).map(|i| email(&format!("u{i}@x.com"))).collect();
        let (a, b) = (not_found_answer(100), not_found_answer(50));
        let c = call(
            &[(200, &a), (200, &a), (200, &b)],
            GET_USER_ROLE,
            &targets,
            &[],
        );
        assert_eq!(c.urls(), [GET_INFO; 3]);
        let counts: Vec<usize> = c
            .bodies()
            .iter()
            .map(|b| b.matches(r#"".tag":"email""#).count())
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        assert!(c.bodies()[1].starts_with(r#"{"members":[{".tag":"email","email":"u100@x.com"}"#));
        assert_eq!(c.results().len(), 250);
        assert!(
            c.results()
                .iter()
                .all(|r| matches!(r, Err(ConnectorError::NotFound(_))))
        );
    }

    #[test]
    fn get_role_failures_fail_the_batch_targets() {
        let targets: Vec<UserRef> = (0..150).map(|i| email(&format!("u{i}@x.com"))).collect();
        let c = call(
            &[(
                401,
                r#"{"error_summary":"missing_scope/","error":{".tag":"missing_scope"}}"#,
            )],
            GET_USER_ROLE,
            &targets,
            &[],
        );
        assert_eq!(c.requests.len(), 1, "the second batch is not attempted");
        let unauthorized = |message: &str| {
            ConnectorError::Unauthorized(UnauthorizedError {
                expired: false,
                tag: "missing_scope".into(),
                message: message.into(),
            })
        };
        assert_eq!(c.failed(0), &unauthorized("missing_scope/"));
        assert_eq!(c.failed(99), &unauthorized("missing_scope/"));
        assert_eq!(
            c.failed(100),
            &unauthorized("not attempted after an earlier request failed: missing_scope/")
        );

        // A miscounted answer fails its batch; a malformed entry, its target.
        let c = call(
            &[(200, &not_found_answer(1))],
            GET_USER_ROLE,
            &[email("a@x.com"), email("b@x.com")],
            &[],
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::Other("malformed team/members/get_info_v2 response: members_info: 1 entries for 2 members asked for".into())
        );
        let answer = format!(
            r#"{{"members_info":[{FOUND_A},{{".tag":"member_info","profile":{{"team_member_id":"dbmid:B"}}}}]}}"#
        );
        let c = call(
            &[(200, &answer)],
            GET_USER_ROLE,
            &[email("a@x.com"), email("b@x.com")],
            &[],
        );
        assert_eq!(c.done(0).status, ActionStatus::Done);
        let ConnectorError::Other(m) = c.failed(1) else {
            panic!("expected other: {:?}", c.failed(1));
        };
        assert!(
            m.starts_with("malformed team/members/get_info_v2 response: members_info[1].profile: missing field `email`"),
            "{m}"
        );
    }

    // -----------------------------------------------------------------------
    // set-user-role.

    const SET_ANSWER: &str = r#"{"team_member_id":"dbmid:A","roles":[{"role_id":"pid_dbtmr:1","name":"Team admin","description":"all"}]}"#;
    const AVAILABLE: &str = r#"{"roles":[{"role_id":"pid_dbtmr:1","name":"Team admin","description":"all"},{"role_id":"pid_dbtmr:3","name":"User management admin","description":"users"}]}"#;

    #[test]
    fn set_role_by_id() {
        let c = call(
            &[(200, SET_ANSWER)],
            SET_USER_ROLE,
            &[email("a@x.com")],
            &[("role", text("pid_dbtmr:1"))],
        );
        assert_eq!(c.urls(), [SET_ROLE]);
        assert_eq!(
            c.bodies(),
            [format!(r#"{{"user":{A},"new_roles":["pid_dbtmr:1"]}}"#)]
        );
        let r = c.done(0);
        assert_eq!(r.vendor_response, SET_ANSWER);
        assert_eq!(r.detail, "Gave a@x.com the Dropbox admin role Team admin.");
        assert_eq!(
            r.values,
            [
                ("team_member_id".to_owned(), text("dbmid:A")),
                ("role_ids".to_owned(), list(&["pid_dbtmr:1"])),
                ("role_names".to_owned(), list(&["Team admin"])),
                ("role".to_owned(), text("Team admin")),
            ]
        );
    }

    #[test]
    fn set_role_by_name_looks_roles_up_once() {
        let c = call(
            &[(200, AVAILABLE), (200, SET_ANSWER), (200, "{}")],
            SET_USER_ROLE,
            &[email("a@x.com"), UserRef::Id("dbmid:B".into())],
            &[("role", text("  user MANAGEMENT admin "))],
        );
        assert_eq!(c.urls(), [ROLES, SET_ROLE, SET_ROLE]);
        assert_eq!(
            c.bodies(),
            [
                "null".to_owned(),
                format!(r#"{{"user":{A},"new_roles":["pid_dbtmr:3"]}}"#),
                r#"{"user":{".tag":"team_member_id","team_member_id":"dbmid:B"},"new_roles":["pid_dbtmr:3"]}"#.to_owned(),
            ]
        );
        assert_eq!(
            c.done(1).detail,
            "Gave team member dbmid:B the Dropbox admin role User management admin."
        );
        assert_eq!(c.done(1).values, vec![]);
    }

    #[test]
    fn set_role_member_removes_every_admin_role() {
        for role in ["member", "Member", "MEMBER"] {
            let c = call(
                &[(200, r#"{"team_member_id":"dbmid:A","roles":[]}"#)],
                SET_USER_ROLE,
                &[email("a@x.com")],
                &[("role", text(role))],
            );
            assert_eq!(c.urls(), [SET_ROLE]);
            assert_eq!(c.bodies(), [format!(r#"{{"user":{A},"new_roles":[]}}"#)]);
            let r = c.done(0);
            assert_eq!(
                r.detail,
                "Took every Dropbox admin role from a@x.com; they are now a plain member."
            );
            assert_eq!(r.values[3], ("role".to_owned(), text("Member")));
        }
    }

    #[test]
    fn set_role_with_an_unknown_name_fails_the_call() {
        let c = call(
            &[(200, AVAILABLE)],
            SET_USER_ROLE,
            &[email("a@x.com"), email("b@x.com")],
            &[("role", text("Overlord"))],
        );
        assert_eq!(
            c.invalid(),
            "unknown role `Overlord`: the Dropbox team's roles are `Team admin`, `User management admin` (or `member` for no admin role)"
        );
        assert_eq!(c.urls(), [ROLES]);
    }

    #[test]
    fn set_role_errors_are_per_target() {
        // A failed lookup fails every target; a vendor refusal its own.
        let c = call(
            &[(503, "down")],
            SET_USER_ROLE,
            &[email("a@x.com"), email("b@x.com")],
            &[("role", text("Team admin"))],
        );
        assert_eq!(c.urls(), [ROLES]);
        let down = ConnectorError::Unavailable("Dropbox returned 503: down".into());
        assert_eq!(c.results(), [Err(down.clone()), Err(down)]);

        let c = call(
            &[(409, &conflict("last_admin")), (200, SET_ANSWER)],
            SET_USER_ROLE,
            &[email("a@x.com"), email("b@x.com")],
            &[("role", text("member"))],
        );
        assert!(
            matches!(c.failed(0), ConnectorError::Conflict(v) if v.tag == "last_admin"
            && v.user_message.as_deref() == errors::plain_reason("last_admin"))
        );
        assert_eq!(c.done(1).status, ActionStatus::Done);

        // Only invalid targets: nothing to look up.
        let c = call(
            &[],
            SET_USER_ROLE,
            &[email("")],
            &[("role", text("Team admin"))],
        );
        assert!(c.requests.is_empty());
        assert!(matches!(c.failed(0), ConnectorError::InvalidInput(_)));
    }
}
