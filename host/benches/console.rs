//! How long the console takes to render its pages over a large team.
//!
//! For each team size (`CONSOLE_BENCH_SIZES`, default "100000 1000000"): the
//! fake Dropbox and fake Oomnitza on loopback, one real sync in process
//! (the component, the committer, the team snapshot: the state database is
//! filled through the product's code path, not by hand), then the console
//! on loopback and timed HTTP requests to its pages, each a full
//! round trip: guard, handler, SQLite, templates, the body read to its end.
//!
//! Targets (issue 14): the members list at 100,000 members under 200 ms,
//! the dashboard at 1,000,000 under 1 s.
//!
//! Run: `cargo bench -p oomnitza-connect --bench console` after building
//! the component (`scripts/dev component`). Prints a markdown table; each
//! figure is the median of `CONSOLE_BENCH_RUNS` (default 9) requests after
//! one warm-up request.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use connector_fakes::{DropboxConfig, FakeDropbox, FakeOomnitza, OomnitzaConfig, Team};
use oomnitza_connect::config::Config;
use oomnitza_connect::integration::Integration;
use oomnitza_connect::sync::{self, SyncOptions};

const DROPBOX_TOKEN: &str = "sl.bench-console-dropbox";
const OOMNITZA_TOKEN: &str = "bench-console-oomnitza";

/// A target: at this many members, under this many milliseconds.
type Target = Option<(usize, u64)>;

/// The pages timed, with their targets where the issue sets one.
const PAGES: [(&str, &str, Target); 10] = [
    ("members list, first page", "/members", Some((100_000, 200))),
    (
        "members list, page 500 (offset 50,000)",
        "/members?page=500",
        Some((100_000, 200)),
    ),
    (
        "members list, status = suspended",
        "/members?status=suspended&page=0",
        Some((100_000, 200)),
    ),
    (
        "members list, search \"smith\"",
        "/members?q=smith&page=0",
        Some((100_000, 200)),
    ),
    ("dashboard", "/dashboard", Some((1_000_000, 1000))),
    ("overview (launch check)", "/", None),
    ("runs", "/runs", None),
    ("report (the whole HTML report)", "/report", None),
    ("members CSV export (all rows)", "/members.csv", None),
    ("mapping (with a 5-record preview)", "/mapping", None),
];

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct Setup {
    _dropbox: FakeDropbox,
    _oomnitza: FakeOomnitza,
    _dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
    sync_time: Duration,
    db_bytes: u64,
}

async fn synced_team(members: usize) -> Result<Setup> {
    let component = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip2/release/dropbox_connector.wasm");
    anyhow::ensure!(
        component.is_file(),
        "{} is missing: run `scripts/dev component` first",
        component.display()
    );
    let team = Team::generate(members, 7);
    let dropbox = FakeDropbox::start(DropboxConfig::new(team, DROPBOX_TOKEN))?;
    let oomnitza = FakeOomnitza::start(OomnitzaConfig::new(OOMNITZA_TOKEN))?;
    let dir = tempfile::tempdir()?;
    oomnitza_connect::credentials::write_secrets_file(
        &dir.path().join("secrets.toml"),
        &[
            ("dropbox_token", DROPBOX_TOKEN),
            ("oomnitza_token", OOMNITZA_TOKEN),
        ],
    )?;
    let config_path = dir.path().join("oomnitza-connect.toml");
    std::fs::write(
        &config_path,
        oomnitza_connect::example_config::example_config(
            &component,
            &dropbox.url(),
            &oomnitza.url(),
        ),
    )?;
    let config = Config::load(&config_path)?;
    let state_path = config.resolve(&config.state.path);
    let integration = Integration::prepare(config).await?;
    let t = Instant::now();
    let report = sync::run(&integration, &SyncOptions::default()).await?;
    let sync_time = t.elapsed();
    anyhow::ensure!(
        report.error.is_none(),
        "the sync failed: {:?}",
        report.error
    );
    let db_bytes = std::fs::metadata(&state_path).map(|m| m.len()).unwrap_or(0);
    Ok(Setup {
        _dropbox: dropbox,
        _oomnitza: oomnitza,
        _dir: dir,
        config_path,
        sync_time,
        db_bytes,
    })
}

async fn bench_size(members: usize, runs: usize, rows: &mut Vec<String>) -> Result<()> {
    eprintln!("console bench: syncing {members} members into a fresh state database");
    let setup = synced_team(members).await?;
    eprintln!(
        "console bench: synced in {:.1} s; state database {} MB",
        setup.sync_time.as_secs_f64(),
        setup.db_bytes / 1_000_000
    );
    let (url, server) = oomnitza_connect::console::start(
        setup.config_path.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let first = client.get(&url).send().await?;
    let cookie = first
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .context("no session cookie")?
        .to_str()?
        .split(';')
        .next()
        .context("cookie")?
        .to_owned();
    let base = url.split("/?").next().context("base URL")?.to_owned();
    for (name, path, target) in PAGES {
        let mut times = Vec::with_capacity(runs);
        let mut bytes = 0;
        for i in 0..=runs {
            let t = Instant::now();
            let resp = client
                .get(format!("{base}{path}"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            let took = t.elapsed();
            anyhow::ensure!(status.is_success(), "{path}: {status}");
            bytes = body.len();
            if i > 0 {
                times.push(took);
            }
        }
        let m = median(times);
        let verdict = match target {
            Some((n, limit)) if n == members => {
                if m <= Duration::from_millis(limit) {
                    format!("**met** (target < {limit} ms)")
                } else {
                    format!("**not met** (target < {limit} ms)")
                }
            }
            _ => "–".to_owned(),
        };
        eprintln!("  {name:<45} {:>9} ms  {bytes} bytes", ms(m));
        rows.push(format!(
            "| {name} | {} | {} | {} | {verdict} |",
            fmt_int(members as u64),
            ms(m),
            fmt_int(bytes as u64)
        ));
    }
    server.abort();
    Ok(())
}

fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> Result<()> {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let sizes: Vec<usize> = std::env::var("CONSOLE_BENCH_SIZES")
        .unwrap_or_else(|_| "100000 1000000".into())
        .split_whitespace()
        .map(|s| s.parse().context("CONSOLE_BENCH_SIZES: numbers"))
        .collect::<Result<_>>()?;
    let runs: usize = std::env::var("CONSOLE_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(9);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = vec![];
    for n in sizes {
        rt.block_on(bench_size(n, runs, &mut rows))?;
    }
    println!("| page | members | median (ms) | body (bytes) | result |");
    println!("|---|--:|--:|--:|---|");
    for r in rows {
        println!("{r}");
    }
    Ok(())
}
