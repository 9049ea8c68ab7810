//! Calls to Dropbox's members routes over a [`Transport`].
//!
//! Always addresses the real origin, [`API_ORIGIN`]; a host that wants a
//! fake server routes that origin itself. Never sets `Authorization`: the
//! host attaches the team's token.

use crate::errors;
use crate::wire::{self, MembersListArg, MembersListContinueArg, MembersListResult};
use oomnitza_connector_sdk::transport::{HttpResponse, Request, Transport};
use oomnitza_connector_sdk::types::ConnectorError;

/// Dropbox's RPC origin.
pub const API_ORIGIN: &str = "https://api.dropboxapi.com";

/// The first page of members (`members/list:2`).
pub const ROUTE_LIST: &str = "team/members/list_v2";

/// The following pages (`members/list/continue:2`).
pub const ROUTE_CONTINUE: &str = "team/members/list/continue_v2";

/// Suspends a member (`members/suspend`).
pub const ROUTE_SUSPEND: &str = "team/members/suspend";

/// Unsuspends a member (`members/unsuspend`).
pub const ROUTE_UNSUSPEND: &str = "team/members/unsuspend";

/// Removes a member (`members/remove`); may answer with an async job.
pub const ROUTE_REMOVE: &str = "team/members/remove";

/// The state of a removal job (`members/remove/job_status/get`).
pub const ROUTE_REMOVE_JOB_STATUS: &str = "team/members/remove/job_status/get";

/// Members by selector, many per call (`members/get_info:2`).
pub const ROUTE_GET_INFO: &str = "team/members/get_info_v2";

/// The team's admin roles (`members/get_available_team_member_roles`).
pub const ROUTE_AVAILABLE_ROLES: &str = "team/members/get_available_team_member_roles";

/// Replaces a member's admin role (`members/set_admin_permissions:2`).
pub const ROUTE_SET_PERMISSIONS: &str = "team/members/set_admin_permissions_v2";

/// The team's name, size and policies (`team/get_info`, no argument).
pub const ROUTE_TEAM_INFO: &str = "team/get_info";

/// The route error of `list/continue_v2` for a cursor Dropbox no longer
/// accepts (expired, or from before a reset of the listing): the listing
/// must start over, so the connector answers `cursor-expired`.
pub const TAG_INVALID_CURSOR: &str = "invalid_cursor";

/// The URL of an RPC route: `https://api.dropboxapi.com/2/<route>`.
pub fn route_url(route: &str) -> String {
    format!("{API_ORIGIN}/2/{route}")
}

/// One page of team members: the first (`list_v2` with `limit` and
/// `include_removed`) when `cursor` is `None`, else the page after `cursor`
/// (`list/continue_v2`; the cursor carries the original limit and options).
///
/// With `read_ahead`, the next page is requested as soon as this one's
/// cursor is known (a quick scan of the body), before the page is parsed.
pub fn list_members<T: Transport + ?Sized>(
    transport: &mut T,
    cursor: Option<&str>,
    limit: u32,
    include_removed: bool,
    read_ahead: bool,
) -> Result<MembersListResult, ConnectorError> {
    let (route, body) = match cursor {
        None => (
            ROUTE_LIST,
            serde_json::to_vec(&MembersListArg {
                limit,
                include_removed,
            }),
        ),
        Some(cursor) => (
            ROUTE_CONTINUE,
            serde_json::to_vec(&MembersListContinueArg { cursor }),
        ),
    };
    let body = body.map_err(|e| ConnectorError::Other(format!("cannot encode {route}: {e}")))?;
    let response = call(transport, route, &body).map_err(|e| match e {
        ConnectorError::Conflict(c) if route == ROUTE_CONTINUE && c.tag == TAG_INVALID_CURSOR => {
            ConnectorError::CursorExpired(c.user_message.unwrap_or(c.summary))
        }
        e => e,
    })?;
    if read_ahead
        && let Some((next, true)) = crate::peek::continuation(&response.body)
        && let Ok(next_body) = serde_json::to_vec(&MembersListContinueArg { cursor: &next })
    {
        transport.prefetch(&Request::post_json(route_url(ROUTE_CONTINUE), next_body));
    }
    wire::parse::<MembersListResult>(&response.body)
        .map_err(|e| malformed(route, response.content_type.as_deref(), &e))
}

/// The team's seat counts, from `team/get_info` (sent `null`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct TeamCounts {
    /// `num_licensed_users`: the licences the team has bought.
    pub num_licensed_users: u64,
    /// `num_provisioned_users`: the members holding one (active, invited
    /// and suspended; not removed ones): the members a listing without
    /// removed ones returns, give or take changes in between.
    pub num_provisioned_users: u64,
}

/// The team's seat counts (`team/get_info`, sent `null`; the rest of the
/// answer, its name and policies, is not read).
pub fn team_counts<T: Transport + ?Sized>(transport: &mut T) -> Result<TeamCounts, ConnectorError> {
    let response = call(transport, ROUTE_TEAM_INFO, b"null")?;
    serde_json::from_slice::<TeamCounts>(&response.body).map_err(|e| {
        malformed(
            ROUTE_TEAM_INFO,
            response.content_type.as_deref(),
            &wire::WireError {
                path: String::new(),
                message: e.to_string(),
            },
        )
    })
}

