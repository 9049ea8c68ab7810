//! Requests: encoding an argument, posting to a route whose repeat is
//! harmless, the shared `get_info_v2` lookup, and turning answers into
//! outcomes.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::client::{self, ROUTE_GET_INFO};
use crate::errors;
use crate::wire::{self, MemberInfoItem, MembersGetInfoV2Arg, Union, UserSelectorArg, WireError};
use oomnitza_connector_sdk::transport::{HttpResponse, Transport};
use oomnitza_connector_sdk::types::{ActionResult, ActionStatus, ConnectorError, Value};

pub(super) fn encode<A: Serialize>(route: &str, arg: &A) -> Result<Vec<u8>, ConnectorError> {
    serde_json::to_vec(arg)
        .map_err(|e| ConnectorError::Other(format!("cannot encode {route}: {e}")))
}

/// Posts to a route whose repeat is harmless: a 409 tagged `already` means
/// the change was already made, and is [`ActionStatus::Unchanged`] with the
/// vendor's answer.
pub(super) fn post_idempotent<T: Transport + ?Sized>(
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

pub(super) fn outcome(
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
pub(super) fn uncertain(error: ConnectorError) -> ConnectorError {
    match error {
        ConnectorError::Other(m) => ConnectorError::Other(format!(
            "{m}; the change may have been made: check the Dropbox admin console"
        )),
        other => other,
    }
}

pub(super) fn content_type(response: &HttpResponse) -> Option<&str> {
    response.content_type.as_deref()
}

/// One entry of `members_info`: its JSON text verbatim, and as read.
pub(super) type InfoEntry = Result<(String, Union<MemberInfoItem>), ConnectorError>;

/// `get_info_v2` for `members`: one entry per member, in order. A malformed
/// entry fails only its member; a malformed answer, all of them.
pub(super) fn member_infos<T: Transport + ?Sized>(
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

#[cfg(test)]
mod tests {
    use crate::actions::names::DEACTIVATE_USER;
    use crate::actions::testing::{call, conflict, email};
    use oomnitza_connector_sdk::types::{ActionStatus, ConnectorError, VendorConflict};

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
}
