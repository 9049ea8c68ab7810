//! A small blocking client over `wasi:http/outgoing-handler`, in the
//! pattern of the Dropbox connector's, split so attacks can tamper with
//! each step: build headers, build the request, start it (streaming any
//! body), wait for and read the response.
//!
//! Failures become contract errors: `http-request-denied` is `denied`,
//! every other `error-code` (and stream failures) `unavailable`, a refused
//! header `invalid-input`; each carries the debug text of what failed.

use oomnitza_connector_sdk::types::ConnectorError;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, HeaderError, IncomingBody, IncomingResponse, Method,
    OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::streams::{OutputStream, StreamError};

/// The largest response body read.
const MAX_RESPONSE_BODY: usize = 64 * 1024 * 1024;

/// How much to ask for per read.
const READ_CHUNK: u64 = 64 * 1024;

/// A response, read whole.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Response {
    /// `"<status> <body>"`, lossily decoded.
    pub fn summary(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

pub fn code_error(code: ErrorCode) -> ConnectorError {
    match code {
        ErrorCode::HttpRequestDenied => ConnectorError::Denied(format!("{code:?}")),
        other => ConnectorError::Unavailable(format!("{other:?}")),
    }
}

pub fn header_error(error: HeaderError) -> ConnectorError {
    ConnectorError::InvalidInput(format!("{error:?}"))
}

fn stream_error(what: &str, error: StreamError) -> ConnectorError {
    ConnectorError::Unavailable(match error {
        StreamError::Closed => format!("{what}: stream closed"),
        StreamError::LastOperationFailed(e) => format!("{what}: {}", e.to_debug_string()),
    })
}

fn unavailable(what: &str) -> ConnectorError {
    ConnectorError::Unavailable(what.to_owned())
}

/// Headers from a list of `(name, value)` pairs.
pub fn fields(pairs: &[(&str, &[u8])]) -> Result<Fields, HeaderError> {
    let list: Vec<(String, Vec<u8>)> = pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.to_vec()))
        .collect();
    Fields::from_list(&list)
}

/// `content-type: application/json` and the body's `content-length`.
pub fn json_headers(body: &[u8]) -> Result<Fields, ConnectorError> {
    fields(&[
        ("content-type", b"application/json"),
        ("content-length", body.len().to_string().as_bytes()),
    ])
    .map_err(header_error)
}

/// Splits `scheme://authority/path?query`.
pub fn split_url(url: &str) -> Result<(Scheme, String, String), ConnectorError> {
    let invalid = || ConnectorError::InvalidInput(format!("invalid URL {url:?}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if scheme.is_empty() || authority.is_empty() {
        return Err(invalid());
    }
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
    Ok((scheme, authority.to_owned(), path))
}

/// A request with these parts; the headers become immutable.
pub fn request_parts(
    method: &Method,
    scheme: &Scheme,
    authority: &str,
    path: &str,
    headers: Fields,
) -> Result<OutgoingRequest, ConnectorError> {
    let request = OutgoingRequest::new(headers);
    request
        .set_method(method)
        .map_err(|()| unavailable("method rejected"))?;
    request
        .set_scheme(Some(scheme))
        .map_err(|()| unavailable("scheme rejected"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| unavailable("authority rejected"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| unavailable("path rejected"))?;
    Ok(request)
}

/// A request for `url`.
pub fn request(
    method: &Method,
    url: &str,
    headers: Fields,
) -> Result<OutgoingRequest, ConnectorError> {
    let (scheme, authority, path) = split_url(url)?;
    request_parts(method, &scheme, &authority, &path, headers)
}

/// A started request: the response to come, and why writing the body
/// failed, if it did.
pub struct Pending {
    future: FutureIncomingResponse,
    body_error: Option<ConnectorError>,
}

impl Pending {
    /// Why writing or finishing the body failed, if it did.
    pub fn body_error(&self) -> Option<&ConnectorError> {
        self.body_error.as_ref()
    }
}

/// Starts `request`, then streams its body with `write`.
pub fn start(
    request: OutgoingRequest,
    write: impl FnOnce(&OutputStream) -> Result<(), StreamError>,
) -> Result<Pending, ConnectorError> {
    let body = request
        .body()
        .map_err(|()| unavailable("no request body"))?;
    let future = outgoing_handler::handle(request, None).map_err(code_error)?;
    // The stream is dropped at the end of the arm, before `finish`.
    let written = match body.write() {
        Ok(stream) => write(&stream).map_err(|e| stream_error("sending the body", e)),
        Err(()) => Err(unavailable("no request body stream")),
    };
    let finished = OutgoingBody::finish(body, None).map_err(code_error);
    Ok(Pending {
        future,
        body_error: written.and(finished).err(),
    })
}

/// Waits for the response and reads it whole. An `error-code` from the
/// response future wins over a failed body write.
pub fn wait(pending: Pending) -> Result<Response, ConnectorError> {
    let response = loop {
        match pending.future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(code_error(e)),
            Some(Err(())) => {
                return Err(pending
                    .body_error
                    .unwrap_or_else(|| unavailable("response already taken")));
            }
            None => pending.future.subscribe().block(),
        }
    };
    let status = response.status();
    let headers = response.headers().entries();
    let incoming = response
        .consume()
        .map_err(|()| unavailable("response body already taken"))?;
    let body = {
        let stream = incoming
            .stream()
            .map_err(|()| unavailable("no response body stream"))?;
        let mut body = Vec::new();
        loop {
            match stream.blocking_read(READ_CHUNK) {
                Ok(chunk) => {
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_RESPONSE_BODY {
                        return Err(unavailable("response body too large"));
                    }
                }
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_error("receiving the body", e)),
            }
        }
        body
    };
    drop(IncomingBody::finish(incoming));
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Waits for the response head and returns it, its body unread.
pub fn response_only(pending: Pending) -> Result<IncomingResponse, ConnectorError> {
    loop {
        match pending.future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(e))) => return Err(code_error(e)),
            Some(Err(())) => return Err(unavailable("response already taken")),
            None => pending.future.subscribe().block(),
        }
    }
}

/// Starts `request` with body `bytes` and waits for the response.
pub fn send(request: OutgoingRequest, bytes: &[u8]) -> Result<Response, ConnectorError> {
    wait(start(request, |stream| write_all(stream, bytes))?)
}

/// POSTs JSON `body` to `url`.
pub fn post_json(url: &str, body: &[u8]) -> Result<Response, ConnectorError> {
    send(request(&Method::Post, url, json_headers(body)?)?, body)
}

/// Writes `bytes` within the stream's budget (`check-write`), then flushes.
pub fn write_all(stream: &OutputStream, bytes: &[u8]) -> Result<(), StreamError> {
    write_unflushed(stream, bytes)?;
    stream.blocking_flush()
}

/// Writes `bytes` within the stream's budget, without a final flush.
pub fn write_unflushed(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
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
    Ok(())
}
