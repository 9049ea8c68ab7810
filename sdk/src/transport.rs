//! The seams between connector logic and the outside world: HTTP and time.
//!
//! On wasm32 the SDK implements [`Transport`] over
//! `wasi:http/outgoing-handler` and [`Sleeper`] over
//! `wasi:clocks/monotonic-clock`; natively, tests implement both with
//! scripted fakes, so a vendor client is tested without a component runtime
//! and without real waits.

use std::time::{Duration, Instant};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    /// The method's name on the wire (`GET`, `POST`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One HTTP request: a REST call (`GET /Users?startIndex=1`) as well as an
/// RPC one (`POST` of a JSON body). Never carries `Authorization`: the host
/// attaches the credential for the origin, and a connector never sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// Absolute `http(s)` URL, query included.
    pub url: String,
    /// Extra headers (lower-case names). `content-length` is always set
    /// from the body by the transport.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new(Method::Get, url)
    }

    /// `POST url` with a JSON body (`content-type: application/json`).
    pub fn post_json(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request::new(Method::Post, url)
            .header("content-type", "application/json")
            .body(body)
    }

    /// Adds a header (its name lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// A complete HTTP answer, body read to the end.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    /// The `Retry-After` header, if any (first value, as sent).
    pub retry_after: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// Why no HTTP answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportError {
    /// The host refused the request (not on its allowlist).
    Denied(String),
    /// Network or protocol trouble; retrying may help.
    Unavailable(String),
}

/// Sends HTTP requests. Implementations never add `Authorization`: the
/// host attaches the credential for the origin.
pub trait Transport {
    /// Sends `request` and reads the whole answer.
    fn send(&mut self, request: &Request) -> Result<HttpResponse, TransportError>;

    /// Starts `request` without waiting for it: the next [`send`] of an
    /// equal request takes its answer, any other request abandons it. At
    /// most one is ahead. Transports that cannot do this ignore it (the
    /// default).
    ///
    /// [`send`]: Transport::send
    fn prefetch(&mut self, _request: &Request) {}

    /// `POST url` with a JSON `body`: an RPC call.
    fn post_json(&mut self, url: &str, body: &[u8]) -> Result<HttpResponse, TransportError> {
        self.send(&Request::post_json(url, body))
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(&mut self, request: &Request) -> Result<HttpResponse, TransportError> {
        (**self).send(request)
    }

    fn prefetch(&mut self, request: &Request) {
        (**self).prefetch(request);
    }
}

/// A monotonic clock that can wait: how an action polls a vendor job with
/// backoff (a vendor's asynchronous job).
pub trait Sleeper {
    /// Time since a fixed, arbitrary origin, from a monotonic clock.
    fn now(&mut self) -> Duration;
    /// Blocks for `duration`.
    fn sleep(&mut self, duration: Duration);
}

impl<S: Sleeper + ?Sized> Sleeper for &mut S {
    fn now(&mut self) -> Duration {
        (**self).now()
    }
    fn sleep(&mut self, duration: Duration) {
        (**self).sleep(duration);
    }
}

/// A [`Sleeper`] over `std` (native use; the component uses `wasi:clocks`).
#[derive(Debug, Clone, Copy)]
pub struct StdSleeper {
    origin: Instant,
}

impl Default for StdSleeper {
    fn default() -> Self {
        StdSleeper {
            origin: Instant::now(),
        }
    }
}

impl Sleeper for StdSleeper {
    fn now(&mut self) -> Duration {
        self.origin.elapsed()
    }
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// The parts of an absolute `http(s)` URL: scheme, authority, path with
/// query (`/` when absent). Fragments are not expected and not stripped.
pub fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() {
        return None;
    }
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return None;
    }
    Some((scheme, authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("https://api.example.com/2/team/members/list_v2"),
            Some(("https", "api.example.com", "/2/team/members/list_v2"))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            Some(("http", "127.0.0.1:8080", "/"))
        );
        assert_eq!(split_url("http://h:1?x=1"), Some(("http", "h:1", "?x=1")));
        assert_eq!(split_url("api.example.com/2"), None);
        assert_eq!(split_url("https:///path"), None);
        assert_eq!(split_url("://h/p"), None);
    }
}
