//! A fake Oomnitza instance on loopback: the token check and the bulk API an
//! integration hands its records to (see `shared/reference/oomnitza-api.md`).
//!
//! End-to-end tests, the CLI's `demo` command and benchmarks sync into it and
//! then inspect what arrived: the stored user records, one log per portion
//! (run) with its created/updated/unchanged/skipped/failed counts and
//! errors, and the synthetic "ready portions". Requests are validated
//! strictly (header token, `Content-Type`, every bulk field) so client bugs
//! surface as 4xx answers; faults can be queued to exercise retries. Users
//! are kept in a `Vec` with hash indexes per sync-field set, so a
//! 1,000,000-record sync stays fast.
//!
//! It also answers the reads a workflow makes: `GET /api/v3/users` (the
//! stored records in Oomnitza's REST view) and SaaS users (`GET
//! /api/v3/saas_users`, `PATCH /api/v3/saas_users/deactivate` and
//! `/activate`). Every bulk record carrying a `saas` object that is applied
//! (created, updated or unchanged; not skipped or failed) creates or updates
//! the SaaS user keyed by its `(selected_saas_id, sync_key)`: `{saas_user_id,
//! sync_key, selected_saas_id, name, email (the record's EMAIL), role (if
//! the `saas` object has one), status, user_id (of the user record)}`. A new
//! one is `"active"`; deactivate sets `"inactive"` and activate `"active"`,
//! and a later sync of the same account keeps the status. Both answer one
//! `{"saas_user_id", "error"}` per id asked for, `error` null or
//! `"not found"`.
//!
//! # REST view of a user
//!
//! A stored (bulk) record shows as: `USER` → `username`, `EMAIL` → `email`,
//! `FIRST_NAME` → `first_name`, `LAST_NAME` → `last_name`,
//! `PERMISSIONS_ID` → `role`, `PHONE` → `phone_number`, `POSITION` →
//! `position`, every other key as is (custom fields are lower-case API
//! names), the bulk-only `saas` object left out, plus `full_name` (first and
//! last name, unless stored) and `user_id` (stable, assigned at creation).
//!
//! # List queries
//!
//! Both list routes take `filter`, `limit` (1 to 1000, default 100), `skip`
//! (default 0), `sortby` (a field, ascending; `-field` descending; ties keep
//! insertion order) and `fields` (comma-separated: only these fields per
//! record), URL-encoded. The `x-total-count` header gives how many records
//! matched the filter, before `skip` and `limit`. Any other parameter, a
//! repeated one or a bad value is a 400 `{"errors": "..."}` naming it.
//!
//! `filter` is one or more conditions joined by `and` (any case):
//!
//! - `<field> <op> '<value>'` with `<op>` one of `eq ne lt le gt ge` (any
//!   case), e.g. `email eq 'tami@seagull.com'`,
//!   `last_login_date ge '2025-01-01'`;
//! - `<field> in ('<value>', '<value>', ...)`.
//!
//! Values are single-quoted; `''` inside stands for one quote
//! (`last_name eq 'O''Brien'`). Comparison is on strings, byte by byte and
//! case-sensitive (ISO dates compare correctly; numbers are compared as
//! their decimal text); a field a record lacks (or holds null) is the empty
//! string. Field names are those of the REST view (`user_id` included) or
//! of the SaaS user. `or`, parentheses for grouping and unquoted values are
//! not supported: a malformed filter is a 400 whose message starts with
//! `filter:` and says what was expected where.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::query::ListQuery;
use crate::server::{
    Server, is_json_content_type, json_value, kind, lock, read, status_or_500, text,
    with_retry_after, write,
};

/// Records a test-run portion may carry (the reference connector sends at
/// most 10 on a test run).
pub const TEST_RUN_MAX_RECORDS: usize = 10;

/// How a [`FakeOomnitza`] is set up.
#[derive(Debug, Clone)]
pub struct OomnitzaConfig {
    /// The only `Authorization2` value it accepts.
    pub api_token: String,
    /// Slept before answering each bulk request (benchmarks).
    pub request_delay: Duration,
}

impl OomnitzaConfig {
    pub fn new(api_token: impl Into<String>) -> OomnitzaConfig {
        OomnitzaConfig {
            api_token: api_token.into(),
            request_delay: Duration::ZERO,
        }
    }
}

/// A failure answered instead of a bulk or finalize result (see
/// [`FakeOomnitza::inject`]); nothing is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OomnitzaFault {
    /// This status with a plain-text body.
    ServerError(u16),
    /// 429 with `Retry-After`.
    RateLimited { retry_after: u32 },
    /// 401 `{"errors": "Unauthorized"}`.
    Unauthorized,
    /// Wait this long, then answer normally.
    Slow(Duration),
}

/// What happened to one portion (one run), batch after batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortionLog {
    pub id: String,
    pub connector_name: String,
    /// Bulk requests applied.
    pub batches: usize,
    /// Records received in them.
    pub records: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    /// One line per failed record, plus any portion-level `error`.
    pub errors: Vec<String>,
    pub finalized: bool,
    pub test_run: bool,
    pub sync_field: Vec<String>,
    pub insert_only: bool,
    pub update_only: bool,
}

