//! A fake Slack SCIM 2.0 API (`/scim/v2/Users`) on loopback, for the Slack
//! SCIM connector's end-to-end tests.
//!
//! Its users are the people of a generated [`Team`] (same names and
//! emails; `active` unless suspended or removed; a title, department,
//! manager and time zone derived from the index), held in memory: it is
//! meant for teams of thousands, not millions.
//!
//! Strict, so client bugs surface here:
//! - every request needs `Authorization: Bearer <token>` (401 otherwise);
//! - `GET /scim/v2/Users` takes only `startIndex`, `count` and `filter`,
//!   each at most once and well-formed (400 otherwise); `count` above
//!   [`MAX_COUNT`] is served as [`MAX_COUNT`], as Slack does; no `count`
//!   means Slack's default of 10, and `count=0` only `totalResults`;
//!   `filter` is `userName`, `emails` (or `emails.value`) or `externalId`,
//!   `eq`, a JSON string (400 `invalidFilter` otherwise);
//! - `GET`, `PATCH` and `DELETE /scim/v2/Users/<id>` (404 for an unknown
//!   id); a PATCH must be a JSON PatchOp (`schemas` exactly the PatchOp
//!   URN, `Operations` of `replace`/`add` on `path` `active` with a boolean
//!   `value`); DELETE deactivates, as Slack's does;
//! - anything else is 404 (405 for a wrong method on a known route);
//! - every answer is `application/scim+json`, errors in RFC 7644 §3.12's
//!   format.
//!
//! Faults ([`SlackScimFault`]) answer the next requests to `/scim/v2/`
//! that pass authentication instead of serving them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::dropbox::RecordedRequest;
use crate::form;
use crate::server::{
    Server, all_headers, has_content_type, header_str, is_json_content_type, lock, read,
    with_retry_after, write,
};
use crate::team::{MemberStatus, Team};

/// Slack's largest `count` for `GET /Users`.
pub const MAX_COUNT: u64 = 1000;

/// Slack's page size when `count` is not given.
pub const DEFAULT_COUNT: u64 = 10;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

const CONTENT_TYPE: &str = "application/scim+json";
const USERS: &str = "/scim/v2/Users";

/// One Slack user as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimUser {
    pub id: String,
    pub user_name: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub title: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<String>,
    pub external_id: Option<String>,
    pub active: bool,
    pub timezone: String,
    pub created: String,
}

const TITLES: [&str; 5] = [
    "Engineer",
    "Designer",
    "Account Executive",
    "Analyst",
    "Manager",
];
const DEPARTMENTS: [&str; 4] = ["R&D", "Sales", "Finance", "Operations"];
const ZONES: [&str; 3] = ["America/Los_Angeles", "Europe/London", "Asia/Tokyo"];

/// The Slack id of user `i`.
pub fn user_id(i: usize) -> String {
    format!("W{:08X}", 0x0100_0000 + i)
}

impl ScimUser {
    /// The users of `team`, in index order.
    pub fn from_team(team: &Team) -> Vec<ScimUser> {
        team.members()
            .enumerate()
            .map(|(i, m)| ScimUser {
                id: user_id(i),
                user_name: m.email.split('@').next().unwrap_or_default().to_owned(),
                email: m.email,
                given_name: m.name.given_name,
                family_name: m.name.surname,
                display_name: m.name.display_name,
                // Some users leave optional attributes out.
                title: (i % 7 != 6).then(|| TITLES[i % TITLES.len()].to_owned()),
                department: (i % 5 != 4).then(|| DEPARTMENTS[i % DEPARTMENTS.len()].to_owned()),
                manager_id: (i > 0).then(|| user_id(i / 8)),
                external_id: m.external_id,
                active: matches!(m.status, MemberStatus::Active | MemberStatus::Invited),
                timezone: ZONES[i % ZONES.len()].to_owned(),
                created: m
                    .joined_on
                    .or(m.invited_on)
                    .unwrap_or_else(|| "2020-01-01T00:00:00Z".to_owned()),
            })
            .collect()
    }

