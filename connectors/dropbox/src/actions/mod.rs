//! The connector's actions on Dropbox team members: what the manifest
//! declares, and how each runs.
//!
//! | action | route | idempotent repeat (`unchanged`) |
//! |---|---|---|
//! | `deactivate-user` | `team/members/suspend` | `suspend_inactive_user` |
//! | `reactivate-user` | `team/members/unsuspend` | `unsuspend_non_suspended_member` |
//! | `delete-user` | `team/members/remove` (+ `remove/job_status/get`) | `user_not_in_team` for a member `get_info_v2` shows removed; any other `user_not_in_team` (an address outside the team) is `not-found` |
//! | `get-user-role` | `team/members/get_info_v2`, all targets per request | |
//! | `set-user-role` | `team/members/set_admin_permissions_v2` (+ `get_available_team_member_roles` for a name) | |
//!
//! Whole-call errors (`invalid-input`, before any HTTP call): an unknown
//! action, a parameter that is unknown, repeated, ill-typed or missing
//! ([`oomnitza_connector_sdk::params`]), a broken `delete-user` rule, an unknown role name.
//! Everything else is per target, in target order. After a target fails
//! with `unauthorized`, `rate-limited` or `denied` (errors about the call,
//! not the target), the remaining targets are not attempted and fail with
//! the same error, marked "not attempted".
//!
//! Dropbox's own defaults are never relied on: `wipe_data` (default true at
//! Dropbox), `keep_account` and `retain_team_shares` are always sent.
//!
//! Here: the declarations and the dispatch. The parts, each with its tests:
//! `names` (action and parameter names), `targets` (selectors, per-target
//! iteration, halting), `requests` (encoding, idempotent posts, the shared
//! `get_info_v2` lookup, outcomes), `suspend`, `remove`, `roles`.

mod names;
mod remove;
mod requests;
mod roles;
mod suspend;
mod targets;
#[cfg(test)]
mod testing;

pub use names::*;
pub use remove::{POLL_FIRST_DELAY, POLL_LIMIT, POLL_MAX_DELAY};
pub use roles::{GET_INFO_BATCH, ROLE_ID_PREFIX, ROLE_MEMBER};
pub use targets::{MAX_EXTERNAL_ID_CHARS, TargetResult, selector};

use oomnitza_connector_sdk::params::{self, Params};
use oomnitza_connector_sdk::transport::{Sleeper, Transport};
use oomnitza_connector_sdk::types::{
    ActionInfo, ConnectorError, ParamInfo, UserRef, Value, ValueType,
};
use remove::{RemoveOptions, remove};
use roles::{get_roles, set_roles};
use suspend::{deactivate, reactivate};

fn param(
    name: &str,
    label: &str,
    ty: ValueType,
    default: Option<Value>,
    description: &str,
) -> ParamInfo {
    ParamInfo {
        name: name.to_owned(),
        label: label.to_owned(),
        description: description.to_owned(),
        ty,
        required: false,
        default,
    }
}

fn wipe_data_param(what: &str) -> ParamInfo {
    param(
        PARAM_WIPE_DATA,
        "Wipe data",
        ValueType::Boolean,
        Some(Value::Boolean(false)),
        &format!(
            "Also delete the member's Dropbox files from their linked devices the next time each device comes online{what}. Off unless set (Dropbox's own default would wipe)."
        ),
    )
}

fn action(
    name: &str,
    label: &str,
    destructive: bool,
    description: &str,
    params: Vec<ParamInfo>,
) -> ActionInfo {
    ActionInfo {
        name: name.to_owned(),
        label: label.to_owned(),
        description: description.to_owned(),
        destructive,
        params,
    }
}

/// The actions the manifest declares.
pub fn action_infos() -> Vec<ActionInfo> {
    vec![
        action(
            DEACTIVATE_USER,
            "Deactivate user",
            true,
            "Suspends the member (team/members/suspend): they can no longer sign in, and their account and files are kept. Undo with reactivate-user. A member already suspended is reported unchanged.",
            vec![wipe_data_param("")],
        ),
        action(
            REACTIVATE_USER,
            "Reactivate user",
            false,
            "Unsuspends a suspended member (team/members/unsuspend), restoring their access. A member who is not suspended is reported unchanged.",
            vec![],
        ),
        action(
            DELETE_USER,
            "Delete user",
            true,
            "Removes the member from the Dropbox team (team/members/remove), optionally transferring their files to another member. Dropbox can restore a removed member within 7 days. A member no longer in the team is reported unchanged.",
            vec![
                wipe_data_param("; must be off to keep the account"),
                param(
                    PARAM_TRANSFER_DEST,
                    "Transfer destination email",
                    ValueType::Text,
                    None,
                    "The email of the team member who receives the removed member's files. Needs a transfer admin email; cannot be combined with keep-account.",
                ),
                param(
                    PARAM_TRANSFER_ADMIN,
                    "Transfer admin email",
                    ValueType::Text,
                    None,
                    "The email of the team admin Dropbox notifies if the file transfer fails. Required with a transfer destination.",
                ),
                param(
                    PARAM_KEEP_ACCOUNT,
                    "Keep account",
                    ValueType::Boolean,
                    Some(Value::Boolean(false)),
                    "Turn the member into a personal (Basic) Dropbox account that keeps its email address and the files not restricted to the team. Needs wipe-data off; cannot be combined with a transfer.",
                ),
                param(
                    PARAM_RETAIN_TEAM_SHARES,
                    "Retain team shares",
                    ValueType::Boolean,
                    Some(Value::Boolean(false)),
                    "Let the kept account keep its access to the team's shared folders. Needs wipe-data off and keep-account on.",
                ),
            ],
        ),
        action(
            GET_USER_ROLE,
            "Get user role",
            false,
            "Reads each member's admin roles, status and id (team/members/get_info_v2, all targets in one request). Values: role_ids, role_names, role (the first role's name, or Member), status, team_member_id, email.",
            vec![],
        ),
        action(
            SET_USER_ROLE,
            "Set user role",
            true,
            "Replaces the member's admin role (team/members/set_admin_permissions_v2).",
            vec![ParamInfo {
                required: true,
                ..param(
                    PARAM_ROLE,
                    "Role",
                    ValueType::Text,
                    None,
                    "The admin role to give: a role id (pid_dbtmr:...), a role name such as Team admin (any case), or member for no admin role.",
                )
            }],
        ),
    ]
}

