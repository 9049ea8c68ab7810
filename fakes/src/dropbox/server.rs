//! The server behind a [`FakeDropbox`](super::FakeDropbox): its shared
//! state, routing and authentication, the OAuth token endpoint, listing
//! (cursors and the rendered-page cache), faults and `team/get_info`.
//! Member actions are carried out in [`super::actions`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::form;
use crate::json::{b64_decode, b64_encode, push_str};
use crate::member_actions::{
    ActionRecord, RemoveArgs, Selector, SetRolesArgs, SuspendArgs, parse_get_info, parse_null,
    parse_poll, parse_user_only,
};
use crate::server::{
    all_headers, has_content_type, header_str, is_json_content_type, json_text, json_value, kind,
    lock, read, status_or_500, text, with_retry_after, write,
};
use crate::team::{Team, WireStyle, format_timestamp};

use super::config::{DropboxFault, DropboxStats, OAuthApp, RecordedRequest};

pub(super) struct Shared {
    pub(super) team: Served,
    pub(super) token: RwLock<String>,
    pub(super) style: WireStyle,
    pub(super) page_delay: Duration,
    pub(super) max_limit: u32,
    /// Keys the cursor MAC; random per server.
    pub(super) cursor_key: RandomState,
    pub(super) nonce: u64,
    pub(super) faults: Mutex<VecDeque<(DropboxFault, usize)>>,
    pub(super) requests: Mutex<VecDeque<RecordedRequest>>,
    /// How many of the latest requests `requests` keeps.
    pub(super) record_requests: usize,
    pub(super) stats: Mutex<DropboxStats>,
    pub(super) summaries: AtomicU64,
    pub(super) oauth: Mutex<OAuthState>,
    pub(super) token_delay: Mutex<Duration>,
    pub(super) token_requests: AtomicU64,
    /// Keys the randomness of issued access tokens.
    pub(super) token_key: RandomState,
    /// Added to `Instant::now()` (see
    /// [`FakeDropbox::advance_clock`](super::FakeDropbox::advance_clock)).
    pub(super) clock_offset: Mutex<Duration>,
    /// Lock order: `jobs`, then `team`, then `actions`.
    pub(super) actions: Mutex<Vec<ActionRecord>>,
    pub(super) action_faults: Mutex<VecDeque<(DropboxFault, usize)>>,
    /// Asynchronous removals by `async_job_id`.
    pub(super) jobs: Mutex<HashMap<String, RemoveJob>>,
    pub(super) job_serial: AtomicU64,
    pub(super) remove_async_polls: AtomicU32,
    pub(super) action_delay: Mutex<Duration>,
    pub(super) write_limit: Mutex<Option<WriteLimit>>,
    pub(super) write_limited: AtomicU64,
    pub(super) actions_in_flight: AtomicU64,
    pub(super) actions_in_flight_max: AtomicU64,
}

/// Counts a request among those being answered while it lives.
pub(super) struct InFlight<'a>(pub(super) &'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Dropbox's limit on write operations, as the fake applies it: at most
/// `per_second` writes in each one-second window.
pub(super) struct WriteLimit {
    pub(super) per_second: u32,
    pub(super) window: Instant,
    pub(super) used: u32,
}

/// The served team, and the pages rendered from it as it is now. Every
/// change to the team goes through [`Served::write`], which drops them, and
/// pages are rendered and stored under a read lock of the team, so a stored
/// page always shows the team as it is. Lock order: `team`, then `pages`.
pub(super) struct Served {
    pub(super) team: RwLock<Team>,
    /// Rendered pages by position; `None` when caching is off.
    pub(super) pages: Option<RwLock<HashMap<Position, Page>>>,
}

impl Served {
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Team> {
        read(&self.team)
    }

    /// The team for a change; every rendered page is dropped.
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Team> {
        let team = write(&self.team);
        if let Some(pages) = &self.pages {
            *write(pages) = HashMap::new();
        }
        team
    }
}

/// One rendered `MembersListV2Result` page and its member count.
#[derive(Debug, Clone)]
pub(super) struct Page {
    pub(super) body: Bytes,
    members: usize,
}

/// An asynchronous `team/members/remove`.
pub(super) struct RemoveJob {
    /// `in_progress` answers still to give.
    pub(super) polls_left: u32,
    /// The member receiving the files, busy until the job completes.
    pub(super) dest: Option<usize>,
}

/// A decoded member-action request.
pub(super) enum Call {
    TeamInfo,
    GetInfo(Vec<Selector>),
    Roles,
    SetRoles(SetRolesArgs),
    Suspend(SuspendArgs),
    Unsuspend(Selector),
    Remove(RemoveArgs),
    JobStatus(String),
}

pub(super) struct OAuthState {
    pub(super) app: Option<OAuthApp>,
    pub(super) revoked: bool,
    pub(super) issued: Vec<IssuedToken>,
}

pub(super) struct IssuedToken {
    pub(super) token: String,
    pub(super) expires_at: Instant,
}

