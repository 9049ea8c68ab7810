//! The outgoing-request hook: the one door between a component and the
//! network.
//!
//! For each request the component sends, [`OutboundHooks`]:
//! 1. reads scheme, host and port from the request URI (never from a `Host`
//!    header; the guest cannot set one) and denies anything the allowlist
//!    does not cover, failing closed on a URI it cannot read;
//! 2. routes a declared origin to its configured upstream (a test fake, or a
//!    proxy), so the component always names the vendor's real origin;
//! 3. adds the credential bound to that origin. The component can neither
//!    set nor read `Authorization`, `Cookie`, `Proxy-Authorization` or
//!    `Authorization2`: they are forbidden headers for the guest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{AUTHORIZATION, COOKIE, HOST, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use super::budget::CallBudget;
use super::net::AddressPolicy;
use super::policy::{Allowlist, Target, redact_url};
use super::send::{SendError, send};
use crate::config::LimitsConfig;
use crate::config::limits::defaults;
use crate::credentials::{Bearer, OAuthError};

/// Headers a guest may never set: the credential headers the host owns.
const CREDENTIAL_HEADERS: [&str; 5] = [
    "authorization",
    "authorization2",
    "cookie",
    "proxy-authorization",
    "x-csrf-token",
];

/// Where requests for a declared origin actually go.
#[derive(Debug, Clone)]
pub struct Route {
    /// The origin the component names, e.g. `https://api.dropboxapi.com:443`.
    pub origin: Target,
    /// Scheme and authority to send to instead, e.g. `http://127.0.0.1:4011`.
    pub upstream: http::uri::Scheme,
    pub upstream_authority: http::uri::Authority,
}

/// Counters a run reports.
#[derive(Debug, Default)]
pub struct OutboundStats {
    pub requests: AtomicU64,
    pub denied: AtomicU64,
    /// Requests sent again after a refreshed access token.
    pub credential_retries: AtomicU64,
    /// Why the latest request was refused (URL redacted), for reports.
    pub last_refusal: Mutex<Option<String>>,
}

impl OutboundStats {
    /// Records a refusal; returns how many this run has had.
    fn refused(&self, why: String) -> u64 {
        let n = self.denied.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!("sandbox refused outgoing request to {why}");
        if let Ok(mut l) = self.last_refusal.lock() {
            *l = Some(why);
        }
        n
    }

    /// Why the latest request was refused.
    pub fn last_refusal(&self) -> Option<String> {
        self.last_refusal.lock().ok().and_then(|l| l.clone())
    }
}

/// The policy for one connector: what it may reach, with which credential,
/// within which limits. Shared (read-only) by every instance of a run.
#[derive(Debug)]
pub struct OutboundPolicy {
    pub allowed: Allowlist,
    pub routes: Vec<Route>,
    /// Credentials, each bound to exactly one origin.
    pub bearer: Vec<(Target, Bearer)>,
    /// What resolved addresses may be (loopback, private networks).
    pub addresses: AddressPolicy,
    pub timeouts: RequestOptions,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
    pub max_requests_per_call: u32,
    pub max_concurrent_requests: u32,
    /// Refused requests a run may have before it fails.
    pub max_refused_requests: u32,
    pub stats: Arc<OutboundStats>,
}

impl OutboundPolicy {
    /// A policy allowing `allowed`, with the default limits and nothing
    /// else: no routes, no credentials, public addresses only.
    pub fn new(allowed: Allowlist) -> Self {
        Self {
            allowed,
            routes: vec![],
            bearer: vec![],
            addresses: AddressPolicy::default(),
            timeouts: Self::default_timeouts(),
            max_request_bytes: defaults::MAX_REQUEST_BODY_KIB << 10,
            max_response_bytes: defaults::MAX_RESPONSE_MIB << 20,
            max_requests_per_call: defaults::MAX_REQUESTS_PER_CALL,
            max_concurrent_requests: defaults::MAX_CONCURRENT_REQUESTS,
            max_refused_requests: defaults::MAX_REFUSED_REQUESTS,
            stats: Default::default(),
        }
    }

    /// Timeouts applied when the config names none.
    pub fn default_timeouts() -> RequestOptions {
        Self::timeouts(&LimitsConfig::default())
    }

    /// The request timeouts `[limits]` sets.
    pub fn timeouts(l: &LimitsConfig) -> RequestOptions {
        RequestOptions {
            connect_timeout: Some(Duration::from_secs(l.connect_timeout_secs)),
            first_byte_timeout: Some(Duration::from_secs(l.first_byte_timeout_secs)),
            between_bytes_timeout: Some(Duration::from_secs(l.between_bytes_timeout_secs)),
        }
    }

