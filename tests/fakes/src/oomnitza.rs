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

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

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

    fn insert(&mut self, record: Map<String, Value>) {
        let idx = self.users.len();
        for (fields, index) in &mut self.indexes {
            if let Some(key) = key_of(&record, fields) {
                index.entry(key).or_insert(idx);
            }
        }
        self.users.push(record);
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
            match self.lookup(&bulk.sync_field, &key) {
                None if bulk.update_only => skipped += 1,
                Some(_) if bulk.insert_only => skipped += 1,
                None => {
                    self.insert(record);
                    created += 1;
                }
                Some(idx) => {
                    if self.merge(idx, record) {
                        updated += 1;
                    } else {
                        unchanged += 1;
                    }
                }
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
