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

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::catalog::MEMBER_ROLE;
use crate::client::{
    self, ROUTE_AVAILABLE_ROLES, ROUTE_GET_INFO, ROUTE_REMOVE, ROUTE_REMOVE_JOB_STATUS,
    ROUTE_SET_PERMISSIONS, ROUTE_SUSPEND, ROUTE_UNSUSPEND,
};
use crate::errors;
use crate::wire::{
    self, AsyncJobLaunch, AvailableRoles, MemberInfoItem, MembersGetInfoV2Arg, MembersRemoveArg,
    MembersSetPermissions2Arg, MembersSuspendArg, MembersUnsuspendArg, PollArg,
    SetPermissionsResult, TeamMemberRole, Union, UserSelectorArg, WireError,
};
use oomnitza_connector_sdk::params::{self, Params};
use oomnitza_connector_sdk::transport::{HttpResponse, Sleeper, Transport};
use oomnitza_connector_sdk::types::{
    ActionInfo, ActionResult, ActionStatus, ConnectorError, ParamInfo, UserRef, Value, ValueType,
};

pub const DEACTIVATE_USER: &str = "deactivate-user";
pub const REACTIVATE_USER: &str = "reactivate-user";
pub const DELETE_USER: &str = "delete-user";
pub const GET_USER_ROLE: &str = "get-user-role";
pub const SET_USER_ROLE: &str = "set-user-role";

pub const PARAM_WIPE_DATA: &str = "wipe-data";
pub const PARAM_TRANSFER_DEST: &str = "transfer-destination-email";
pub const PARAM_TRANSFER_ADMIN: &str = "transfer-admin-email";
pub const PARAM_KEEP_ACCOUNT: &str = "keep-account";
pub const PARAM_RETAIN_TEAM_SHARES: &str = "retain-team-shares";
pub const PARAM_ROLE: &str = "role";

/// The `role` value that means "no admin role" (any case).
pub const ROLE_MEMBER: &str = "member";

/// How every Dropbox admin role id starts.
pub const ROLE_ID_PREFIX: &str = "pid_dbtmr:";

/// Dropbox's limit on an external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 64;

/// Members asked for per `get_info_v2` request.
pub const GET_INFO_BATCH: usize = 100;

/// The first wait before polling a removal job; each wait doubles...
pub const POLL_FIRST_DELAY: Duration = Duration::from_millis(250);
/// ...up to this...
pub const POLL_MAX_DELAY: Duration = Duration::from_secs(4);
/// ...and the total wait for one job is bounded by this.
pub const POLL_LIMIT: Duration = Duration::from_secs(30);

/// One target's outcome.
pub type TargetResult = Result<ActionResult, ConnectorError>;

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

// ---------------------------------------------------------------------------
// Targets.

/// The `UserSelectorArg` of a target, or why it cannot be one.
pub fn selector(target: &UserRef) -> Result<UserSelectorArg<'_>, ConnectorError> {
    let (value, what) = match target {
        UserRef::Email(v) => (v, "email"),
        UserRef::Id(v) => (v, "team member id"),
        UserRef::ExternalId(v) => (v, "external id"),
    };
    if value.trim().is_empty() {
        return Err(ConnectorError::InvalidInput(format!(
            "the target's {what} is empty"
        )));
    }
    Ok(match target {
        UserRef::Email(email) => UserSelectorArg::Email { email },
        UserRef::Id(team_member_id) => UserSelectorArg::TeamMemberId { team_member_id },
        UserRef::ExternalId(external_id) => {
            let chars = external_id.chars().count();
            if chars > MAX_EXTERNAL_ID_CHARS {
                return Err(ConnectorError::InvalidInput(format!(
                    "external id is {chars} characters long; Dropbox accepts at most {MAX_EXTERNAL_ID_CHARS}"
                )));
            }
            UserSelectorArg::ExternalId { external_id }
        }
    })
}

/// The target as a sentence names it.
fn who(target: &UserRef) -> String {
    match target {
        UserRef::Email(email) => email.clone(),
        UserRef::Id(id) => format!("team member {id}"),
        UserRef::ExternalId(id) => format!("the member with external id {id}"),
    }
}

/// Errors about the call rather than the target: trying the next target
/// would only fail the same way (or make a rate limit worse).
fn halts(error: &ConnectorError) -> bool {
    matches!(
        error,
        ConnectorError::Unauthorized(_)
            | ConnectorError::RateLimited(_)
            | ConnectorError::Denied(_)
    )
}

/// `error`, for a target skipped after it.
fn not_attempted(error: &ConnectorError) -> ConnectorError {
    const PREFIX: &str = "not attempted after an earlier request failed: ";
    match error.clone() {
        ConnectorError::Unauthorized(mut u) => {
            u.message = format!("{PREFIX}{}", u.message);
            ConnectorError::Unauthorized(u)
        }
        ConnectorError::RateLimited(mut r) => {
            r.message = format!("{PREFIX}{}", r.message);
            ConnectorError::RateLimited(r)
        }
        ConnectorError::Denied(m) => ConnectorError::Denied(format!("{PREFIX}{m}")),
        other => other,
    }
}

/// Runs `act` on each target in order, with its selector; a target without
/// one fails with `invalid-input`, and after a [`halts`] error the rest are
/// [`not_attempted`].
fn each_target<'t, F>(targets: &'t [UserRef], mut act: F) -> Vec<TargetResult>
where
    F: FnMut(&'t UserRef, UserSelectorArg<'t>) -> TargetResult,
{
    let mut halted: Option<ConnectorError> = None;
    let mut results = Vec::with_capacity(targets.len());
    for target in targets {
        let result = match (selector(target), &halted) {
            (Err(e), _) => Err(e),
            (Ok(_), Some(e)) => Err(not_attempted(e)),
            (Ok(user), None) => act(target, user),
        };
        if let Err(e) = &result
            && halted.is_none()
            && halts(e)
        {
            halted = Some(e.clone());
        }
        results.push(result);
    }
    results
}