/// The running fake; dropping it stops the server.
pub struct FakeOomnitza {
    shared: Arc<Shared>,
    server: Server,
}

impl FakeOomnitza {
    /// Binds `127.0.0.1:0` and starts serving on a background thread.
    pub fn start(config: OomnitzaConfig) -> anyhow::Result<FakeOomnitza> {
        let shared = Arc::new(Shared {
            token: RwLock::new(config.api_token),
            request_delay: config.request_delay,
            faults: Mutex::new(VecDeque::new()),
            store: Mutex::new(Store::default()),
            requests: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let server = Server::start("fake-oomnitza", router)?;
        Ok(FakeOomnitza { shared, server })
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Accept only `token` from now on.
    pub fn set_api_token(&self, token: impl Into<String>) {
        *write(&self.shared.token) = token.into();
    }

    /// Answer the next `times` valid bulk/finalize requests with `fault`
    /// (queued after any fault already pending, FIFO).
    pub fn inject(&self, fault: OomnitzaFault, times: usize) {
        if times > 0 {
            lock(&self.shared.faults).push_back((fault, times));
        }
    }

    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).iter().map(|f| f.1).sum()
    }

    /// Stored user records, in insertion order.
    pub fn users(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .users
            .iter()
            .map(|u| Value::Object(u.clone()))
            .collect()
    }

    /// The first stored user whose `field` equals `value` (a string field,
    /// or any other value's JSON text, e.g. `"25"`).
    pub fn user_by(&self, field: &str, value: &str) -> Option<Value> {
        let mut store = lock(&self.shared.store);
        let idx = store.lookup(&[field.to_string()], value)?;
        Some(Value::Object(store.users[idx].clone()))
    }

    pub fn user_count(&self) -> usize {
        lock(&self.shared.store).users.len()
    }

    /// Every portion seen, in order of first batch.
    pub fn portions(&self) -> Vec<PortionLog> {
        lock(&self.shared.store).portions.clone()
    }

    pub fn portion(&self, id: &str) -> Option<PortionLog> {
        let store = lock(&self.shared.store);
        store
            .portion_index
            .get(id)
            .map(|&i| store.portions[i].clone())
    }

    /// `add_ready_portion` calls: `{"connector": <path segment>, "body": <body>}`.
    pub fn ready_portions(&self) -> Vec<Value> {
        lock(&self.shared.store).ready.clone()
    }

    /// Stores a user as if a bulk request had created it, and returns its
    /// `user_id`. `record` is REST-view shaped (`username`, `email`,
    /// `first_name`, `last_name`, `role`, `phone_number`, `position`,
    /// custom fields; a `user_id` is kept) or bulk shaped (`USER`, `EMAIL`,
    /// ...); a `saas` object creates or updates its SaaS user too.
    ///
    /// # Panics
    ///
    /// If `record` is not a JSON object.
    pub fn insert_user(&self, record: Value) -> String {
        let Value::Object(record) = record else {
            panic!("insert_user takes a JSON object, got {}", kind(&record));
        };
        let mut bulk = Map::new();
        let mut user_id = None;
        for (key, value) in record {
            if key == "user_id" {
                user_id = Some(value_text(Some(&value)).into_owned());
            } else {
                bulk.insert(bulk_key(&key).to_string(), value);
            }
        }
        let mut store = lock(&self.shared.store);
        let user_id = user_id.unwrap_or_else(|| store.new_id(USER_SALT));
        let saas = bulk.get("saas").cloned();
        let idx = store.insert(bulk, user_id.clone());
        if let Some(saas) = saas {
            store.upsert_saas(idx, &saas);
        }
        user_id
    }

    /// Sets one field of the user with this email (`EMAIL`, exact match
    /// first, then case-insensitive); `field` is a REST-view name (`role`,
    /// `user_id`, ...) or a bulk key. `false` if there is no such user.
    pub fn set_user_field(&self, email: &str, field: &str, value: Value) -> bool {
        let mut store = lock(&self.shared.store);
        let found = store.lookup(&["EMAIL".to_string()], email).or_else(|| {
            store.users.iter().position(|u| {
                u.get("EMAIL")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        });
        let Some(idx) = found else {
            return false;
        };
        if field == "user_id" {
            store.user_ids[idx] = value_text(Some(&value)).into_owned();
        } else {
            let mut change = Map::new();
            change.insert(bulk_key(field).to_string(), value);
            store.merge(idx, change);
        }
        true
    }

    /// Every SaaS user, in order of creation: `{saas_user_id, sync_key,
    /// selected_saas_id, name, email, role?, status, user_id?}`.
    pub fn saas_users(&self) -> Vec<Value> {
        lock(&self.shared.store)
            .saas_users
            .iter()
            .map(|u| Value::Object(u.clone()))
            .collect()
    }

    /// Stores a SaaS user as given and returns its `saas_user_id` (taken
    /// from `record`, or assigned); `status` defaults to `"active"`.
    ///
    /// # Panics
    ///
    /// If `record` is not a JSON object.
    pub fn insert_saas_user(&self, record: Value) -> String {
        let Value::Object(mut record) = record else {
            panic!(
                "insert_saas_user takes a JSON object, got {}",
                kind(&record)
            );
        };
        let mut store = lock(&self.shared.store);
        let id = match record.get("saas_user_id") {
            Some(v) if !v.is_null() => value_text(Some(v)).into_owned(),
            _ => store.new_id(SAAS_SALT),
        };
        record.insert("saas_user_id".into(), Value::from(id.clone()));
        record
            .entry("status")
            .or_insert_with(|| Value::from("active"));
        store.push_saas(record);
        id
    }

    /// Requests received (any path, any outcome).
    pub fn request_count(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

// ---------------------------------------------------------------------------

struct Shared {
    token: RwLock<String>,
    request_delay: Duration,
    faults: Mutex<VecDeque<(OomnitzaFault, usize)>>,
    store: Mutex<Store>,
    requests: AtomicU64,
}

#[derive(Default)]
struct Store {
    /// Parsed records, moved in from the requests: the fastest option (about
    /// 2 KiB a typical user record; compact JSON text would take a third of
    /// that but made each bulk record several microseconds slower).
    users: Vec<Map<String, Value>>,
    /// sync-field set -> key -> index into `users`; built on first use.
    indexes: HashMap<Vec<String>, HashMap<String, usize>>,
    portions: Vec<PortionLog>,
    portion_index: HashMap<String, usize>,
    ready: Vec<Value>,
    /// Each user's `user_id`, parallel to `users`.
    user_ids: Vec<String>,
    saas_users: Vec<Map<String, Value>>,
    /// `(selected_saas_id, sync_key)` -> index into `saas_users`.
    saas_keys: HashMap<(String, String), usize>,
    /// `saas_user_id` -> index into `saas_users`.
    saas_ids: HashMap<String, usize>,
    /// Ids handed out so far.
    serial: u64,
}

const USER_SALT: u64 = 0x7573_6572;
const SAAS_SALT: u64 = 0x7361_6173;

/// Bulk (mapping) keys and their names in the REST view of a user.
const REST_NAMES: [(&str, &str); 7] = [
    ("USER", "username"),
    ("EMAIL", "email"),
    ("FIRST_NAME", "first_name"),
    ("LAST_NAME", "last_name"),
    ("PERMISSIONS_ID", "role"),
    ("PHONE", "phone_number"),
    ("POSITION", "position"),
];

/// The bulk key behind a REST-view field name (others are their own key).
fn bulk_key(name: &str) -> &str {
    REST_NAMES
        .iter()
        .find(|(_, rest)| *rest == name)
        .map_or(name, |(bulk, _)| bulk)
}

/// A stored value as filters and sorting see it: strings as themselves,
/// absent and null as empty, anything else as its JSON text.
fn value_text(value: Option<&Value>) -> Cow<'_, str> {
    match value {
        None | Some(Value::Null) => Cow::Borrowed(""),
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(other) => Cow::Owned(other.to_string()),
    }
}

/// `first_name last_name` of a stored record, when it has either.
fn derived_full_name(record: &Map<String, Value>) -> Option<String> {
    let part = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let full = format!("{} {}", part("FIRST_NAME"), part("LAST_NAME"));
    let full = full.trim();
    (!full.is_empty()).then(|| full.to_string())
}

/// A stored user in Oomnitza's REST view (see the module docs).
fn rest_view(record: &Map<String, Value>, user_id: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in record {
        if key == "saas" {
            continue;
        }
        let name = REST_NAMES
            .iter()
            .find(|(bulk, _)| bulk == key)
            .map_or(key.as_str(), |(_, rest)| rest);
        out.insert(name.to_string(), value.clone());
    }
    if !out.contains_key("full_name")
        && let Some(full) = derived_full_name(record)
    {
        out.insert("full_name".into(), Value::from(full));
    }
    out.insert("user_id".into(), Value::from(user_id));
    out
}

/// One REST-view field of a stored user, as [`value_text`], without
/// building the whole view.
fn user_field<'a>(record: &'a Map<String, Value>, user_id: &'a str, name: &str) -> Cow<'a, str> {
    if name == "user_id" {
        return Cow::Borrowed(user_id);
    }
    if name == "saas" || REST_NAMES.iter().any(|(bulk, _)| *bulk == name) {
        return Cow::Borrowed("");
    }
    if name == "full_name" && !record.contains_key("full_name") {
        return derived_full_name(record).map_or(Cow::Borrowed(""), Cow::Owned);
    }
    value_text(record.get(bulk_key(name)))
}

/// Only `fields` of `record` (those it has), when a list asks for that.
fn project(record: Map<String, Value>, fields: Option<&[String]>) -> Value {
    match fields {
        None => Value::Object(record),
        Some(fields) => Value::Object(
            record
                .into_iter()
                .filter(|(k, _)| fields.contains(k))
                .collect(),
        ),
    }
}

/// The splitmix64 finalizer, for ids that look random but are stable.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A validated `POST /api/v3/bulk` body.
struct Bulk {
    connector_name: String,
    portion: String,
    sync_field: Vec<String>,
    insert_only: bool,
    update_only: bool,
    test_run: bool,
    records: Vec<Map<String, Value>>,
    error: Option<String>,
}

fn errors(status: StatusCode, message: impl Into<String>) -> Response {
    json_value(status, &json!({ "errors": message.into() }))
}

fn bad(message: impl Into<String>) -> Response {
    errors(StatusCode::BAD_REQUEST, message)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    shared.dispatch(&method, &uri, &headers, &body).await
}

impl Shared {
    async fn dispatch(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Response {
        let authorized = headers
            .get("authorization2")
            .is_some_and(|v| v.as_bytes() == read(&self.token).as_bytes());
        if !authorized {
            return errors(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let path = uri.path();
        if path == "/api/v2/mappings" {
            if method != Method::GET {
                return errors(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
            }
            return json_value(StatusCode::OK, &json!([]));
        }
        match path {
            "/api/v3/users" | "/api/v3/saas_users" => {
                if method != Method::GET {
                    return errors(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                }
                let query = match ListQuery::parse(uri.query()) {
                    Ok(q) => q,
                    Err(msg) => return bad(msg),
                };
                let store = lock(&self.store);
                return if path == "/api/v3/users" {
                    store.list_users(&query)
                } else {
                    store.list_saas_users(&query)
                };
            }
            "/api/v3/saas_users/deactivate" | "/api/v3/saas_users/activate" => {
                if method != Method::PATCH {
                    return errors(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
                }
                if !is_json_content_type(headers) {
                    return errors(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "Content-Type must be application/json",
                    );
                }
                let ids = match parse_saas_user_ids(body) {
                    Ok(ids) => ids,
                    Err(msg) => return bad(msg),
                };
                let status = if path == "/api/v3/saas_users/activate" {
                    "active"
                } else {
                    "inactive"
                };
                let results = lock(&self.store).set_saas_status(ids, status);
                return json_value(StatusCode::OK, &Value::Array(results));
            }
            _ => {}
        }
        let Some(rest) = path.strip_prefix("/api/v3/bulk") else {
            return errors(StatusCode::NOT_FOUND, "Not found");
        };
        enum Call {
            Bulk,
            Finalize(String),
            Ready(String),
        }
        let call = match rest
            .strip_prefix('/')
            .map(|r| r.split('/').collect::<Vec<_>>())
        {
            None if rest.is_empty() => Call::Bulk,
            Some(parts) if parts.len() == 2 && parts[1] == "finalize" => {
                match percent_decode(parts[0]) {
                    Some(p) => Call::Finalize(p),
                    None => return bad("Malformed portion id in the path"),
                }
            }
            Some(parts) if parts.len() == 2 && parts[1] == "add_ready_portion" => {
                match percent_decode(parts[0]) {
                    Some(c) if !c.is_empty() => Call::Ready(c),
                    _ => return bad("Malformed connector in the path"),
                }
            }
            _ => return errors(StatusCode::NOT_FOUND, "Not found"),
        };
        if method != Method::POST {
            return errors(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        }
        if !is_json_content_type(headers) {
            return errors(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            );
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(format!("Request body is not valid JSON: {e}")),
        };
        match call {
            Call::Bulk => self.bulk(value).await,
            Call::Finalize(portion) => self.finalize(&portion, value).await,
            Call::Ready(connector) => self.ready(connector, value),
        }
    }

    fn next_fault(&self) -> Option<OomnitzaFault> {
        let mut faults = lock(&self.faults);
        let (fault, times) = faults.front_mut()?;
        let fault = fault.clone();
        *times -= 1;
        if *times == 0 {
            faults.pop_front();
        }
        Some(fault)
    }

    /// `Some(response)` when a fault answers instead; `Slow` just waits.
    async fn apply_fault(&self) -> Option<Response> {
        match self.next_fault()? {
            OomnitzaFault::Slow(delay) => {
                tokio::time::sleep(delay).await;
                None
            }
            OomnitzaFault::ServerError(code) => {
                let status = status_or_500(code);
                Some(text(
                    status,
                    status.canonical_reason().unwrap_or("Server Error"),
                ))
            }
            OomnitzaFault::RateLimited { retry_after } => Some(with_retry_after(
                errors(StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
                retry_after,
            )),
            OomnitzaFault::Unauthorized => Some(errors(StatusCode::UNAUTHORIZED, "Unauthorized")),
        }
    }

    async fn bulk(&self, value: Value) -> Response {
        let bulk = match validate_bulk(value) {
            Ok(b) => b,
            Err(msg) => return bad(msg),
        };
        if let Err(msg) = lock(&self.store).check_portion(&bulk) {
            return bad(msg);
        }
        if let Some(response) = self.apply_fault().await {
            return response;
        }
        if !self.request_delay.is_zero() {
            tokio::time::sleep(self.request_delay).await;
        }
        let mut store = lock(&self.store);
        // Checked again: another request may have finalized it meanwhile.
        if let Err(msg) = store.check_portion(&bulk) {
            return bad(msg);
        }
        let summary = store.apply(bulk);
        json_value(StatusCode::OK, &summary)
    }

    async fn finalize(&self, portion: &str, value: Value) -> Response {
        if value.as_object().is_none_or(|m| !m.is_empty()) {
            return bad("finalize takes an empty JSON object: {}");
        }
        let check = |store: &Store| -> Result<usize, (StatusCode, String)> {
            let idx = *store.portion_index.get(portion).ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    format!("Portion {portion} not found"),
                )
            })?;
            if store.portions[idx].finalized {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("Portion {portion} is already finalized"),
                ));
            }
            Ok(idx)
        };
        if let Err((status, message)) = check(&lock(&self.store)) {
            return errors(status, message);
        }
        if let Some(response) = self.apply_fault().await {
            return response;
        }
        let mut store = lock(&self.store);
        match check(&store) {
            Ok(idx) => {
                store.portions[idx].finalized = true;
                json_value(
                    StatusCode::OK,
                    &json!({"portion": portion, "finalized": true}),
                )
            }
            Err((status, message)) => errors(status, message),
        }
    }

    fn ready(&self, connector: String, value: Value) -> Response {
        if let Err(msg) = validate_ready(&value) {
            return bad(msg);
        }
        let correlation_id = value.get("correlation_id").cloned().unwrap_or(Value::Null);
        lock(&self.store)
            .ready
            .push(json!({"connector": connector, "body": value}));
        json_value(StatusCode::OK, &json!({"correlation_id": correlation_id}))
    }
}

impl Store {
    /// Whether `bulk` may be applied to its portion.
    fn check_portion(&self, bulk: &Bulk) -> Result<(), String> {
        let Some(&idx) = self.portion_index.get(&bulk.portion) else {
            if bulk.test_run && bulk.records.len() > TEST_RUN_MAX_RECORDS {
                return Err(format!(
                    "test_run portions carry at most {TEST_RUN_MAX_RECORDS} records"
                ));
            }
            return Ok(());
        };
        let log = &self.portions[idx];
        let id = &bulk.portion;
        if log.finalized {
            return Err(format!("Portion {id} is already finalized"));
        }
        if log.connector_name != bulk.connector_name {
            return Err(format!(
                "Portion {id} belongs to connector {:?}, not {:?}",
                log.connector_name, bulk.connector_name
            ));
        }
        if log.sync_field != bulk.sync_field
            || log.insert_only != bulk.insert_only
            || log.update_only != bulk.update_only
            || log.test_run != bulk.test_run
        {
            return Err(format!(
                "Portion {id} was started with other sync_field/insert_only/update_only/test_run values"
            ));
        }
        if bulk.test_run && log.records + bulk.records.len() > TEST_RUN_MAX_RECORDS {
            return Err(format!(
                "test_run portions carry at most {TEST_RUN_MAX_RECORDS} records"
            ));
        }
        Ok(())
    }

    /// Builds the index for this sync-field set if there is none yet.
    fn ensure_index(&mut self, fields: &[String]) {
        if self.indexes.contains_key(fields) {
            return;
        }
        let mut index = HashMap::with_capacity(self.users.len());
        for (i, user) in self.users.iter().enumerate() {
            if let Some(key) = key_of(user, fields) {
                index.entry(key).or_insert(i);
            }
        }
        self.indexes.insert(fields.to_vec(), index);
    }

    fn lookup(&mut self, fields: &[String], key: &str) -> Option<usize> {
        self.ensure_index(fields);
        self.indexes.get(fields)?.get(key).copied()
    }

    /// Appends a user with this `user_id`; returns its index.
    fn insert(&mut self, record: Map<String, Value>, user_id: String) -> usize {
        let idx = self.users.len();
        for (fields, index) in &mut self.indexes {
            if let Some(key) = key_of(&record, fields) {
                index.entry(key).or_insert(idx);
            }
        }
        self.users.push(record);
        self.user_ids.push(user_id);
        idx
    }

    /// A fresh stable id: 32 hex digits.
    fn new_id(&mut self, salt: u64) -> String {
        self.serial += 1;
        format!("{:016x}{:016x}", mix(self.serial ^ mix(salt)), self.serial)
    }

    /// Creates or updates the SaaS user that user `user_idx`'s (validated)
    /// `saas` object names. An update keeps its id and status.
    fn upsert_saas(&mut self, user_idx: usize, saas: &Value) {
        let Value::Object(saas) = saas else {
            return;
        };
        let text = |k: &str| value_text(saas.get(k)).into_owned();
        let key = (text("selected_saas_id"), text("sync_key"));
        let idx = match self.saas_keys.get(&key) {
            Some(&idx) => idx,
            None => {
                let mut record = Map::new();
                record.insert("saas_user_id".into(), Value::from(self.new_id(SAAS_SALT)));
                record.insert("status".into(), Value::from("active"));
                self.push_saas(record)
            }
        };
        let email = self.users[user_idx]
            .get("EMAIL")
            .cloned()
            .unwrap_or(Value::Null);
        let user_id = Value::from(self.user_ids[user_idx].clone());
        let record = &mut self.saas_users[idx];
        for field in ["sync_key", "selected_saas_id", "name"] {
            record.insert(
                field.into(),
                saas.get(field).cloned().unwrap_or(Value::Null),
            );
        }
        record.insert("email".into(), email);
        if let Some(role) = saas.get("role") {
            record.insert("role".into(), role.clone());
        }
        record.insert("user_id".into(), user_id);
        self.saas_keys.insert(key, idx);
    }

    /// Appends a SaaS user (which has a `saas_user_id`) and indexes it.
    fn push_saas(&mut self, record: Map<String, Value>) -> usize {
        let idx = self.saas_users.len();
        let text = |k: &str| value_text(record.get(k)).into_owned();
        self.saas_ids.insert(text("saas_user_id"), idx);
        if record.contains_key("sync_key") {
            self.saas_keys
                .entry((text("selected_saas_id"), text("sync_key")))
                .or_insert(idx);
        }
        self.saas_users.push(record);
        idx
    }

    /// `PATCH /api/v3/saas_users/{deactivate,activate}`: one result per id.
    fn set_saas_status(&mut self, ids: Vec<(Value, String)>, status: &str) -> Vec<Value> {
        ids.into_iter()
            .map(|(given, id)| match self.saas_ids.get(&id) {
                Some(&idx) => {
                    self.saas_users[idx].insert("status".into(), Value::from(status));
                    json!({"saas_user_id": given, "error": null})
                }
                None => json!({"saas_user_id": given, "error": "not found"}),
            })
            .collect()
    }

    fn list_users(&self, query: &ListQuery) -> Response {
        let (page, total) = query.select(self.users.len(), |i, field| {
            user_field(&self.users[i], &self.user_ids[i], field)
        });
        let items = page
            .into_iter()
            .map(|i| {
                project(
                    rest_view(&self.users[i], &self.user_ids[i]),
                    query.fields.as_deref(),
                )
            })
            .collect();
        with_total_count(json_value(StatusCode::OK, &Value::Array(items)), total)
    }

    fn list_saas_users(&self, query: &ListQuery) -> Response {
        let (page, total) = query.select(self.saas_users.len(), |i, field| {
            value_text(self.saas_users[i].get(field))
        });
        let items = page
            .into_iter()
            .map(|i| project(self.saas_users[i].clone(), query.fields.as_deref()))
            .collect();
        with_total_count(json_value(StatusCode::OK, &Value::Array(items)), total)
    }

    /// Merges `record` into user `idx`; `false` when nothing changed.
    fn merge(&mut self, idx: usize, record: Map<String, Value>) -> bool {
        let changed = record
            .iter()
            .any(|(k, v)| self.users[idx].get(k) != Some(v));
        if !changed {
            return false;
        }
        let old_keys: Vec<(Vec<String>, Option<String>)> = self
            .indexes
            .keys()
            .map(|fields| (fields.clone(), key_of(&self.users[idx], fields)))
            .collect();
        self.users[idx].extend(record);
        for (fields, old) in old_keys {
            let new = key_of(&self.users[idx], &fields);
            if new == old {
                continue;
            }
            let Some(index) = self.indexes.get_mut(&fields) else {
                continue;
            };
            if let Some(old) = old
                && index.get(&old) == Some(&idx)
            {
                index.remove(&old);
            }
            if let Some(new) = new {
                index.entry(new).or_insert(idx);
            }
        }
        true
    }

    fn apply(&mut self, bulk: Bulk) -> Value {
        let portion_idx = match self.portion_index.get(&bulk.portion) {
            Some(&i) => i,
            None => {
                self.portions.push(PortionLog {
                    id: bulk.portion.clone(),
                    connector_name: bulk.connector_name.clone(),
                    test_run: bulk.test_run,
                    sync_field: bulk.sync_field.clone(),
                    insert_only: bulk.insert_only,
                    update_only: bulk.update_only,
                    ..PortionLog::default()
                });
                self.portion_index
                    .insert(bulk.portion.clone(), self.portions.len() - 1);
                self.portions.len() - 1
            }
        };
        let first_ordinal = self.portions[portion_idx].records;
        let (mut created, mut updated, mut unchanged, mut skipped, mut failed) = (0, 0, 0, 0, 0);
        let mut errors = Vec::new();
        if let Some(e) = &bulk.error {
            errors.push(format!("portion error: {e}"));
        }
        let count = bulk.records.len();
        for (k, mut record) in bulk.records.into_iter().enumerate() {
            let n = first_ordinal + k + 1;
            if let Some(error) = record.get("error").filter(|e| !e.is_null()) {
                let message = error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_string);
                errors.push(format!("record {n}: {message}"));
                failed += 1;
                continue;
            }
            if let Some(saas) = record.get("saas")
                && let Err(msg) = validate_saas(saas)
            {
                errors.push(format!("record {n}: {msg}"));
                failed += 1;
                continue;
            }
            let Some(key) = key_of(&record, &bulk.sync_field) else {
                let missing: Vec<&str> = bulk
                    .sync_field
                    .iter()
                    .filter(|f| key_of(&record, std::slice::from_ref(f)).is_none())
                    .map(String::as_str)
                    .collect();
                errors.push(format!(
                    "record {n}: missing sync field value: {}",
                    missing.join(", ")
                ));
                failed += 1;
                continue;
            };
            record.remove("error");
            let saas = record.get("saas").cloned();
            let applied = match self.lookup(&bulk.sync_field, &key) {
                None if bulk.update_only => {
                    skipped += 1;
                    None
                }
                Some(_) if bulk.insert_only => {
                    skipped += 1;
                    None
                }
                None => {
                    let user_id = self.new_id(USER_SALT);
                    created += 1;
                    Some(self.insert(record, user_id))
                }
                Some(idx) => {
                    if self.merge(idx, record) {
                        updated += 1;
                    } else {
                        unchanged += 1;
                    }
                    Some(idx)
                }
            };
            if let (Some(idx), Some(saas)) = (applied, saas) {
                self.upsert_saas(idx, &saas);
            }
        }
        let log = &mut self.portions[portion_idx];
        log.batches += 1;
        log.records += count;
        log.created += created;
        log.updated += updated;
        log.unchanged += unchanged;
        log.skipped += skipped;
        log.failed += failed;
        log.errors.extend(errors);
        json!({
            "portion": bulk.portion,
            "created": created,
            "updated": updated,
            "unchanged": unchanged,
            "skipped": skipped,
            "failed": failed,
        })
    }
}

/// A record's sync key: its values at `fields`, `None` if any is absent,
/// null or an empty string. Strings stand for themselves, other values for
/// their JSON text.
fn key_of(record: &Map<String, Value>, fields: &[String]) -> Option<String> {
    let mut key = String::new();
    for (k, field) in fields.iter().enumerate() {
        if k > 0 {
            key.push('\u{1f}');
        }
        match record.get(field)? {
            Value::Null => return None,
            Value::String(s) if s.is_empty() => return None,
            Value::String(s) => key.push_str(s),
            other => key.push_str(&other.to_string()),
        }
    }
    Some(key)
}

fn validate_bulk(value: Value) -> Result<Bulk, String> {
    let Value::Object(mut map) = value else {
        return Err(format!(
            "Request body must be a JSON object, got {}",
            kind(&value)
        ));
    };
    const KNOWN: [&str; 10] = [
        "connector_version",
        "connector_name",
        "portion",
        "data_type",
        "sync_field",
        "insert_only",
        "update_only",
        "test_run",
        "records",
        "error",
    ];
    if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("Unknown field: {unknown}"));
    }
    if let Some(v) = map.get("connector_version")
        && !v.is_string()
    {
        return Err("connector_version: must be a string".into());
    }
    let connector_name = match map.get("connector_name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err("connector_name: must be a non-empty string".into()),
    };
    let portion = match map.get("portion") {
        Some(Value::String(s)) if is_uuid(s) => s.clone(),
        _ => return Err("portion: must be a UUID string".into()),
    };
    match map.get("data_type") {
        Some(Value::String(s)) if s == "users" => {}
        _ => return Err("data_type: must be \"users\"".into()),
    }
    let sync_field = match map.get("sync_field") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("sync_field: must be a non-empty array of non-empty strings")?,
        _ => return Err("sync_field: must be a non-empty array of non-empty strings".into()),
    };
    let flag = |name: &str| -> Result<bool, String> {
        map.get(name)
            .and_then(Value::as_bool)
            .ok_or_else(|| format!("{name}: must be a boolean"))
    };
    let insert_only = flag("insert_only")?;
    let update_only = flag("update_only")?;
    let test_run = flag("test_run")?;
    if insert_only && update_only {
        return Err("insert_only and update_only cannot both be true".into());
    }
    let error = match map.get("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("error: must be null or a string".into()),
    };
    let records = match map.remove("records") {
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::Object(m) => Ok(m),
                other => Err(format!(
                    "records[{i}]: must be an object, got {}",
                    kind(&other)
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("records: must be an array of objects".into()),
    };
    Ok(Bulk {
        connector_name,
        portion,
        sync_field,
        insert_only,
        update_only,
        test_run,
        records,
        error,
    })
}

fn validate_saas(saas: &Value) -> Result<(), String> {
    let Value::Object(m) = saas else {
        return Err("saas: must be an object".into());
    };
    match m.get("sync_key") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err("saas.sync_key: must be a non-empty string".into()),
    }
    for field in ["selected_saas_id", "name"] {
        if let Some(v) = m.get(field)
            && !v.is_string()
        {
            return Err(format!("saas.{field}: must be a string"));
        }
    }
    Ok(())
}

/// `add_ready_portion` bodies, as the reference connector sends them:
/// `{correlation_id, added: 1}`, `{correlation_id, failed: 1, error_message,
/// test_run, error_type?: "Fatal Error", multi_str_input_value?}` or
/// `{correlation_id, is_empty_run: true, multi_str_input_value?}`.
fn validate_ready(value: &Value) -> Result<(), String> {
    let Value::Object(m) = value else {
        return Err(format!(
            "Request body must be a JSON object, got {}",
            kind(value)
        ));
    };
    match m.get("correlation_id") {
        Some(Value::String(s)) if !s.is_empty() => {}
        _ => return Err("correlation_id: must be a non-empty string".into()),
    }
    let is_one = |k: &str| m.get(k).and_then(Value::as_u64) == Some(1);
    let allowed: &[&str] = if m.contains_key("is_empty_run") {
        if m.get("is_empty_run") != Some(&Value::Bool(true)) {
            return Err("is_empty_run: must be true".into());
        }
        &["correlation_id", "is_empty_run", "multi_str_input_value"]
    } else if m.contains_key("failed") {
        if !is_one("failed") {
            return Err("failed: must be 1".into());
        }
        if !m.get("error_message").is_some_and(Value::is_string) {
            return Err("error_message: must be a string".into());
        }
        if let Some(v) = m.get("test_run")
            && !v.is_boolean()
        {
            return Err("test_run: must be a boolean".into());
        }
        if let Some(v) = m.get("error_type")
            && v != "Fatal Error"
        {
            return Err("error_type: must be \"Fatal Error\"".into());
        }
        &[
            "correlation_id",
            "failed",
            "error_message",
            "test_run",
            "error_type",
            "multi_str_input_value",
        ]
    } else if m.contains_key("added") {
        if !is_one("added") {
            return Err("added: must be 1".into());
        }
        &["correlation_id", "added"]
    } else {
        return Err("one of is_empty_run, failed or added is required".into());
    };
    if let Some(v) = m.get("multi_str_input_value")
        && !(v.is_null() || v.is_string())
    {
        return Err("multi_str_input_value: must be null or a string".into());
    }
    match m.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!("Unexpected field: {unknown}")),
        None => Ok(()),
    }
}

/// `{"saas_user_ids": [id, ...]}`: each id as given and as text (strings
/// and integers are accepted).
fn parse_saas_user_ids(body: &[u8]) -> Result<Vec<(Value, String)>, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("Request body is not valid JSON: {e}"))?;
    let Value::Object(map) = value else {
        return Err(format!(
            "Request body must be a JSON object, got {}",
            kind(&value)
        ));
    };
    if let Some(unknown) = map.keys().find(|k| *k != "saas_user_ids") {
        return Err(format!("Unknown field: {unknown}"));
    }
    let Some(Value::Array(ids)) = map.get("saas_user_ids") else {
        return Err("saas_user_ids: must be an array of ids".into());
    };
    ids.iter()
        .enumerate()
        .map(|(i, id)| match id {
            Value::String(s) if !s.is_empty() => Ok((id.clone(), s.clone())),
            Value::Number(n) if n.is_u64() => Ok((id.clone(), n.to_string())),
            other => Err(format!(
                "saas_user_ids[{i}]: must be a non-empty string or an integer, got {}",
                kind(other)
            )),
        })
        .collect()
}