/// What a request's bearer token is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Valid,
    Expired,
    Invalid,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    List,
    Continue,
    TeamInfo,
    GetInfo,
    Roles,
    SetRoles,
    Suspend,
    Unsuspend,
    Remove,
    JobStatus,
}

impl Route {
    fn function(self) -> &'static str {
        match self {
            Route::List => "team/members/list_v2",
            Route::Continue => "team/members/list/continue_v2",
            Route::TeamInfo => "team/get_info",
            Route::GetInfo => "team/members/get_info_v2",
            Route::Roles => "team/members/get_available_team_member_roles",
            Route::SetRoles => "team/members/set_admin_permissions_v2",
            Route::Suspend => "team/members/suspend",
            Route::Unsuspend => "team/members/unsuspend",
            Route::Remove => "team/members/remove",
            Route::JobStatus => "team/members/remove/job_status/get",
        }
    }

    /// Decodes a member action's argument (`Err`: the 400 message).
    fn decode(self, body: &[u8]) -> Result<Call, String> {
        Ok(match self {
            Route::TeamInfo => {
                parse_null(body)?;
                Call::TeamInfo
            }
            Route::GetInfo => Call::GetInfo(parse_get_info(body)?),
            Route::Roles => {
                parse_null(body)?;
                Call::Roles
            }
            Route::SetRoles => Call::SetRoles(SetRolesArgs::parse(body)?),
            Route::Suspend => Call::Suspend(SuspendArgs::parse(body)?),
            Route::Unsuspend => Call::Unsuspend(parse_user_only(body)?),
            Route::Remove => Call::Remove(RemoveArgs::parse(body)?),
            Route::JobStatus => Call::JobStatus(parse_poll(body)?),
            Route::List | Route::Continue => {
                return Err("fake: not a member action".to_string());
            }
        })
    }
}

/// Where a page starts and how it is cut: with the team and the server's
/// wire style and cursor key, all that shapes a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Position {
    start: usize,
    limit: u32,
    include_removed: bool,
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_LEN: usize = 30;

pub(super) async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if shared.record_requests > 0 {
        let record = RecordedRequest {
            method: method.to_string(),
            path: path.to_string(),
            authorization: header_str(&headers, "authorization"),
            headers: all_headers(&headers),
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        let mut requests = lock(&shared.requests);
        if requests.len() >= shared.record_requests {
            requests.pop_front();
        }
        requests.push_back(record);
    }
    let (response, page) = shared.dispatch(&method, path, &headers, &body).await;
    let mut stats = lock(&shared.stats);
    stats.requests += 1;
    *stats
        .by_status
        .entry(response.status().as_u16())
        .or_default() += 1;
    if let Some(members) = page {
        stats.pages_served += 1;
        stats.members_served += members as u64;
    }
    response
}

impl Shared {
    /// The response, and the member count when it is a complete page.
    async fn dispatch(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> (Response, Option<usize>) {
        let route = match path {
            "/oauth2/token" => return (self.token_endpoint(method, headers, body).await, None),
            "/2/team/members/list_v2" => Route::List,
            "/2/team/members/list/continue_v2" => Route::Continue,
            "/2/team/get_info" => Route::TeamInfo,
            "/2/team/members/get_info_v2" => Route::GetInfo,
            "/2/team/members/get_available_team_member_roles" => Route::Roles,
            "/2/team/members/set_admin_permissions_v2" => Route::SetRoles,
            "/2/team/members/suspend" => Route::Suspend,
            "/2/team/members/unsuspend" => Route::Unsuspend,
            "/2/team/members/remove" => Route::Remove,
            "/2/team/members/remove/job_status/get" => Route::JobStatus,
            _ => {
                let name = path.strip_prefix("/2/").unwrap_or(path);
                return (
                    text(
                        StatusCode::NOT_FOUND,
                        format!("Unknown API function: \"{name}\""),
                    ),
                    None,
                );
            }
        };
        let function = route.function();
        let bad = |msg: String| {
            text(
                StatusCode::BAD_REQUEST,
                format!("Error in call to API function \"{function}\": {msg}"),
            )
        };
        if method != Method::POST {
            return (
                text(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!(
                        "Error in call to API function \"{function}\": expected POST, got {method}"
                    ),
                ),
                None,
            );
        }
        match self.authorized(headers) {
            TokenState::Valid => {}
            TokenState::Expired => {
                return (
                    self.error(StatusCode::UNAUTHORIZED, "expired_access_token"),
                    None,
                );
            }
            TokenState::Invalid => {
                return (
                    self.error(StatusCode::UNAUTHORIZED, "invalid_access_token"),
                    None,
                );
            }
        }
        if !is_json_content_type(headers) {
            let got = header_str(headers, "content-type").unwrap_or_default();
            return (
                bad(format!(
                    "Bad HTTP \"Content-Type\" header: \"{got}\".  Expecting one of \
                     \"application/json\", \"application/json; charset=utf-8\"."
                )),
                None,
            );
        }
        let args = match route {
            Route::List => self.parse_list(body),
            Route::Continue => self.parse_continue(body),
            action => {
                let response = match action.decode(body) {
                    Ok(call) => self.member_action(call, action.function()).await,
                    Err(msg) => bad(msg),
                };
                return (response, None);
            }
        };
        let position = match args {
            Ok(Ok(position)) => position,
            Ok(Err(())) => {
                return (self.error(StatusCode::CONFLICT, "invalid_cursor"), None);
            }
            Err(msg) => return (bad(msg), None),
        };

        if let Some(fault) = self.next_fault() {
            lock(&self.stats).faults_applied += 1;
            match fault {
                DropboxFault::Slow(delay) => tokio::time::sleep(delay).await,
                fault => return (self.fault_response(fault, position, headers), None),
            }
        }
        if !self.page_delay.is_zero() {
            tokio::time::sleep(self.page_delay).await;
        }
        let page = self.page(position);
        (json_bytes(page.body), Some(page.members))
    }

    /// The configured static token is always valid; an issued one until it
    /// expires; anything else is invalid.
    fn authorized(&self, headers: &HeaderMap) -> TokenState {
        let Some(presented) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return TokenState::Invalid;
        };
        if presented == read(&self.token).as_str() {
            return TokenState::Valid;
        }
        let now = self.now();
        match lock(&self.oauth)
            .issued
            .iter()
            .find(|i| i.token == presented)
        {
            Some(issued) if now < issued.expires_at => TokenState::Valid,
            Some(_) => TokenState::Expired,
            None => TokenState::Invalid,
        }
    }