// ---------------------------------------------------------------------------
// Requests.

fn encode<A: Serialize>(route: &str, arg: &A) -> Result<Vec<u8>, ConnectorError> {
    serde_json::to_vec(arg)
        .map_err(|e| ConnectorError::Other(format!("cannot encode {route}: {e}")))
}

/// Posts to a route whose repeat is harmless: a 409 tagged `already` means
/// the change was already made, and is [`ActionStatus::Unchanged`] with the
/// vendor's answer.
fn post_idempotent<T: Transport + ?Sized>(
    transport: &mut T,
    route: &str,
    body: &[u8],
    already: &str,
) -> Result<(ActionStatus, HttpResponse), ConnectorError> {
    let response = client::send(transport, route, body)?;
    if client::is_success(&response) {
        return Ok((ActionStatus::Done, response));
    }
    match errors::from_response(route, &response) {
        ConnectorError::Conflict(c) if c.tag == already => Ok((ActionStatus::Unchanged, response)),
        e => Err(e),
    }
}

fn outcome(
    status: ActionStatus,
    detail: String,
    response: &HttpResponse,
    values: Vec<(String, Value)>,
) -> ActionResult {
    ActionResult {
        status,
        detail,
        vendor_response: String::from_utf8_lossy(&response.body).into_owned(),
        values,
    }
}

/// For a 2xx answer that cannot be read when the change may have been made.
fn uncertain(error: ConnectorError) -> ConnectorError {
    match error {
        ConnectorError::Other(m) => ConnectorError::Other(format!(
            "{m}; the change may have been made: check the Dropbox admin console"
        )),
        other => other,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

// ---------------------------------------------------------------------------
// deactivate-user, reactivate-user.

fn deactivate<T: Transport + ?Sized>(
    transport: &mut T,
    targets: &[UserRef],
    wipe_data: bool,
) -> Vec<TargetResult> {
    each_target(targets, |target, user| {
        let body = encode(ROUTE_SUSPEND, &MembersSuspendArg { user, wipe_data })?;
        let (status, response) =
            post_idempotent(transport, ROUTE_SUSPEND, &body, "suspend_inactive_user")?;
        let who = who(target);
        let detail = match status {
            ActionStatus::Done if wipe_data => format!(
                "Suspended {who} in Dropbox; the Dropbox files on their linked devices will be wiped."
            ),
            ActionStatus::Done => format!(
                "Suspended {who} in Dropbox; their files and linked devices were left as they are."
            ),
            ActionStatus::Unchanged => format!(
                "{who} is not an active member (already suspended, or invited and not yet joined); nothing was changed."
            ),
        };
        Ok(outcome(status, detail, &response, vec![]))
    })
}

fn reactivate<T: Transport + ?Sized>(transport: &mut T, targets: &[UserRef]) -> Vec<TargetResult> {
    each_target(targets, |target, user| {
        let body = encode(ROUTE_UNSUSPEND, &MembersUnsuspendArg { user })?;
        let (status, response) = post_idempotent(
            transport,
            ROUTE_UNSUSPEND,
            &body,
            "unsuspend_non_suspended_member",
        )?;
        let who = who(target);
        let detail = match status {
            ActionStatus::Done => format!("Reactivated {who} in Dropbox."),
            ActionStatus::Unchanged => format!("{who} is not suspended; nothing was changed."),
        };
        Ok(outcome(status, detail, &response, vec![]))
    })
}

// ---------------------------------------------------------------------------
// delete-user.

/// The checked parameters of `delete-user`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemoveOptions {
    wipe_data: bool,
    transfer_dest: Option<String>,
    transfer_admin: Option<String>,
    keep_account: bool,
    retain_team_shares: bool,
}

impl RemoveOptions {
    /// The options, or `invalid-input` naming every rule they break.
    fn from_params(params: &Params) -> Result<Self, ConnectorError> {
        let options = RemoveOptions {
            wipe_data: params.flag(PARAM_WIPE_DATA),
            transfer_dest: params.text(PARAM_TRANSFER_DEST).map(str::to_owned),
            transfer_admin: params.text(PARAM_TRANSFER_ADMIN).map(str::to_owned),
            keep_account: params.flag(PARAM_KEEP_ACCOUNT),
            retain_team_shares: params.flag(PARAM_RETAIN_TEAM_SHARES),
        };
        let mut broken: Vec<String> = Vec::new();
        if options.keep_account && options.wipe_data {
            broken.push("keep-account requires wipe-data to be false".to_owned());
        }
        if options.retain_team_shares && (options.wipe_data || !options.keep_account) {
            broken.push(
                "retain-team-shares requires wipe-data to be false and keep-account to be true"
                    .to_owned(),
            );
        }
        if options.transfer_dest.is_some() && options.transfer_admin.is_none() {
            broken.push("transfer-destination-email requires transfer-admin-email".to_owned());
        }
        if options.keep_account && options.transfer_dest.is_some() {
            broken.push(
                "keep-account cannot be combined with a transfer (transfer-destination-email)"
                    .to_owned(),
            );
        }
        for (name, value) in [
            (PARAM_TRANSFER_DEST, &options.transfer_dest),
            (PARAM_TRANSFER_ADMIN, &options.transfer_admin),
        ] {
            if let Some(v) = value
                && !looks_like_email(v)
            {
                broken.push(format!("{name} must be an email address, got `{v}`"));
            }
        }
        if broken.is_empty() {
            Ok(options)
        } else {
            Err(ConnectorError::InvalidInput(broken.join("; ")))
        }
    }

    /// What the removal did besides removing, for the detail sentence.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(dest) = &self.transfer_dest {
            parts.push(format!("their files were transferred to {dest}"));
        }
        if self.keep_account {
            parts.push(if self.retain_team_shares {
                "they keep a personal Dropbox account with access to the team's shared folders"
                    .to_owned()
            } else {
                "they keep a personal Dropbox account".to_owned()
            });
        }
        if self.wipe_data {
            parts.push("the Dropbox files on their linked devices will be wiped".to_owned());
        }
        parts.iter().map(|p| format!("; {p}")).collect()
    }
}

