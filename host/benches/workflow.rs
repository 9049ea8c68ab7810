//! What a workflow's concurrency buys: 1,000 suspensions through the real
//! binary and the real component, against the fake Dropbox answering each
//! member action after 50 ms (and the fake Oomnitza holding the 1,000
//! leavers), at concurrency 1, 4 (the default) and 16, and at 4 under a
//! Dropbox write limit of 40 writes a second.
//!
//! Each run: fresh fakes, a fresh state database, `workflow run
//! suspend-leavers --yes` timed end to end (plan: read the users, check
//! the parameters; execute: the calls, the audit log), then a check that
//! the fake suspended every leaver exactly once.
//!
//! Run: `cargo bench -p oomnitza-connect --bench workflow` after building
//! the component (`scripts/dev component`). Knobs: `BENCH_WORKFLOW_USERS`
//! (1000), `BENCH_DELAY_MS` (50). With `--rows`, markdown rows for
//! `bench/run`'s table.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use connector_fakes::{
    DropboxConfig, FakeDropbox, FakeOomnitza, MemberStatus, OomnitzaConfig, Team,
};
use serde_json::json;

const DROPBOX_TOKEN: &str = "sl.bench-workflow";
const OOMNITZA_TOKEN: &str = "bench-workflow";

/// One measured configuration.
struct Case {
    concurrency: u32,
    /// Dropbox's writes per second, if limited.
    write_limit: Option<u32>,
}

/// What one run took.
struct Figures {
    wall: Duration,
    /// User + system CPU of the host process, and its peak RSS (MB), when
    /// GNU time is there to say.
    cpu: Option<f64>,
    rss_mb: Option<u64>,
    /// Writes the fake refused (429) and the host retried.
    limited: u64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let rows = std::env::args().any(|a| a == "--rows");
    let users = env_or("BENCH_WORKFLOW_USERS", 1000) as usize;
    let delay = Duration::from_millis(env_or("BENCH_DELAY_MS", 50));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = root.join("target/wasm32-wasip2/release/dropbox_connector.wasm");
    if !component.is_file() {
        bail!(
            "{} is missing: run `scripts/dev component` first",
            component.display()
        );
    }
    let cases = [
        Case {
            concurrency: 1,
            write_limit: None,
        },
        Case {
            concurrency: 4,
            write_limit: None,
        },
        Case {
            concurrency: 16,
            write_limit: None,
        },
        Case {
            concurrency: 4,
            write_limit: Some(40),
        },
    ];
    let mut results = Vec::new();
    for case in &cases {
        let f = run(&root, &component, users, delay, case)?;
        if !rows {
            println!(
                "{users} suspensions, {} ms a request, concurrency {:>2}{}: {:.2} s ({:.0} users/s){}",
                delay.as_millis(),
                case.concurrency,
                case.write_limit
                    .map(|l| format!(", write limit {l}/s"))
                    .unwrap_or_default(),
                f.wall.as_secs_f64(),
                users as f64 / f.wall.as_secs_f64(),
                if f.limited > 0 {
                    format!(", {} writes refused (429) and retried", f.limited)
                } else {
                    String::new()
                }
            );
        }
        results.push(f);
    }
    if rows {
        for (case, f) in cases.iter().zip(&results) {
            print_row(users, delay, case, f);
        }
    }
    Ok(())
}