    /// The fake's clock.
    pub(super) fn now(&self) -> Instant {
        Instant::now() + *lock(&self.clock_offset)
    }

    /// `POST /oauth2/token` with the refresh-token grant.
    async fn token_endpoint(&self, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let delay = *lock(&self.token_delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if method != Method::POST {
            return oauth_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request",
                &format!("expected POST, got {method}"),
            );
        }
        match self.refresh(headers, body) {
            Ok((token, expires_in)) => json_value(
                StatusCode::OK,
                &serde_json::json!({
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": expires_in,
                }),
            ),
            Err((error, description)) => oauth_error(StatusCode::BAD_REQUEST, error, &description),
        }
    }

    /// Checks a refresh request; the new access token and its lifetime, or
    /// the OAuth error code and description.
    fn refresh(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(String, u32), (&'static str, String)> {
        let invalid_request = |msg: String| ("invalid_request", msg);
        if !has_content_type(headers, "application/x-www-form-urlencoded") {
            let got = header_str(headers, "content-type").unwrap_or_default();
            return Err(invalid_request(format!(
                "Content-Type must be application/x-www-form-urlencoded, got \"{got}\""
            )));
        }
        let pairs = form::parse(body).map_err(invalid_request)?;
        let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
        for (name, value) in &pairs {
            if fields.insert(name, value).is_some() {
                return Err(invalid_request(format!(
                    "parameter \"{name}\" is given more than once"
                )));
            }
        }
        let required = |name: &str| {
            fields
                .get(name)
                .copied()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| invalid_request(format!("missing required parameter \"{name}\"")))
        };
        let grant_type = required("grant_type")?;
        if grant_type != "refresh_token" {
            return Err(invalid_request(format!(
                "unsupported grant_type \"{grant_type}\"; expected \"refresh_token\""
            )));
        }
        let refresh_token = required("refresh_token")?;
        let client_id = required("client_id")?;
        let secret = fields.get("client_secret").copied();

        let mut oauth = lock(&self.oauth);
        let invalid_client = |msg: &str| ("invalid_client", msg.to_string());
        let Some(app) = oauth.app.as_ref().filter(|a| a.client_id == client_id) else {
            return Err(invalid_client("unknown client_id"));
        };
        match (&app.client_secret, secret) {
            (Some(_), None) => return Err(invalid_client("missing client_secret")),
            (Some(expected), Some(got)) if expected != got => {
                return Err(invalid_client("invalid client_secret"));
            }
            (None, Some(_)) => {
                return Err(invalid_client(
                    "this app has no client_secret (PKCE); none may be sent",
                ));
            }
            _ => {}
        }
        if oauth.revoked || app.refresh_token != refresh_token {
            return Err((
                "invalid_grant",
                "refresh token is invalid or revoked".to_string(),
            ));
        }
        let expires_in = app.expires_in;
        let token = self.new_access_token(oauth.issued.len() as u64);
        oauth.issued.push(IssuedToken {
            token: token.clone(),
            expires_at: self.now() + Duration::from_secs(u64::from(expires_in)),
        });
        Ok((token, expires_in))
    }