/// `local@domain`, no spaces: enough to catch a field filled with a name.
fn looks_like_email(s: &str) -> bool {
    s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !s.chars().any(char::is_whitespace)
    })
}

fn remove<T, S>(
    transport: &mut T,
    sleeper: &mut S,
    targets: &[UserRef],
    options: &RemoveOptions,
) -> Vec<TargetResult>
where
    T: Transport + ?Sized,
    S: Sleeper + ?Sized,
{
    fn email(email: &str) -> UserSelectorArg<'_> {
        UserSelectorArg::Email { email }
    }
    each_target(targets, |target, user| {
        let arg = MembersRemoveArg {
            user,
            wipe_data: options.wipe_data,
            transfer_dest_id: options.transfer_dest.as_deref().map(email),
            transfer_admin_id: options.transfer_admin.as_deref().map(email),
            keep_account: options.keep_account,
            retain_team_shares: options.retain_team_shares,
        };
        let body = encode(ROUTE_REMOVE, &arg)?;
        let response = client::send(transport, ROUTE_REMOVE, &body)?;
        let who = who(target);
        if !client::is_success(&response) {
            return match errors::from_response(ROUTE_REMOVE, &response) {
                ConnectorError::Conflict(c) if c.tag == "user_not_in_team" => not_in_team(
                    transport,
                    user,
                    &who,
                    &response,
                    ConnectorError::Conflict(c),
                ),
                e => Err(e),
            };
        }
        let done = format!(
            "Removed {who} from the Dropbox team{}. Dropbox can restore them within 7 days.",
            options.describe()
        );
        let launch = wire::parse::<Union<AsyncJobLaunch>>(&response.body)
            .map_err(|e| uncertain(client::malformed(ROUTE_REMOVE, content_type(&response), &e)))?;
        match launch.tag.as_str() {
            "complete" => Ok(outcome(ActionStatus::Done, done, &response, vec![])),
            "async_job_id" => {
                let job = launch
                    .payload
                    .async_job_id
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        uncertain(ConnectorError::Other(format!(
                            "malformed {ROUTE_REMOVE} response: async_job_id without a job id"
                        )))
                    })?;
                let finished = wait_for_removal(transport, sleeper, &job)?;
                Ok(outcome(
                    ActionStatus::Done,
                    done,
                    &finished,
                    vec![("async_job_id".to_owned(), text(&job))],
                ))
            }
            other => Err(uncertain(ConnectorError::Other(format!(
                "unexpected answer `{other}` from {ROUTE_REMOVE}"
            )))),
        }
    })
}

/// `user_not_in_team` from `remove`: Dropbox says the same for a member
/// removed before (nothing to do) and for an address it knows outside this
/// team (a wrong email). `get_info_v2` tells them apart: a removed member
/// of this team is `unchanged`; anyone else is `not-found`, saying so. If
/// the check itself fails, the vendor's answer stands as the error.
fn not_in_team<T: Transport + ?Sized>(
    transport: &mut T,
    user: UserSelectorArg<'_>,
    who: &str,
    response: &HttpResponse,
    refusal: ConnectorError,
) -> TargetResult {
    let removed_here = match member_infos(transport, &[user]) {
        Ok(mut entries) => match entries.pop() {
            Some(Ok((_, item))) => {
                item.tag == "member_info"
                    && item
                        .payload
                        .profile
                        .is_some_and(|p| p.status.tag == "removed")
            }
            _ => return Err(refusal),
        },
        Err(_) => return Err(refusal),
    };
    if removed_here {
        return Ok(outcome(
            ActionStatus::Unchanged,
            format!("{who} was already removed from the Dropbox team; nothing was changed."),
            response,
            vec![],
        ));
    }
    Err(ConnectorError::NotFound(format!(
        "{who} is not a member of this Dropbox team (user_not_in_team: Dropbox knows the address, but not in this team); nothing was changed. Check the email"
    )))
}

fn content_type(response: &HttpResponse) -> Option<&str> {
    response.content_type.as_deref()
}

