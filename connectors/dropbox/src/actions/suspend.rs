//! `deactivate-user` and `reactivate-user`: suspending and unsuspending a
//! member, each repeat reported `unchanged`.

use super::requests::{encode, outcome, post_idempotent};
use super::targets::{TargetResult, each_target, who};
use crate::client::{ROUTE_SUSPEND, ROUTE_UNSUSPEND};
use crate::wire::{MembersSuspendArg, MembersUnsuspendArg};
use oomnitza_connector_sdk::transport::Transport;
use oomnitza_connector_sdk::types::{ActionStatus, UserRef};

pub(super) fn deactivate<T: Transport + ?Sized>(
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

pub(super) fn reactivate<T: Transport + ?Sized>(
    transport: &mut T,
    targets: &[UserRef],
) -> Vec<TargetResult> {
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

#[cfg(test)]
mod tests {
    use crate::actions::names::{DEACTIVATE_USER, REACTIVATE_USER};
    use crate::actions::testing::{A, SUSPEND, UNSUSPEND, call, conflict, email, no, yes};
    use oomnitza_connector_sdk::types::{ActionStatus, ConnectorError, UserRef, Value};

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
}
