//! What the component costs, next to the same work done natively:
//!
//! - **mapping**: the smart mapping of one 1,000-member Dropbox page, in the
//!   component (the sync's `fetch-mapped`, minus the same call with an empty
//!   spec: the mapping and handing its values back) and natively;
//! - **the boundary**: `fetch` (records lifted to the host) and
//!   `map-records` (records lowered back), the path a sync no longer takes;
//! - **instantiation** of the pre-instantiated component, with the pooling
//!   allocator (the product's engine) and with on-demand allocation;
//! - **cold start** in process: engine, compile or load from the on-disk
//!   cache, instantiate, `describe`.
//!
//! Run: `cargo bench -p oomnitza-connect --bench component` after building
//! the component (`scripts/dev component`). Prints medians; with `--rows`,
//! markdown rows for `bench/run`'s table instead.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use connector_fakes::{DropboxConfig, FakeDropbox, Team, WireStyle};
use dropbox_connector::DropboxConnector;
use oomnitza_connect::bindings::{FetchRequest, MappingSpec, RecordKind, Value};
use oomnitza_connect::credentials::{Bearer, Secret};
use oomnitza_connect::engine::{LoadedComponent, load_component, new_engine};
use oomnitza_connect::instance::ConnectorInstance;
use oomnitza_connect::sandbox::policy::{Allowlist, Target};
use oomnitza_connect::sandbox::{AddressPolicy, Limits, OutboundPolicy, Route};
use oomnitza_connector_sdk::Connector;
use oomnitza_connector_sdk::transport::{HttpResponse, Request, Transport, TransportError};

const MEMBERS: usize = 1000;
const RUNS: usize = 40;
/// Paired runs for the small differences (mapping, handing values out).
const PAIRED_RUNS: usize = 100;
const INSTANTIATIONS: usize = 400;
const COLD_RUNS: usize = 3;

/// Answers every request with the same page.
struct Canned(Vec<u8>);

impl Transport for Canned {
    fn send(&mut self, _request: &Request) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status: 200,
            retry_after: None,
            content_type: Some("application/json".into()),
            body: self.0.clone(),
        })
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    let mut xs = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f());
        xs.push(t.elapsed());
    }
    median(xs)
}

fn page_json(team: &Team) -> Vec<u8> {
    let mut s = String::from("{\"members\":[");
    for (i, m) in team.members().enumerate() {
        if i > 0 {
            s.push(',');
        }
        m.write_json(&WireStyle::default(), &mut s);
    }
    s.push_str("],\"cursor\":\"c\",\"has_more\":false}");
    s.into_bytes()
}

fn component_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/dropbox_connector.wasm")
}

fn policy_for(dropbox: &FakeDropbox) -> Result<Arc<OutboundPolicy>> {
    let origin = Target {
        scheme: "https".into(),
        host: "api.dropboxapi.com".into(),
        port: 443,
    };
    let upstream: http::Uri = dropbox.url().parse()?;
    Ok(Arc::new(OutboundPolicy {
        routes: vec![Route {
            origin: origin.clone(),
            upstream: http::uri::Scheme::HTTP,
            upstream_authority: upstream
                .authority()
                .cloned()
                .ok_or_else(|| anyhow!("fake has no authority"))?,
        }],
        bearer: vec![(origin, Bearer::Static(Secret::new("bench-token".into())))],
        addresses: AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        ..OutboundPolicy::new(Allowlist::parse(&["https://api.dropboxapi.com"])?)
    }))
}

/// Median time of `ConnectorInstance::new` (a fresh store and an instance
/// from the pre-instantiated component).
async fn instantiation(
    component: &LoadedComponent,
    policy: &Arc<OutboundPolicy>,
) -> Result<Duration> {
    let mut xs = Vec::with_capacity(INSTANTIATIONS);
    for _ in 0..INSTANTIATIONS {
        let t = Instant::now();
        let inst = ConnectorInstance::new(component, policy.clone(), Limits::default()).await?;
        xs.push(t.elapsed());
        drop(inst);
    }
    Ok(median(xs))
}

/// An engine like the product's, but allocating on demand (no pool).
fn on_demand_engine() -> Result<wasmtime::Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    Ok(wasmtime::Engine::new(&config)?)
}

/// From nothing to a described instance: engine, component (compiled, or
/// loaded from `cache`), instance, `describe`.
async fn cold_start(cache: Option<&Path>, policy: &Arc<OutboundPolicy>) -> Result<Duration> {
    let t = Instant::now();
    let engine = new_engine()?;
    let component = load_component(&engine, &component_path(), None, cache)?;
    let mut inst = ConnectorInstance::new(&component, policy.clone(), Limits::default()).await?;
    inst.describe().await?;
    Ok(t.elapsed())
}

struct Figures {
    page_kb: usize,
    native_parse: Duration,
    native_map: Duration,
    fetch_mapped: Duration,
    fetch_mapped_empty: Duration,
    /// `fetch-mapped` smart minus empty spec, paired.
    map_diff: Duration,
    /// `fetch-mapped` with text constants minus null constants, paired.
    hand_out: Duration,
    fetch: Duration,
    map_records: Duration,
    map_records_empty: Duration,
    inst_pooled: Duration,
    inst_on_demand: Duration,
    cold_compile: Duration,
    cold_cached: Duration,
}