/// Polls the removal job `job` until it is complete, waiting
/// [`POLL_FIRST_DELAY`] doubling to [`POLL_MAX_DELAY`] between polls, for
/// at most [`POLL_LIMIT`] in all. A rate limit or an unavailable answer
/// while polling is waited out within the same bound. Returns the
/// `complete` answer.
fn wait_for_removal<T, S>(
    transport: &mut T,
    sleeper: &mut S,
    job: &str,
) -> Result<HttpResponse, ConnectorError>
where
    T: Transport + ?Sized,
    S: Sleeper + ?Sized,
{
    let body = encode(ROUTE_REMOVE_JOB_STATUS, &PollArg { async_job_id: job })?;
    let start = sleeper.now();
    let mut delay = POLL_FIRST_DELAY;
    let mut last_failure: Option<ConnectorError> = None;
    loop {
        let waited = sleeper.now().saturating_sub(start);
        let left = POLL_LIMIT.saturating_sub(waited);
        if left.is_zero() {
            let limit = POLL_LIMIT.as_secs();
            return Err(ConnectorError::Unavailable(match last_failure {
                None => format!(
                    "removal job {job} still in progress after {limit} s; check the Dropbox admin console"
                ),
                Some(e) => format!(
                    "removal job {job} not known to be complete after {limit} s (its last status check failed: {e}); check the Dropbox admin console"
                ),
            }));
        }
        sleeper.sleep(delay.min(left));
        delay = delay.saturating_mul(2).min(POLL_MAX_DELAY);
        match client::call(transport, ROUTE_REMOVE_JOB_STATUS, &body) {
            Ok(response) => {
                last_failure = None;
                let status = wire::parse::<Union>(&response.body).map_err(|e| {
                    uncertain(client::malformed(
                        ROUTE_REMOVE_JOB_STATUS,
                        content_type(&response),
                        &e,
                    ))
                })?;
                match status.tag.as_str() {
                    "complete" => return Ok(response),
                    "in_progress" => {}
                    other => {
                        return Err(uncertain(ConnectorError::Other(format!(
                            "removal job {job}: unexpected status `{other}`"
                        ))));
                    }
                }
            }
            Err(ConnectorError::RateLimited(r)) => {
                delay = delay.max(Duration::from_secs(r.retry_after_seconds.into()));
                last_failure = Some(ConnectorError::RateLimited(r));
            }
            Err(e @ ConnectorError::Unavailable(_)) => last_failure = Some(e),
            Err(e) => return Err(e),
        }
    }
}

// ---------------------------------------------------------------------------
// get-user-role.