/// Adds the `x-total-count` header.
fn with_total_count(mut response: Response, total: usize) -> Response {
    response
        .headers_mut()
        .insert("x-total-count", HeaderValue::from(total));
    response
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Decodes `%XX` escapes of a path segment; `None` if malformed or not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn uuid_and_percent_decoding() {
        assert!(is_uuid("6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10"));
        assert!(!is_uuid("6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e1"));
        assert!(!is_uuid("6f1c4c1e_2a9b-4b5e-9d0b-6a4f2f7c9e10"));
        assert!(!is_uuid("zf1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10"));
        assert_eq!(
            percent_decode("Dropbox%20Users").as_deref(),
            Some("Dropbox Users")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert!(percent_decode("bad%2").is_none());
        assert!(percent_decode("bad%zz").is_none());
    }

    #[test]
    fn sync_keys() {
        let rec: Map<String, Value> =
            serde_json::from_value(json!({"EMAIL": "a@b.c", "N": 25, "E": "", "Z": null})).unwrap();
        assert_eq!(key_of(&rec, &["EMAIL".into()]).as_deref(), Some("a@b.c"));
        assert_eq!(key_of(&rec, &["N".into()]).as_deref(), Some("25"));
        assert!(key_of(&rec, &["E".into()]).is_none());
        assert!(key_of(&rec, &["Z".into()]).is_none());
        assert!(key_of(&rec, &["EMAIL".into(), "X".into()]).is_none());
    }
}