    /// Refuses one request: logged and counted, and past
    /// `max_refused_requests` in this run, a breach that ends the call (so
    /// the run fails instead of exiting 0 with requests refused).
    pub(crate) fn refuse(&self, budget: &CallBudget, why: String) {
        let n = self.stats.refused(why);
        if n > u64::from(self.max_refused_requests) {
            budget.breach(format!(
                "the sandbox refused {n} request(s) in this run, more than limits.max_refused_requests = {} (latest: {})",
                self.max_refused_requests,
                self.stats.last_refusal().unwrap_or_default()
            ));
        }
    }

    /// The OAuth refresher of the bound credential, if it is one.
    fn refresher(&self) -> Option<&Arc<crate::credentials::OAuthRefresher>> {
        self.bearer.iter().find_map(|(_, b)| match b {
            Bearer::OAuth(r) => Some(r),
            Bearer::Static(_) => None,
        })
    }

    /// The generation of the credential now; pass it to
    /// [`Self::refresh_expired`] after a call that used it.
    pub async fn credential_generation(&self) -> Option<u64> {
        Some(self.refresher()?.generation().await)
    }

    /// The connector said the access token expired (the contract's
    /// `unauthorized { expired: true }`) in a call that used token
    /// `generation`: refreshes it unless someone already did, within the
    /// refresher's rate limit. True when the call may be run again.
    pub async fn refresh_expired(&self, generation: Option<u64>) -> bool {
        let (Some(r), Some(generation)) = (self.refresher(), generation) else {
            return false;
        };
        match r.refresh_after(generation).await {
            Ok(Some(_)) => {
                self.stats
                    .credential_retries
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::error!("{e}");
                false
            }
        }
    }

    /// A credential failure that ends the run (e.g. `invalid_grant`).
    pub fn credential_failure(&self) -> Option<OAuthError> {
        self.bearer.iter().find_map(|(_, b)| match b {
            Bearer::OAuth(r) => r.fatal(),
            Bearer::Static(_) => None,
        })
    }
}

/// The [`WasiHttpHooks`] of one store.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    budget: Arc<CallBudget>,
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl OutboundHooks {
    pub fn new(policy: Arc<OutboundPolicy>, budget: Arc<CallBudget>) -> Self {
        Self { policy, budget }
    }

    /// Applies the allowlist and routing to a request: `Err` to deny it,
    /// else the request to send (routed, credential headers stripped) and
    /// the credential to attach.
    pub fn prepare(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<(http::Request<WasiBody>, Option<Bearer>), String> {
        let uri = request.uri().clone();
        let shown = redact_url(&uri);
        let target = match Target::from_uri(&uri) {
            Some(t) if self.policy.allowed.allows(&t) => t,
            Some(t) => return Err(format!("{shown} ({t} is not in the allowlist)")),
            None => return Err(format!("{shown} (not a URL the policy can check)")),
        };
        let headers = request.headers_mut();
        for name in CREDENTIAL_HEADERS {
            headers.remove(name);
        }
        let bearer = self
            .policy
            .bearer
            .iter()
            .find(|(o, _)| *o == target)
            .map(|(_, b)| b.clone());
        if let Some(route) = self.policy.routes.iter().find(|r| r.origin == target) {
            let mut parts = uri.into_parts();
            parts.scheme = Some(route.upstream.clone());
            parts.authority = Some(route.upstream_authority.clone());
            *request.uri_mut() = http::Uri::from_parts(parts)
                .map_err(|e| format!("{shown}: cannot route to upstream: {e}"))?;
            let host = HeaderValue::from_str(route.upstream_authority.as_str())
                .map_err(|e| format!("{shown}: bad upstream authority: {e}"))?;
            request.headers_mut().insert(HOST, host);
        }
        Ok((request, bearer))
    }
}

/// Sends a prepared request under the budget: buffers the body (capped),
/// attaches the credential, and on `expired_access_token` refreshes it and
/// sends once more, transparently to the component.
async fn send_guarded(
    policy: Arc<OutboundPolicy>,
    budget: Arc<CallBudget>,
    request: http::Request<WasiBody>,
    bearer: Option<Bearer>,
    timeouts: RequestOptions,
) -> Result<http::Response<WasiBody>, HttpError> {
    // A request over a cap is refused and ends the call (the breach).
    let over_cap = |what: String| {
        budget.breach(what);
        policy.stats.denied.fetch_add(1, Ordering::Relaxed);
        Err(HttpError::HttpRequestDenied)
    };
    let slot = match budget.enter_flight(policy.max_concurrent_requests) {
        Ok(slot) => slot,
        Err(what) => return over_cap(what),
    };

    let (parts, body) = request.into_parts();
    let cap = policy.max_request_bytes;
    let body = match Limited::new(body, cap as usize).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            budget.breach(format!(
                "the component sent a request body over the cap of {} KiB (limits.max_request_body_kib)",
                cap >> 10
            ));
            return Err(HttpError::HttpRequestBodySize(Some(cap)));
        }
        Err(e) => return Err(HttpError::InternalError(Some(format!("request body: {e}")))),
    };

    let mut refreshed = false;
    loop {
        let mut req = http::Request::new(Full::new(body.clone()));
        *req.method_mut() = parts.method.clone();
        *req.uri_mut() = parts.uri.clone();
        *req.headers_mut() = parts.headers.clone();
        let mut generation = 0;
        if let Some(b) = &bearer {
            let (token, gen_) = b.current().await.map_err(credential_error)?;
            generation = gen_;
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    HttpError::InternalError(Some("the token is not a valid header value".into()))
                })?;
            value.set_sensitive(true);
            req.headers_mut().insert(AUTHORIZATION, value);
        }
        let response = match send(
            req,
            policy.addresses,
            timeouts,
            policy.max_response_bytes,
            budget.clone(),
            slot.clone(),
        )
        .await
        {
            Ok(r) => r,
            Err(SendError::Refused(why)) => {
                policy.refuse(&budget, format!("{}: {why}", redact_url(&parts.uri)));
                return Err(HttpError::HttpRequestDenied);
            }
            Err(SendError::Http(e)) => return Err(e),
        };
        let Some(Bearer::OAuth(refresher)) = &bearer else {
            return Ok(response);
        };
        if response.status() != http::StatusCode::UNAUTHORIZED || refreshed {
            return Ok(response);
        }
        // RFC 6750: `WWW-Authenticate: Bearer error="invalid_token"` says
        // the token expired or was revoked; refresh and resend once,
        // transparently. A vendor that says so only in its body (Dropbox's
        // `expired_access_token`) gets the 401 back, its connector answers
        // `unauthorized { expired: true }`, and the instance refreshes and
        // runs the call again (see `ConnectorInstance`).
        if !says_invalid_token(response.headers()) {
            return Ok(response);
        }
        tracing::debug!("access token rejected (invalid_token); refreshing and retrying once");
        if refresher
            .refresh_after(generation)
            .await
            .map_err(credential_error)?
            .is_none()
        {
            return Ok(response);
        }
        policy
            .stats
            .credential_retries
            .fetch_add(1, Ordering::Relaxed);
        refreshed = true;
    }
}