    /// The user resource, as Slack renders it.
    pub fn to_json(&self) -> Value {
        let mut enterprise = serde_json::Map::new();
        if let Some(d) = &self.department {
            enterprise.insert("department".into(), json!(d));
        }
        if let Some(m) = &self.manager_id {
            enterprise.insert("manager".into(), json!({ "value": m }));
        }
        let mut user = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "id": self.id,
            "userName": self.user_name,
            "nickName": self.user_name,
            "name": {"givenName": self.given_name, "familyName": self.family_name},
            "displayName": self.display_name,
            "timezone": self.timezone,
            "active": self.active,
            "emails": [{"value": self.email, "type": "work", "primary": true}],
            "photos": [{"value": format!("https://avatars.slack-edge.com/{}_192.jpg", self.id), "type": "photo"}],
            "groups": [],
            "meta": {"created": self.created, "location": format!("https://api.slack.com{USERS}/{}", self.id)},
            ENTERPRISE_SCHEMA: enterprise,
        });
        if let Some(obj) = user.as_object_mut() {
            if let Some(t) = &self.title {
                obj.insert("title".into(), json!(t));
            }
            if let Some(x) = &self.external_id {
                obj.insert("externalId".into(), json!(x));
            }
        }
        user
    }
}

/// What the fake serves.
#[derive(Debug, Clone)]
pub struct SlackScimConfig {
    pub users: Vec<ScimUser>,
    pub token: String,
}

impl SlackScimConfig {
    /// The users of `team`, accepting `token`.
    pub fn from_team(team: &Team, token: impl Into<String>) -> SlackScimConfig {
        SlackScimConfig {
            users: ScimUser::from_team(team),
            token: token.into(),
        }
    }
}

/// A failure answered instead of serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlackScimFault {
    /// 429 with `Retry-After: <seconds>`.
    RateLimited { retry_after: u32 },
    /// This status (5xx) with a SCIM error body.
    ServerError(u16),
}

struct Shared {
    users: RwLock<Vec<ScimUser>>,
    token: String,
    faults: Mutex<VecDeque<(SlackScimFault, usize)>>,
    requests: Mutex<Vec<RecordedRequest>>,
    pages_served: AtomicU64,
}

