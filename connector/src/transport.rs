//! The seams between vendor logic and the outside world: HTTP and time.
//!
//! On wasm32 `http::WasiTransport` implements [`Transport`] over
//! `wasi:http/outgoing-handler`, and `clock::WasiSleeper` implements
//! [`Sleeper`] over `wasi:clocks/monotonic-clock`; natively, tests implement
//! both with scripted fakes, so the Dropbox client is tested without a
//! component runtime and without real waits.

use std::time::{Duration, Instant};

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

/// Sends JSON `POST`s. Implementations never add `Authorization`: the host
/// attaches the credential for the origin.
pub trait Transport {
    /// `POST url` with `Content-Type: application/json` and `body`.
    fn post_json(&mut self, url: &str, body: &[u8]) -> Result<HttpResponse, TransportError>;

    /// Starts `POST url` with `body` without waiting for it: the next
    /// `post_json` of the same URL and body takes its answer, any other
    /// request abandons it. At most one is ahead. Transports that cannot
    /// do this ignore it (the default).
    fn prefetch(&mut self, _url: &str, _body: &[u8]) {}
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn post_json(&mut self, url: &str, body: &[u8]) -> Result<HttpResponse, TransportError> {
        (**self).post_json(url, body)
    }

    fn prefetch(&mut self, url: &str, body: &[u8]) {
        (**self).prefetch(url, body);
    }
}

/// A monotonic clock that can wait: how an action polls a vendor job with
/// backoff (Dropbox's asynchronous member removal).
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

/// A [`Sleeper`] over `std` (the native library's default; the component
/// uses `wasi:clocks` directly).
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
            split_url("https://api.dropboxapi.com/2/team/members/list_v2"),
            Some(("https", "api.dropboxapi.com", "/2/team/members/list_v2"))
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080"),
            Some(("http", "127.0.0.1:8080", "/"))
        );
        assert_eq!(split_url("http://h:1?x=1"), Some(("http", "h:1", "?x=1")));
        assert_eq!(split_url("api.dropboxapi.com/2"), None);
        assert_eq!(split_url("https:///path"), None);
        assert_eq!(split_url("://h/p"), None);
    }
}