/// Whether a 401's `WWW-Authenticate` is a Bearer challenge with
/// `error="invalid_token"` (RFC 6750 section 3.1).
fn says_invalid_token(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(http::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.to_ascii_lowercase();
            v.trim_start().starts_with("bearer")
                && v.replace(' ', "").contains("error=\"invalid_token\"")
        })
}

fn credential_error(e: OAuthError) -> HttpError {
    tracing::error!("{e}");
    HttpError::InternalError(Some(
        "the host could not obtain a credential for this origin".into(),
    ))
}

/// The most a guest can buffer in one write to a request body. The
/// default (1 MiB) times the resources a guest may hold would let it pin a
/// lot of host memory in bodies it never sends.
const OUTGOING_BODY_CHUNK: usize = 64 << 10;

impl WasiHttpHooks for OutboundHooks {
    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        OUTGOING_BODY_CHUNK
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        Arc::new(|name: &HeaderName| {
            DEFAULT_FORBIDDEN_HEADERS.contains(name)
                || *name == AUTHORIZATION
                || *name == PROXY_AUTHORIZATION
                || *name == COOKIE
                || CREDENTIAL_HEADERS.contains(&name.as_str())
        })
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let policy = self.policy.clone();
        let budget = self.budget.clone();
        // A call that breached a limit is being stopped: refuse quietly
        // (no count, no log line) until the guest is interrupted.
        if budget.breached() {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        policy.stats.requests.fetch_add(1, Ordering::Relaxed);
        // Every request counts against the call's cap, refused ones too: a
        // guest cannot spin on refusals.
        let counted = budget.count_request(policy.max_requests_per_call);
        let prepared = match budget.http_denied() {
            Some(call) => Err(format!(
                "{} (`{call}` makes no HTTP request, by the contract)",
                redact_url(request.uri())
            )),
            None => self.prepare(request),
        };
        Box::new(async move {
            if let Err(what) = counted {
                budget.breach(what);
                policy.stats.denied.fetch_add(1, Ordering::Relaxed);
                return Err(HttpError::HttpRequestDenied);
            }
            let (request, bearer) = match prepared {
                Ok(p) => p,
                Err(why) => {
                    if let Some(call) = budget.http_denied() {
                        budget.breach(format!(
                            "a contract violation: the component made an HTTP request during `{call}`, which makes none"
                        ));
                    }
                    policy.refuse(&budget, why);
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            // The host's timeouts bound the guest's: a guest may ask for less.
            let ours = policy.timeouts;
            let timeouts = RequestOptions {
                connect_timeout: min_opt(
                    ours.connect_timeout,
                    options.and_then(|o| o.connect_timeout),
                ),
                first_byte_timeout: min_opt(
                    ours.first_byte_timeout,
                    options.and_then(|o| o.first_byte_timeout),
                ),
                between_bytes_timeout: min_opt(
                    ours.between_bytes_timeout,
                    options.and_then(|o| o.between_bytes_timeout),
                ),
            };
            let response = send_guarded(policy, budget, request, bearer, timeouts).await?;
            Ok((
                response,
                Box::new(async { Ok(()) }) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

fn min_opt(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Secret;
    use http_body_util::{BodyExt, Empty};

    fn policy() -> Arc<OutboundPolicy> {
        let origin = Target {
            scheme: "https".into(),
            host: "api.dropboxapi.com".into(),
            port: 443,
        };
        Arc::new(OutboundPolicy {
            routes: vec![Route {
                origin: origin.clone(),
                upstream: http::uri::Scheme::HTTP,
                upstream_authority: "127.0.0.1:9".parse().unwrap(),
            }],
            bearer: vec![(origin, Bearer::Static(Secret::new("tok".into())))],
            ..OutboundPolicy::new(Allowlist::parse(&["https://api.dropboxapi.com"]).unwrap())
        })
    }

    fn request(uri: &str) -> http::Request<WasiBody> {
        let body = Empty::new()
            .map_err(|_| HttpError::HttpRequestDenied)
            .boxed_unsync();
        http::Request::builder()
            .uri(uri)
            .header("authorization", "Bearer guest-set")
            .header(HOST, "api.dropboxapi.com")
            .body(body)
            .unwrap()
    }

    #[test]
    fn allowed_request_is_routed_with_host_credential() {
        let hooks = OutboundHooks::new(policy(), Default::default());
        let (req, bearer) = hooks
            .prepare(request("https://api.dropboxapi.com/2/team/members/list_v2"))
            .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9/2/team/members/list_v2"
        );
        // The guest's own Authorization is gone; the host attaches its own
        // credential when it sends.
        assert!(req.headers().get(AUTHORIZATION).is_none());
        assert!(matches!(bearer, Some(Bearer::Static(s)) if s.expose() == "tok"));
        assert_eq!(req.headers()[HOST], "127.0.0.1:9");
    }

    #[test]
    fn denied_request_names_the_url_without_query() {
        let hooks = OutboundHooks::new(policy(), Default::default());
        let err = hooks
            .prepare(request("https://evil.example/steal?token=x"))
            .unwrap_err();
        assert!(
            err.contains("https://evil.example/steal?[redacted]"),
            "{err}"
        );
        assert!(!err.contains("token=x"));
    }

    #[test]
    fn host_header_does_not_decide() {
        // The URI says evil; a Host header claiming Dropbox changes nothing.
        let hooks = OutboundHooks::new(policy(), Default::default());
        assert!(hooks.prepare(request("http://127.0.0.1:9/2/x")).is_err());
    }

    #[test]
    fn only_an_rfc6750_invalid_token_challenge_triggers_a_refresh() {
        let h = |v: &str| {
            let mut m = http::HeaderMap::new();
            m.insert(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_str(v).unwrap(),
            );
            m
        };
        assert!(says_invalid_token(&h(
            r#"Bearer realm="example", error="invalid_token", error_description="expired""#
        )));
        assert!(says_invalid_token(&h(r#"bearer error = "invalid_token""#)));
        assert!(!says_invalid_token(&h(
            r#"Bearer error="insufficient_scope""#
        )));
        assert!(!says_invalid_token(&h(
            r#"Basic realm="x", error="invalid_token""#
        )));
        assert!(!says_invalid_token(&http::HeaderMap::new()));
    }

    #[test]
    fn credential_headers_are_forbidden_to_the_guest() {
        let mut hooks = OutboundHooks::new(policy(), Default::default());
        let f = hooks.forbidden_header_filter();
        for h in [
            "authorization",
            "Authorization2",
            "cookie",
            "proxy-authorization",
            "host",
        ] {
            assert!(f(&HeaderName::from_bytes(h.as_bytes()).unwrap()), "{h}");
        }
        assert!(!f(&HeaderName::from_static("content-type")));
    }
}