    /// `sl.` and 32 unpredictable base64url characters.
    fn new_access_token(&self, serial: u64) -> String {
        let mut bytes = [0u8; 24];
        for (k, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = self.token_key.hash_one((serial, k, self.nonce));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        format!("sl.{}", b64_encode(&bytes))
    }

    /// A Dropbox JSON error: `{"error_summary": "<tag>/...", "error": {".tag": tag}}`.
    /// Like Dropbox, the summary ends in a varying number of dots so that
    /// clients match on `error`, not on the summary.
    fn error(&self, status: StatusCode, tag: &str) -> Response {
        json_text(status, self.error_text(tag))
    }

    /// The body of [`Shared::error`].
    fn error_text(&self, tag: &str) -> String {
        let dots = ".".repeat(2 + (self.summaries.fetch_add(1, Ordering::Relaxed) % 3) as usize);
        serde_json::json!({
            "error_summary": format!("{tag}/{dots}"),
            "error": {".tag": tag},
        })
        .to_string()
    }

    /// `list_v2` arguments: `{limit?, include_removed?}`.
    fn parse_list(&self, body: &[u8]) -> Result<Result<Position, ()>, String> {
        let map = parse_object(body)?;
        let mut position = Position {
            start: 0,
            limit: self.max_limit,
            include_removed: false,
        };
        let max = self.max_limit;
        for (key, value) in &map {
            match key.as_str() {
                "limit" => {
                    position.limit = match value.as_u64() {
                        Some(n) if (1..=u64::from(max)).contains(&n) => n as u32,
                        Some(n) => {
                            return Err(format!(
                                "request body: limit: {n} is not within range [1, {max}]"
                            ));
                        }
                        None if value.is_number() => {
                            return Err(format!(
                                "request body: limit: {value} is not within range [1, {max}]"
                            ));
                        }
                        None => {
                            return Err(format!(
                                "request body: limit: expected integer, got {}",
                                kind(value)
                            ));
                        }
                    }
                }
                "include_removed" => {
                    position.include_removed = value.as_bool().ok_or_else(|| {
                        format!(
                            "request body: include_removed: expected boolean, got {}",
                            kind(value)
                        )
                    })?;
                }
                other => return Err(format!("request body: unknown field '{other}'")),
            }
        }
        Ok(Ok(position))
    }

    /// `list/continue_v2` arguments: `{cursor}`; `Ok(Err(()))` for a cursor
    /// this server did not issue.
    fn parse_continue(&self, body: &[u8]) -> Result<Result<Position, ()>, String> {
        let map = parse_object(body)?;
        let mut cursor = None;
        for (key, value) in &map {
            match key.as_str() {
                "cursor" => {
                    cursor = Some(value.as_str().ok_or_else(|| {
                        format!("request body: cursor: expected string, got {}", kind(value))
                    })?);
                }
                other => return Err(format!("request body: unknown field '{other}'")),
            }
        }
        let cursor = cursor.ok_or("request body: missing required field 'cursor'")?;
        Ok(self.decode_cursor(cursor).ok_or(()))
    }

    fn encode_cursor(&self, position: Position) -> String {
        let mut bytes = [0u8; CURSOR_LEN];
        bytes[0] = CURSOR_VERSION;
        bytes[1] = u8::from(position.include_removed);
        bytes[2..6].copy_from_slice(&position.limit.to_le_bytes());
        bytes[6..14].copy_from_slice(&(position.start as u64).to_le_bytes());
        bytes[14..22].copy_from_slice(&self.nonce.to_le_bytes());
        let mac = self.cursor_key.hash_one(&bytes[..22]);
        bytes[22..30].copy_from_slice(&mac.to_le_bytes());
        b64_encode(&bytes)
    }

    fn decode_cursor(&self, cursor: &str) -> Option<Position> {
        let bytes: [u8; CURSOR_LEN] = b64_decode(cursor)?.try_into().ok()?;
        let mac = u64::from_le_bytes(bytes[22..30].try_into().ok()?);
        if mac != self.cursor_key.hash_one(&bytes[..22])
            || bytes[0] != CURSOR_VERSION
            || bytes[1] > 1
            || u64::from_le_bytes(bytes[14..22].try_into().ok()?) != self.nonce
        {
            return None;
        }
        let limit = u32::from_le_bytes(bytes[2..6].try_into().ok()?);
        let start = usize::try_from(u64::from_le_bytes(bytes[6..14].try_into().ok()?)).ok()?;
        if start > self.team.read().len() {
            return None;
        }
        Some(Position {
            start,
            limit,
            include_removed: bytes[1] == 1,
        })
    }

    fn next_fault(&self) -> Option<DropboxFault> {
        next_in(&self.faults)
    }

    fn fault_response(
        &self,
        fault: DropboxFault,
        position: Position,
        headers: &HeaderMap,
    ) -> Response {
        match fault {
            DropboxFault::MalformedJson => json_bytes(cut_bytes_in_half(self.page(position).body)),
            DropboxFault::HugeBody(size) => {
                json_bytes(pad_page(&self.page(position).body, size).into())
            }
            DropboxFault::ResetMidBody => {
                let page = self.page(position).body;
                let full = page.len();
                let half = page.slice(..full / 2);
                let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                    Ok(half),
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "fake: connection reset",
                    )),
                ];
                (
                    StatusCode::OK,
                    [
                        (
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        ),
                        (header::CONTENT_LENGTH, HeaderValue::from(full)),
                    ],
                    Body::from_stream(futures_util::stream::iter(chunks)),
                )
                    .into_response()
            }
            DropboxFault::EchoAuthorization => {
                let auth = header_str(headers, "authorization").unwrap_or_default();
                let team = self.team.read();
                let (page, _) = render_page(&team, &self.style, position, |_| auth);
                json_text(StatusCode::OK, page)
            }
            // Handled by the caller; answer normally should it get here.
            DropboxFault::Slow(_) => json_bytes(self.page(position).body),
            fault => self.plain_fault_response(fault),
        }
    }

    /// The answer to a fault that needs no page.
    pub(super) fn plain_fault_response(&self, fault: DropboxFault) -> Response {
        match fault {
            DropboxFault::ExpiredToken => {
                self.error(StatusCode::UNAUTHORIZED, "expired_access_token")
            }
            DropboxFault::RateLimited {
                retry_after,
                header,
                body,
            } => {
                let response = if body {
                    let dots = "."
                        .repeat(2 + (self.summaries.fetch_add(1, Ordering::Relaxed) % 3) as usize);
                    json_value(
                        StatusCode::TOO_MANY_REQUESTS,
                        &serde_json::json!({
                            "error_summary": format!("too_many_requests/{dots}"),
                            "error": {
                                "reason": {".tag": "too_many_requests"},
                                "retry_after": retry_after,
                            },
                        }),
                    )
                } else {
                    text(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
                };
                if header {
                    with_retry_after(response, retry_after)
                } else {
                    response
                }
            }
            DropboxFault::Conflict(tag) => self.error(StatusCode::CONFLICT, &tag),
            DropboxFault::ServerError(code) => {
                let status = status_or_500(code);
                text(
                    status,
                    status
                        .canonical_reason()
                        .unwrap_or("Server Error")
                        .to_string(),
                )
            }
            DropboxFault::BadRequest(msg) => text(StatusCode::BAD_REQUEST, msg),
            DropboxFault::InvalidCursor => self.error(StatusCode::CONFLICT, "invalid_cursor"),
            DropboxFault::Redirect(location) => match HeaderValue::from_str(&location) {
                Ok(location) => (
                    StatusCode::FOUND,
                    [(header::LOCATION, location)],
                    Body::empty(),
                )
                    .into_response(),
                Err(_) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "fake: the injected Location is not a valid header value",
                ),
            },
            DropboxFault::MalformedJson
            | DropboxFault::HugeBody(_)
            | DropboxFault::EchoAuthorization
            | DropboxFault::ResetMidBody
            | DropboxFault::Slow(_) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "fake: this fault needs an answer to alter",
            ),
        }
    }

    /// `TeamGetInfoResult`: the team's name and id, its license counts
    /// (`num_provisioned_users`: the members not removed; every one of them
    /// holds a license, and 10% more are bought) and its policies.
    pub(super) fn team_info(&self) -> String {
        let team = self.team.read();
        let provisioned = (0..team.len())
            .filter(|&i| !team.status(i).is_removed())
            .count();
        let union = |tag: &str| -> serde_json::Value {
            serde_json::from_str(&self.void_union(tag)).unwrap_or(serde_json::Value::Null)
        };
        let domain = team.domain();
        let mut info = serde_json::json!({
            "name": domain.split('.').next().unwrap_or(domain),
            "team_id": format!("dbtid:AAC{:016x}", team.seed()),
            "num_licensed_users": provisioned + provisioned.div_ceil(10),
            "num_provisioned_users": provisioned,
            "num_used_licenses": provisioned,
            "policies": {
                "sharing": {
                    "shared_folder_member_policy": union("team"),
                    "shared_folder_join_policy": union("from_anyone"),
                    "shared_link_create_policy": union("team_only"),
                },
                "emm_state": union("disabled"),
                "office_addin": union("disabled"),
            },
        });
        if self.style.unknown_fields {
            info["future_field"] = serde_json::json!({"x": 1});
        }
        info.to_string()
    }

    /// `{".tag": tag}`, or the bare `"tag"` under `bare_union_tags`.
    pub(super) fn void_union(&self, tag: &str) -> String {
        let mut out = String::with_capacity(tag.len() + 12);
        if self.style.bare_union_tags {
            push_str(&mut out, tag);
        } else {
            out.push_str("{\".tag\":");
            push_str(&mut out, tag);
            out.push('}');
        }
        out
    }

    /// A 409 route error's status and body (see [`Shared::error`]).
    pub(super) fn error_body(&self, tag: &str) -> (StatusCode, String) {
        (StatusCode::CONFLICT, self.error_text(tag))
    }

    /// `dbjid:` and 22 unpredictable base64url characters.
    pub(super) fn new_job_id(&self) -> String {
        let serial = self.job_serial.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        for (k, chunk) in bytes.chunks_mut(8).enumerate() {
            let word = self
                .cursor_key
                .hash_one((0x006a_6f62_u64, serial, k, self.nonce));
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        format!("dbjid:{}", b64_encode(&bytes))
    }

    /// Now on the fake's clock, as a Dropbox timestamp.
    pub(super) fn timestamp(&self) -> String {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            + *lock(&self.clock_offset);
        format_timestamp(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
    }

    /// The `MembersListV2Result` page at `position`: the stored one, or
    /// rendered (and stored, when caching is on).
    fn page(&self, position: Position) -> Page {
        let team = self.team.read();
        let Some(pages) = &self.team.pages else {
            return self.render(&team, position);
        };
        if let Some(page) = read(pages).get(&position) {
            return page.clone();
        }
        let page = self.render(&team, position);
        write(pages).insert(position, page.clone());
        page
    }

    /// Writes one `MembersListV2Result` page of `team` (as served now).
    fn render(&self, team: &Team, position: Position) -> Page {
        let (body, members) =
            render_page(team, &self.style, position, |next| self.encode_cursor(next));
        Page {
            body: Bytes::from(body),
            members,
        }
    }

    /// See [`FakeDropbox::pregenerate`](super::FakeDropbox::pregenerate).
    pub(super) fn pregenerate(&self, limit: u32, include_removed: bool) -> usize {
        let Some(pages) = &self.team.pages else {
            return 0;
        };
        let limit = limit.clamp(1, self.max_limit);
        // The team is read-locked throughout: no change can slip between
        // rendering the pages and storing them.
        let team = self.team.read();
        let mut positions = Vec::new();
        let mut start = 0;
        loop {
            let position = Position {
                start,
                limit,
                include_removed,
            };
            start = next_start(&team, position);
            if !read(pages).contains_key(&position) {
                positions.push(position);
            }
            if start >= team.len() {
                break;
            }
        }
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, positions.len().max(1));
        let next = AtomicUsize::new(0);
        let team: &Team = &team;
        let rendered: Vec<(Position, Page)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some(&position) = positions.get(k) else {
                                break;
                            };
                            done.push((position, self.render(team, position)));
                        }
                        done
                    })
                })
                .collect();
            workers
                .into_iter()
                // A render that panicked: those pages render on demand.
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let count = rendered.len();
        write(pages).extend(rendered);
        count
    }
}