/// The running fake; dropping it stops the server.
pub struct FakeSlackScim {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeSlackScim {
    pub fn start(config: SlackScimConfig) -> anyhow::Result<FakeSlackScim> {
        let shared = Arc::new(Shared {
            users: RwLock::new(config.users),
            token: config.token,
            faults: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            pages_served: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = Server::start("fake-slack-scim", router)?;
        Ok(FakeSlackScim { shared, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Answers the next `times` authenticated requests with `fault`.
    pub fn inject(&self, fault: SlackScimFault, times: usize) {
        if times > 0 {
            lock(&self.shared.faults).push_back((fault, times));
        }
    }

    pub fn users(&self) -> Vec<ScimUser> {
        read(&self.shared.users).clone()
    }

    pub fn user_by_email(&self, email: &str) -> Option<ScimUser> {
        read(&self.shared.users)
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned()
    }

    /// Changes the user with this id; false if there is none.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut ScimUser)) -> bool {
        let mut users = write(&self.shared.users);
        users.iter_mut().find(|u| u.id == id).map(change).is_some()
    }

    /// Every request received, in order (path with query).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// `GET /scim/v2/Users` pages answered with 200.
    pub fn pages_served(&self) -> u64 {
        self.shared.pages_served.load(Ordering::Relaxed)
    }
}

/// An RFC 7644 §3.12 error.
fn error(status: StatusCode, scim_type: Option<&str>, detail: impl Into<String>) -> Response {
    let mut body = json!({
        "schemas": [ERROR_SCHEMA],
        "status": status.as_u16().to_string(),
        "detail": detail.into(),
    });
    if let (Some(t), Some(obj)) = (scim_type, body.as_object_mut()) {
        obj.insert("scimType".into(), json!(t));
    }
    scim(status, &body)
}

fn scim(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        Body::from(body.to_string()),
    )
        .into_response()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lock(&shared.requests).push(RecordedRequest {
        method: method.to_string(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        authorization: header_str(&headers, "authorization"),
        headers: all_headers(&headers),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let expected = format!("Bearer {}", shared.token);
    if header_str(&headers, "authorization").as_deref() != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, None, "invalid_authentication");
    }
    if uri.path().starts_with("/scim/v2/")
        && let Some(fault) = next_fault(&shared)
    {
        return match fault {
            SlackScimFault::RateLimited { retry_after } => with_retry_after(
                error(StatusCode::TOO_MANY_REQUESTS, None, "rate_limited"),
                retry_after,
            ),
            SlackScimFault::ServerError(code) => error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                None,
                "internal_error",
            ),
        };
    }
    let query = uri.query().unwrap_or_default();
    let path = uri.path();
    if path == USERS || path == "/scim/v2/Users/" {
        return match method {
            Method::GET => list(&shared, query),
            _ => error(StatusCode::METHOD_NOT_ALLOWED, None, "method not allowed"),
        };
    }
    let Some(id) = path.strip_prefix("/scim/v2/Users/") else {
        return error(StatusCode::NOT_FOUND, None, format!("no route {path}"));
    };
    if !query.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            Some("invalidSyntax"),
            "no query parameters are accepted here",
        );
    }
    let mut users = write(&shared.users);
    let Some(user) = users.iter_mut().find(|u| u.id == id) else {
        return error(StatusCode::NOT_FOUND, None, "User not found");
    };
    match method {
        Method::GET => scim(StatusCode::OK, &user.to_json()),
        Method::PATCH => match patch_active(&headers, &body) {
            Ok(active) => {
                user.active = active;
                scim(StatusCode::OK, &user.to_json())
            }
            Err(detail) => error(StatusCode::BAD_REQUEST, Some("invalidValue"), detail),
        },
        Method::DELETE => {
            user.active = false;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, None, "method not allowed"),
    }
}

fn next_fault(shared: &Shared) -> Option<SlackScimFault> {
    let mut faults = lock(&shared.faults);
    let (fault, left) = faults.front_mut()?;
    let fault = fault.clone();
    *left -= 1;
    if *left == 0 {
        faults.pop_front();
    }
    Some(fault)
}

/// `GET /scim/v2/Users`: a page, filtered or not.
fn list(shared: &Shared, query: &str) -> Response {
    let bad = |detail: String| error(StatusCode::BAD_REQUEST, Some("invalidValue"), detail);
    let pairs = match form::parse(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return bad(format!("malformed query: {e}")),
    };
    let (mut start, mut count, mut filter) = (None, None, None);
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "startIndex" => &mut start,
            "count" => &mut count,
            "filter" => &mut filter,
            other => return bad(format!("unknown query parameter `{other}`")),
        };
        if slot.replace(value).is_some() {
            return bad(format!("query parameter `{name}` given more than once"));
        }
    }
    let number = |name: &str, v: Option<String>, default: i64| -> Result<i64, String> {
        match v {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| format!("`{name}` must be an integer, got `{v}`")),
        }
    };
    // RFC 7644 §3.4.2.4: a startIndex below 1 is 1, a negative count 0.
    let start = match number("startIndex", start, 1) {
        Ok(n) => n.max(1) as u64,
        Err(e) => return bad(e),
    };
    let count = match number("count", count, DEFAULT_COUNT as i64) {
        Ok(n) => (n.max(0) as u64).min(MAX_COUNT),
        Err(e) => return bad(e),
    };
    let matches: Box<dyn Fn(&ScimUser) -> bool> = match filter.as_deref().map(parse_filter) {
        None => Box::new(|_| true),
        Some(Ok((attr, value))) => Box::new(move |u: &ScimUser| match attr {
            Attr::UserName => u.user_name.eq_ignore_ascii_case(&value),
            Attr::Email => u.email.eq_ignore_ascii_case(&value),
            Attr::ExternalId => u.external_id.as_deref() == Some(value.as_str()),
        }),
        Some(Err(detail)) => return error(StatusCode::BAD_REQUEST, Some("invalidFilter"), detail),
    };
    let users = read(&shared.users);
    let selected: Vec<&ScimUser> = users.iter().filter(|u| matches(u)).collect();
    let page: Vec<Value> = selected
        .iter()
        .skip((start - 1) as usize)
        .take(count as usize)
        .map(|u| u.to_json())
        .collect();
    shared.pages_served.fetch_add(1, Ordering::Relaxed);
    scim(
        StatusCode::OK,
        &json!({
            "schemas": [LIST_SCHEMA],
            "totalResults": selected.len(),
            "itemsPerPage": page.len(),
            "startIndex": start,
            "Resources": page,
        }),
    )
}

