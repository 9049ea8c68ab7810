//! A fake Oomnitza instance on loopback: the token check and the bulk API an
//! integration hands its records to (see `shared/reference/oomnitza-api.md`).
//!
//! End-to-end tests, the CLI's `demo` command and benchmarks sync into it and
//! then inspect what arrived: the stored user records, one log per portion
//! (run) with its created/updated/unchanged/skipped/failed counts and
//! errors, and the synthetic "ready portions". Requests are validated
//! strictly (header token, `Content-Type`, every bulk field) so client bugs
//! surface as 4xx answers; faults can be queued to exercise retries. User
//! records are kept as their JSON text, back to back in one buffer, with a
//! hash index per sync-field set, so a 1,000,000-record sync stays fast and
//! takes about 350 MB: a bulk body is checked in one pass and each record
//! stored as the text it came as (see `bulk.rs`), about 0.15 ms of CPU for
//! 100 records, HTTP included. Reads (`users()`, `GET /api/v3/users`) parse the records
//! they show.
//!
//! Oomnitza's bulk answer varies by version: by default it carries the
//! counts (`{"portion", "created", "updated", "unchanged", "skipped",
//! "failed"}`); [`FakeOomnitza::answer_bulk_without_counts`] makes it answer
//! `{"portion"}` alone, as versions that do not count do.
//!
//! It also answers the reads a workflow makes: `GET /api/v3/users` (the
//! stored records in Oomnitza's REST view) and SaaS users (`GET
//! /api/v3/saas_users`, `PATCH /api/v3/saas_users/deactivate` and
//! `/activate`). Like Oomnitza, a list shows every field of its schema on
//! every record, null where unset: the standard fields, then every custom
//! field any record holds (an admin-added field such as `offboarding_date`
//! shows on everyone once it exists); a field that is in no record's
//! schema is absent everywhere, which is how a client tells a typo from an
//! empty field. Every bulk record carrying a `saas` object that is applied
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
//! The standard fields come first (null when unset): `username`,
//! `full_name`, `first_name`, `last_name`, `email`, `suspended`,
//! `phone_number`, `position`, `role`, `external_id`, `last_login_date`,
//! `user_id`; then the custom fields.
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
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::bulk::{self, FastBuild, Names, Record, RecordIn};
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
            bulk_without_counts: AtomicBool::new(false),
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

    /// From now on, answer each applied bulk request with `{"portion"}`
    /// alone (no counts), as Oomnitza versions that do not count do; the
    /// portion log still counts.
    pub fn answer_bulk_without_counts(&self, on: bool) {
        self.shared.bulk_without_counts.store(on, Ordering::Relaxed);
    }

    /// Deletes the user with this email (`EMAIL`, case-insensitive), as an
    /// admin would in Oomnitza; its SaaS users stay. `false` if there is
    /// no such user.
    pub fn remove_user(&self, email: &str) -> bool {
        let mut store = lock(&self.shared.store);
        let mut names = Names::new();
        let found = (0..store.users.len()).find(|&i| {
            store
                .users
                .record(i, &mut names)
                .get("EMAIL")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        });
        let Some(idx) = found else {
            return false;
        };
        store.users.spans.remove(idx);
        store.users.ids.remove(idx);
        // Indexes hold positions: rebuilt on next use.
        store.indexes.clear();
        true
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
        let store = lock(&self.shared.store);
        let mut names = Names::new();
        (0..store.users.len())
            .map(|i| Value::Object(store.users.record(i, &mut names).to_map()))
            .collect()
    }

    /// The first stored user whose `field` equals `value` (a string field,
    /// or any other value's JSON text, e.g. `"25"`).
    pub fn user_by(&self, field: &str, value: &str) -> Option<Value> {
        let mut store = lock(&self.shared.store);
        let idx = store.lookup(&[field.to_string()], value)?;
        let record = store.users.record(idx, &mut Names::new());
        Some(Value::Object(record.to_map()))
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
        let text = Record::from_map(bulk).to_json();
        let idx = store.insert(&text, UserId::Given(user_id.as_str().into()), None);
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
            let mut names = Names::new();
            (0..store.users.len()).find(|&i| {
                store
                    .users
                    .record(i, &mut names)
                    .get("EMAIL")
                    .and_then(Value::as_str)
                    .is_some_and(|e| e.eq_ignore_ascii_case(email))
            })
        });
        let Some(idx) = found else {
            return false;
        };
        if field == "user_id" {
            store.users.ids[idx] = UserId::Given(value_text(Some(&value)).into());
        } else {
            let mut change = Record::default();
            change.insert(Arc::from(bulk_key(field)), value);
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

    /// Sets one field of the SaaS user with this `saas_user_id` (a field
    /// an admin added, such as `to_be_deleted_in_saas`, or a standard one).
    /// `false` if there is no such SaaS user.
    pub fn set_saas_user_field(&self, saas_user_id: &str, field: &str, value: Value) -> bool {
        let mut store = lock(&self.shared.store);
        match store.saas_user_mut(saas_user_id) {
            Some(u) => {
                u.insert(field.to_string(), value);
                true
            }
            None => false,
        }
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
    /// Answer bulk requests with `{"portion"}` only.
    bulk_without_counts: AtomicBool,
    token: RwLock<String>,
    request_delay: Duration,
    faults: Mutex<VecDeque<(OomnitzaFault, usize)>>,
    store: Mutex<Store>,
    requests: AtomicU64,
}

#[derive(Default)]
struct Store {
    users: Users,
    /// sync-field set -> key -> index into `users`; each built on first use.
    /// Few sets are ever used (usually one), so a list.
    indexes: Vec<(Vec<String>, SyncIndex)>,
    portions: Vec<PortionLog>,
    portion_index: HashMap<String, usize>,
    ready: Vec<Value>,
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

/// A user's `user_id`: generated (from the id serial, shown as
/// [`id_text`]) or given.
#[derive(Debug, Clone)]
enum UserId {
    Serial(u64),
    Given(Box<str>),
}

impl UserId {
    fn text(&self) -> Cow<'_, str> {
        match self {
            UserId::Serial(serial) => Cow::Owned(id_text(USER_SALT, *serial)),
            UserId::Given(id) => Cow::Borrowed(id),
        }
    }
}

/// A stable id that looks random: 32 hex digits.
fn id_text(salt: u64, serial: u64) -> String {
    let mut id = String::with_capacity(32);
    push_hex(&mut id, mix(serial ^ mix(salt)));
    push_hex(&mut id, serial);
    id
}

/// The stored user records, each as its JSON text (an object) back to
/// back in one buffer: about 250 bytes a typical record, and storing a
/// record from a bulk request is a copy of the text it came as (see
/// `bulk.rs`). Reads parse it. A changed record is written anew at the end.
#[derive(Default)]
struct Users {
    text: Vec<u8>,
    /// Where user `i`'s record is in `text`.
    spans: Vec<Range<usize>>,
    /// Each user's `user_id`.
    ids: Vec<UserId>,
}

impl Users {
    fn len(&self) -> usize {
        self.spans.len()
    }

    /// User `i`'s record, as JSON text.
    fn text(&self, i: usize) -> &[u8] {
        self.spans
            .get(i)
            .and_then(|span| self.text.get(span.clone()))
            .unwrap_or(b"{}")
    }

    /// User `i`'s record.
    fn record(&self, i: usize, names: &mut Names) -> Record {
        // Stored text is always a JSON object.
        bulk::parse_record(self.text(i), names).unwrap_or_default()
    }

    /// Appends a user; returns its index.
    fn push(&mut self, text: &[u8], id: UserId) -> usize {
        let start = self.text.len();
        self.text.extend_from_slice(text);
        self.spans.push(start..self.text.len());
        self.ids.push(id);
        self.spans.len() - 1
    }

    /// Replaces user `i`'s record.
    fn replace(&mut self, i: usize, text: &[u8]) {
        let start = self.text.len();
        self.text.extend_from_slice(text);
        let end = self.text.len();
        if let Some(span) = self.spans.get_mut(i) {
            *span = start..end;
        }
    }
}

/// Sync key -> index into `users` for one sync-field set: exactly a
/// `HashMap<String, usize>` (the first user entered under a key stays),
/// with the keys' text back to back in one buffer rather than a string per
/// user.
struct SyncIndex {
    /// Key hash -> the first entry under it.
    first: HashMap<u64, Entry, BuildHasherDefault<HashedKey>>,
    /// Key hash -> further entries under that hash (other keys with the
    /// same 64-bit hash: practically never).
    more: HashMap<u64, Vec<Entry>>,
    /// The keys' text (a removed entry's stays, unused).
    keys: Vec<u8>,
    /// How keys are hashed (tests make every key collide).
    hash: fn(&str) -> u64,
}

/// User `idx`, entered under the key `keys[at..at + len]`.
#[derive(Debug, Clone, Copy)]
struct Entry {
    idx: usize,
    at: usize,
    len: usize,
}

fn key_hash(key: &str) -> u64 {
    FastBuild::default().hash_one(key)
}

impl SyncIndex {
    fn with_capacity(n: usize) -> SyncIndex {
        SyncIndex {
            first: HashMap::with_capacity_and_hasher(n, BuildHasherDefault::default()),
            more: HashMap::new(),
            keys: Vec::new(),
            hash: key_hash,
        }
    }

    fn is(keys: &[u8], entry: &Entry, key: &str) -> bool {
        keys.get(entry.at..entry.at + entry.len) == Some(key.as_bytes())
    }

    /// The user entered under `key`.
    fn get(&self, key: &str) -> Option<usize> {
        let hash = (self.hash)(key);
        let first = self.first.get(&hash)?;
        if SyncIndex::is(&self.keys, first, key) {
            return Some(first.idx);
        }
        self.more
            .get(&hash)?
            .iter()
            .find(|e| SyncIndex::is(&self.keys, e, key))
            .map(|e| e.idx)
    }

    /// Enters user `idx` under `key`, unless a user is entered there.
    fn insert(&mut self, key: &str, idx: usize) {
        if self.get(key).is_some() {
            return;
        }
        let entry = Entry {
            idx,
            at: self.keys.len(),
            len: key.len(),
        };
        self.keys.extend_from_slice(key.as_bytes());
        let hash = (self.hash)(key);
        match self.first.entry(hash) {
            MapEntry::Vacant(slot) => {
                slot.insert(entry);
            }
            MapEntry::Occupied(_) => self.more.entry(hash).or_default().push(entry),
        }
    }

    /// Removes the entry under `key` if it is user `idx`'s.
    fn remove(&mut self, key: &str, idx: usize) {
        let hash = (self.hash)(key);
        let keys = &self.keys;
        let first_is_it = self
            .first
            .get(&hash)
            .is_some_and(|e| e.idx == idx && SyncIndex::is(keys, e, key));
        if first_is_it {
            match self.more.get_mut(&hash).and_then(Vec::pop) {
                Some(next) => {
                    self.first.insert(hash, next);
                    if self.more.get(&hash).is_some_and(Vec::is_empty) {
                        self.more.remove(&hash);
                    }
                }
                None => {
                    self.first.remove(&hash);
                }
            }
        } else if let Some(others) = self.more.get_mut(&hash) {
            others.retain(|e| !(e.idx == idx && SyncIndex::is(keys, e, key)));
            if others.is_empty() {
                self.more.remove(&hash);
            }
        }
    }
}

/// Hashes the `u64` key hashes of [`SyncIndex`]: they are hashes already.
#[derive(Default)]
struct HashedKey(u64);

impl Hasher for HashedKey {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

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

/// The standard fields of a user in the REST view, shown (null when
/// unset) on every user, before the custom fields.
const USER_FIELDS: [&str; 12] = [
    "username",
    "full_name",
    "first_name",
    "last_name",
    "email",
    "suspended",
    "phone_number",
    "position",
    "role",
    "external_id",
    "last_login_date",
    "user_id",
];

/// The fields of every SaaS user (null when unset), before custom ones.
const SAAS_USER_FIELDS: [&str; 13] = [
    "saas_user_id",
    "sync_key",
    "selected_saas_id",
    "name",
    "email",
    "full_name",
    "last_visit",
    "user_external_id",
    "roles",
    "role",
    "contract_id",
    "status",
    "user_id",
];

/// The REST-view name of a bulk key.
fn rest_name(key: &str) -> &str {
    REST_NAMES
        .iter()
        .find(|(bulk, _)| *bulk == key)
        .map_or(key, |(_, rest)| rest)
}

/// `record` with every field of `schema`, in its order (null when the
/// record has none), as Oomnitza lists every field of its schema.
fn with_schema(mut record: Map<String, Value>, schema: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for field in schema {
        out.insert(field.clone(), record.remove(field).unwrap_or(Value::Null));
    }
    out.extend(record);
    out
}

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
fn derived_full_name(record: &Record) -> Option<String> {
    let part = |k: &str| record.get(k).and_then(Value::as_str).unwrap_or_default();
    let full = format!("{} {}", part("FIRST_NAME"), part("LAST_NAME"));
    let full = full.trim();
    (!full.is_empty()).then(|| full.to_string())
}

/// A stored user in Oomnitza's REST view (see the module docs).
fn rest_view(record: &Record, user_id: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, value) in record.iter() {
        if key == "saas" {
            continue;
        }
        let name = REST_NAMES
            .iter()
            .find(|(bulk, _)| *bulk == key)
            .map_or(key, |(_, rest)| rest);
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
fn user_field<'a>(record: &'a Record, user_id: &'a UserId, name: &str) -> Cow<'a, str> {
    if name == "user_id" {
        return user_id.text();
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
struct Bulk<'a> {
    connector_name: String,
    portion: String,
    sync_field: Vec<String>,
    insert_only: bool,
    update_only: bool,
    test_run: bool,
    records: Vec<RecordIn<'a>>,
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
        if let Call::Bulk = call
            && let Some(bulk) = fast_bulk(body)
        {
            return self.bulk(Ok(bulk)).await;
        }
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return bad(format!("Request body is not valid JSON: {e}")),
        };
        match call {
            Call::Bulk => self.bulk(validate_bulk(value)).await,
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

    async fn bulk(&self, bulk: Result<Bulk<'_>, String>) -> Response {
        let bulk = match bulk {
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
        if self.bulk_without_counts.load(Ordering::Relaxed) {
            return json_value(StatusCode::OK, &json!({"portion": summary["portion"]}));
        }
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
    fn check_portion(&self, bulk: &Bulk<'_>) -> Result<(), String> {
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

    /// Where the index for this sync-field set is in `indexes` (built now
    /// if there is none yet).
    fn index(&mut self, fields: &[String]) -> usize {
        if let Some(at) = self.indexes.iter().position(|(f, _)| f == fields) {
            return at;
        }
        let mut index = SyncIndex::with_capacity(self.users.len());
        let mut names = Names::new();
        for i in 0..self.users.len() {
            if let Some(key) = key_of(&self.users.record(i, &mut names), fields) {
                index.insert(&key, i);
            }
        }
        self.indexes.push((fields.to_vec(), index));
        self.indexes.len() - 1
    }

    fn lookup(&mut self, fields: &[String], key: &str) -> Option<usize> {
        let at = self.index(fields);
        self.indexes[at].1.get(key)
    }

    /// Appends a user (its record as JSON text) with this `user_id`;
    /// returns its index. `known`: its key for one sync-field set, if the
    /// caller has it.
    fn insert(&mut self, text: &[u8], user_id: UserId, known: Option<(&[String], &str)>) -> usize {
        let idx = self.users.push(text, user_id);
        let users = &self.users;
        let mut record: Option<Record> = None;
        for (fields, index) in &mut self.indexes {
            match known {
                Some((known_fields, key)) if known_fields == fields.as_slice() => {
                    index.insert(key, idx);
                }
                _ => {
                    let record = record.get_or_insert_with(|| users.record(idx, &mut Names::new()));
                    if let Some(key) = key_of(record, fields) {
                        index.insert(&key, idx);
                    }
                }
            }
        }
        idx
    }

    /// A fresh id serial.
    fn new_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// A fresh stable id: 32 hex digits.
    fn new_id(&mut self, salt: u64) -> String {
        let serial = self.new_serial();
        id_text(salt, serial)
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
        let email = self
            .users
            .record(user_idx, &mut Names::new())
            .get("EMAIL")
            .cloned()
            .unwrap_or(Value::Null);
        let user_id = Value::from(self.users.ids[user_idx].text().into_owned());
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
        let mut names = Names::new();
        let records: Vec<Record> = (0..self.users.len())
            .map(|i| self.users.record(i, &mut names))
            .collect();
        let ids = &self.users.ids;
        let (page, total) = query.select(records.len(), |i, field| {
            user_field(&records[i], &ids[i], field)
        });
        // The instance's user fields: the standard ones and every custom
        // field some record holds. Each record shows all of them.
        let mut schema: Vec<String> = USER_FIELDS.iter().map(|f| f.to_string()).collect();
        for record in &records {
            for (key, _) in record.iter() {
                let name = rest_name(key);
                if key != "saas" && !schema.iter().any(|f| f == name) {
                    schema.push(name.to_string());
                }
            }
        }
        let items = page
            .into_iter()
            .map(|i| {
                let view = with_schema(rest_view(&records[i], &ids[i].text()), &schema);
                project(view, query.fields.as_deref())
            })
            .collect();
        with_total_count(json_value(StatusCode::OK, &Value::Array(items)), total)
    }

    fn list_saas_users(&self, query: &ListQuery) -> Response {
        let (page, total) = query.select(self.saas_users.len(), |i, field| {
            value_text(self.saas_users[i].get(field))
        });
        let mut schema: Vec<String> = SAAS_USER_FIELDS.iter().map(|f| f.to_string()).collect();
        for u in &self.saas_users {
            for key in u.keys() {
                if !schema.contains(key) {
                    schema.push(key.clone());
                }
            }
        }
        let items = page
            .into_iter()
            .map(|i| {
                let view = with_schema(self.saas_users[i].clone(), &schema);
                project(view, query.fields.as_deref())
            })
            .collect();
        with_total_count(json_value(StatusCode::OK, &Value::Array(items)), total)
    }

    /// The SaaS user with this id.
    fn saas_user_mut(&mut self, id: &str) -> Option<&mut Map<String, Value>> {
        let idx = *self.saas_ids.get(id)?;
        self.saas_users.get_mut(idx)
    }

    /// Merges the record `text` (JSON) into user `idx`; `false` when
    /// nothing changed. The same text as stored changes nothing.
    fn merge_text(&mut self, idx: usize, text: &[u8]) -> bool {
        if self.users.text(idx) == text {
            return false;
        }
        match bulk::parse_record(text, &mut Names::new()) {
            Some(record) => self.merge(idx, record),
            None => false,
        }
    }

    /// Merges `record` into user `idx`; `false` when nothing changed.
    fn merge(&mut self, idx: usize, record: Record) -> bool {
        let mut user = self.users.record(idx, &mut Names::new());
        let changed = record.iter().any(|(k, v)| user.get(k) != Some(v));
        if !changed {
            return false;
        }
        let old_keys: Vec<Option<String>> = self
            .indexes
            .iter()
            .map(|(fields, _)| key_of(&user, fields).map(Cow::into_owned))
            .collect();
        for (k, v) in record.into_fields() {
            user.insert(k, v);
        }
        self.users.replace(idx, &user.to_json());
        for ((fields, index), old) in self.indexes.iter_mut().zip(old_keys) {
            let new = key_of(&user, fields);
            if new.as_deref() == old.as_deref() {
                continue;
            }
            if let Some(old) = old {
                index.remove(&old, idx);
            }
            if let Some(new) = new {
                index.insert(&new, idx);
            }
        }
        true
    }

    fn apply(&mut self, bulk: Bulk<'_>) -> Value {
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
        for (k, record) in bulk.records.into_iter().enumerate() {
            let n = first_ordinal + k + 1;
            if let Some(error) = record.error.as_ref().filter(|e| !e.is_null()) {
                let message = error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_string);
                errors.push(format!("record {n}: {message}"));
                failed += 1;
                continue;
            }
            if let Some(saas) = &record.saas
                && let Err(msg) = validate_saas(saas)
            {
                errors.push(format!("record {n}: {msg}"));
                failed += 1;
                continue;
            }
            let Some(key) = key_from(record.sync.iter().map(Option::as_ref)) else {
                let missing: Vec<&str> = bulk
                    .sync_field
                    .iter()
                    .zip(&record.sync)
                    .filter(|(_, value)| key_from(std::iter::once(value.as_ref())).is_none())
                    .map(|(field, _)| field.as_str())
                    .collect();
                errors.push(format!(
                    "record {n}: missing sync field value: {}",
                    missing.join(", ")
                ));
                failed += 1;
                continue;
            };
            let found = self.lookup(&bulk.sync_field, &key);
            // A record's `error` (null here) is not stored.
            let text = match record.error {
                Some(_) => Cow::Owned(without_error(&record.text)),
                None => Cow::Borrowed(&*record.text),
            };
            let saas = record.saas;
            let applied = match found {
                None if bulk.update_only => {
                    skipped += 1;
                    None
                }
                Some(_) if bulk.insert_only => {
                    skipped += 1;
                    None
                }
                None => {
                    let serial = self.new_serial();
                    created += 1;
                    let known = Some((bulk.sync_field.as_slice(), &*key));
                    Some(self.insert(&text, UserId::Serial(serial), known))
                }
                Some(idx) => {
                    if self.merge_text(idx, &text) {
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
fn key_of<'a>(record: &'a Record, fields: &[String]) -> Option<Cow<'a, str>> {
    key_from(fields.iter().map(|field| record.get(field)))
}

/// The sync key made of these values (see [`key_of`]).
fn key_from<'a, I>(values: I) -> Option<Cow<'a, str>>
where
    I: IntoIterator<Item = Option<&'a Value>>,
    I::IntoIter: ExactSizeIterator,
{
    let mut values = values.into_iter();
    // The usual case, one string field: borrowed.
    if values.len() == 1 {
        return match values.next()?? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            other => Some(Cow::Owned(other.to_string())),
        };
    }
    let mut key = String::new();
    for (k, value) in values.enumerate() {
        if k > 0 {
            key.push('\u{1f}');
        }
        match value? {
            Value::Null => return None,
            Value::String(s) if s.is_empty() => return None,
            Value::String(s) => key.push_str(s),
            other => key.push_str(&other.to_string()),
        }
    }
    Some(Cow::Owned(key))
}

/// A record's JSON text without its `error` field.
fn without_error(text: &[u8]) -> Vec<u8> {
    let mut record = bulk::parse_record(text, &mut Names::new()).unwrap_or_default();
    record.remove("error");
    record.to_json()
}

/// Appends `n` as 16 lower-case hex digits.
fn push_hex(out: &mut String, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(HEX[((n >> (shift * 4)) & 0xf) as usize]));
    }
}

/// A bulk body through the typed parse ([`bulk::parse`]), when it has the
/// documented shape and passes every check [`validate_bulk`] makes; `None`
/// sends it to [`validate_bulk`], which then names what is wrong.
fn fast_bulk(body: &[u8]) -> Option<Bulk<'_>> {
    let wire = bulk::parse(body)?;
    let valid = !wire.connector_name.trim().is_empty()
        && is_uuid(&wire.portion)
        && wire.data_type == "users"
        && !wire.sync_field.is_empty()
        && wire.sync_field.iter().all(|f| !f.is_empty())
        && !(wire.insert_only && wire.update_only);
    valid.then_some(Bulk {
        connector_name: wire.connector_name,
        portion: wire.portion,
        sync_field: wire.sync_field,
        insert_only: wire.insert_only,
        update_only: wire.update_only,
        test_run: wire.test_run,
        records: wire.records,
        error: wire.error,
    })
}

fn validate_bulk(value: Value) -> Result<Bulk<'static>, String> {
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
                Value::Object(m) => Ok(RecordIn::from_map(&m, &sync_field)),
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

    /// A record with these string fields.
    fn rec(fields: &[(&str, &str)]) -> Record {
        let mut r = Record::default();
        for (k, v) in fields {
            r.insert(Arc::from(*k), Value::from(*v));
        }
        r
    }

    #[test]
    fn sync_index_behaves_like_a_map_of_key_strings() {
        // The index against a `HashMap<String, usize>` doing what the store
        // did with one: first user wins, an entry follows its user's key.
        fn collide(_: &str) -> u64 {
            7
        }
        fn by_length(key: &str) -> u64 {
            key.len() as u64
        }
        let hashes: [fn(&str) -> u64; 3] = [key_hash, collide, by_length];
        let fields = vec!["K".to_string()];
        for hash in hashes {
            let mut store = Store::default();
            let at = store.index(&fields);
            store.indexes[at].1.hash = hash;
            let mut model: HashMap<String, usize> = HashMap::new();
            let mut keys: Vec<Option<String>> = Vec::new();
            let mut seed = 12345u64;
            let mut next = |n: u64| {
                seed = mix(seed);
                seed % n
            };
            let key = |n: u64| format!("k{n}");
            for _ in 0..3000 {
                match next(3) {
                    0 => {
                        let k = key(next(40));
                        let text = rec(&[("K", &k)]).to_json();
                        let idx = store.insert(&text, UserId::Serial(0), None);
                        model.entry(k.clone()).or_insert(idx);
                        keys.push(Some(k));
                    }
                    1 if !keys.is_empty() => {
                        let idx = next(keys.len() as u64) as usize;
                        // Sometimes no key at all (empty), sometimes another.
                        let k = match next(5) {
                            0 => String::new(),
                            _ => key(next(40)),
                        };
                        let new = (!k.is_empty()).then(|| k.clone());
                        let old = keys[idx].clone();
                        store.merge(idx, rec(&[("K", &k)]));
                        if new != old {
                            if let Some(old) = old
                                && model.get(&old) == Some(&idx)
                            {
                                model.remove(&old);
                            }
                            if let Some(new) = &new {
                                model.entry(new.clone()).or_insert(idx);
                            }
                        }
                        keys[idx] = new;
                    }
                    _ => {
                        for n in 0..40 {
                            let k = key(n);
                            assert_eq!(store.lookup(&fields, &k), model.get(&k).copied(), "{k}");
                        }
                    }
                }
            }
            // A second index, built from the users as they are now.
            let other = vec!["K".to_string(), "L".to_string()];
            assert_eq!(store.lookup(&other, "k1"), None);
            assert_eq!(store.indexes.len(), 2);
        }
    }

    fn body_with(change: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let mut v = json!({
            "connector_version": "0.1.0",
            "connector_name": "Dropbox Users",
            "portion": "6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10",
            "data_type": "users",
            "sync_field": ["EMAIL"],
            "insert_only": false,
            "update_only": false,
            "test_run": false,
            "records": [
                {"USER": "a@x.com", "EMAIL": "a@x.com", "FIRST_NAME": "Zoë", "PERMISSIONS_ID": 25},
                {"EMAIL": "b@x.com", "saas": {"sync_key": "b", "role": null}, "n": [1.5, -2, {"x": true}]},
                {"EMAIL": "c@x.com", "error": "mapping failed"},
                {"EMAIL": "", "error": null},
            ],
            "error": null,
        });
        if let Value::Object(m) = &mut v {
            change(m);
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn the_fast_path_takes_what_the_general_path_takes_and_the_same_way() {
        let general = |body: &[u8]| -> Result<Bulk, String> {
            let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
            validate_bulk(value)
        };
        let same = |a: &Bulk, b: &Bulk| {
            assert_eq!(a.connector_name, b.connector_name);
            assert_eq!(a.portion, b.portion);
            assert_eq!(a.sync_field, b.sync_field);
            assert_eq!(
                (a.insert_only, a.update_only, a.test_run),
                (b.insert_only, b.update_only, b.test_run)
            );
            assert_eq!(a.error, b.error);
            assert_eq!(a.records.len(), b.records.len());
            for (x, y) in a.records.iter().zip(&b.records) {
                let text = |r: &RecordIn| serde_json::from_slice::<Value>(&r.text).unwrap();
                assert_eq!(text(x), text(y));
                assert_eq!((&x.error, &x.saas, &x.sync), (&y.error, &y.saas, &y.sync));
            }
        };
        type Change = Box<dyn FnOnce(&mut Map<String, Value>)>;
        let good: Vec<Change> = vec![
            Box::new(|_| {}),
            Box::new(|m| {
                m.remove("connector_version");
                m.remove("error");
            }),
            Box::new(|m| {
                m.insert("error".into(), json!("source down"));
                m.insert("records".into(), json!([]));
            }),
            Box::new(|m| {
                m.insert("sync_field".into(), json!(["EMAIL", "USER"]));
                m.insert("insert_only".into(), json!(true));
                m.insert("test_run".into(), json!(true));
            }),
        ];
        for change in good {
            let body = body_with(change);
            let fast = fast_bulk(&body).expect("the fast path takes it");
            same(&fast, &general(&body).expect("valid"));
        }
        let bad: Vec<Change> = vec![
            Box::new(|m| {
                m.insert("extra".into(), json!(1));
            }),
            Box::new(|m| {
                m.insert("connector_version".into(), json!(null));
            }),
            Box::new(|m| {
                m.insert("connector_name".into(), json!("  "));
            }),
            Box::new(|m| {
                m.insert("portion".into(), json!("not-a-uuid"));
            }),
            Box::new(|m| {
                m.insert("data_type".into(), json!("assets"));
            }),
            Box::new(|m| {
                m.insert("sync_field".into(), json!([]));
            }),
            Box::new(|m| {
                m.insert("sync_field".into(), json!(["EMAIL", ""]));
            }),
            Box::new(|m| {
                m.insert("insert_only".into(), json!(true));
                m.insert("update_only".into(), json!(true));
            }),
            Box::new(|m| {
                m.remove("test_run");
            }),
            Box::new(|m| {
                m.insert("error".into(), json!(false));
            }),
            Box::new(|m| {
                m.insert("records".into(), json!([{"EMAIL": "a"}, "b"]));
            }),
            Box::new(|m| {
                m.insert("records".into(), json!({"EMAIL": "a"}));
            }),
        ];
        for change in bad {
            let body = body_with(change);
            assert!(
                fast_bulk(&body).is_none(),
                "{}",
                String::from_utf8_lossy(&body)
            );
            assert!(general(&body).is_err());
        }
        // Bodies the fast path leaves to the general one, which takes them:
        // a repeated or escaped top-level name.
        let body = br#"{"connector_name":"x","connector_name":"Dropbox Users","portion":"6f1c4c1e-2a9b-4b5e-9d0b-6a4f2f7c9e10","data_type":"users","sync_field":["EMAIL"],"insert_only":false,"update_only":false,"test_run":false,"records":[]}"#;
        assert!(fast_bulk(body).is_none());
        assert_eq!(general(body).unwrap().connector_name, "Dropbox Users");
    }

    #[test]
    fn sync_keys() {
        let rec = Record::from_map(
            serde_json::from_value(json!({"EMAIL": "a@b.c", "N": 25, "E": "", "Z": null})).unwrap(),
        );
        assert_eq!(key_of(&rec, &["EMAIL".into()]).as_deref(), Some("a@b.c"));
        assert_eq!(key_of(&rec, &["N".into()]).as_deref(), Some("25"));
        assert!(key_of(&rec, &["E".into()]).is_none());
        assert!(key_of(&rec, &["Z".into()]).is_none());
        assert!(key_of(&rec, &["EMAIL".into(), "X".into()]).is_none());
    }
}
