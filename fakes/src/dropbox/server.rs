//! The server behind a [`FakeDropbox`](super::FakeDropbox): its shared
//! state, routing and authentication, `team/get_info`, and what the other
//! parts share. The parts, each an `impl Shared`: [`super::listing`],
//! [`super::oauth`], [`super::faults`], [`super::actions`].

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::json::{b64_encode, push_str};
use crate::member_actions::{
    ActionRecord, RemoveArgs, Selector, SetRolesArgs, SuspendArgs, parse_get_info, parse_null,
    parse_poll, parse_user_only,
};
use crate::server::{
    all_headers, header_str, is_json_content_type, json_text, lock, read, text, write,
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
    /// `num_licensed_users`; `None`: provisioned and 10% more.
    pub(super) licensed_users: Mutex<Option<u64>>,
    /// Answered to every `team/get_info` while set (not a queue).
    pub(super) team_info_fault: Mutex<Option<DropboxFault>>,
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
    pub(super) members: usize,
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
    pub(super) start: usize,
    pub(super) limit: u32,
    pub(super) include_removed: bool,
}

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

    /// A Dropbox JSON error: `{"error_summary": "<tag>/...", "error": {".tag": tag}}`.
    /// Like Dropbox, the summary ends in a varying number of dots so that
    /// clients match on `error`, not on the summary.
    pub(super) fn error(&self, status: StatusCode, tag: &str) -> Response {
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

    /// `TeamGetInfoResult`: the team's name and id, its license counts
    /// (`num_provisioned_users`: the members not removed; every one of them
    /// holds a license; `num_licensed_users` as configured, else 10% more
    /// than provisioned) and its policies.
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
            "num_licensed_users": lock(&self.licensed_users)
                .unwrap_or((provisioned + provisioned.div_ceil(10)) as u64),
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
}

/// 200 `application/json` with this body.
pub(super) fn json_bytes(body: Bytes) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}