fn main() -> Result<()> {
    let rows = std::env::args().any(|a| a == "--rows");
    let team = Team::generate(MEMBERS, 3);
    let page = page_json(&team);

    // Native: one parse, and the smart mapping alone.
    let native_req = oomnitza_connector_sdk::types::FetchRequest {
        kind: oomnitza_connector_sdk::types::RecordKind::Users,
        cursor: None,
        page_size: 1000,
        options: vec![],
        sync_time: "2026-11-27T00:00:00Z".into(),
        read_ahead: false,
    };
    let mut native = DropboxConnector::new(Canned(page.clone()));
    let native_parse = time(RUNS, || {
        native.fetch(native_req.clone()).map(|p| p.records.len())
    });
    let records = native
        .fetch(native_req.clone())
        .map_err(|e| anyhow!("{e:?}"))?
        .records;
    let native_spec = dropbox_connector::catalog::default_mapping();
    let compiled = oomnitza_connector_sdk::mapping::CompiledSpec::compile(
        &native_spec,
        &dropbox_connector::catalog::FIELD_NAMES,
    )
    .map_err(|e| anyhow!("{e:?}"))?;
    let with_map = time(RUNS, || compiled.map_records(records.clone()).len());
    let clone_only = time(RUNS, || records.clone().len());
    let native_map = with_map.saturating_sub(clone_only);

    let rt = tokio::runtime::Runtime::new()?;
    let dropbox = FakeDropbox::start(DropboxConfig::new(team, "bench-token"))?;
    let policy = policy_for(&dropbox)?;
    let engine = new_engine()?;
    let component = load_component(&engine, &component_path(), None, None)?;
    let cache = tempfile::tempdir()?;

    let figures = rt.block_on(async {
        let mut inst =
            ConnectorInstance::new(&component, policy.clone(), Limits::default()).await?;
        let manifest = inst.describe().await?;
        let req = FetchRequest {
            kind: RecordKind::Users,
            cursor: None,
            page_size: 1000,
            options: vec![("include_removed".into(), Value::Boolean(true))],
            sync_time: "2026-11-27T00:00:00Z".into(),
            read_ahead: false,
        };
        let empty = MappingSpec {
            rules: vec![],
            filters: vec![],
            sync_key: vec![],
        };
        // Two specs, alternately, so drift hits both alike: the median of
        // each, and the median of the paired differences (a - b).
        let mut fetch_pair =
            async |a: &MappingSpec, b: &MappingSpec| -> Result<(Duration, Duration, Duration)> {
                let mut one = async |spec: &MappingSpec| -> Result<Duration> {
                    let t = Instant::now();
                    let page = inst
                        .fetch_mapped(&req, spec)
                        .await?
                        .map_err(|e| anyhow!("{e:?}"))?;
                    std::hint::black_box(page.outcomes.len());
                    Ok(t.elapsed())
                };
                let (mut xa, mut xb, mut diffs) = (vec![], vec![], vec![]);
                for _ in 0..PAIRED_RUNS {
                    let (ta, tb) = (one(a).await?, one(b).await?);
                    xa.push(ta);
                    xb.push(tb);
                    diffs.push(ta.saturating_sub(tb));
                }
                Ok((median(xa), median(xb), median(diffs)))
            };
        let (smart, bare, map_diff) = fetch_pair(&manifest.default_mapping, &empty).await?;
        // What handing values out costs, apart from mapping: as many rules
        // as the smart spec, each a constant (null, or a short text that is
        // copied in the guest and lifted into a host string).
        let constants = |v: Value| MappingSpec {
            rules: manifest
                .default_mapping
                .rules
                .iter()
                .map(|r| oomnitza_connect::bindings::MappingRule {
                    target: r.target.clone(),
                    source: oomnitza_connect::bindings::RuleSource::Constant(v.clone()),
                    transforms: vec![],
                    required: false,
                })
                .collect(),
            filters: vec![],
            sync_key: vec![],
        };
        let (_, _, hand_out) = fetch_pair(
            &constants(Value::Text("someone@example.com".into())),
            &constants(Value::Null),
        )
        .await?;

        let mut xs = vec![];
        let mut records = vec![];
        for _ in 0..RUNS {
            let t = Instant::now();
            records = inst
                .fetch(&req)
                .await?
                .map_err(|e| anyhow!("{e:?}"))?
                .records;
            xs.push(t.elapsed());
        }
        let fetch = median(xs);
        let mut map_records = async |spec: &MappingSpec| -> Result<Duration> {
            let mut xs = vec![];
            for _ in 0..RUNS {
                let t = Instant::now();
                let out = inst
                    .map(spec, &records)
                    .await?
                    .map_err(|e| anyhow!("{e:?}"))?;
                std::hint::black_box(out.len());
                xs.push(t.elapsed());
            }
            Ok(median(xs))
        };
        let map_smart = map_records(&manifest.default_mapping).await?;
        let map_empty = map_records(&empty).await?;
        drop(inst);

        let inst_pooled = instantiation(&component, &policy).await?;
        let plain = on_demand_engine()?;
        let on_demand = load_component(&plain, &component_path(), None, None)?;
        let inst_on_demand = instantiation(&on_demand, &policy).await?;

        // The first cold start fills the cache; the rest compile without it
        // or load from it.
        cold_start(Some(cache.path()), &policy).await?;
        let mut compiled = vec![];
        let mut cached = vec![];
        for _ in 0..COLD_RUNS {
            compiled.push(cold_start(None, &policy).await?);
            cached.push(cold_start(Some(cache.path()), &policy).await?);
        }
        anyhow::Ok(Figures {
            page_kb: page.len() / 1024,
            native_parse,
            native_map,
            fetch_mapped: smart,
            fetch_mapped_empty: bare,
            map_diff,
            hand_out,
            fetch,
            map_records: map_smart,
            map_records_empty: map_empty,
            inst_pooled,
            inst_on_demand,
            cold_compile: median(compiled),
            cold_cached: median(cached),
        })
    })?;
    if rows {
        print_rows(&figures);
    } else {
        print_report(&figures);
    }
    Ok(())
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// The mapping inside the component: `fetch-mapped` with the smart spec
/// minus the same call with an empty one (same HTTP, parse and records).
fn wasm_map(f: &Figures) -> Duration {
    f.map_diff
}

fn print_report(f: &Figures) {
    println!(
        "one Dropbox page of {MEMBERS} members ({} KB of JSON); medians of {RUNS} runs",
        f.page_kb
    );
    println!(
        "  native  parse + build records              {:>12}",
        ms(f.native_parse)
    );
    println!(
        "  native  smart mapping                      {:>12}",
        ms(f.native_map)
    );
    println!(
        "  wasm    fetch-mapped, smart mapping        {:>12}",
        ms(f.fetch_mapped)
    );
    println!(
        "  wasm    fetch-mapped, empty spec           {:>12}",
        ms(f.fetch_mapped_empty)
    );
    println!(
        "  wasm    smart mapping (the difference)     {:>12}   {:.2}x native",
        ms(wasm_map(f)),
        wasm_map(f).as_secs_f64() / f.native_map.as_secs_f64()
    );
    println!(
        "  wasm    handing out {} strings               {:>12}   (text minus null constants)",
        MEMBERS * 8,
        ms(f.hand_out)
    );
    println!(
        "  wasm    fetch (records lifted to the host) {:>12}",
        ms(f.fetch)
    );
    println!(
        "  wasm    map-records, smart mapping         {:>12}",
        ms(f.map_records)
    );
    println!(
        "  wasm    map-records, empty spec            {:>12}   <- lowering 1,000 records back",
        ms(f.map_records_empty)
    );
    println!(
        "instantiation, medians of {INSTANTIATIONS}: pooled {}, on demand {}",
        us(f.inst_pooled),
        us(f.inst_on_demand)
    );
    println!(
        "cold start to a described instance, medians of {COLD_RUNS}: compiling {}, from the cache {}",
        ms(f.cold_compile),
        ms(f.cold_cached)
    );
}

/// Rows in `bench/run`'s table: benchmark | members | pages | wall |
/// members/s | CPU (s) | peak RSS (MB) | fakes CPU (s) | fakes RSS | result.
fn print_rows(f: &Figures) {
    let ratio = wasm_map(f).as_secs_f64() / f.native_map.as_secs_f64();
    let row = |name: &str, wall: String, result: String| {
        println!("| {name} | 1,000 | 1 | {wall} | – | – | – | – | – | {result} |");
    };
    row(
        "component: smart mapping in the component",
        ms(wasm_map(f)),
        format!(
            "native {}: **{ratio:.2}×** (target ≤ 2×); of which handing {} strings to the host: ~{}",
            ms(f.native_map),
            MEMBERS * 8,
            ms(f.hand_out)
        ),
    );
    row(
        "component: `fetch-mapped` (HTTP, parse, map, lift)",
        ms(f.fetch_mapped),
        format!(
            "native parse alone {}; old path `fetch` + `map-records` {}",
            ms(f.native_parse),
            ms(f.fetch + f.map_records)
        ),
    );
    println!(
        "| component: instantiation, pre-instantiated + pooling | – | – | {} | – | – | – | – | – | **{}** (target ≤ 50 µs); on-demand allocation {} |",
        us(f.inst_pooled),
        if f.inst_pooled <= Duration::from_micros(50) {
            "met"
        } else {
            "missed"
        },
        us(f.inst_on_demand)
    );
    println!(
        "| component: cold start (engine, load, instantiate, describe) | – | – | {} | – | – | – | – | – | with the on-disk compiled cache; without it (compiling) {} |",
        ms(f.cold_cached),
        ms(f.cold_compile)
    );
}