/// Where the page after the one at `position` starts (`team.len()` when it
/// is the last): past `limit` listed members and any unlisted ones after
/// them, as [`render_page`] pages.
fn next_start(team: &Team, position: Position) -> usize {
    let len = team.len();
    let limit = position.limit as usize;
    let listed = |i: usize| position.include_removed || !team.status(i).is_removed();
    let mut i = position.start;
    let mut count = 0;
    while i < len && count < limit {
        count += usize::from(listed(i));
        i += 1;
    }
    while i < len && !listed(i) {
        i += 1;
    }
    i
}

/// The page starting at `position`, its cursor made by `cursor`.
fn render_page(
    team: &Team,
    style: &WireStyle,
    position: Position,
    cursor: impl FnOnce(Position) -> String,
) -> (String, usize) {
    let len = team.len();
    let limit = position.limit as usize;
    let listed = |i: usize| position.include_removed || !team.status(i).is_removed();
    let mut out = String::with_capacity(limit.min(len) * 1100 + 256);
    out.push_str("{\"members\":[");
    let mut i = position.start;
    let mut count = 0;
    while i < len && count < limit {
        if listed(i) {
            if count > 0 {
                out.push(',');
            }
            team.member(i).write_json(style, &mut out);
            count += 1;
        }
        i += 1;
    }
    while i < len && !listed(i) {
        i += 1;
    }
    out.push_str("],\"cursor\":");
    push_str(
        &mut out,
        &cursor(Position {
            start: i,
            ..position
        }),
    );
    out.push_str(if i < len {
        ",\"has_more\":true"
    } else {
        ",\"has_more\":false"
    });
    if style.unknown_fields {
        out.push_str(",\"future_field\":{\"x\":1}");
    }
    out.push('}');
    (out, count)
}

