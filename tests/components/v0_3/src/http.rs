//! One blocking JSON POST over the generated `wasi:http` bindings.

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use crate::wasi::io::streams::StreamError;

/// An HTTP answer: its status and body.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// POSTs `body` (JSON) to `url` (`https://host/path`); `Err` in words when
/// no answer came (the host refused the request, or the network failed).
pub fn post_json(url: &str, body: &[u8]) -> Result<Answer, String> {
    let what = format!("POST {url}");
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{what}: not an https URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let headers = Fields::from_list(&[
        ("content-type".to_owned(), b"application/json".to_vec()),
        (
            "content-length".to_owned(),
            body.len().to_string().into_bytes(),
        ),
    ])
    .map_err(|e| format!("{what}: header refused: {e:?}"))?;
    let request = OutgoingRequest::new(headers);
    let fail = |part: &str| format!("{what}: {part} refused");
    request
        .set_method(&Method::Post)
        .map_err(|()| fail("method"))?;
    request
        .set_scheme(Some(&Scheme::Https))
        .map_err(|()| fail("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| fail("authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| fail("path"))?;
    let outgoing = request.body().map_err(|()| fail("body"))?;
    let future = outgoing_handler::handle(request, None).map_err(|e| code(&what, &e))?;
    {
        let stream = outgoing.write().map_err(|()| fail("body stream"))?;
        // Request bodies here are a few bytes, within any write budget.
        stream
            .blocking_write_and_flush(body)
            .map_err(|e| format!("{what}: sending failed: {e:?}"))?;
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| code(&what, &e))?;
    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(e))) => return Err(code(&what, &e)),
            Some(Err(())) => return Err(format!("{what}: response already taken")),
            None => future.subscribe().block(),
        }
    };
    let status = response.status();
    let incoming = response
        .consume()
        .map_err(|()| format!("{what}: no response body"))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|()| format!("{what}: no response body stream"))?;
        loop {
            match stream.blocking_read(1 << 20) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(format!("{what}: receiving failed: {e:?}")),
            }
        }
    }
    Ok(Answer { status, body })
}

fn code(what: &str, code: &ErrorCode) -> String {
    match code {
        ErrorCode::HttpRequestDenied => format!("the host refused {what}"),
        other => format!("{what}: {other:?}"),
    }
}
