//! A fake Dropbox team API server on loopback.
//!
//! End-to-end tests, the CLI's `demo` command and benchmarks point the real
//! connector at it instead of `api.dropboxapi.com`. It speaks the documented
//! wire format (see `shared/reference/dropbox-team-api.md`), including its
//! errors, and is strict about requests so client bugs surface here: the
//! bearer token, `Content-Type`, argument types, ranges and unknown fields
//! are all checked, and cursors are opaque and authenticated (a forged,
//! tampered or foreign cursor is `invalid_cursor`). Faults can be queued to
//! exercise the client's retry and error paths. Pages are written straight
//! into a string from the generated [`Team`] (a 1,000-member page in about
//! 3 ms), and kept: a page asked for again is served from memory (about
//! 0.1 ms of CPU for a 637 KB page) until the team changes. Benchmarks
//! render every page up front ([`FakeDropbox::pregenerate`]); that takes
//! about 640 bytes of memory a member. Tests that never list pay nothing.
//!
//! It answers `team/get_info` (the team's size, licensed seats and
//! policies, as `TeamGetInfoResult`; it can be made to fail), and besides
//! listing it carries out member actions on the team it serves
//! (`team/members/suspend`, `unsuspend`, `remove` and its
//! `remove/job_status/get`, `get_info_v2`,
//! `get_available_team_member_roles`, `set_admin_permissions_v2`), with the
//! route errors of Dropbox's spec. Changes go through the [`Team`] overlay,
//! so later pages show them; every action is logged
//! ([`FakeDropbox::action_log`]) and [`FakeDropbox::snapshot`] digests the
//! changed state, so a test can tell a dry run changed nothing.
//!
//! With an [`OAuthApp`] configured it also serves the OAuth 2 token endpoint
//! (`POST /oauth2/token`, refresh-token grant) and accepts the short-lived
//! access tokens it issues until they expire on the fake's own clock (see
//! [`FakeDropbox::advance_clock`]).

mod actions;
mod config;
mod faults;
mod listing;
mod oauth;
mod server;

pub use crate::member_actions::ActionRecord;
pub use config::{
    DEFAULT_EXPIRES_IN, DEFAULT_MAX_LIMIT, DropboxConfig, DropboxFault, DropboxStats, OAuthApp,
    RecordedRequest,
};

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;

use crate::server::{Server, lock, read, write};
use crate::team::{Member, Team, WireStyle};

use server::{OAuthState, Served, Shared, WriteLimit, handle};