/// Takes one use of the first queued fault.
pub(super) fn next_in(queue: &Mutex<VecDeque<(DropboxFault, usize)>>) -> Option<DropboxFault> {
    let mut faults = lock(queue);
    let (fault, times) = faults.front_mut()?;
    let fault = fault.clone();
    *times -= 1;
    if *times == 0 {
        faults.pop_front();
    }
    Some(fault)
}

/// The first half of `body` (cut on a character boundary).
pub(super) fn cut_in_half(mut body: String) -> String {
    let mut cut = body.len() / 2;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    body.truncate(cut);
    body
}

/// The first half of a UTF-8 `body` (cut on a character boundary).
fn cut_bytes_in_half(body: Bytes) -> Bytes {
    let mut cut = body.len() / 2;
    while cut > 0 && body.get(cut).is_some_and(|&b| b & 0xc0 == 0x80) {
        cut -= 1;
    }
    body.slice(..cut)
}

/// `page` (a JSON object) with spaces inserted before its closing brace so
/// that it is `size` bytes long (unchanged if it is already that long).
fn pad_page(page: &[u8], size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size.max(page.len()));
    bytes.extend_from_slice(page);
    if bytes.len() < size {
        let close = bytes.pop();
        bytes.resize(size - 1, b' ');
        bytes.extend(close);
    }
    bytes
}

