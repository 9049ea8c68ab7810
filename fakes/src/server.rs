//! The plumbing both fakes share: each server runs on its own thread with its
//! own small tokio runtime, so it keeps answering whatever its caller does
//! (a `#[tokio::test]` on a current-thread runtime that blocks waiting for
//! the CLI process, a plain `#[test]`, or the CLI's own runtime), and stops
//! when its handle is dropped or shut down. Also small helpers for locks,
//! headers and responses.
//!
//! The runtime is a current-thread one: requests are still served
//! concurrently (delays and faults sleep asynchronously), on one core per
//! fake. No handler blocks for long, so one thread per fake is enough, and
//! it is never dearer: with two workers a trivial request cost the same to
//! three times the CPU in `benches/fakes.rs` (the idle worker is woken and
//! goes back to sleep), on two cores shared with the client.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{oneshot, watch};

/// Bodies up to this size are accepted (axum's default is 2 MiB).
const MAX_BODY: usize = 256 << 20;

/// A running server; dropping it stops the server.
pub(crate) struct Server {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: Option<oneshot::Receiver<()>>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves `router` on a dedicated thread.
    pub(crate) fn start(name: &str, router: Router) -> anyhow::Result<Server> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
            .with_context(|| format!("{name}: binding 127.0.0.1:0"))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let router = router.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
        let (stop, stop_rx) = watch::channel(false);
        let (done_tx, done) = oneshot::channel();
        // The runtime is built, used and dropped on the server thread only:
        // dropping a runtime on a caller's async thread would panic.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let listener = {
                    let _guard = runtime.enter();
                    tokio::net::TcpListener::from_std(std_listener)
                };
                let listener = match listener {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                runtime.block_on(async move {
                    let mut graceful = stop_rx.clone();
                    let mut hard = stop_rx;
                    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                        // Err means the handle was dropped: stop as well.
                        let _ = graceful.wait_for(|stop| *stop).await;
                    });
                    tokio::select! {
                        _ = serve.into_future() => {}
                        _ = async move {
                            let _ = hard.wait_for(|stop| *stop).await;
                            // Give in-flight requests a moment, then cut.
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        } => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_millis(200));
                let _ = done_tx.send(());
            })
            .with_context(|| format!("{name}: spawning its thread"))?;
        ready_rx
            .recv()
            .with_context(|| format!("{name}: its thread ended early"))?
            .with_context(|| format!("{name}: starting its runtime"))?;
        Ok(Server {
            addr,
            stop,
            done: Some(done),
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the server and waits until it has stopped.
    pub(crate) async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

// ---------------------------------------------------------------------------
// Poison-tolerant locks: a panicking test thread must not wedge the server.

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

// ---------------------------------------------------------------------------
// Headers and responses

/// `application/json`, optionally with `charset=utf-8` (any case/spacing).
pub(crate) fn is_json_content_type(headers: &HeaderMap) -> bool {
    has_content_type(headers, "application/json")
}

/// The content type is `media`, optionally with `charset=utf-8` (any
/// case/spacing).
pub(crate) fn has_content_type(headers: &HeaderMap, media_type: &str) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(media_type)
        && parts.all(|p| {
            let p: String = p.chars().filter(|c| !c.is_whitespace()).collect();
            p.eq_ignore_ascii_case("charset=utf-8") || p.eq_ignore_ascii_case("charset=\"utf-8\"")
        })
}

pub(crate) fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

pub(crate) fn all_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

pub(crate) fn json_text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body),
    )
        .into_response()
}

pub(crate) fn json_value(status: StatusCode, body: &serde_json::Value) -> Response {
    json_text(status, body.to_string())
}

pub(crate) fn with_retry_after(mut response: Response, seconds: u32) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// A status code for a configured number, 500 if it is not a valid code.
pub(crate) fn status_or_500(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A JSON value's kind, for error messages.
pub(crate) fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        serde_json::Value::Number(_) => "float",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}
