//! Slack's SCIM 2.0 `Users` routes over a [`Transport`], and their answers.
//!
//! Always addresses the real origin, [`API_ORIGIN`] (a host that wants a
//! fake routes that origin itself), and never sets `Authorization`.

use std::fmt::Write as _;

use oomnitza_connector_sdk::errors::{from_status, from_transport};
use oomnitza_connector_sdk::transport::{HttpResponse, Method, Request, Transport};
use oomnitza_connector_sdk::types::{ConnectorError, UserRef};
use serde::Deserialize;

/// Slack's API origin; SCIM lives under `/scim/v2`.
pub const API_ORIGIN: &str = "https://api.slack.com";

/// The users collection.
pub const USERS_PATH: &str = "/scim/v2/Users";

/// RFC 7643's enterprise extension, as a key of a user resource.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// RFC 7644's PATCH request message.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A `ListResponse` (RFC 7644 §3.4.2); `itemsPerPage` and `startIndex` are
/// not relied on: the next index follows from what was asked and received.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    pub total_results: u64,
    #[serde(rename = "Resources", default)]
    pub resources: Vec<User>,
}

/// A user resource: the attributes the catalog reads; others are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub external_id: Option<String>,
    pub user_name: Option<String>,
    pub name: Option<Name>,
    pub display_name: Option<String>,
    pub title: Option<String>,
    #[serde(default)]
    pub emails: Vec<Email>,
    pub active: Option<bool>,
    pub timezone: Option<String>,
    pub meta: Option<Meta>,
    #[serde(rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")]
    pub enterprise: Option<Enterprise>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Email {
    pub value: Option<String>,
    pub primary: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Meta {
    pub created: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Enterprise {
    pub department: Option<String>,
    pub manager: Option<Manager>,
}

/// RFC 7643's `manager.value`; Slack's SCIM 1.1 said `managerId`.
#[derive(Debug, Deserialize)]
pub struct Manager {
    pub value: Option<String>,
    #[serde(rename = "managerId")]
    pub manager_id: Option<String>,
}

/// One page of users and where the next one starts.
#[derive(Debug)]
pub struct UsersPage {
    pub total_results: u64,
    pub users: Vec<User>,
    /// The next `startIndex`, if users remain.
    pub next: Option<u64>,
}

/// `GET /scim/v2/Users?startIndex=<start>&count=<count>`.
pub fn page_request(start_index: u64, count: u32) -> Request {
    Request::get(format!(
        "{API_ORIGIN}{USERS_PATH}?startIndex={start_index}&count={count}"
    ))
}

/// One page of users from `start_index` (1-based). Users remain while
/// `start + received - 1 < totalResults`; an empty page ends the listing
/// whatever the total says, so a listing always terminates. With
/// `read_ahead` the next page is requested before this one is turned into
/// records.
pub fn list_users<T: Transport + ?Sized>(
    transport: &mut T,
    start_index: u64,
    count: u32,
    read_ahead: bool,
) -> Result<UsersPage, ConnectorError> {
    let what = "GET /scim/v2/Users";
    let list: ListResponse = parse(
        what,
        &send(transport, &page_request(start_index, count), what)?,
    )?;
    let received = list.resources.len() as u64;
    let next = start_index.saturating_add(received);
    let next = (received > 0 && next <= list.total_results).then_some(next);
    if read_ahead && let Some(n) = next {
        transport.prefetch(&page_request(n, count));
    }
    Ok(UsersPage {
        total_results: list.total_results,
        users: list.resources,
        next,
    })
}

/// The user an action names, and Slack's answer that showed it.
pub fn find_user<T: Transport + ?Sized>(
    transport: &mut T,
    target: &UserRef,
) -> Result<(User, String), ConnectorError> {
    let (attribute, value) = match target {
        UserRef::Id(id) => {
            let path = user_path(id)?;
            let what = format!("GET {path}");
            let response = send(
                transport,
                &Request::get(format!("{API_ORIGIN}{path}")),
                &what,
            )?;
            return Ok((parse(&what, &response)?, body_text(&response)));
        }
        UserRef::Email(email) => ("emails", email),
        UserRef::ExternalId(id) => ("externalId", id),
    };
    if value.trim().is_empty() {
        return Err(ConnectorError::InvalidInput(format!(
            "the target's {attribute} is empty"
        )));
    }
    // The value is a JSON string in the filter grammar (RFC 7644 §3.4.2.2).
    let literal = serde_json::Value::from(value.as_str()).to_string();
    let filter = encode(&format!("{attribute} eq {literal}"));
    let what = format!("GET {USERS_PATH}?filter={attribute} eq …");
    let request = Request::get(format!("{API_ORIGIN}{USERS_PATH}?filter={filter}"));
    let response = send(transport, &request, &what)?;
    let mut list: ListResponse = parse(&what, &response)?;
    match list.resources.len() {
        1 => Ok((list.resources.remove(0), body_text(&response))),
        0 => Err(ConnectorError::NotFound(format!(
            "no Slack user has {attribute} {value}"
        ))),
        n => Err(ConnectorError::Other(format!(
            "{n} Slack users have {attribute} {value}; act on one by its Slack id"
        ))),
    }
}

/// `PATCH /scim/v2/Users/<id>` replacing `active`; Slack's answer.
pub fn set_active<T: Transport + ?Sized>(
    transport: &mut T,
    id: &str,
    active: bool,
) -> Result<String, ConnectorError> {
    let path = user_path(id)?;
    let body = serde_json::json!({
        "schemas": [PATCH_OP],
        "Operations": [{"op": "replace", "path": "active", "value": active}],
    });
    let request = Request::new(Method::Patch, format!("{API_ORIGIN}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    send(transport, &request, &format!("PATCH {path}")).map(|r| body_text(&r))
}

/// `/scim/v2/Users/<id>`, for an id that is safe in a path (Slack ids are
/// letters and digits).
fn user_path(id: &str) -> Result<String, ConnectorError> {
    let safe = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if safe {
        Ok(format!("{USERS_PATH}/{id}"))
    } else {
        Err(ConnectorError::InvalidInput(format!(
            "`{id}` is not a Slack user id (letters, digits, `-` and `_`)"
        )))
    }
}

/// Sends `request`; a non-2xx answer becomes its contract error.
fn send<T: Transport + ?Sized>(
    transport: &mut T,
    request: &Request,
    what: &str,
) -> Result<HttpResponse, ConnectorError> {
    let response = transport.send(request).map_err(from_transport)?;
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(error(what, &response))
    }
}

fn parse<'a, D: Deserialize<'a>>(
    what: &str,
    response: &'a HttpResponse,
) -> Result<D, ConnectorError> {
    serde_json::from_slice(&response.body)
        .map_err(|e| ConnectorError::Other(format!("malformed answer to {what}: {e}")))
}

fn body_text(response: &HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

/// The contract error for a non-2xx answer: by status
/// ([`from_status`]), quoting the SCIM error's message when the body has
/// one ([`error_detail`]), else the body.
pub fn error(what: &str, response: &HttpResponse) -> ConnectorError {
    match error_detail(&response.body) {
        Some(detail) => from_status(
            "Slack",
            what,
            &HttpResponse {
                body: detail.into_bytes(),
                ..response.clone()
            },
        ),
        None => from_status("Slack", what, response),
    }
}

/// The message of a SCIM error body: RFC 7644 §3.12's `detail`, or the
/// `description` of Slack's SCIM 1.1 `Errors` (an object or a list).
pub fn error_detail(body: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = |v: &serde_json::Value| {
        v.as_str()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    if let Some(detail) = json.get("detail").and_then(text) {
        return Some(detail);
    }
    let errors = json.get("Errors")?;
    let first = errors.as_array().and_then(|a| a.first()).unwrap_or(errors);
    first.get("description").and_then(text)
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oomnitza_connector_sdk::transport::TransportError;
    use std::collections::VecDeque;

    /// A transport that records requests and answers from a script.
    #[derive(Default)]
    pub(crate) struct FakeTransport {
        /// (method, url, body) of each request sent.
        pub requests: Vec<(Method, String, String)>,
        /// URLs of requests started ahead.
        pub prefetched: Vec<String>,
        pub answers: VecDeque<Result<HttpResponse, TransportError>>,
    }

    impl FakeTransport {
        pub(crate) fn answering(answers: &[(u16, &str)]) -> Self {
            let mut t = FakeTransport::default();
            for (status, body) in answers {
                t.answers.push_back(Ok(HttpResponse {
                    status: *status,
                    retry_after: None,
                    content_type: Some("application/scim+json".into()),
                    body: body.as_bytes().to_vec(),
                }));
            }
            t
        }

        pub(crate) fn urls(&self) -> Vec<&str> {
            self.requests.iter().map(|(_, u, _)| u.as_str()).collect()
        }
    }

    impl Transport for FakeTransport {
        fn send(&mut self, request: &Request) -> Result<HttpResponse, TransportError> {
            assert!(
                request.headers.iter().all(|(n, _)| n != "authorization"),
                "never a credential"
            );
            self.requests.push((
                request.method,
                request.url.clone(),
                String::from_utf8_lossy(&request.body).into_owned(),
            ));
            self.answers
                .pop_front()
                .unwrap_or_else(|| Err(TransportError::Unavailable("no scripted answer".into())))
        }

        fn prefetch(&mut self, request: &Request) {
            self.prefetched.push(request.url.clone());
        }
    }

    pub(crate) const USER: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id":"W1","userName":"ada","active":true,"emails":[{"value":"ada@x.com","primary":true}]}"#;

    fn list(total: u64, users: &[&str]) -> String {
        format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":{total},"itemsPerPage":{},"startIndex":1,"Resources":[{}]}}"#,
            users.len(),
            users.join(",")
        )
    }

    #[test]
    fn pages_follow_start_index_and_total() {
        let mut t =
            FakeTransport::answering(&[(200, &list(3, &[USER, USER])), (200, &list(3, &[USER]))]);
        let page = list_users(&mut t, 1, 2, true).expect("page");
        assert_eq!(
            (page.users.len(), page.next, page.total_results),
            (2, Some(3), 3)
        );
        assert_eq!(
            t.prefetched,
            ["https://api.slack.com/scim/v2/Users?startIndex=3&count=2"]
        );
        let page = list_users(&mut t, 3, 2, true).expect("page");
        assert_eq!(page.next, None, "the last page");
        assert_eq!(
            t.prefetched.len(),
            1,
            "nothing read ahead after the last page"
        );
        assert_eq!(
            t.urls(),
            [
                "https://api.slack.com/scim/v2/Users?startIndex=1&count=2",
                "https://api.slack.com/scim/v2/Users?startIndex=3&count=2"
            ]
        );
        // An empty page ends the listing even if the total disagrees.
        let mut t = FakeTransport::answering(&[(200, &list(10, &[]))]);
        assert_eq!(list_users(&mut t, 5, 2, false).expect("page").next, None);
    }

    #[test]
    fn errors_quote_the_scim_detail() {
        let v2 = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"404","detail":"User not found"}"#;
        let v1 = r#"{"Errors":{"description":"invalid_authentication","code":401}}"#;
        let mut t = FakeTransport::answering(&[(404, v2), (401, v1), (503, "<html>down</html>")]);
        let e = find_user(&mut t, &UserRef::Id("W9".into())).expect_err("404");
        assert_eq!(
            e,
            ConnectorError::NotFound(
                "Slack returned 404 for GET /scim/v2/Users/W9: User not found".into()
            )
        );
        let e = list_users(&mut t, 1, 10, false).expect_err("401");
        assert!(
            matches!(&e, ConnectorError::Unauthorized(u) if u.message.ends_with(": invalid_authentication")),
            "{e:?}"
        );
        let e = list_users(&mut t, 1, 10, false).expect_err("503");
        assert!(
            matches!(&e, ConnectorError::Unavailable(m) if m.ends_with("<html>down</html>")),
            "{e:?}"
        );
        assert_eq!(
            error_detail(br#"{"Errors":[{"description":"x","code":400}]}"#).as_deref(),
            Some("x")
        );
    }

    #[test]
    fn rate_limits_wait_for_retry_after() {
        let mut t = FakeTransport::default();
        t.answers.push_back(Ok(HttpResponse {
            status: 429,
            retry_after: Some("7".into()),
            content_type: None,
            body: vec![],
        }));
        assert!(matches!(
            list_users(&mut t, 1, 10, false),
            Err(ConnectorError::RateLimited(r)) if r.retry_after_seconds == 7
        ));
    }

    #[test]
    fn targets_are_found_by_filter_or_id() {
        let mut t = FakeTransport::answering(&[
            (200, &list(1, &[USER])),
            (200, &list(0, &[])),
            (200, USER),
        ]);
        let (user, _) = find_user(&mut t, &UserRef::Email("a\"b@x.com".into())).expect("found");
        assert_eq!(user.id, "W1");
        assert!(matches!(
            find_user(&mut t, &UserRef::ExternalId("e 1".into())),
            Err(ConnectorError::NotFound(m)) if m == "no Slack user has externalId e 1"
        ));
        find_user(&mut t, &UserRef::Id("W1".into())).expect("found");
        assert_eq!(
            t.urls(),
            [
                "https://api.slack.com/scim/v2/Users?filter=emails%20eq%20%22a%5C%22b%40x.com%22",
                "https://api.slack.com/scim/v2/Users?filter=externalId%20eq%20%22e%201%22",
                "https://api.slack.com/scim/v2/Users/W1",
            ]
        );
        assert!(matches!(
            find_user(&mut t, &UserRef::Id("../x".into())),
            Err(ConnectorError::InvalidInput(_))
        ));
        assert_eq!(t.requests.len(), 3, "an unsafe id is never sent");
    }

    #[test]
    fn deactivation_is_a_patch_op() {
        let mut t = FakeTransport::answering(&[(200, USER)]);
        set_active(&mut t, "W1", false).expect("patched");
        assert_eq!(
            t.requests,
            [(
                Method::Patch,
                "https://api.slack.com/scim/v2/Users/W1".to_owned(),
                r#"{"Operations":[{"op":"replace","path":"active","value":false}],"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}"#.to_owned()
            )]
        );
    }
}