/// One `workflow run` against fresh fakes.
fn run(
    root: &Path,
    component: &Path,
    users: usize,
    delay: Duration,
    case: &Case,
) -> Result<Figures> {
    // Enough members that `users` of them are active and hold no admin role.
    let team = Team::generate(users * 3 / 2 + 100, 7);
    let leavers: Vec<String> = team
        .members()
        .filter(|m| matches!(m.status, MemberStatus::Active) && m.roles.is_empty())
        .map(|m| m.email)
        .take(users)
        .collect();
    if leavers.len() < users {
        bail!(
            "the generated team has only {} plain active members",
            leavers.len()
        );
    }
    let mut cfg = DropboxConfig::new(team, DROPBOX_TOKEN);
    cfg.action_delay = delay;
    cfg.record_requests = 0;
    let dropbox = FakeDropbox::start(cfg)?;
    dropbox.set_write_limit(case.write_limit);
    let oomnitza = FakeOomnitza::start(OomnitzaConfig::new(OOMNITZA_TOKEN))?;
    for email in &leavers {
        oomnitza.insert_user(json!({
            "USER": email, "EMAIL": email, "PERMISSIONS_ID": 25, "offboarding_date": "2020-01-01",
        }));
    }
    let dir = tempfile::tempdir()?;
    oomnitza_connect::credentials::write_secrets_file(
        &dir.path().join("secrets.toml"),
        &[
            ("dropbox_token", DROPBOX_TOKEN),
            ("oomnitza_token", OOMNITZA_TOKEN),
        ],
    )?;
    let config = dir.path().join("oomnitza-connect.toml");
    std::fs::write(
        &config,
        format!(
            r#"[integration]
name = "Dropbox Users"

[component]
path = {component:?}
cache_dir = {cache:?}

[dropbox]
url = "{dropbox}"
token = {{ file = "secrets.toml", key = "dropbox_token" }}

[oomnitza]
url = "{oomnitza}"
token = {{ file = "secrets.toml", key = "oomnitza_token" }}

[sandbox]
allow = ["https://api.dropboxapi.com"]
allow_loopback = true

[[workflow]]
name = "suspend-leavers"
trigger = [{{ field = "offboarding_date", op = "le", value = "today" }}]
max_users = {users}
concurrency = {concurrency}
[[workflow.steps]]
action = "deactivate-user"
"#,
            component = component.display().to_string(),
            cache = root
                .join("target/bench-component-cache")
                .display()
                .to_string(),
            dropbox = dropbox.url(),
            oomnitza = oomnitza.url(),
            concurrency = case.concurrency,
        ),
    )?;
    let bin = env!("CARGO_BIN_EXE_oomnitza-connect");
    let args = [
        "--config",
        config.to_str().context("config path")?,
        "-q",
        "workflow",
        "run",
        "suspend-leavers",
        "--yes",
    ];
    // Compile the component into the cache outside the measurement.
    let warm = Command::new(bin)
        .args([
            "--config",
            config.to_str().context("config path")?,
            "-q",
            "describe",
        ])
        .output()?;
    if !warm.status.success() {
        bail!("describe failed: {}", String::from_utf8_lossy(&warm.stderr));
    }
    let timing = dir.path().join("time.txt");
    let gnu_time = Path::new("/usr/bin/time").is_file();
    let mut cmd = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%U %S %M").arg("-o").arg(&timing).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let started = Instant::now();
    let out = cmd.args(args).env_remove("RUST_LOG").output()?;
    let wall = started.elapsed();
    if !out.status.success() {
        bail!(
            "workflow run failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let suspended = dropbox
        .action_log()
        .iter()
        .filter(|a| a.route == "team/members/suspend" && a.outcome == "success")
        .count();
    if suspended != users {
        bail!("{suspended} suspensions for {users} leavers");
    }
    let (cpu, rss_mb) = match std::fs::read_to_string(&timing) {
        Ok(t) => {
            let parts: Vec<f64> = t
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            match parts.as_slice() {
                [u, s, kb] => (Some(u + s), Some((*kb / 1024.0).round() as u64)),
                _ => (None, None),
            }
        }
        Err(_) => (None, None),
    };
    Ok(Figures {
        wall,
        cpu,
        rss_mb,
        limited: dropbox.write_limited(),
    })
}

/// A row of `bench/run`'s table: benchmark | members | pages | wall (s) |
/// members/s | CPU (s) | peak RSS (MB) | fakes CPU (s) | fakes RSS | result.
fn print_row(users: usize, delay: Duration, case: &Case, f: &Figures) {
    let ideal = delay.as_secs_f64() * users as f64 / f64::from(case.concurrency);
    let wall = f.wall.as_secs_f64();
    let n = fmt_int(users);
    let name = match case.write_limit {
        None => format!(
            "workflow: {n} suspensions ({} ms a request), concurrency {}",
            delay.as_millis(),
            case.concurrency
        ),
        Some(l) => format!(
            "workflow: {n} suspensions ({} ms a request), concurrency {}, Dropbox write limit {l}/s",
            delay.as_millis(),
            case.concurrency
        ),
    };
    let result = match case.write_limit {
        None => format!(
            "all {n} suspended once; wall ÷ ({n} × {} ms ÷ {}) = **{:.2}**",
            delay.as_millis(),
            case.concurrency,
            wall / ideal
        ),
        Some(l) => format!(
            "all {n} suspended once; {} writes refused (429) and retried; floor {n} ÷ {l}/s = {:.1} s",
            f.limited,
            users as f64 / f64::from(l)
        ),
    };
    println!(
        "| {name} | {} | – | {wall:.2} | {:.0} | {} | {} | – | – | {result} |",
        fmt_int(users),
        users as f64 / wall,
        f.cpu.map_or("–".into(), |c| format!("{c:.2}")),
        f.rss_mb.map_or("–".into(), |r| r.to_string()),
    );
}

fn fmt_int(n: usize) -> String {
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
