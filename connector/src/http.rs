//! A minimal blocking HTTP client over `wasi:http/outgoing-handler`
//! (wasm32 only).
//!
//! One request at a time: build the request, start it, stream the body out
//! (respecting the stream's write budget), wait for the response, read the
//! whole body. One more may be started ahead ([`Transport::prefetch`]): it
//! stays in flight in the host between calls (the instance keeps it), and
//! the next request for the same URL and body takes its answer. The host attaches credentials and refuses requests to
//! origins the manifest does not declare (`http-request-denied`), which
//! becomes [`TransportError::Denied`].

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, HeaderError, IncomingBody, IncomingResponse, Method, OutgoingBody,
    OutgoingRequest, Scheme,
};
use wasi::io::streams::{OutputStream, StreamError};

use crate::transport::{HttpResponse, Transport, TransportError, split_url};

/// The largest response body read (a 1,000-member page is ~1-2 MB).
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// How much to ask for per read: the host answers with what it has, so a
/// large ask costs nothing and saves calls when data is waiting.
const READ_CHUNK: u64 = 1024 * 1024;

/// The [`Transport`] of the component.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiTransport;

/// A request started ahead (its URL is the flight's), waiting for the call
/// that wants it.
struct Ahead {
    body: Vec<u8>,
    flight: InFlight,
}

thread_local! {
    static AHEAD: std::cell::RefCell<Option<Ahead>> = const { std::cell::RefCell::new(None) };
}

impl Transport for WasiTransport {
    fn post_json(&mut self, url: &str, body: &[u8]) -> Result<HttpResponse, TransportError> {
        // Any other request abandons the one ahead (dropping its future
        // makes the host drop the request).
        if let Some(ahead) = AHEAD.with(|a| a.borrow_mut().take())
            && ahead.flight.url == url
            && ahead.body == body
        {
            return ahead.flight.finish();
        }
        start(url, body)?.finish()
    }

    fn prefetch(&mut self, url: &str, body: &[u8]) {
        let ahead = start(url, body).ok().map(|flight| Ahead {
            body: body.to_vec(),
            flight,
        });
        AHEAD.with(|a| *a.borrow_mut() = ahead);
    }
}

/// A request on its way: sent (or refused), its answer not yet read.
struct InFlight {
    url: String,
    future: wasi::http::types::FutureIncomingResponse,
    /// How sending the body went; a failure speaks only if no answer comes.
    sent: Result<(), TransportError>,
}

/// Starts `POST url`: builds the request, hands it to the host, writes the
/// body.
fn start(url: &str, body: &[u8]) -> Result<InFlight, TransportError> {
    let fail = |what: &str| TransportError::Unavailable(format!("{what} for POST {url}"));
    let (scheme, authority, path) = split_url(url).ok_or_else(|| fail("invalid URL"))?;
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_owned()),
    };

    // A declared length lets the host send the body in one piece rather
    // than chunked; `finish` checks that exactly this much was written.
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"application/json".to_vec()),
        (
            "content-length".to_owned(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .map_err(|e| TransportError::Unavailable(format!("POST {url}: {}", header_error(&e))))?;
    let request = OutgoingRequest::new(headers);
    request
        .set_method(&Method::Post)
        .map_err(|()| fail("method rejected"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| fail("scheme rejected"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| fail("authority rejected"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| fail("path rejected"))?;
    let outgoing_body = request.body().map_err(|()| fail("no request body"))?;

    // Start the request first, so the host consumes the body while it
    // is written.
    let future = outgoing_handler::handle(request, None).map_err(|e| error_code(url, e))?;
    // A failed write is not the final word: the host may have refused
    // the request (the future then says `http-request-denied`), or the
    // server may have answered before reading everything (hyper drops
    // the body once it has `content-length` bytes). The response future
    // decides, and it always resolves: the host bounds every request
    // with connect and first-byte timeouts.
    let sent = match outgoing_body.write() {
        Ok(stream) => write_all(&stream, body).map_err(|e| stream_error(url, "sending", e)),
        Err(()) => Err(fail("no request body stream")),
    };
    // The stream is dropped above, before the body is finished.
    let finished = OutgoingBody::finish(outgoing_body, None).map_err(|e| error_code(url, e));
    Ok(InFlight {
        url: url.to_owned(),
        future,
        sent: sent.and(finished),
    })
}

impl InFlight {
    /// Waits for the answer and reads its whole body.
    fn finish(self) -> Result<HttpResponse, TransportError> {
        let url = self.url.as_str();
        let response = loop {
            match self.future.get() {
                Some(Ok(Ok(response))) => break response,
                Some(Ok(Err(e))) => return Err(error_code(url, e)),
                Some(Err(())) => {
                    return Err(self.sent.err().unwrap_or_else(|| {
                        TransportError::Unavailable(format!(
                            "response already taken for POST {url}"
                        ))
                    }));
                }
                None => self.future.subscribe().block(),
            }
        };
        read_response(url, &response)
    }
}

/// Writes `bytes` within the stream's budget (`check-write`), then flushes.
fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let budget = stream.check_write()?;
        if budget == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = usize::try_from(budget)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let (chunk, rest) = bytes.split_at(n);
        stream.write(chunk)?;
        bytes = rest;
    }
    stream.blocking_flush()
}

fn read_response(url: &str, response: &IncomingResponse) -> Result<HttpResponse, TransportError> {
    let status = response.status();
    let (retry_after, content_type, content_length) = {
        let headers = response.headers();
        let first = |name: &str| {
            headers
                .get(name)
                .into_iter()
                .next()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        };
        (
            first("retry-after"),
            first("content-type"),
            first("content-length"),
        )
    };
    let incoming = response.consume().map_err(|()| {
        TransportError::Unavailable(format!("response body already taken for POST {url}"))
    })?;
    let body = {
        let stream = incoming.stream().map_err(|()| {
            TransportError::Unavailable(format!("no response body stream for POST {url}"))
        })?;
        // Sized once when the length is known (a page is ~640 KB), not
        // grown by copying as chunks arrive.
        let expected = content_length
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n <= MAX_RESPONSE_BODY)
            .unwrap_or(0);
        let mut body = Vec::with_capacity(expected);
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_RESPONSE_BODY {
                        return Err(TransportError::Unavailable(format!(
                            "response body of POST {url} exceeds {MAX_RESPONSE_BODY} bytes"
                        )));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error(url, "receiving", e)),
            }
        }
        body
    };
    // Trailers are not used; finishing releases the body.
    drop(IncomingBody::finish(incoming));
    Ok(HttpResponse {
        status,
        retry_after,
        content_type,
        body,
    })
}

