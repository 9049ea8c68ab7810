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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::header::{AUTHORIZATION, COOKIE, HOST, HeaderName, HeaderValue, PROXY_AUTHORIZATION};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

use super::policy::{Allowlist, Target, redact_url};
use crate::credentials::Secret;

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
}

/// The policy for one connector: what it may reach and with which
/// credential. Shared (read-only) by every instance of a run.
#[derive(Debug)]
pub struct OutboundPolicy {
    pub allowed: Allowlist,
    pub routes: Vec<Route>,
    /// Bearer tokens, each bound to exactly one origin.
    pub bearer: Vec<(Target, Secret)>,
    pub timeouts: RequestOptions,
    pub stats: Arc<OutboundStats>,
}

impl OutboundPolicy {
    /// Timeouts applied when the config names none.
    pub fn default_timeouts() -> RequestOptions {
        RequestOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            first_byte_timeout: Some(Duration::from_secs(60)),
            between_bytes_timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// The [`WasiHttpHooks`] of one store.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
}

impl OutboundHooks {
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self { policy }
    }

    /// Applies the policy to a request: `Err` to deny it, else the request
    /// to send (routed, with its credential).
    pub fn prepare(
        &self,
        mut request: http::Request<WasiBody>,
    ) -> Result<http::Request<WasiBody>, String> {
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
        if let Some((_, token)) = self.policy.bearer.iter().find(|(o, _)| *o == target) {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| "the configured token is not a valid header value".to_string())?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
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
        Ok(request)
    }
}

impl WasiHttpHooks for OutboundHooks {
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
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let stats = self.policy.stats.clone();
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let prepared = self.prepare(request);
        // The host's timeouts bound the guest's: a guest may ask for less.
        let ours = self.policy.timeouts;
        let opts = RequestOptions {
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
        Box::new(async move {
            let request = match prepared {
                Ok(r) => r,
                Err(why) => {
                    stats.denied.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("sandbox refused outgoing request to {why}");
                    return Err(HttpError::HttpRequestDenied);
                }
            };
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, Some(opts)).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
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
    use http_body_util::{BodyExt, Empty};

    fn policy() -> Arc<OutboundPolicy> {
        let origin = Target {
            scheme: "https".into(),
            host: "api.dropboxapi.com".into(),
            port: 443,
        };
        Arc::new(OutboundPolicy {
            allowed: Allowlist::parse(&["https://api.dropboxapi.com"]).unwrap(),
            routes: vec![Route {
                origin: origin.clone(),
                upstream: http::uri::Scheme::HTTP,
                upstream_authority: "127.0.0.1:9".parse().unwrap(),
            }],
            bearer: vec![(origin, Secret::new("tok".into()))],
            timeouts: OutboundPolicy::default_timeouts(),
            stats: Default::default(),
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
        let hooks = OutboundHooks::new(policy());
        let req = hooks
            .prepare(request("https://api.dropboxapi.com/2/team/members/list_v2"))
            .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:9/2/team/members/list_v2"
        );
        assert_eq!(req.headers()[AUTHORIZATION], "Bearer tok");
        assert_eq!(req.headers()[HOST], "127.0.0.1:9");
        assert_eq!(req.headers().get_all(AUTHORIZATION).iter().count(), 1);
    }

    #[test]
    fn denied_request_names_the_url_without_query() {
        let hooks = OutboundHooks::new(policy());
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
        let hooks = OutboundHooks::new(policy());
        assert!(hooks.prepare(request("http://127.0.0.1:9/2/x")).is_err());
    }

    #[test]
    fn credential_headers_are_forbidden_to_the_guest() {
        let mut hooks = OutboundHooks::new(policy());
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