/// 200 `application/json` with this body.
fn json_bytes(body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

/// An OAuth 2 error body (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_value(
        status,
        &serde_json::json!({"error": error, "error_description": description}),
    )
}

fn parse_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "request body: could not decode input as JSON".to_string())?;
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(format!(
            "request body: expected object, got {}",
            kind(&other)
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dropbox::{DropboxConfig, FakeDropbox};

    const TOKEN: &str = "sl.cache-test";

    /// POSTs `body` to `path`; the status and the body's bytes.
    async fn post(server: &FakeDropbox, path: &str, body: serde_json::Value) -> (u16, Bytes) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", server.url()))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        (status, resp.bytes().await.expect("body"))
    }

    /// Lists every page over HTTP; each page's position (from the cursor
    /// that led to it) and body.
    async fn list(server: &FakeDropbox, limit: u32, removed: bool) -> Vec<(Position, Bytes)> {
        let shared = &server.shared;
        let mut position = Position {
            start: 0,
            limit,
            include_removed: removed,
        };
        let (status, mut body) = post(
            server,
            "/2/team/members/list_v2",
            serde_json::json!({"limit": limit, "include_removed": removed}),
        )
        .await;
        assert_eq!(status, 200);
        let mut pages = Vec::new();
        loop {
            let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            pages.push((position, body));
            if page["has_more"] == false {
                return pages;
            }
            let cursor = page["cursor"].as_str().expect("cursor").to_string();
            position = shared.decode_cursor(&cursor).expect("our cursor");
            let (status, next) = post(
                server,
                "/2/team/members/list/continue_v2",
                serde_json::json!({ "cursor": cursor }),
            )
            .await;
            assert_eq!(status, 200);
            body = next;
        }
    }

    /// The page at `position` rendered now, bypassing the cache.
    fn uncached(server: &FakeDropbox, position: Position) -> String {
        let shared = &server.shared;
        let team = shared.team.read();
        render_page(&team, &shared.style, position, |next| {
            shared.encode_cursor(next)
        })
        .0
    }

    #[tokio::test]
    async fn served_pages_are_the_uncached_rendering() {
        let styles = [
            WireStyle::default(),
            WireStyle {
                bare_union_tags: true,
                unknown_fields: true,
            },
        ];
        for style in styles {
            let mut config = DropboxConfig::new(Team::generate(2_345, 9), TOKEN);
            config.style = style;
            let server = FakeDropbox::start(config).unwrap();
            for (limit, removed) in [(1000, true), (1000, false), (7, false), (333, true)] {
                // Twice: rendered (and stored) on the first pass, served
                // from memory on the second; both byte for byte the same.
                let first = list(&server, limit, removed).await;
                let stored = server.cached_pages().0;
                let second = list(&server, limit, removed).await;
                assert_eq!(server.cached_pages().0, stored, "no page rendered again");
                assert_eq!(first, second);
                for (position, body) in &first {
                    assert_eq!(body, uncached(&server, *position).as_bytes());
                }
            }
        }
    }

    #[tokio::test]
    async fn pregenerated_pages_are_the_ones_a_client_asks_for() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(3_001, 4), TOKEN)).expect("start");
        // Some members removed, so pages without them skip over them.
        for (limit, removed) in [(1000, true), (1000, false), (9, false), (1, true)] {
            let before = server.cached_pages().0;
            let rendered = server.pregenerate(limit, removed);
            assert!(rendered > 0);
            assert_eq!(server.cached_pages().0, before + rendered);
            assert_eq!(server.pregenerate(limit, removed), 0, "all there already");
            let pages = list(&server, limit, removed).await;
            assert_eq!(pages.len(), rendered);
            assert_eq!(
                server.cached_pages().0,
                before + rendered,
                "all served from memory"
            );
            for (position, body) in &pages {
                assert_eq!(body, uncached(&server, *position).as_bytes());
            }
        }
        // Clamped to max_limit, like a request's limit.
        let (n, _) = server.cached_pages();
        assert_eq!(server.pregenerate(5000, true), 0);
        assert_eq!(server.cached_pages().0, n);

        // An empty team has one (empty) page.
        let empty = FakeDropbox::start(DropboxConfig::new(Team::generate(0, 1), TOKEN)).unwrap();
        assert_eq!(empty.pregenerate(1000, false), 1);
        assert_eq!(list(&empty, 1000, false).await.len(), 1);

        // Caching off: nothing is kept, pages are still right.
        let mut config = DropboxConfig::new(Team::generate(50, 4), TOKEN);
        config.cache_pages = false;
        let off = FakeDropbox::start(config).unwrap();
        assert_eq!(off.pregenerate(10, true), 0);
        let pages = list(&off, 10, true).await;
        assert_eq!(pages.len(), 5);
        assert_eq!(off.cached_pages(), (0, 0));
        for (position, body) in &pages {
            assert_eq!(body, uncached(&off, *position).as_bytes());
        }
    }

    #[tokio::test]
    async fn a_change_to_the_team_drops_rendered_pages() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(40, 3), TOKEN)).expect("start");
        let status = |pages: &[(Position, Bytes)], i: usize| {
            let page: serde_json::Value = serde_json::from_slice(&pages[0].1).unwrap();
            page["members"][i]["profile"]["status"][".tag"]
                .as_str()
                .unwrap()
                .to_string()
        };
        server.pregenerate(1000, true);
        let before = list(&server, 1000, true).await;
        assert_eq!(status(&before, 10), "active");
        assert!(server.cached_pages().0 > 0);

        // A member action.
        let email = server.with_team(|t| t.member(10).email);
        let (code, body) = post(
            &server,
            "/2/team/members/suspend",
            serde_json::json!({"user": {".tag": "email", "email": email}}),
        )
        .await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        assert_eq!(server.cached_pages(), (0, 0));
        let after = list(&server, 1000, true).await;
        assert_eq!(status(&after, 10), "suspended");
        assert_eq!(after[0].1, uncached(&server, after[0].0).as_bytes());

        // update_team.
        let mut m = server.with_team(|t| t.member(11));
        m.status = crate::team::MemberStatus::Suspended;
        server.update_team(|t| t.set_member(11, m));
        assert_eq!(server.cached_pages(), (0, 0));
        let after = list(&server, 1000, true).await;
        assert_eq!(status(&after, 11), "suspended");

        // A growing team: the last page's cursor and has_more change too.
        server.pregenerate(1000, true);
        let mut m = server.with_team(|t| t.member(0));
        m.email = "late.joiner@example.com".into();
        m.team_member_id = "dbmid:AAlate".into();
        server.update_team(|t| t.set_member(1000, m));
        let pages = list(&server, 1000, true).await;
        assert_eq!(pages.len(), 2);
        for (position, body) in &pages {
            assert_eq!(body, uncached(&server, *position).as_bytes());
        }
    }

    #[tokio::test]
    async fn faults_alter_stored_pages_as_before() {
        let server =
            FakeDropbox::start(DropboxConfig::new(Team::generate(30, 5), TOKEN)).expect("start");
        server.pregenerate(1000, false);
        let position = Position {
            start: 0,
            limit: 1000,
            include_removed: false,
        };
        let full = uncached(&server, position);
        let list_body = serde_json::json!({"include_removed": false});

        server.inject(DropboxFault::MalformedJson, 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        assert_eq!(body, cut_in_half(full.clone()).as_bytes());

        server.inject(DropboxFault::HugeBody(full.len() + 100), 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        assert_eq!(body.len(), full.len() + 100);
        assert_eq!(body, pad_page(full.as_bytes(), full.len() + 100));

        server.inject(DropboxFault::EchoAuthorization, 1);
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 200);
        let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(page["cursor"], format!("Bearer {TOKEN}"));

        server.inject(DropboxFault::ServerError(503), 1);
        let (code, _) = post(&server, "/2/team/members/list_v2", list_body.clone()).await;
        assert_eq!(code, 503);

        // And the stored page is unharmed.
        let (code, body) = post(&server, "/2/team/members/list_v2", list_body).await;
        assert_eq!(code, 200);
        assert_eq!(body, full.as_bytes());
        assert_eq!(server.stats().faults_applied, 4);
    }

    #[test]
    fn cutting_bytes_in_half_keeps_characters_whole() {
        for s in ["", "a", "ab", "Zoë", "ëëë", "aë", "Łukasz Þórsson"] {
            let cut = cut_bytes_in_half(Bytes::from(s.to_string()));
            assert_eq!(cut, cut_in_half(s.to_string()).as_bytes(), "{s}");
        }
    }

    #[test]
    fn page_rendering_speed() {
        let team = Team::generate(1_000_000, 5);
        let style = WireStyle::default();
        let position = Position {
            start: 500_000,
            limit: 1000,
            include_removed: true,
        };
        // Warm up, then time.
        let _ = render_page(&team, &style, position, |_| "c".into());
        let rounds = 5;
        let t = std::time::Instant::now();
        let mut bytes = 0;
        for _ in 0..rounds {
            let (page, n) = render_page(&team, &style, position, |_| "c".into());
            assert_eq!(n, 1000);
            bytes += page.len();
        }
        let per_page = t.elapsed() / rounds;
        println!(
            "render of a 1000-member page: {per_page:?} ({} bytes)",
            bytes / rounds as usize
        );
        let (page, _) = render_page(&team, &style, position, |_| "c".into());
        let v: serde_json::Value = serde_json::from_str(&page).expect("valid JSON");
        assert_eq!(v["members"].as_array().map(Vec::len), Some(1000));
    }
}
