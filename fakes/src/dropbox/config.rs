//! What a [`FakeDropbox`](super::FakeDropbox) is set up with, and what it
//! reports: the configuration, the OAuth app, the injectable faults, the
//! recorded requests and the counters.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::team::{Team, WireStyle};

/// The largest `limit` Dropbox accepts on `members/list_v2`.
pub const DEFAULT_MAX_LIMIT: u32 = 1000;

/// How a [`FakeDropbox`](super::FakeDropbox) is set up.
#[derive(Debug, Clone)]
pub struct DropboxConfig {
    /// The team it serves.
    pub team: Team,
    /// The only bearer token it accepts (see
    /// [`FakeDropbox::set_access_token`](super::FakeDropbox::set_access_token)).
    pub access_token: String,
    /// How unions and extension fields are rendered.
    pub style: WireStyle,
    /// Slept before answering each list/continue page (latency benchmarks).
    pub page_delay: Duration,
    /// Upper bound of the accepted `limit` (and its default). Dropbox: 1000.
    pub max_limit: u32,
    /// The OAuth 2 app whose refresh token `POST /oauth2/token` exchanges
    /// for short-lived access tokens; `None` (the default): every token
    /// request is refused with `invalid_client`.
    pub oauth: Option<OAuthApp>,
    /// 0 (the default): `team/members/remove` answers `complete`. N: it
    /// answers `async_job_id`, and `remove/job_status/get` reports
    /// `in_progress` for the first N polls of that job, then `complete`
    /// (see also
    /// [`FakeDropbox::set_remove_async_polls`](super::FakeDropbox::set_remove_async_polls)).
    pub remove_async_polls: u32,
    /// Keep every rendered list/continue page (the default): a page asked
    /// for again (same start, `limit` and `include_removed`) is served
    /// from memory, until the team changes. About 640 bytes a member per
    /// way of paging; see also
    /// [`FakeDropbox::pregenerate`](super::FakeDropbox::pregenerate).
    pub cache_pages: bool,
    /// How many requests
    /// [`FakeDropbox::requests`](super::FakeDropbox::requests) keeps, the
    /// most recent ones: `usize::MAX` (the default) keeps all, 0 records
    /// none.
    pub record_requests: usize,
    /// Slept before answering each request to a route other than
    /// list/continue and the token endpoint (member actions, `get_info_v2`,
    /// `team/get_info`): a vendor's latency for workflow benchmarks. See
    /// also
    /// [`FakeDropbox::set_action_delay`](super::FakeDropbox::set_action_delay).
    pub action_delay: Duration,
    /// `team/get_info`'s `num_licensed_users`; `None` (the default): the
    /// provisioned members and 10% more (see also
    /// [`FakeDropbox::set_licensed_users`](super::FakeDropbox::set_licensed_users)).
    pub licensed_users: Option<u64>,
}

impl DropboxConfig {
    /// Default wire style, no delay, `max_limit` 1000.
    pub fn new(team: Team, access_token: impl Into<String>) -> DropboxConfig {
        DropboxConfig {
            team,
            access_token: access_token.into(),
            style: WireStyle::default(),
            page_delay: Duration::ZERO,
            max_limit: DEFAULT_MAX_LIMIT,
            oauth: None,
            remove_async_polls: 0,
            cache_pages: true,
            record_requests: usize::MAX,
            action_delay: Duration::ZERO,
            licensed_users: None,
        }
    }
}

/// Dropbox's lifetime of a short-lived access token: four hours.
pub const DEFAULT_EXPIRES_IN: u32 = 14_400;

/// An OAuth 2 app registered with the fake, and the refresh token it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApp {
    /// The app key (`client_id`).
    pub client_id: String,
    /// The app secret; `None` for a PKCE (public) app, which must then send
    /// no `client_secret` at all.
    pub client_secret: Option<String>,
    /// The one refresh token the token endpoint accepts (until
    /// [`FakeDropbox::revoke_refresh_token`](super::FakeDropbox::revoke_refresh_token)).
    pub refresh_token: String,
    /// Lifetime of each issued access token, in seconds (default 14400).
    pub expires_in: u32,
}

impl OAuthApp {
    /// `expires_in` 14400 (four hours, as Dropbox).
    pub fn new(
        client_id: impl Into<String>,
        client_secret: Option<&str>,
        refresh_token: impl Into<String>,
    ) -> OAuthApp {
        OAuthApp {
            client_id: client_id.into(),
            client_secret: client_secret.map(str::to_string),
            refresh_token: refresh_token.into(),
            expires_in: DEFAULT_EXPIRES_IN,
        }
    }
}

/// A failure the server answers instead of a page (see
/// [`FakeDropbox::inject`](super::FakeDropbox::inject)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropboxFault {
    /// 401 `expired_access_token`.
    ExpiredToken,
    /// Status 429; with `header` a `Retry-After` header, with `body` a JSON
    /// body carrying `retry_after` (else a plain-text body).
    RateLimited {
        retry_after: u32,
        header: bool,
        body: bool,
    },
    /// 409 route error with this tag.
    Conflict(String),
    /// This 5xx status with a plain-text body.
    ServerError(u16),
    /// 200 with the page's JSON cut in half.
    MalformedJson,
    /// 400 with this plain-text body.
    BadRequest(String),
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// 409 `invalid_cursor`.
    InvalidCursor,
    /// 302 with this `Location` and an empty body.
    Redirect(String),
    /// 200 `application/json`: a valid page padded with spaces (before its
    /// closing brace) to this many bytes; a smaller size gives the bare page.
    HugeBody(usize),
    /// 200 with a normal page whose `cursor` holds the request's
    /// `Authorization` header value, as a server reflecting credentials would.
    EchoAuthorization,
    /// 200 announcing the whole page, then the connection is cut half way
    /// through the body (a reset as the client sees it).
    ResetMidBody,
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    /// Every header, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8).
    pub body: String,
}

impl RecordedRequest {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropboxStats {
    /// Requests received (any path).
    pub requests: u64,
    /// Complete member pages answered with 200.
    pub pages_served: u64,
    /// Members in those pages.
    pub members_served: u64,
    /// Injected faults answered (a `Slow` counts too).
    pub faults_applied: u64,
    /// Responses by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
}