/// The role values of a member: `role_ids`, `role_names`, `role`.
fn role_values(roles: Vec<TeamMemberRole>) -> Vec<(String, Value)> {
    let role = roles
        .first()
        .map_or(MEMBER_ROLE, |r| r.name.as_str())
        .to_owned();
    let (ids, names): (Vec<String>, Vec<String>) =
        roles.into_iter().map(|r| (r.role_id, r.name)).unzip();
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

fn get_roles<T: Transport + ?Sized>(transport: &mut T, targets: &[UserRef]) -> Vec<TargetResult> {
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

/// One entry of `members_info`: its JSON text verbatim, and as read.
type InfoEntry = Result<(String, Union<MemberInfoItem>), ConnectorError>;

/// `get_info_v2` for `members`: one entry per member, in order. A malformed
/// entry fails only its member; a malformed answer, all of them.
fn member_infos<T: Transport + ?Sized>(
    transport: &mut T,
    members: &[UserSelectorArg<'_>],
) -> Result<Vec<InfoEntry>, ConnectorError> {
    #[derive(Deserialize)]
    struct RawResult<'a> {
        #[serde(borrow)]
        members_info: Vec<&'a RawValue>,
    }

    let body = encode(ROUTE_GET_INFO, &MembersGetInfoV2Arg { members })?;
    let response = client::call(transport, ROUTE_GET_INFO, &body)?;
    let malformed = |path: String, message: String| {
        client::malformed(
            ROUTE_GET_INFO,
            content_type(&response),
            &WireError { path, message },
        )
    };
    let raw: RawResult<'_> = serde_json::from_slice(&response.body)
        .map_err(|e| malformed(String::new(), e.to_string()))?;
    if raw.members_info.len() != members.len() {
        return Err(malformed(
            "members_info".to_owned(),
            format!(
                "{} entries for {} members asked for",
                raw.members_info.len(),
                members.len()
            ),
        ));
    }
    Ok(raw
        .members_info
        .iter()
        .enumerate()
        .map(|(k, entry)| {
            let json = entry.get();
            wire::parse::<Union<MemberInfoItem>>(json.as_bytes())
                .map(|item| (json.to_owned(), item))
                .map_err(|e| {
                    let path = if e.path.is_empty() {
                        format!("members_info[{k}]")
                    } else {
                        format!("members_info[{k}].{}", e.path)
                    };
                    malformed(path, e.message)
                })
        })
        .collect())
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

// ---------------------------------------------------------------------------
// set-user-role.

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

fn set_roles<T: Transport + ?Sized>(
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
    use super::*;
    use crate::client::tests::FakeTransport;
    use oomnitza_connector_sdk::types::{RateLimit, UnauthorizedError, VendorConflict};

    const SUSPEND: &str = "https://api.dropboxapi.com/2/team/members/suspend";
    const UNSUSPEND: &str = "https://api.dropboxapi.com/2/team/members/unsuspend";
    const REMOVE: &str = "https://api.dropboxapi.com/2/team/members/remove";
    const JOB_STATUS: &str = "https://api.dropboxapi.com/2/team/members/remove/job_status/get";
    const GET_INFO: &str = "https://api.dropboxapi.com/2/team/members/get_info_v2";
    const ROLES: &str = "https://api.dropboxapi.com/2/team/members/get_available_team_member_roles";
    const SET_ROLE: &str = "https://api.dropboxapi.com/2/team/members/set_admin_permissions_v2";

    /// A clock that only moves when slept on.
    #[derive(Debug, Default)]
    struct FakeSleeper {
        now: Duration,
        slept: Vec<Duration>,
    }

    impl Sleeper for FakeSleeper {
        fn now(&mut self) -> Duration {
            self.now
        }
        fn sleep(&mut self, duration: Duration) {
            self.slept.push(duration);
            self.now += duration;
        }
    }

    /// One action call against scripted answers.
    struct Call {
        result: Result<Vec<TargetResult>, ConnectorError>,
        requests: Vec<(String, String)>,
        slept: Vec<Duration>,
    }

    fn call(
        answers: &[(u16, &str)],
        name: &str,
        targets: &[UserRef],
        params: &[(&str, Value)],
    ) -> Call {
        let mut t = FakeTransport::default();
        for (status, body) in answers {
            t.push(*status, body);
        }
        let mut s = FakeSleeper::default();
        let params = params
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let result = run(&mut t, &mut s, name, targets, params);
        assert!(t.answers.is_empty(), "unused answers: {:?}", t.answers);
        Call {
            result,
            requests: t.requests,
            slept: s.slept,
        }
    }

    impl Call {
        fn results(&self) -> &[TargetResult] {
            match &self.result {
                Ok(r) => r,
                Err(e) => panic!("the call failed: {e:?}"),
            }
        }

        fn done(&self, i: usize) -> &ActionResult {
            match &self.results()[i] {
                Ok(r) => r,
                Err(e) => panic!("target {i} failed: {e:?}"),
            }
        }

        fn failed(&self, i: usize) -> &ConnectorError {
            match &self.results()[i] {
                Err(e) => e,
                Ok(r) => panic!("target {i} succeeded: {r:?}"),
            }
        }

        fn invalid(&self) -> &str {
            match &self.result {
                Err(ConnectorError::InvalidInput(m)) => m,
                other => panic!("expected invalid-input, got {other:?}"),
            }
        }

        fn bodies(&self) -> Vec<&str> {
            self.requests.iter().map(|(_, b)| b.as_str()).collect()
        }

        fn urls(&self) -> Vec<&str> {
            self.requests.iter().map(|(u, _)| u.as_str()).collect()
        }
    }

    fn email(s: &str) -> UserRef {
        UserRef::Email(s.to_owned())
    }

    fn yes() -> Value {
        Value::Boolean(true)
    }

    fn no() -> Value {
        Value::Boolean(false)
    }

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    fn list(items: &[&str]) -> Value {
        Value::TextList(items.iter().map(|s| (*s).to_owned()).collect())
    }

    fn conflict(body_tag: &str) -> String {
        format!(r#"{{"error_summary":"{body_tag}/..","error":{{".tag":"{body_tag}"}}}}"#)
    }

    const A: &str = r#"{".tag":"email","email":"a@x.com"}"#;

    // -----------------------------------------------------------------------
    // The call as a whole.

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

    #[test]
    fn user_refs_become_selectors_and_bad_ones_fail_alone() {
        let long = "x".repeat(65);
        let max = "é".repeat(64);
        let targets = [
            UserRef::Id("dbmid:1".into()),
            UserRef::ExternalId(long),
            UserRef::ExternalId(max.clone()),
            email(" "),
            email("a@x.com"),
        ];
        let c = call(
            &[(200, "null"), (200, "null"), (200, "null")],
            DEACTIVATE_USER,
            &targets,
            &[],
        );
        assert_eq!(
            c.bodies(),
            [
                r#"{"user":{".tag":"team_member_id","team_member_id":"dbmid:1"},"wipe_data":false}"#
                    .to_owned(),
                format!(r#"{{"user":{{".tag":"external_id","external_id":"{max}"}},"wipe_data":false}}"#),
                format!(r#"{{"user":{A},"wipe_data":false}}"#),
            ]
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::InvalidInput(
                "external id is 65 characters long; Dropbox accepts at most 64".into()
            )
        );
        assert_eq!(
            c.failed(3),
            &ConnectorError::InvalidInput("the target's email is empty".into())
        );
        assert_eq!(
            c.done(0).detail,
            "Suspended team member dbmid:1 in Dropbox; their files and linked devices were left as they are."
        );
        assert_eq!(c.done(4).status, ActionStatus::Done);
    }

    #[test]
    fn call_wide_errors_stop_the_remaining_targets() {
        let c = call(
            &[
                (200, "null"),
                (
                    429,
                    r#"{"error_summary":"too_many_write_operations/","error":{"reason":"too_many_write_operations"},"retry_after":5}"#,
                ),
            ],
            DEACTIVATE_USER,
            &[
                email("a@x.com"),
                email("b@x.com"),
                email(""),
                email("c@x.com"),
            ],
            &[],
        );
        assert_eq!(c.requests.len(), 2);
        assert_eq!(c.done(0).status, ActionStatus::Done);
        let limited = |message: &str| {
            ConnectorError::RateLimited(RateLimit {
                retry_after_seconds: 5,
                message: message.to_owned(),
            })
        };
        assert_eq!(c.failed(1), &limited("too_many_write_operations/"));
        assert!(matches!(c.failed(2), ConnectorError::InvalidInput(_)));
        assert_eq!(
            c.failed(3),
            &limited("not attempted after an earlier request failed: too_many_write_operations/")
        );
    }

    // -----------------------------------------------------------------------
    // deactivate-user.

    #[test]
    fn deactivate_always_sends_wipe_data() {
        for (params, wipe) in [
            (vec![], false),
            (vec![("wipe-data", Value::Null)], false),
            (vec![("wipe-data", no())], false),
            (vec![("wipe-data", yes())], true),
        ] {
            let c = call(
                &[(200, "null")],
                DEACTIVATE_USER,
                &[email("a@x.com")],
                &params,
            );
            assert_eq!(c.urls(), [SUSPEND]);
            assert_eq!(
                c.bodies(),
                [format!(r#"{{"user":{A},"wipe_data":{wipe}}}"#)]
            );
            let r = c.done(0);
            assert_eq!(r.vendor_response, "null");
            assert_eq!(r.values, vec![]);
            let expected = if wipe {
                "Suspended a@x.com in Dropbox; the Dropbox files on their linked devices will be wiped."
            } else {
                "Suspended a@x.com in Dropbox; their files and linked devices were left as they are."
            };
            assert_eq!(r.detail, expected);
        }
    }

    #[test]
    fn deactivate_an_inactive_member_is_unchanged() {
        let body = conflict("suspend_inactive_user");
        let c = call(&[(409, &body)], DEACTIVATE_USER, &[email("a@x.com")], &[]);
        let r = c.done(0);
        assert_eq!(r.status, ActionStatus::Unchanged);
        assert_eq!(r.vendor_response, body);
        assert_eq!(
            r.detail,
            "a@x.com is not an active member (already suspended, or invited and not yet joined); nothing was changed."
        );
    }

    #[test]
    fn vendor_conflicts_reach_the_caller_verbatim() {
        let with_message = r#"{"error_summary":"suspend_last_admin/...","error":{".tag":"suspend_last_admin"},"user_message":{"text":"You can't suspend the last admin.","locale":"en"}}"#;
        let c = call(
            &[
                (409, &conflict("suspend_last_admin")),
                (409, with_message),
                (409, &conflict("some_future_tag")),
                (409, &conflict("user_not_found")),
                (200, "null"),
            ],
            DEACTIVATE_USER,
            &[
                email("a@x.com"),
                email("b@x.com"),
                email("c@x.com"),
                email("d@x.com"),
                email("e@x.com"),
            ],
            &[],
        );
        let conflict = |tag: &str, message: Option<&str>| {
            ConnectorError::Conflict(VendorConflict {
                tag: tag.to_owned(),
                summary: format!("{tag}/.."),
                user_message: message.map(str::to_owned),
            })
        };
        assert_eq!(
            c.failed(0),
            &conflict(
                "suspend_last_admin",
                Some(
                    "This user is the team's last admin, and Dropbox cannot suspend the last admin. Make another member an admin first."
                )
            )
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::Conflict(VendorConflict {
                tag: "suspend_last_admin".into(),
                summary: "suspend_last_admin/...".into(),
                user_message: Some("You can't suspend the last admin.".into()),
            })
        );
        assert_eq!(c.failed(2), &conflict("some_future_tag", None));
        assert_eq!(
            c.failed(3),
            &conflict(
                "user_not_found",
                Some("No member of the Dropbox team matches this user.")
            )
        );
        assert_eq!(c.done(4).status, ActionStatus::Done);
    }

    #[test]
    fn other_vendor_errors_fail_only_their_target() {
        let c = call(
            &[(503, "upstream"), (400, "bad email"), (200, "null")],
            DEACTIVATE_USER,
            &[email("a@x.com"), email("b@x"), email("c@x.com")],
            &[],
        );
        assert_eq!(
            c.failed(0),
            &ConnectorError::Unavailable("Dropbox returned 503: upstream".into())
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::InvalidInput("Dropbox returned 400: bad email".into())
        );
        assert_eq!(c.done(2).status, ActionStatus::Done);
    }

    // -----------------------------------------------------------------------
    // reactivate-user.

    #[test]
    fn reactivate() {
        let c = call(
            &[
                (200, "null"),
                (409, &conflict("unsuspend_non_suspended_member")),
                (409, &conflict("team_license_limit")),
            ],
            REACTIVATE_USER,
            &[
                email("a@x.com"),
                UserRef::ExternalId("e-7".into()),
                email("c@x.com"),
            ],
            &[],
        );
        assert_eq!(c.urls(), [UNSUSPEND; 3]);
        assert_eq!(
            c.bodies(),
            [
                format!(r#"{{"user":{A}}}"#).as_str(),
                r#"{"user":{".tag":"external_id","external_id":"e-7"}}"#,
                r#"{"user":{".tag":"email","email":"c@x.com"}}"#,
            ]
        );
        assert_eq!(c.done(0).status, ActionStatus::Done);
        assert_eq!(c.done(0).detail, "Reactivated a@x.com in Dropbox.");
        let r = c.done(1);
        assert_eq!(r.status, ActionStatus::Unchanged);
        assert_eq!(
            r.detail,
            "the member with external id e-7 is not suspended; nothing was changed."
        );
        assert_eq!(
            r.vendor_response,
            conflict("unsuspend_non_suspended_member")
        );
        assert!(
            matches!(c.failed(2), ConnectorError::Conflict(v) if v.tag == "team_license_limit")
        );
    }

    // -----------------------------------------------------------------------
    // delete-user.

    fn remove_body(rest: &str) -> String {
        format!(r#"{{"user":{A},{rest}}}"#)
    }

    #[test]
    fn delete_sends_every_flag_explicitly() {
        let cases: [(&[(&str, Value)], &str); 6] = [
            (
                &[],
                r#""wipe_data":false,"keep_account":false,"retain_team_shares":false"#,
            ),
            (
                &[("wipe-data", yes())],
                r#""wipe_data":true,"keep_account":false,"retain_team_shares":false"#,
            ),
            (
                &[
                    ("transfer-destination-email", text(" boss@x.com ")),
                    ("transfer-admin-email", text("it@x.com")),
                ],
                r#""wipe_data":false,"transfer_dest_id":{".tag":"email","email":"boss@x.com"},"transfer_admin_id":{".tag":"email","email":"it@x.com"},"keep_account":false,"retain_team_shares":false"#,
            ),
            (
                &[
                    ("wipe-data", yes()),
                    ("transfer-destination-email", text("boss@x.com")),
                    ("transfer-admin-email", text("it@x.com")),
                ],
                r#""wipe_data":true,"transfer_dest_id":{".tag":"email","email":"boss@x.com"},"transfer_admin_id":{".tag":"email","email":"it@x.com"},"keep_account":false,"retain_team_shares":false"#,
            ),
            (
                &[
                    ("keep-account", yes()),
                    ("transfer-destination-email", text("")),
                ],
                r#""wipe_data":false,"keep_account":true,"retain_team_shares":false"#,
            ),
            (
                &[
                    ("keep-account", yes()),
                    ("retain-team-shares", yes()),
                    ("wipe-data", no()),
                ],
                r#""wipe_data":false,"keep_account":true,"retain_team_shares":true"#,
            ),
        ];
        for (params, rest) in cases {
            let c = call(
                &[(200, r#"{".tag":"complete"}"#)],
                DELETE_USER,
                &[email("a@x.com")],
                params,
            );
            assert_eq!(c.urls(), [REMOVE]);
            assert_eq!(c.bodies(), [remove_body(rest)]);
            let r = c.done(0);
            assert_eq!(r.vendor_response, r#"{".tag":"complete"}"#);
            assert!(c.slept.is_empty());
        }
    }

    #[test]
    fn delete_details_say_what_happened() {
        let c = call(
            &[(200, r#"{".tag":"complete"}"#)],
            DELETE_USER,
            &[email("a@x.com")],
            &[
                ("transfer-destination-email", text("boss@x.com")),
                ("transfer-admin-email", text("it@x.com")),
            ],
        );
        assert_eq!(
            c.done(0).detail,
            "Removed a@x.com from the Dropbox team; their files were transferred to boss@x.com. Dropbox can restore them within 7 days."
        );
        let c = call(
            &[(200, r#"{".tag":"complete"}"#)],
            DELETE_USER,
            &[UserRef::Id("dbmid:9".into())],
            &[("keep-account", yes()), ("retain-team-shares", yes())],
        );
        assert_eq!(
            c.done(0).detail,
            "Removed team member dbmid:9 from the Dropbox team; they keep a personal Dropbox account with access to the team's shared folders. Dropbox can restore them within 7 days."
        );
    }

    #[test]
    fn delete_rules_fail_the_call_before_any_request() {
        let dest = || ("transfer-destination-email", text("boss@x.com"));
        let admin = || ("transfer-admin-email", text("it@x.com"));
        let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
            (
                vec![("keep-account", yes()), ("wipe-data", yes())],
                "keep-account requires wipe-data to be false",
            ),
            (
                vec![("retain-team-shares", yes())],
                "retain-team-shares requires wipe-data to be false and keep-account to be true",
            ),
            (
                vec![
                    ("retain-team-shares", yes()),
                    ("keep-account", yes()),
                    ("wipe-data", yes()),
                ],
                "keep-account requires wipe-data to be false; retain-team-shares requires wipe-data to be false and keep-account to be true",
            ),
            (
                vec![("retain-team-shares", yes()), ("wipe-data", yes())],
                "retain-team-shares requires wipe-data to be false and keep-account to be true",
            ),
            (
                vec![dest()],
                "transfer-destination-email requires transfer-admin-email",
            ),
            (
                vec![dest(), ("transfer-admin-email", text("   "))],
                "transfer-destination-email requires transfer-admin-email",
            ),
            (
                vec![dest(), admin(), ("keep-account", yes())],
                "keep-account cannot be combined with a transfer (transfer-destination-email)",
            ),
            (
                vec![("transfer-destination-email", text("Jane Boss")), admin()],
                "transfer-destination-email must be an email address, got `Jane Boss`",
            ),
            (
                vec![dest(), ("transfer-admin-email", text("it@"))],
                "transfer-admin-email must be an email address, got `it@`",
            ),
        ];
        for (params, message) in cases {
            let c = call(&[], DELETE_USER, &[email("a@x.com")], &params);
            assert_eq!(c.invalid(), message, "{params:?}");
            assert!(c.requests.is_empty());
        }
    }

    #[test]
    fn delete_polls_an_async_removal_until_complete() {
        let c = call(
            &[
                (200, r#"{".tag":"async_job_id","async_job_id":"dbjid:7"}"#),
                (200, r#"{".tag":"in_progress"}"#),
                (200, r#"{".tag":"in_progress"}"#),
                (200, r#"{".tag":"complete"}"#),
            ],
            DELETE_USER,
            &[email("a@x.com")],
            &[],
        );
        assert_eq!(c.urls(), [REMOVE, JOB_STATUS, JOB_STATUS, JOB_STATUS]);
        assert_eq!(c.bodies()[1..], [r#"{"async_job_id":"dbjid:7"}"#; 3]);
        assert_eq!(
            c.slept,
            [
                Duration::from_millis(250),
                Duration::from_millis(500),
                Duration::from_millis(1000)
            ]
        );
        let r = c.done(0);
        assert_eq!(r.status, ActionStatus::Done);
        assert_eq!(r.vendor_response, r#"{".tag":"complete"}"#);
        assert_eq!(r.values, [("async_job_id".to_owned(), text("dbjid:7"))]);
    }

    #[test]
    fn delete_gives_up_on_a_removal_job_after_the_bound() {
        let mut answers = vec![(200, r#"{".tag":"async_job_id","async_job_id":"dbjid:8"}"#)];
        answers.extend([(200, r#"{".tag":"in_progress"}"#); 11]);
        answers.push((200, "null"));
        let c = call(
            &answers,
            DELETE_USER,
            &[email("a@x.com"), email("b@x.com")],
            &[],
        );
        assert_eq!(
            c.failed(0),
            &ConnectorError::Unavailable(
                "removal job dbjid:8 still in progress after 30 s; check the Dropbox admin console"
                    .into()
            )
        );
        let ms = Duration::from_millis;
        assert_eq!(
            c.slept,
            [
                ms(250),
                ms(500),
                ms(1000),
                ms(2000),
                ms(4000),
                ms(4000),
                ms(4000),
                ms(4000),
                ms(4000),
                ms(4000),
                ms(2250),
            ]
        );
        assert_eq!(c.slept.iter().sum::<Duration>(), POLL_LIMIT);
        // 1 removal + 11 polls (the last at the 30 s mark), then the next
        // target goes ahead.
        assert_eq!(c.requests.len(), 13);
        assert_eq!(c.requests[12].0, REMOVE);
        assert!(c.results()[1].is_err(), "null is not a removal answer");
    }

    #[test]
    fn delete_polling_waits_out_rate_limits_and_stops_on_job_errors() {
        let c = call(
            &[
                (200, r#"{".tag":"async_job_id","async_job_id":"dbjid:1"}"#),
                (
                    429,
                    r#"{"error":{"reason":"too_many_requests"},"retry_after":3}"#,
                ),
                (503, ""),
                (200, r#"{".tag":"complete"}"#),
                (200, r#"{".tag":"async_job_id","async_job_id":"dbjid:2"}"#),
                (409, &conflict("invalid_async_job_id")),
            ],
            DELETE_USER,
            &[email("a@x.com"), email("b@x.com")],
            &[],
        );
        let ms = Duration::from_millis;
        assert_eq!(
            c.slept,
            [ms(250), ms(3000), ms(4000), ms(250)],
            "the rate limit's wait, then backoff"
        );
        assert_eq!(c.done(0).status, ActionStatus::Done);
        assert_eq!(
            c.failed(1),
            &ConnectorError::Conflict(VendorConflict {
                tag: "invalid_async_job_id".into(),
                summary: "invalid_async_job_id/..".into(),
                user_message: Some("Dropbox no longer knows this removal job.".into()),
            })
        );
    }

    #[test]
    fn delete_a_member_already_gone_is_unchanged() {
        let removed = r#"{"members_info":[{".tag":"member_info","profile":{"team_member_id":"dbmid:A","email":"a@x.com","status":{".tag":"removed","is_recoverable":true}}}]}"#;
        let c = call(
            &[(409, &conflict("user_not_in_team")), (200, removed)],
            DELETE_USER,
            &[email("a@x.com")],
            &[("wipe-data", yes())],
        );
        let r = c.done(0);
        assert_eq!(r.status, ActionStatus::Unchanged);
        assert_eq!(r.vendor_response, conflict("user_not_in_team"));
        assert_eq!(
            r.detail,
            "a@x.com was already removed from the Dropbox team; nothing was changed."
        );
        assert_eq!(c.urls(), [REMOVE, GET_INFO]);
        assert_eq!(
            c.bodies()[1],
            r#"{"members":[{".tag":"email","email":"a@x.com"}]}"#
        );
    }

    #[test]
    fn delete_an_address_outside_the_team_is_not_found_not_unchanged() {
        // Dropbox knows the address (user_not_in_team), but the team has no
        // such member: a wrong email, not a repeat.
        let nobody = r#"{"members_info":[{".tag":"id_not_found","id_not_found":"typo@x.com"}]}"#;
        let c = call(
            &[(409, &conflict("user_not_in_team")), (200, nobody)],
            DELETE_USER,
            &[email("typo@x.com")],
            &[],
        );
        match c.failed(0) {
            ConnectorError::NotFound(m) => {
                assert!(
                    m.contains("typo@x.com is not a member of this Dropbox team"),
                    "{m}"
                );
                assert!(
                    m.contains("user_not_in_team") && m.contains("Check the email"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        // An active member named by the answer is no repeat either.
        let active = r#"{"members_info":[{".tag":"member_info","profile":{"team_member_id":"dbmid:A","email":"a@x.com","status":"active"}}]}"#;
        let c = call(
            &[(409, &conflict("user_not_in_team")), (200, active)],
            DELETE_USER,
            &[email("a@x.com")],
            &[],
        );
        assert!(matches!(c.failed(0), ConnectorError::NotFound(_)));
        // When the check fails, Dropbox's own answer stands.
        let c = call(
            &[(409, &conflict("user_not_in_team")), (500, "oops")],
            DELETE_USER,
            &[email("a@x.com")],
            &[],
        );
        assert!(matches!(c.failed(0), ConnectorError::Conflict(v) if v.tag == "user_not_in_team"));
    }

    #[test]
    fn delete_conflicts_keep_the_tag_and_explain_it() {
        let c = call(
            &[
                (409, &conflict("removed_and_transfer_dest_should_differ")),
                (409, &conflict("cannot_keep_invited_user_account")),
                (409, &conflict("remove_last_admin")),
            ],
            DELETE_USER,
            &[email("a@x.com"), email("b@x.com"), email("c@x.com")],
            &[],
        );
        for (i, tag) in [
            "removed_and_transfer_dest_should_differ",
            "cannot_keep_invited_user_account",
            "remove_last_admin",
        ]
        .iter()
        .enumerate()
        {
            let ConnectorError::Conflict(v) = c.failed(i) else {
                panic!("expected conflict: {:?}", c.failed(i));
            };
            assert_eq!(v.tag, *tag);
            assert_eq!(v.summary, format!("{tag}/.."));
            assert_eq!(v.user_message.as_deref(), errors::plain_reason(tag));
            assert!(v.user_message.is_some());
        }
    }

    #[test]
    fn delete_with_an_unreadable_answer_says_the_removal_may_have_happened() {
        let c = call(
            &[
                (200, r#"{".tag":"async_job_id"}"#),
                (200, r#"{".tag":"queued"}"#),
            ],
            DELETE_USER,
            &[email("a@x.com"), email("b@x.com")],
            &[],
        );
        assert_eq!(
            c.failed(0),
            &ConnectorError::Other("malformed team/members/remove response: async_job_id without a job id; the change may have been made: check the Dropbox admin console".into())
        );
        assert_eq!(
            c.failed(1),
            &ConnectorError::Other("unexpected answer `queued` from team/members/remove; the change may have been made: check the Dropbox admin console".into())
        );
    }

    // -----------------------------------------------------------------------
    // get-user-role.

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