/// The running fake; dropping it stops the server.
pub struct FakeDropbox {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeDropbox {
    /// Binds `127.0.0.1:0` and starts serving on a background thread.
    pub fn start(config: DropboxConfig) -> anyhow::Result<FakeDropbox> {
        let shared = Arc::new(Shared {
            team: Served {
                team: RwLock::new(config.team),
                pages: config.cache_pages.then(|| RwLock::new(HashMap::new())),
            },
            token: RwLock::new(config.access_token),
            style: config.style,
            page_delay: config.page_delay,
            max_limit: config.max_limit.max(1),
            cursor_key: RandomState::new(),
            nonce: RandomState::new().hash_one(0x6e6f_6e63_u64),
            faults: Mutex::new(VecDeque::new()),
            requests: Mutex::new(VecDeque::new()),
            record_requests: config.record_requests,
            stats: Mutex::new(DropboxStats::default()),
            summaries: AtomicU64::new(0),
            oauth: Mutex::new(OAuthState {
                app: config.oauth,
                revoked: false,
                issued: Vec::new(),
            }),
            token_delay: Mutex::new(Duration::ZERO),
            token_requests: AtomicU64::new(0),
            token_key: RandomState::new(),
            clock_offset: Mutex::new(Duration::ZERO),
            actions: Mutex::new(Vec::new()),
            action_faults: Mutex::new(VecDeque::new()),
            jobs: Mutex::new(HashMap::new()),
            job_serial: AtomicU64::new(0),
            remove_async_polls: AtomicU32::new(config.remove_async_polls),
            action_delay: Mutex::new(config.action_delay),
            write_limit: Mutex::new(None),
            write_limited: AtomicU64::new(0),
            actions_in_flight: AtomicU64::new(0),
            actions_in_flight_max: AtomicU64::new(0),
            licensed_users: Mutex::new(config.licensed_users),
            team_info_fault: Mutex::new(None),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = Server::start("fake-dropbox", router)?;
        Ok(FakeDropbox { shared, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Accept only `token` from now on (rotation, expiry).
    pub fn set_access_token(&self, token: impl Into<String>) {
        *write(&self.shared.token) = token.into();
    }

    /// Answer the next `times` list/continue requests that pass validation
    /// with `fault` (queued after any fault already pending, FIFO).
    pub fn inject(&self, fault: DropboxFault, times: usize) {
        if times > 0 {
            lock(&self.shared.faults).push_back((fault, times));
        }
    }

    /// How many faulty answers are still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).iter().map(|f| f.1).sum()
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request received so far, in arrival order (the most recent
    /// [`DropboxConfig::record_requests`] of them).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    pub fn stats(&self) -> DropboxStats {
        lock(&self.shared.stats).clone()
    }

    /// Makes every access token issued so far expired (tokens issued later
    /// are fresh). The configured static token is unaffected.
    pub fn expire_access_tokens(&self) {
        let now = self.shared.now();
        for issued in &mut lock(&self.shared.oauth).issued {
            issued.expires_at = issued.expires_at.min(now);
        }
    }

    /// Later refreshes get `invalid_grant`; issued access tokens stay valid
    /// until they expire.
    pub fn revoke_refresh_token(&self) {
        lock(&self.shared.oauth).revoked = true;
    }

    /// Sleep this long before answering each token-endpoint request (to
    /// test that clients collapse concurrent refreshes).
    pub fn set_token_endpoint_delay(&self, delay: Duration) {
        *lock(&self.shared.token_delay) = delay;
    }

    /// How many requests reached `/oauth2/token` (any method or outcome).
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// Every access token issued by the token endpoint, oldest first.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.oauth)
            .issued
            .iter()
            .map(|i| i.token.clone())
            .collect()
    }

    /// Moves the fake's clock (used for access-token expiry and for the
    /// `suspended_on` of members it suspends) forward, so tests can let
    /// tokens expire without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        *lock(&self.shared.clock_offset) += by;
    }

    /// Reads the served team.
    pub fn with_team<R>(&self, f: impl FnOnce(&Team) -> R) -> R {
        f(&self.shared.team.read())
    }

    /// Changes the served team (e.g. `Team::set_member`); pages rendered
    /// before are dropped.
    pub fn update_team<R>(&self, f: impl FnOnce(&mut Team) -> R) -> R {
        f(&mut self.shared.team.write())
    }

    /// Renders every page of a listing with this `limit` (clamped to
    /// `1..=max_limit`) and `include_removed` now, on all cores, so that
    /// serving them later costs almost nothing; returns how many pages
    /// were rendered (0 with [`DropboxConfig::cache_pages`] off). Pages
    /// already rendered are kept; a change to the team drops them all.
    pub fn pregenerate(&self, limit: u32, include_removed: bool) -> usize {
        self.shared.pregenerate(limit, include_removed)
    }

    /// How many rendered pages are held, and their total size in bytes.
    pub fn cached_pages(&self) -> (usize, usize) {
        match &self.shared.team.pages {
            Some(pages) => {
                let pages = read(pages);
                (pages.len(), pages.values().map(|p| p.body.len()).sum())
            }
            None => (0, 0),
        }
    }

    /// Every member action answered with 200 or 409, in order.
    pub fn action_log(&self) -> Vec<ActionRecord> {
        lock(&self.shared.actions).clone()
    }

    /// The member with this primary email (case-insensitive), removed
    /// members included.
    pub fn member_by_email(&self, email: &str) -> Option<Member> {
        self.shared.team.read().by_email(email).map(|(_, m)| m)
    }

    /// A deterministic JSON digest of the state actions can change: every
    /// changed member (overlay, by index, as `TeamMemberInfoV2`) and the
    /// number of logged actions. Equal before and after a run that changed
    /// nothing: `{"actions": N, "changed": [{"index": i, "member": {..}}, ..]}`.
    pub fn snapshot(&self) -> String {
        let team = self.shared.team.read();
        let mut changed: Vec<(&usize, &Member)> = team.changed_members().iter().collect();
        changed.sort_unstable_by_key(|(i, _)| **i);
        let style = WireStyle::default();
        let changed: Vec<serde_json::Value> = changed
            .into_iter()
            .map(|(i, m)| serde_json::json!({"index": i, "member": m.to_json(&style)}))
            .collect();
        let actions = lock(&self.shared.actions).len();
        serde_json::json!({"actions": actions, "changed": changed}).to_string()
    }

    /// Changes [`DropboxConfig::action_delay`] for later requests.
    pub fn set_action_delay(&self, delay: Duration) {
        *lock(&self.shared.action_delay) = delay;
    }

    /// Limits write operations (suspend, unsuspend, remove, admin roles) to
    /// `per_second` in each one-second window (`None`: no limit). A write
    /// over the limit is not carried out and answers 429 the way Dropbox
    /// answers a write limit: `too_many_write_operations`, `Retry-After: 1`
    /// and no `retry_after` in the body.
    pub fn set_write_limit(&self, per_second: Option<u32>) {
        *lock(&self.shared.write_limit) = per_second.map(|per_second| WriteLimit {
            per_second: per_second.max(1),
            window: Instant::now(),
            used: 0,
        });
    }

    /// The most requests to action routes (everything but list/continue
    /// and the token endpoint) answered at the same time so far.
    pub fn max_concurrent_actions(&self) -> u64 {
        self.shared.actions_in_flight_max.load(Ordering::SeqCst)
    }

    /// How many writes the write limit refused.
    pub fn write_limited(&self) -> u64 {
        self.shared.write_limited.load(Ordering::SeqCst)
    }

    /// Makes `email` a Dropbox account of another team (see
    /// [`Team::add_outsider`]).
    pub fn add_outsider(&self, email: &str) {
        self.update_team(|t| t.add_outsider(email));
    }

    /// Changes [`DropboxConfig::remove_async_polls`] for later removals.
    pub fn set_remove_async_polls(&self, polls: u32) {
        self.shared
            .remove_async_polls
            .store(polls, Ordering::SeqCst);
    }

    /// Answer the next `times` member-action requests (every route but
    /// list/continue and the token endpoint) that pass validation with
    /// `fault`, FIFO, on a queue of their own. The action is then not
    /// carried out, except for `Slow` (delayed, then done), `MalformedJson`
    /// and `HugeBody` (done, and the answer cut in half or padded with
    /// trailing spaces: a lost or odd response to a write that happened)
    /// and `EchoAuthorization` (no cursor to echo: done, answered normally).
    pub fn inject_action(&self, fault: DropboxFault, times: usize) {
        if times > 0 {
            lock(&self.shared.action_faults).push_back((fault, times));
        }
    }

    /// Changes `team/get_info`'s `num_licensed_users`
    /// ([`DropboxConfig::licensed_users`]).
    pub fn set_licensed_users(&self, licensed: Option<u64>) {
        *lock(&self.shared.licensed_users) = licensed;
    }

    /// Answers every `team/get_info` that passes validation with `fault`
    /// (as [`FakeDropbox::inject_action`] would, but for as long as it is
    /// set, and for that route only), or again normally with `None`.
    pub fn fail_team_info(&self, fault: Option<DropboxFault>) {
        *lock(&self.shared.team_info_fault) = fault;
    }

    /// How many faulty member-action answers are still queued.
    pub fn pending_action_faults(&self) -> usize {
        lock(&self.shared.action_faults).iter().map(|f| f.1).sum()
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