enum Attr {
    UserName,
    Email,
    ExternalId,
}

/// `<attr> eq "<json string>"`.
fn parse_filter(filter: &str) -> Result<(Attr, String), String> {
    let unsupported = || {
        format!(
            "unsupported filter `{filter}` (this fake takes userName, emails or externalId eq \"…\")"
        )
    };
    let mut parts = filter.trim().splitn(3, ' ');
    let (Some(attr), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported());
    };
    let attr = match attr {
        "userName" => Attr::UserName,
        "emails" | "emails.value" => Attr::Email,
        "externalId" => Attr::ExternalId,
        _ => return Err(unsupported()),
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    match serde_json::from_str::<Value>(value) {
        Ok(Value::String(s)) => Ok((attr, s)),
        _ => Err(format!("filter value {value} is not a JSON string")),
    }
}

/// The `active` a PatchOp sets, or why the body is refused.
fn patch_active(headers: &HeaderMap, body: &[u8]) -> Result<bool, String> {
    if !is_json_content_type(headers) && !has_content_type(headers, CONTENT_TYPE) {
        return Err("content-type must be application/json or application/scim+json".into());
    }
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let obj = body.as_object().ok_or("body must be an object")?;
    if let Some(k) = obj.keys().find(|k| *k != "schemas" && *k != "Operations") {
        return Err(format!("unknown key `{k}`"));
    }
    if obj.get("schemas") != Some(&json!([PATCH_SCHEMA])) {
        return Err(format!("schemas must be [\"{PATCH_SCHEMA}\"]"));
    }
    let ops = obj
        .get("Operations")
        .and_then(Value::as_array)
        .filter(|ops| !ops.is_empty())
        .ok_or("Operations must be a non-empty list")?;
    let mut active = None;
    for op in ops {
        let op = op.as_object().ok_or("an operation must be an object")?;
        if let Some(k) = op
            .keys()
            .find(|k| !["op", "path", "value"].contains(&k.as_str()))
        {
            return Err(format!("unknown operation key `{k}`"));
        }
        match op.get("op").and_then(Value::as_str) {
            Some(o) if o.eq_ignore_ascii_case("replace") || o.eq_ignore_ascii_case("add") => {}
            other => return Err(format!("op {other:?} is not supported (replace, add)")),
        }
        if op.get("path").and_then(Value::as_str) != Some("active") {
            return Err("only path `active` is supported by this fake".into());
        }
        match op.get("value") {
            Some(Value::Bool(b)) => active = Some(*b),
            other => {
                return Err(format!(
                    "value of `active` must be a boolean, got {other:?}"
                ));
            }
        }
    }
    active.ok_or_else(|| "no operation".to_owned())
}