/// Posts `body` to `route`; a non-2xx answer becomes its contract error.
pub fn call<T: Transport + ?Sized>(
    transport: &mut T,
    route: &str,
    body: &[u8],
) -> Result<HttpResponse, ConnectorError> {
    let response = send(transport, route, body)?;
    if is_success(&response) {
        Ok(response)
    } else {
        Err(errors::from_response(route, &response))
    }
}

/// Posts `body` to `route` and returns whatever HTTP answer came back; only
/// a missing answer is an error. For callers that read a refusal's body
/// (an idempotent repeat keeps the vendor's answer for the audit log).
pub fn send<T: Transport + ?Sized>(
    transport: &mut T,
    route: &str,
    body: &[u8],
) -> Result<HttpResponse, ConnectorError> {
    transport
        .post_json(&route_url(route), body)
        .map_err(oomnitza_connector_sdk::errors::from_transport)
}

/// A 2xx answer.
pub fn is_success(response: &HttpResponse) -> bool {
    (200..300).contains(&response.status)
}

/// The error for a 2xx answer that does not read as the route's result.
pub fn malformed(
    route: &str,
    content_type: Option<&str>,
    error: &wire::WireError,
) -> ConnectorError {
    match content_type {
        Some(ct) if !ct.trim_start().starts_with("application/json") && !ct.is_empty() => {
            ConnectorError::Other(format!(
                "malformed {route} response (content-type {ct}): {error}"
            ))
        }
        _ => ConnectorError::Other(format!("malformed {route} response: {error}")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oomnitza_connector_sdk::transport::{Method, TransportError};
    use std::collections::VecDeque;

    /// A transport that records requests and answers from a script.
    #[derive(Default)]
    pub(crate) struct FakeTransport {
        pub requests: Vec<(String, String)>,
        /// Requests started ahead (`prefetch`), in order.
        pub prefetched: Vec<(String, String)>,
        pub answers: VecDeque<Result<HttpResponse, TransportError>>,
    }

    impl FakeTransport {
        pub(crate) fn answering(status: u16, body: &str) -> Self {
            let mut t = FakeTransport::default();
            t.push(status, body);
            t
        }

        pub(crate) fn push(&mut self, status: u16, body: &str) {
            self.answers.push_back(Ok(HttpResponse {
                status,
                retry_after: None,
                content_type: Some("application/json".to_owned()),
                body: body.as_bytes().to_vec(),
            }));
        }
    }

    impl Transport for FakeTransport {
        fn send(&mut self, request: &Request) -> Result<HttpResponse, TransportError> {
            assert_eq!(request.method, Method::Post, "Dropbox routes are POSTs");
            assert_eq!(
                request.headers,
                [("content-type".to_owned(), "application/json".to_owned())],
                "a request carries its content type and nothing else (never a credential)"
            );
            self.requests.push((
                request.url.clone(),
                String::from_utf8_lossy(&request.body).into_owned(),
            ));
            self.answers
                .pop_front()
                .unwrap_or_else(|| Err(TransportError::Unavailable("no scripted answer".into())))
        }

        fn prefetch(&mut self, request: &Request) {
            self.prefetched.push((
                request.url.clone(),
                String::from_utf8_lossy(&request.body).into_owned(),
            ));
        }
    }

    const EMPTY_PAGE: &str = r#"{"members":[],"cursor":"next","has_more":true}"#;

    #[test]
    fn first_page_posts_list_v2() {
        let mut t = FakeTransport::answering(200, EMPTY_PAGE);
        let page = list_members(&mut t, None, 250, true, false).expect("page");
        assert_eq!(page.cursor, "next");
        assert!(page.has_more);
        assert_eq!(
            t.requests,
            vec![(
                "https://api.dropboxapi.com/2/team/members/list_v2".to_owned(),
                r#"{"limit":250,"include_removed":true}"#.to_owned()
            )]
        );
    }

    #[test]
    fn team_size_comes_from_get_info() {
        let mut t = FakeTransport::answering(
            200,
            r#"{"name":"Seagull","team_id":"dbtid:1","num_licensed_users":50,"num_provisioned_users":42,
               "num_used_licenses":41,"policies":{"sharing":{"shared_folder_member_policy":{".tag":"team"}}},"future":1}"#,
        );
        assert_eq!(
            team_counts(&mut t),
            Ok(TeamCounts {
                num_licensed_users: 50,
                num_provisioned_users: 42
            })
        );
        assert_eq!(
            t.requests,
            vec![(
                "https://api.dropboxapi.com/2/team/get_info".to_owned(),
                "null".to_owned()
            )]
        );
        let mut t = FakeTransport::answering(200, r#"{"name":"Seagull"}"#);
        assert!(matches!(
            team_counts(&mut t),
            Err(ConnectorError::Other(m)) if m.starts_with("malformed team/get_info response")
        ));
        let mut t = FakeTransport::answering(
            401,
            r#"{"error_summary":"missing_scope/..","error":{".tag":"missing_scope","required_scope":"team_info.read"}}"#,
        );
        assert!(matches!(
            team_counts(&mut t),
            Err(ConnectorError::Unauthorized(u)) if u.tag == "missing_scope"
        ));
    }

    #[test]
    fn an_invalid_cursor_of_a_continuation_is_cursor_expired() {
        let body = r#"{"error_summary":"invalid_cursor/..","error":{".tag":"invalid_cursor"}}"#;
        let mut t = FakeTransport::answering(409, body);
        assert!(matches!(
            list_members(&mut t, Some("old"), 1000, false, false),
            Err(ConnectorError::CursorExpired(m)) if m == "invalid_cursor/.."
        ));
        // Another route error of list/continue stays a conflict.
        let mut t = FakeTransport::answering(
            409,
            r#"{"error_summary":"other/..","error":{".tag":"other"}}"#,
        );
        assert!(matches!(
            list_members(&mut t, Some("old"), 1000, false, false),
            Err(ConnectorError::Conflict(c)) if c.tag == "other"
        ));
        // The first page has no cursor to expire.
        let mut t = FakeTransport::answering(409, body);
        assert!(matches!(
            list_members(&mut t, None, 1000, false, false),
            Err(ConnectorError::Conflict(c)) if c.tag == "invalid_cursor"
        ));
    }

    #[test]
    fn next_pages_post_continue_v2() {
        let mut t = FakeTransport::answering(200, EMPTY_PAGE);
        list_members(&mut t, Some("ZtkX9"), 1000, false, false).expect("page");
        assert_eq!(
            t.requests,
            vec![(
                "https://api.dropboxapi.com/2/team/members/list/continue_v2".to_owned(),
                r#"{"cursor":"ZtkX9"}"#.to_owned()
            )]
        );
    }

    #[test]
    fn transport_errors_map_to_denied_and_unavailable() {
        let mut t = FakeTransport::default();
        t.answers
            .push_back(Err(TransportError::Denied("not allowed".into())));
        t.answers.push_back(Err(TransportError::Unavailable(
            "ErrorCode::DnsTimeout".into(),
        )));
        assert_eq!(
            list_members(&mut t, None, 10, false, false),
            Err(ConnectorError::Denied("not allowed".into()))
        );
        assert_eq!(
            list_members(&mut t, None, 10, false, false),
            Err(ConnectorError::Unavailable("ErrorCode::DnsTimeout".into()))
        );
    }

    #[test]
    fn read_ahead_starts_the_next_page_before_parsing() {
        let mut t = FakeTransport::answering(
            200,
            r#"{"members":[{"profile":{"team_member_id":"x","email":"a\"cursor\":[}","status":"active"}}],
               "cursor":"NEXT\u002f1","has_more":true}"#,
        );
        t.push(200, r#"{"members":[],"cursor":"END","has_more":false}"#);
        list_members(&mut t, None, 10, false, true).expect("page");
        assert_eq!(
            t.prefetched,
            vec![(
                route_url(ROUTE_CONTINUE),
                r#"{"cursor":"NEXT/1"}"#.to_owned()
            )]
        );
        // The last page starts nothing; neither does a call without the hint.
        list_members(&mut t, Some("NEXT/1"), 10, false, true).expect("page");
        assert_eq!(t.prefetched.len(), 1);
    }

    #[test]
    fn error_statuses_are_mapped() {
        let mut t = FakeTransport::answering(
            409,
            r#"{"error_summary":"invalid_cursor/..","error":{".tag":"invalid_cursor"}}"#,
        );
        let e = list_members(&mut t, Some("stale"), 10, false, false);
        assert!(
            matches!(&e, Err(ConnectorError::CursorExpired(m)) if m == "invalid_cursor/.."),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_pages_name_route_and_path() {
        let body = r#"{"members":[{"profile":{"team_member_id":"dbmid:A","status":"active"}}],"cursor":"c","has_more":false}"#;
        let mut t = FakeTransport::answering(200, body);
        let Err(ConnectorError::Other(message)) = list_members(&mut t, None, 10, false, false)
        else {
            panic!("expected other");
        };
        assert_eq!(
            message,
            "malformed team/members/list_v2 response: members[0].profile: missing field `email` at line 1 column 69"
        );

        let mut t = FakeTransport::default();
        t.answers.push_back(Ok(HttpResponse {
            status: 200,
            retry_after: None,
            content_type: Some("text/html".into()),
            body: b"<html>".to_vec(),
        }));
        let Err(ConnectorError::Other(message)) = list_members(&mut t, Some("c"), 10, false, false)
        else {
            panic!("expected other");
        };
        assert_eq!(
            message,
            "malformed team/members/list/continue_v2 response (content-type text/html): expected value at line 1 column 1"
        );
    }
}