fn error_code(url: &str, code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied => {
            TransportError::Denied(format!("the host refused POST {url}"))
        }
        other => TransportError::Unavailable(format!("POST {url}: {}", plain(&other))),
    }
}

/// What went wrong, in words (never the Rust debug text of the code).
fn plain(code: &ErrorCode) -> String {
    match code {
        ErrorCode::DnsTimeout => "the host name lookup timed out".into(),
        ErrorCode::DnsError(_) => "the host name could not be resolved (DNS error)".into(),
        ErrorCode::DestinationNotFound => "the host name resolves to no address".into(),
        ErrorCode::DestinationUnavailable => "the server is unavailable".into(),
        ErrorCode::DestinationIpProhibited | ErrorCode::DestinationIpUnroutable => {
            "the server's address cannot be reached".into()
        }
        ErrorCode::ConnectionRefused => "the connection was refused".into(),
        ErrorCode::ConnectionTerminated => "the connection was closed by the server".into(),
        ErrorCode::ConnectionTimeout => "connecting timed out".into(),
        ErrorCode::ConnectionReadTimeout => "timed out waiting for the response".into(),
        ErrorCode::ConnectionWriteTimeout => "timed out sending the request".into(),
        ErrorCode::ConnectionLimitReached => "too many connections".into(),
        ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => {
            "the TLS handshake failed".into()
        }
        ErrorCode::TlsCertificateError => "the server's TLS certificate was refused".into(),
        ErrorCode::HttpRequestBodySize(Some(n)) => {
            format!("the request body is over the limit of {n} bytes")
        }
        ErrorCode::HttpResponseBodySize(Some(n)) => {
            format!("the response body is over the limit of {n} bytes")
        }
        ErrorCode::HttpResponseIncomplete => "the response was cut short".into(),
        ErrorCode::HttpResponseTimeout => "the response timed out".into(),
        ErrorCode::InternalError(Some(m)) => m.clone(),
        ErrorCode::HttpRequestDenied => "the host refused the request".into(),
        _ => "the HTTP exchange failed (a protocol or size error)".into(),
    }
}

/// Why the host refused the request's headers, in words (never the Rust
/// debug text of the code).
fn header_error(error: &HeaderError) -> &'static str {
    match error {
        HeaderError::InvalidSyntax => "the host refused a request header as malformed",
        HeaderError::Forbidden => "the host forbids a request header the connector set",
        HeaderError::Immutable => "the request's headers could not be changed",
    }
}

fn stream_error(url: &str, what: &str, error: StreamError) -> TransportError {
    match error {
        StreamError::Closed => {
            TransportError::Unavailable(format!("POST {url}: stream closed while {what}"))
        }
        StreamError::LastOperationFailed(e) => {
            let why = wasi::http::types::http_error_code(&e)
                .map_or_else(|| "the connection failed".to_owned(), |c| plain(&c));
            TransportError::Unavailable(format!("POST {url}: {what} failed: {why}"))
        }
    }
}
