//! Targets: the selector of each, running an action per target in order,
//! and the halting rule (errors about the call stop the remaining targets).

use crate::wire::UserSelectorArg;
use oomnitza_connector_sdk::actions::{halts, not_attempted};
use oomnitza_connector_sdk::types::{ActionResult, ConnectorError, UserRef};

/// Dropbox's limit on an external id, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 64;

/// One target's outcome.
pub type TargetResult = Result<ActionResult, ConnectorError>;

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
pub(super) fn who(target: &UserRef) -> String {
    match target {
        UserRef::Email(email) => email.clone(),
        UserRef::Id(id) => format!("team member {id}"),
        UserRef::ExternalId(id) => format!("the member with external id {id}"),
    }
}

/// Runs `act` on each target in order, with its selector; a target without
/// one fails with `invalid-input`, and after a [`halts`] error the rest are
/// [`not_attempted`].
pub(super) fn each_target<'t, F>(targets: &'t [UserRef], mut act: F) -> Vec<TargetResult>
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::names::DEACTIVATE_USER;
    use crate::actions::testing::{A, call, email};
    use oomnitza_connector_sdk::types::{ActionStatus, RateLimit};

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
}
