//! `delete-user`: removing a member (with an optional file transfer or a
//! kept account), polling an asynchronous removal job, and telling a repeat
//! from a wrong address.

use std::time::Duration;

use super::names::{
    PARAM_KEEP_ACCOUNT, PARAM_RETAIN_TEAM_SHARES, PARAM_TRANSFER_ADMIN, PARAM_TRANSFER_DEST,
    PARAM_WIPE_DATA,
};
use super::requests::{content_type, encode, member_infos, outcome, uncertain};
use super::targets::{TargetResult, each_target, who};
use crate::client::{self, ROUTE_REMOVE, ROUTE_REMOVE_JOB_STATUS};
use crate::errors;
use crate::wire::{self, AsyncJobLaunch, MembersRemoveArg, PollArg, Union, UserSelectorArg};
use oomnitza_connector_sdk::params::Params;
use oomnitza_connector_sdk::transport::{HttpResponse, Sleeper, Transport};
use oomnitza_connector_sdk::types::{ActionStatus, ConnectorError, UserRef, Value};

/// The first wait before polling a removal job; each wait doubles...
pub const POLL_FIRST_DELAY: Duration = Duration::from_millis(250);
/// ...up to this...
pub const POLL_MAX_DELAY: Duration = Duration::from_secs(4);
/// ...and the total wait for one job is bounded by this.
pub const POLL_LIMIT: Duration = Duration::from_secs(30);

/// The checked parameters of `delete-user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoveOptions {
    wipe_data: bool,
    transfer_dest: Option<String>,
    transfer_admin: Option<String>,
    keep_account: bool,
    retain_team_shares: bool,
}

impl RemoveOptions {
    /// The options, or `invalid-input` naming every rule they break.
    pub(super) fn from_params(params: &Params) -> Result<Self, ConnectorError> {
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

pub(super) fn remove<T, S>(
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

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::names::DELETE_USER;
    use crate::actions::testing::{
        A, GET_INFO, JOB_STATUS, REMOVE, call, conflict, email, no, text, yes,
    };
    use oomnitza_connector_sdk::types::VendorConflict;

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
}
