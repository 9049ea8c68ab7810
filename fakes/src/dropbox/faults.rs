//! Injected faults: answering one instead of a page (or altering the page),
//! taking faults from their queues, and the ways an answer is garbled.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::server::{
    header_str, json_text, json_value, lock, status_or_500, text, with_retry_after,
};

use super::config::DropboxFault;
use super::listing::render_page;
use super::server::{Position, Shared, json_bytes};

impl Shared {
    pub(super) fn next_fault(&self) -> Option<DropboxFault> {
        next_in(&self.faults)
    }

    pub(super) fn fault_response(
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
pub(super) fn pad_page(page: &[u8], size: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(size.max(page.len()));
    bytes.extend_from_slice(page);
    if bytes.len() < size {
        let close = bytes.pop();
        bytes.resize(size - 1, b' ');
        bytes.extend(close);
    }
    bytes
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cutting_bytes_in_half_keeps_characters_whole() {
        for s in ["", "a", "ab", "Zoë", "ëëë", "aë", "Łukasz Þórsson"] {
            let cut = cut_bytes_in_half(Bytes::from(s.to_string()));
            assert_eq!(cut, cut_in_half(s.to_string()).as_bytes(), "{s}");
        }
    }
}
