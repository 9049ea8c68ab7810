//! How records should cross the component boundary: typed WIT values or
//! JSON text. Measures, for one 1,000-member Dropbox page:
//! - the native cost of parsing the page and building records (what a JSON
//!   hand-over would make `map-records` pay a second time);
//! - `map-records` with an empty spec inside the component: lowering 1,000
//!   typed records into the guest and lifting 1,000 outcomes, i.e. the cost
//!   of the typed crossing itself;
//! - fetch and the smart mapping, in the component and natively.
//!
//! Run: `cargo bench -p oomnitza-connect --bench boundary` (after building
//! the component). Prints medians of repeated runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use connector_fakes::{DropboxConfig, FakeDropbox, Team, WireStyle};
use dropbox_connector::transport::{HttpResponse, Transport, TransportError};
use dropbox_connector::{Connector, DropboxConnector};
use oomnitza_connect::bindings::{FetchRequest, MappingSpec, RecordKind, Value};
use oomnitza_connect::credentials::{Bearer, Secret};
use oomnitza_connect::engine::{load_component, new_engine};
use oomnitza_connect::instance::ConnectorInstance;
use oomnitza_connect::sandbox::policy::{Allowlist, Target};
use oomnitza_connect::sandbox::{AddressPolicy, Limits, OutboundPolicy, Route};

const MEMBERS: usize = 1000;
const RUNS: usize = 40;

/// Answers every request with the same page.
struct Canned(Vec<u8>);

impl Transport for Canned {
    fn post_json(&mut self, _url: &str, _body: &[u8]) -> Result<HttpResponse, TransportError> {
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

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    let mut xs = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
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

fn main() -> Result<()> {
    let team = Team::generate(MEMBERS, 3);
    let page = page_json(&team);

    // Native: the cost of one parse, and of the smart mapping.
    let native_req = dropbox_connector::types::FetchRequest {
        kind: dropbox_connector::types::RecordKind::Users,
        cursor: None,
        page_size: 1000,
        options: vec![],
        sync_time: "2026-11-27T00:00:00Z".into(),
        read_ahead: false,
    };
    let mut native = DropboxConnector::new(Canned(page.clone()));
    let native_parse = time(|| native.fetch(native_req.clone()).map(|p| p.records.len()));
    let records = native
        .fetch(native_req.clone())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?
        .records;
    let native_spec = dropbox_connector::dropbox::catalog::default_mapping();
    let native_map = time(|| {
        native
            .map_records(&native_spec, records.clone())
            .map(|o| o.len())
    });
    let clone_only = time(|| records.clone().len());

    // The component, against the fake on loopback.
    let rt = tokio::runtime::Runtime::new()?;
    let dropbox = FakeDropbox::start(DropboxConfig::new(team, "bench-token"))?;
    let engine = new_engine()?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/dropbox_connector.wasm");
    let component = load_component(&engine, &path, None, None)?;
    let origin = Target {
        scheme: "https".into(),
        host: "api.dropboxapi.com".into(),
        port: 443,
    };
    let upstream: http::Uri = dropbox.url().parse()?;
    let policy = Arc::new(OutboundPolicy {
        routes: vec![Route {
            origin: origin.clone(),
            upstream: http::uri::Scheme::HTTP,
            upstream_authority: upstream.authority().cloned().expect("authority"),
        }],
        bearer: vec![(origin, Bearer::Static(Secret::new("bench-token".into())))],
        addresses: AddressPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        ..OutboundPolicy::new(Allowlist::parse(&["https://api.dropboxapi.com"])?)
    });
    let (wasm_fetch, wasm_map, wasm_cross, http_only) = rt.block_on(async {
        let mut inst = ConnectorInstance::new(&component, policy, Limits::default()).await?;
        let manifest = inst.describe().await?;
        let req = FetchRequest {
            kind: RecordKind::Users,
            cursor: None,
            page_size: 1000,
            options: vec![("include_removed".into(), Value::Boolean(true))],
            sync_time: "2026-11-27T00:00:00Z".into(),
            read_ahead: false,
        };
        let mut xs = vec![];
        let mut records = vec![];
        for _ in 0..RUNS {
            let t = Instant::now();
            records = inst
                .fetch(&req)
                .await?
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .records;
            xs.push(t.elapsed());
        }
        let fetch = median(xs);
        let mut run_map = async |spec: &MappingSpec| -> Result<Duration> {
            let mut xs = vec![];
            for _ in 0..RUNS {
                let t = Instant::now();
                let out = inst
                    .map(spec, &records)
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                std::hint::black_box(out.len());
                xs.push(t.elapsed());
            }
            Ok(median(xs))
        };
        let map = run_map(&manifest.default_mapping).await?;
        let empty = MappingSpec {
            rules: vec![],
            filters: vec![],
            sync_key: vec![],
        };
        let cross = run_map(&empty).await?;
        // The HTTP part of a fetch: the same request, straight to the fake.
        let client = reqwest::Client::new();
        let mut xs = vec![];
        for _ in 0..RUNS {
            let t = Instant::now();
            let body = client
                .post(format!("{}/2/team/members/list_v2", dropbox.url()))
                .bearer_auth("bench-token")
                .header("content-type", "application/json")
                .body(r#"{"limit":1000,"include_removed":true}"#)
                .send()
                .await?
                .bytes()
                .await?;
            std::hint::black_box(body.len());
            xs.push(t.elapsed());
        }
        anyhow::Ok((fetch, map, cross, median(xs)))
    })?;

    let ms = |d: Duration| format!("{:8.3} ms", d.as_secs_f64() * 1e3);
    println!(
        "one Dropbox page of {MEMBERS} members ({} KB of JSON); medians of {RUNS} runs",
        page.len() / 1024
    );
    println!(
        "  native  parse + build records          {}",
        ms(native_parse)
    );
    println!(
        "  native  smart mapping                  {}",
        ms(native_map.saturating_sub(clone_only))
    );
    println!("  HTTP    page over loopback (no parse)  {}", ms(http_only));
    println!(
        "  wasm    fetch (HTTP + parse + lift)    {}",
        ms(wasm_fetch)
    );
    println!("  wasm    map-records, smart mapping     {}", ms(wasm_map));
    println!(
        "  wasm    map-records, empty spec        {}   <- the typed crossing (lower 1,000 records, lift outcomes)",
        ms(wasm_cross)
    );
    println!(
        "  typed crossing / native JSON parse     {:8.2}x  (a JSON hand-over would re-parse in map-records)",
        wasm_cross.as_secs_f64() / native_parse.as_secs_f64()
    );
    Ok(())
}