/// The parameters of the action `name`, checked against its declaration
/// ([`params::check`]); `invalid-input` for an unknown action.
fn checked(name: &str, params: Vec<(String, Value)>) -> Result<Params, ConnectorError> {
    let infos = action_infos();
    let Some(info) = infos.iter().find(|a| a.name == name) else {
        let names: Vec<&str> = infos.iter().map(|a| a.name.as_str()).collect();
        return Err(ConnectorError::InvalidInput(format!(
            "unknown action `{name}` (this connector declares: {})",
            names.join(", ")
        )));
    };
    params::check(name, &info.params, params)
}

/// `check-action`: what [`run`] checks before any call, without running
/// anything; the effective parameters (given and defaulted), or the
/// `invalid-input` naming the broken rule. Makes no HTTP call.
pub fn check(
    name: &str,
    params: Vec<(String, Value)>,
) -> Result<Vec<(String, Value)>, ConnectorError> {
    let params = checked(name, params)?;
    if name == DELETE_USER {
        RemoveOptions::from_params(&params)?;
    }
    Ok(params.effective())
}

/// Runs the action `name` on each target.
pub fn run<T, S>(
    transport: &mut T,
    sleeper: &mut S,
    name: &str,
    targets: &[UserRef],
    params: Vec<(String, Value)>,
) -> Result<Vec<TargetResult>, ConnectorError>
where
    T: Transport + ?Sized,
    S: Sleeper + ?Sized,
{
    let params = checked(name, params)?;
    match name {
        DEACTIVATE_USER => Ok(deactivate(transport, targets, params.flag(PARAM_WIPE_DATA))),
        REACTIVATE_USER => Ok(reactivate(transport, targets)),
        DELETE_USER => {
            let options = RemoveOptions::from_params(&params)?;
            Ok(remove(transport, sleeper, targets, &options))
        }
        GET_USER_ROLE => Ok(get_roles(transport, targets)),
        SET_USER_ROLE => {
            let role = params.text(PARAM_ROLE).ok_or_else(|| {
                ConnectorError::InvalidInput(format!("parameter `{PARAM_ROLE}` is required"))
            })?;
            set_roles(transport, targets, role)
        }
        other => Err(ConnectorError::Other(format!(
            "action `{other}` is declared but not implemented"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::testing::{call, email, no, text, yes};

    #[test]
    fn unknown_action_fails_the_call() {
        let c = call(&[], "wipe-everything", &[email("a@x.com")], &[]);
        assert_eq!(
            c.invalid(),
            "unknown action `wipe-everything` (this connector declares: deactivate-user, reactivate-user, delete-user, get-user-role, set-user-role)"
        );
        assert!(c.requests.is_empty());
    }

    #[test]
    fn bad_parameters_fail_the_call_before_any_request() {
        type Case<'a> = (&'a str, &'a [(&'a str, Value)], &'a str);
        let cases: [Case<'_>; 6] = [
            (
                DEACTIVATE_USER,
                &[("wipe_data", yes())],
                "unknown parameter `wipe_data` for action `deactivate-user` (it accepts: wipe-data)",
            ),
            (
                DEACTIVATE_USER,
                &[("wipe-data", text("true"))],
                "parameter `wipe-data` must be a boolean, not text",
            ),
            (
                REACTIVATE_USER,
                &[("wipe-data", no())],
                "unknown parameter `wipe-data` for action `reactivate-user` (it takes no parameters)",
            ),
            (
                DELETE_USER,
                &[("keep-account", no()), ("keep-account", yes())],
                "parameter `keep-account` is given more than once",
            ),
            (SET_USER_ROLE, &[], "parameter `role` is required"),
            (
                SET_USER_ROLE,
                &[("role", Value::Integer(3))],
                "parameter `role` must be text, not integer",
            ),
        ];
        for (action, params, message) in cases {
            let c = call(&[], action, &[email("a@x.com")], params);
            assert_eq!(c.invalid(), message, "{action}");
            assert!(c.requests.is_empty(), "{action}");
        }
    }

    #[test]
    fn no_targets_no_requests() {
        for action in [DEACTIVATE_USER, REACTIVATE_USER, DELETE_USER, GET_USER_ROLE] {
            let c = call(&[], action, &[], &[]);
            assert_eq!(c.results(), &[] as &[TargetResult]);
            assert!(c.requests.is_empty());
        }
        let c = call(&[], SET_USER_ROLE, &[], &[("role", text("Team admin"))]);
        assert_eq!(c.results(), &[] as &[TargetResult]);
        assert!(c.requests.is_empty());
    }
}
