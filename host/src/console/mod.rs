//! `oomnitza-connect console`: a local web console over the same data as
//! the report (dashboards, list views, runs, audit) and for configuring
//! the integration (mapping, launch check) and running actions.
//!
//! Safe by construction:
//! - it listens on 127.0.0.1 unless `--listen` names another address,
//!   which also needs `--allow-remote` (the README says what that exposes);
//! - every request needs the session token printed in the URL (as Jupyter
//!   does): the first visit trades it for an `HttpOnly; SameSite=Strict`
//!   cookie and a redirect that drops it from the address bar;
//! - the `Host` header must name this listener (no DNS rebinding);
//! - every state-changing request is a POST that carries the CSRF token
//!   and an `Origin` equal to this listener's;
//! - a strict Content-Security-Policy: nothing but this origin, no script
//!   at all (the pages need none), no framing;
//! - every value from Dropbox, Oomnitza or the component goes through the
//!   compiled templates' escaping; secrets are never rendered, only
//!   verdicts.
//!
//! Pages are rendered on the server from the state database; list views
//! page there (100 rows a page).

mod edit;
mod pages;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

pub use edit::{mapping_table, save_mapping, with_mapping};

/// What every handler shares.
pub struct Console {
    pub config_path: PathBuf,
    token: String,
    csrf: String,
    /// `http://host:port` values a request's `Host`/`Origin` may carry.
    origins: Vec<String>,
    cookie: String,
    /// A sync started from the console, while it runs.
    pub sync: Mutex<SyncState>,
}

#[derive(Debug, Default, Clone)]
pub struct SyncState {
    pub running: bool,
    pub last: Option<String>,
}

fn random_token() -> String {
    // Two v4 UUIDs: 244 random bits from the OS generator.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Equal without an early exit, so timing does not reveal a prefix.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Console {
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == self.cookie && same(v, &self.token))
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|h| self.origins.iter().any(|o| o == &format!("http://{h}")))
    }

    /// A form's CSRF token and the request's Origin.
    pub fn check_post(&self, headers: &HeaderMap, csrf: &str) -> Result<(), &'static str> {
        let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        match origin {
            Some(o) if self.origins.iter().any(|x| x == o) => {}
            Some(_) => return Err("refused: the request came from another origin"),
            None => return Err("refused: the request carries no Origin"),
        }
        if !same(csrf, &self.csrf) {
            return Err("refused: wrong or missing CSRF token (reload the page)");
        }
        Ok(())
    }
}

fn style_hash() -> String {
    use sha2::{Digest, Sha256};
    base64(&Sha256::digest(crate::report::CSS.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The Content-Security-Policy of every response: this origin only, no
/// script, no framing; the report's one inline stylesheet by its hash.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src 'self' 'sha256-{}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        style_hash()
    )
}

async fn guard(State(c): State<Arc<Console>>, req: Request, next: Next) -> Response {
    let refuse = |code: StatusCode, why: &'static str| -> Response {
        (
            code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            why,
        )
            .into_response()
    };
    if !c.host_ok(req.headers()) {
        return refuse(StatusCode::FORBIDDEN, "refused: unknown Host");
    }
    // The first visit: the token in the URL becomes a cookie.
    if req.method() == Method::GET
        && let Some(q) = req.uri().query()
        && let Some(tok) = url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    {
        if !same(&tok, &c.token) {
            return refuse(StatusCode::FORBIDDEN, "refused: wrong token");
        }
        let rest: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| k != "token")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut to = req.uri().path().to_owned();
        if !rest.is_empty() {
            to.push('?');
            to.push_str(
                &url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(rest)
                    .finish(),
            );
        }
        let mut resp = Redirect::to(&to).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/",
            c.cookie, c.token
        )) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return secure(resp);
    }
    if !c.authorized(req.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "refused: this console needs the token in the URL it printed when it started",
        );
    }
    secure(next.run(req).await)
}

fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: under it a browser sends `Origin: null` with
    // every form POST, even to this origin, and the Origin check refuses
    // all of them (found by the browser test). `same-origin` still sends
    // nothing to any other site.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::report::CSS,
    )
        .into_response()
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/dashboard", get(pages::dashboard))
        .route("/members", get(pages::members))
        .route("/members.csv", get(pages::members_csv))
        .route("/runs", get(pages::runs))
        .route("/runs/{id}", get(pages::run))
        .route("/audit", get(pages::audit))
        .route("/saas", get(pages::saas))
        .route("/report", get(pages::report))
        .route("/mapping", get(pages::mapping).post(pages::mapping_post))
        .route("/sync", post(pages::start_sync))
        .route("/actions", get(pages::actions).post(pages::actions_post))
        .route("/assets/app.css", get(css))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found").into_response() })
        .layer(middleware::from_fn_with_state(console.clone(), guard))
        .with_state(console)
}

/// Starts the console; returns its URL (with the token) and the server.
pub async fn start(
    config_path: PathBuf,
    addr: SocketAddr,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let host = match local.ip() {
        IpAddr::V6(ip) => format!("[{ip}]:{}", local.port()),
        IpAddr::V4(ip) => format!("{ip}:{}", local.port()),
    };
    let mut origins = vec![format!("http://{host}")];
    if local.ip().is_loopback() {
        origins.push(format!("http://localhost:{}", local.port()));
    }
    let console = Arc::new(Console {
        config_path,
        token: random_token(),
        csrf: random_token(),
        origins,
        cookie: format!("oomnitza_connect_{}", local.port()),
        sync: Mutex::new(SyncState::default()),
    });
    let url = format!("http://{host}/?token={}", console.token);
    let app = router(console);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the console stopped: {e}");
        }
    });
    Ok((url, server))
}

/// An HTML response.
pub fn html(markup: maud::Markup) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

pub fn refused(why: &'static str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

pub type Shared = State<Arc<Console>>;
