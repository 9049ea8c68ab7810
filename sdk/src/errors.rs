//! HTTP answers as contract errors, for a REST API that says what went
//! wrong with its status code; and the pieces a vendor's own error mapping
//! reuses (a quoted body, a `Retry-After` header read as seconds).
//!
//! | HTTP | contract error |
//! |---|---|
//! | 401 | `unauthorized{expired: false, tag: "http-401"}` (a host refreshes on `WWW-Authenticate: Bearer error="invalid_token"` itself) |
//! | 403 | `other("access denied: …")` |
//! | 404 | `not-found` |
//! | 409 | `conflict{tag: "http-409"}` |
//! | 400, 422 | `invalid-input` |
//! | 429 | `rate-limited`, seconds from `Retry-After`, else [`DEFAULT_RETRY_AFTER_SECONDS`] |
//! | 5xx | `unavailable` |
//! | other | `other` |
//!
//! Every message names the vendor and the request, and quotes at most
//! [`MAX_QUOTED_BODY`] bytes of the body.

use crate::transport::{HttpResponse, TransportError};
use crate::types::{ConnectorError, RateLimit, UnauthorizedError, VendorConflict};

/// The wait used when a 429 names none: long enough that a host retrying
/// on it does not spin against a limit still in force, short enough not to
/// stall a sync for long. Hosts add their own backoff on repeats.
pub const DEFAULT_RETRY_AFTER_SECONDS: u32 = 60;

/// How much of a body an error message quotes.
pub const MAX_QUOTED_BODY: usize = 1024;

/// The contract error for a missing answer.
pub fn from_transport(error: TransportError) -> ConnectorError {
    match error {
        TransportError::Denied(m) => ConnectorError::Denied(m),
        TransportError::Unavailable(m) => ConnectorError::Unavailable(m),
    }
}

/// The contract error for a non-2xx answer of `vendor` to `what` (e.g.
/// `GET /Users`), by status code.
pub fn from_status(vendor: &str, what: &str, response: &HttpResponse) -> ConnectorError {
    let status = response.status;
    let said = || {
        format!(
            "{vendor} returned {status} for {what}: {}",
            describe_body(&response.body)
        )
    };
    match status {
        401 => ConnectorError::Unauthorized(UnauthorizedError {
            expired: false,
            tag: "http-401".to_owned(),
            message: said(),
        }),
        403 => ConnectorError::Other(format!("access denied: {}", said())),
        404 => ConnectorError::NotFound(said()),
        409 => ConnectorError::Conflict(VendorConflict {
            tag: "http-409".to_owned(),
            summary: said(),
            user_message: None,
        }),
        400 | 422 => ConnectorError::InvalidInput(said()),
        429 => ConnectorError::RateLimited(RateLimit {
            retry_after_seconds: response
                .retry_after
                .as_deref()
                .and_then(retry_after_seconds)
                .unwrap_or(DEFAULT_RETRY_AFTER_SECONDS),
            message: said(),
        }),
        500..=599 => ConnectorError::Unavailable(said()),
        _ => ConnectorError::Other(said()),
    }
}

/// A `Retry-After` header in its delay-seconds form (a fraction rounds up,
/// so a host never retries early). The HTTP-date form is not understood.
pub fn retry_after_seconds(header: &str) -> Option<u32> {
    let header = header.trim();
    header
        .parse::<u64>()
        .ok()
        .map(|s| u32::try_from(s).unwrap_or(u32::MAX))
        .or_else(|| header.parse::<f64>().ok().and_then(seconds_from_f64))
}

/// Whole seconds, rounded up, from a non-negative finite number.
pub fn seconds_from_f64(seconds: f64) -> Option<u32> {
    if seconds.is_finite() && seconds >= 0.0 {
        // `as` saturates.
        Some(seconds.ceil() as u32)
    } else {
        None
    }
}

/// [`quote_body`], or `(empty body)`.
pub fn describe_body(body: &[u8]) -> String {
    let text = quote_body(body);
    if text.is_empty() {
        "(empty body)".to_owned()
    } else {
        text
    }
}

/// The body as text for a message: lossy UTF-8, trimmed, at most
/// [`MAX_QUOTED_BODY`] bytes (cut on a character boundary).
pub fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= MAX_QUOTED_BODY {
        return text.to_owned();
    }
    let mut end = MAX_QUOTED_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: body.as_bytes().to_vec(),
            ..HttpResponse::default()
        }
    }

    #[test]
    fn statuses_map_to_contract_cases() {
        let e = |status, body| from_status("Acme", "GET /Users", &answer(status, body));
        assert!(
            matches!(e(401, ""), ConnectorError::Unauthorized(u) if !u.expired && u.tag == "http-401")
        );
        assert!(
            matches!(e(403, "no"), ConnectorError::Other(m) if m == "access denied: Acme returned 403 for GET /Users: no")
        );
        assert!(matches!(e(404, ""), ConnectorError::NotFound(m) if m.ends_with("(empty body)")));
        assert!(matches!(e(409, "x"), ConnectorError::Conflict(c) if c.tag == "http-409"));
        assert!(matches!(e(400, "bad"), ConnectorError::InvalidInput(_)));
        assert!(matches!(e(422, "bad"), ConnectorError::InvalidInput(_)));
        assert!(matches!(e(503, ""), ConnectorError::Unavailable(_)));
        assert!(
            matches!(e(418, ""), ConnectorError::Other(m) if m.starts_with("Acme returned 418"))
        );
    }

    #[test]
    fn rate_limits_wait_what_the_header_says_rounded_up() {
        let mut r = answer(429, "slow down");
        r.retry_after = Some(" 2.1 ".to_owned());
        assert!(matches!(
            from_status("Acme", "GET /Users", &r),
            ConnectorError::RateLimited(l) if l.retry_after_seconds == 3
        ));
        r.retry_after = Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned());
        assert!(matches!(
            from_status("Acme", "GET /Users", &r),
            ConnectorError::RateLimited(l) if l.retry_after_seconds == DEFAULT_RETRY_AFTER_SECONDS
        ));
        assert_eq!(retry_after_seconds("99999999999"), Some(u32::MAX));
        assert_eq!(retry_after_seconds("-1"), None);
        assert_eq!(retry_after_seconds("NaN"), None);
    }

    #[test]
    fn quotes_are_bounded_on_a_character_boundary() {
        let long = "é".repeat(MAX_QUOTED_BODY);
        let quoted = quote_body(long.as_bytes());
        assert!(quoted.starts_with('é'));
        assert!(quoted.ends_with(&format!("({} bytes in all)", long.len())));
        assert!(quoted.len() < MAX_QUOTED_BODY + 40);
        assert_eq!(describe_body(b"  "), "(empty body)");
    }

    #[test]
    fn transport_errors_keep_their_case() {
        assert!(matches!(
            from_transport(TransportError::Denied("no".into())),
            ConnectorError::Denied(m) if m == "no"
        ));
        assert!(matches!(
            from_transport(TransportError::Unavailable("down".into())),
            ConnectorError::Unavailable(m) if m == "down"
        ));
    }
}
