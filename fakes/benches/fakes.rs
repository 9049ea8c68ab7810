//! The fakes alone, without the host: what one Dropbox page and one Oomnitza
//! bulk batch cost the fake servers.
//!
//! ```text
//! cargo bench -p connector-fakes --bench fakes
//! FAKES_BENCH_MEMBERS=1000000 cargo bench -p connector-fakes --bench fakes
//! ```
//!
//! This process starts both fakes in-process (each serves from a thread of
//! its own), then runs the HTTP client in a child process (this same binary,
//! re-executed with `FAKES_BENCH_CLIENT` set) so that the client's CPU is not
//! counted as the servers'. The client lists every page of the team (limit
//! 1000, `include_removed`, as the host and `bench/run` do) with a keep-alive
//! connection, then posts bulk batches of 100 records shaped like the host's
//! (smart mapping, "user only" mode) one after the other, and finalizes.
//!
//! Server CPU is this process's CPU time (user + system, the sum of
//! `/proc/self/task/*/schedstat`) over a phase; its main thread only waits
//! on the client meanwhile, so it is the fakes' own. The client reports its
//! own wall time and CPU for the phase. A trivial request (`GET
//! /api/v2/mappings`) gives the per-request floor (HTTP, runtime, syscalls).
//! On a shared 2-core VM the figures vary by a third from run to run: run
//! it a few times.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use connector_fakes::{DropboxConfig, FakeDropbox, FakeOomnitza, OomnitzaConfig, Team};
use serde_json::{Value, json};

const DROPBOX_TOKEN: &str = "sl.bench-token";
const OOMNITZA_TOKEN: &str = "bench-token";
const SEED: u64 = 7;
const PAGE: u32 = 1000;
const BATCH: usize = 100;
const CLIENT_ENV: &str = "FAKES_BENCH_CLIENT";

fn main() -> Result<()> {
    if std::env::var_os(CLIENT_ENV).is_some() {
        return client::run();
    }
    let members: usize = match std::env::var("FAKES_BENCH_MEMBERS") {
        Ok(n) => n.parse().context("FAKES_BENCH_MEMBERS")?,
        Err(_) => 100_000,
    };
    let rounds: usize = match std::env::var("FAKES_BENCH_ROUNDS") {
        Ok(n) => n.parse().context("FAKES_BENCH_ROUNDS")?,
        Err(_) => 3,
    };
    server_side(members, rounds.max(2))
}

/// One measured phase.
struct Row {
    name: String,
    requests: u64,
    /// Per what the "per request" columns are given (page, batch, ...).
    unit: &'static str,
    client_wall: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
}

fn server_side(members: usize, rounds: usize) -> Result<()> {
    let mut rows = Vec::new();
    let team = Team::generate(members, SEED);
    let mut config = DropboxConfig::new(team, DROPBOX_TOKEN);
    config.record_requests = 0;
    let dropbox = FakeDropbox::start(config)?;
    let oomnitza = FakeOomnitza::start(OomnitzaConfig::new(OOMNITZA_TOKEN))?;
    let mut client = Client::spawn(&dropbox.url(), &oomnitza.url(), members)?;

    // What `fake-servers` does before it serves (not part of its CPU as
    // `bench/run` measures it). Its threads end before the figure is read,
    // so it is counted from /proc/self/stat, which keeps what ended threads
    // used (10 ms ticks).
    let cpu0 = cpu_ticks();
    let t = Instant::now();
    let pages = dropbox.pregenerate(PAGE, true);
    let wall = t.elapsed();
    let cpu = cpu_ticks().saturating_sub(cpu0);
    let (_, bytes) = dropbox.cached_pages();
    let pregenerated = format!(
        "Pre-rendering the {pages} pages ({:.1} MB) took {:.3} s wall, {:.3} s CPU.",
        bytes as f64 / 1e6,
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );

    // Pages: the first round, then the later ones together.
    let before = dropbox.stats();
    rows.push(client.phase("dropbox: list every page, first listing", "page", "list 1")?);
    let more = rounds - 1;
    rows.push(client.phase(
        &format!(
            "dropbox: list every page again ({more} listing{})",
            if more == 1 { "" } else { "s" }
        ),
        "page",
        &format!("list {more}"),
    )?);
    let after = dropbox.stats();
    let expected_members = (members * rounds) as u64;
    let served = after.members_served - before.members_served;
    if served != expected_members {
        bail!("the fake Dropbox served {served} members, expected {expected_members}");
    }

    // The floor: a request that does next to nothing.
    rows.push(client.phase(
        "oomnitza: GET /api/v2/mappings (the per-request floor)",
        "request",
        "floor 1000",
    )?);

    // Bulk: a first sync (every record new), then the same records again.
    for (k, what) in [(1u64, "new records"), (2, "the same records again")] {
        let portion = format!("00000000-0000-4000-8000-{k:012x}");
        client.command(&format!("prepare {portion}"))?;
        rows.push(client.phase(
            &format!("oomnitza: bulk batches of {BATCH}, {what}"),
            "batch",
            "bulk",
        )?);
        rows.push(client.phase(
            "oomnitza: finalize",
            "request",
            &format!("finalize {portion}"),
        )?);
    }
    let portions = oomnitza.portions();
    let expect = [(members, 0, 0), (0, 0, members)];
    for (p, (created, updated, unchanged)) in portions.iter().zip(expect) {
        if (p.created, p.updated, p.unchanged, p.failed) != (created, updated, unchanged, 0)
            || !p.finalized
        {
            bail!("unexpected portion log: {p:?}");
        }
    }
    if oomnitza.user_count() != members {
        bail!("the fake Oomnitza holds {} users", oomnitza.user_count());
    }
    client.finish()?;

    print_table(members, &rows, &pregenerated);
    Ok(())
}

fn print_table(members: usize, rows: &[Row], pregenerated: &str) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!();
    println!(
        "Fakes alone, team of {members} members, pages of {PAGE} (include_removed), \
         bulk batches of {BATCH} records; client in its own process, one request at a time \
         on a keep-alive connection."
    );
    println!("{pregenerated}");
    println!();
    println!(
        "| phase | requests | wall (s) | wall per request (ms) | server CPU per request (ms) \
         | client CPU per request (ms) |"
    );
    println!("|---|--:|--:|--:|--:|--:|");
    for r in rows {
        let n = r.requests.max(1) as f64;
        println!(
            "| {} | {} {}{} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.name,
            r.requests,
            r.unit,
            if r.requests == 1 {
                ""
            } else if r.unit == "batch" {
                "es"
            } else {
                "s"
            },
            r.client_wall.as_secs_f64(),
            ms(r.client_wall) / n,
            ms(r.server_cpu) / n,
            ms(r.client_cpu) / n,
        );
    }
    // Per 1,000 members: one page and ten batches.
    let per = |name: &str| {
        rows.iter()
            .find(|r| r.name.starts_with(name))
            .map_or(0.0, |r| ms(r.server_cpu) / r.requests.max(1) as f64)
    };
    let page_cold = per("dropbox: list every page, first");
    let page_warm = per("dropbox: list every page again");
    let batch_new = per("oomnitza: bulk batches of 100, new");
    let batch_same = per("oomnitza: bulk batches of 100, the same");
    println!();
    println!(
        "Server CPU per 1,000 members synced (one page + {} batches): {:.3} ms (first listing, \
         new records), {:.3} ms (later listings, unchanged records).",
        1000 / BATCH,
        page_cold + batch_new * (1000 / BATCH) as f64,
        page_warm + batch_same * (1000 / BATCH) as f64,
    );
    println!(
        "Server CPU is this process's CPU time (user + system, all threads) over each phase; \
         its main thread only waits for the client meanwhile."
    );
}

/// The client child process and its command pipe.
struct Client {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Client {
    fn spawn(dropbox: &str, oomnitza: &str, members: usize) -> Result<Client> {
        let exe = std::env::current_exe().context("locating this benchmark")?;
        let mut child = Command::new(exe)
            .env(CLIENT_ENV, "1")
            .env("FAKES_BENCH_DROPBOX", dropbox)
            .env("FAKES_BENCH_OOMNITZA", oomnitza)
            .env("FAKES_BENCH_MEMBERS", members.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the client process")?;
        let stdin = child.stdin.take().context("client stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("client stdout")?);
        let mut client = Client {
            child,
            stdin,
            stdout,
        };
        let hello = client.read_line()?;
        if hello != "ready" {
            bail!("the client said {hello:?}");
        }
        Ok(client)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the client process ended");
        }
        Ok(line.trim().to_string())
    }

    /// Sends one command; the answer line.
    fn command(&mut self, command: &str) -> Result<String> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let answer = self.read_line()?;
        if let Some(error) = answer.strip_prefix("error ") {
            bail!("client: {command}: {error}");
        }
        Ok(answer)
    }

    /// Runs one measured command: `requests wall_ns cpu_ns` comes back.
    fn phase(&mut self, name: &str, unit: &'static str, command: &str) -> Result<Row> {
        let cpu0 = cpu_time();
        let answer = self.command(command)?;
        let server_cpu = cpu_time().saturating_sub(cpu0);
        let numbers: Vec<u64> = answer
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("client answer {answer:?}"))?;
        let [requests, wall, cpu] = numbers[..] else {
            bail!("client answer {answer:?}");
        };
        Ok(Row {
            name: name.to_string(),
            requests,
            unit,
            client_wall: Duration::from_nanos(wall),
            server_cpu,
            client_cpu: Duration::from_nanos(cpu),
        })
    }

    fn finish(mut self) -> Result<()> {
        drop(self.stdin);
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the client process failed: {status}");
        }
        Ok(())
    }
}

/// CPU time of this whole process so far (every live thread, user +
/// system), from `/proc/self/task/*/schedstat`; [`cpu_ticks`] where
/// schedstat is missing.
fn cpu_time() -> Duration {
    let mut total = 0u64;
    let mut found = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
            {
                total += ns;
                found = true;
            }
        }
    }
    if found {
        return Duration::from_nanos(total);
    }
    cpu_ticks()
}

/// CPU time of this process so far, ended threads included, from
/// `/proc/self/stat` (utime + stime, in 10 ms ticks).
fn cpu_ticks() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// The client process: reads commands on stdin, answers one line each.
mod client {
    use super::*;

    struct State {
        http: reqwest::Client,
        dropbox: String,
        oomnitza: String,
        team: Team,
        bodies: Vec<bytes::Bytes>,
    }

    pub(super) fn run() -> Result<()> {
        let env = |k: &str| std::env::var(k).with_context(|| format!("{k} is not set"));
        let members: usize = env("FAKES_BENCH_MEMBERS")?.parse()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let mut state = State {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(4)
                .build()?,
            dropbox: env("FAKES_BENCH_DROPBOX")?,
            oomnitza: env("FAKES_BENCH_OOMNITZA")?,
            team: Team::generate(members, SEED),
            bodies: Vec::new(),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            let words: Vec<&str> = line.split_whitespace().collect();
            let answer = runtime.block_on(state.command(&words));
            match answer {
                Ok(answer) => writeln!(out, "{answer}")?,
                Err(e) => writeln!(out, "error {e:#}")?,
            }
            out.flush()?;
        }
        Ok(())
    }

    impl State {
        async fn command(&mut self, words: &[&str]) -> Result<String> {
            match words {
                ["list", rounds] => {
                    let rounds: usize = rounds.parse()?;
                    self.measured(|s| s.list(rounds)).await
                }
                ["prepare", portion] => {
                    self.bodies = bulk_bodies(&self.team, portion);
                    Ok("prepared".to_string())
                }
                ["bulk"] => self.measured(State::bulk).await,
                ["floor", n] => {
                    let n: u64 = n.parse()?;
                    self.measured(|s| s.floor(n)).await
                }
                ["finalize", portion] => {
                    let portion = portion.to_string();
                    self.measured(|s| s.finalize(portion)).await
                }
                _ => bail!("unknown command {words:?}"),
            }
        }

        /// Runs `f` (which returns its request count) and answers
        /// `requests wall_ns cpu_ns`.
        async fn measured<'a, F, Fut>(&'a mut self, f: F) -> Result<String>
        where
            F: FnOnce(&'a mut State) -> Fut,
            Fut: std::future::Future<Output = Result<u64>> + 'a,
        {
            let cpu0 = cpu_time();
            let t = Instant::now();
            let requests = f(self).await?;
            let wall = t.elapsed();
            let cpu = cpu_time().saturating_sub(cpu0);
            Ok(format!("{requests} {} {}", wall.as_nanos(), cpu.as_nanos()))
        }

        async fn list(&mut self, rounds: usize) -> Result<u64> {
            let mut requests = 0;
            for _ in 0..rounds {
                let mut body = json!({"limit": PAGE, "include_removed": true}).to_string();
                let mut path = "/2/team/members/list_v2";
                loop {
                    let page = self
                        .http
                        .post(format!("{}{path}", self.dropbox))
                        .header("Authorization", format!("Bearer {DROPBOX_TOKEN}"))
                        .header("Content-Type", "application/json")
                        .body(body)
                        .send()
                        .await?;
                    if !page.status().is_success() {
                        bail!("{path}: {}", page.status());
                    }
                    let page = page.bytes().await?;
                    requests += 1;
                    let (cursor, has_more) = tail(&page)?;
                    if !has_more {
                        break;
                    }
                    body = json!({ "cursor": cursor }).to_string();
                    path = "/2/team/members/list/continue_v2";
                }
            }
            Ok(requests)
        }

        async fn bulk(&mut self) -> Result<u64> {
            let url = format!("{}/api/v3/bulk", self.oomnitza);
            let bodies = std::mem::take(&mut self.bodies);
            for body in &bodies {
                let answer = self
                    .http
                    .post(&url)
                    .header("Authorization2", OOMNITZA_TOKEN)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                let status = answer.status();
                let text = answer.bytes().await?;
                if !status.is_success() {
                    bail!("bulk: {status}: {}", String::from_utf8_lossy(&text));
                }
            }
            Ok(bodies.len() as u64)
        }

        async fn floor(&mut self, n: u64) -> Result<u64> {
            let url = format!("{}/api/v2/mappings", self.oomnitza);
            for _ in 0..n {
                let answer = self
                    .http
                    .get(&url)
                    .header("Authorization2", OOMNITZA_TOKEN)
                    .send()
                    .await?;
                let status = answer.status();
                let _ = answer.bytes().await?;
                if !status.is_success() {
                    bail!("mappings: {status}");
                }
            }
            Ok(n)
        }

        async fn finalize(&mut self, portion: String) -> Result<u64> {
            let answer = self
                .http
                .post(format!("{}/api/v3/bulk/{portion}/finalize", self.oomnitza))
                .header("Authorization2", OOMNITZA_TOKEN)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await?;
            let status = answer.status();
            let text = answer.bytes().await?;
            if !status.is_success() {
                bail!("finalize: {status}: {}", String::from_utf8_lossy(&text));
            }
            Ok(1)
        }
    }

    /// The `cursor` and `has_more` of a page, found from its end (a page
    /// ends `],"cursor":"...","has_more":true}`), without parsing it all.
    fn tail(page: &[u8]) -> Result<(String, bool)> {
        let text = std::str::from_utf8(page)?;
        let at = text
            .rfind("\"cursor\":\"")
            .context("no cursor in the page")?;
        let rest = &text[at + 10..];
        let end = rest.find('"').context("unterminated cursor")?;
        let has_more = rest[end..].contains("\"has_more\":true");
        Ok((rest[..end].to_string(), has_more))
    }

    /// `host/src/oomnitza/wire.rs`'s `BulkRequest`, fields in its order.
    #[derive(serde::Serialize)]
    struct BulkRequest<'a> {
        connector_version: &'a str,
        connector_name: &'a str,
        portion: &'a str,
        data_type: &'a str,
        sync_field: &'a [String],
        insert_only: bool,
        update_only: bool,
        test_run: bool,
        records: &'a [Value],
        error: Option<&'a str>,
    }

    /// The host's bulk bodies for the whole team (`BatchContext::body` in
    /// `host/src/sync.rs`) with the smart mapping's records (user-only
    /// mode; each a sorted JSON object, as the host's `Map`), `BATCH`
    /// records each.
    fn bulk_bodies(team: &Team, portion: &str) -> Vec<bytes::Bytes> {
        let records: Vec<Value> = team
            .members()
            .map(|m| {
                let email = m.email.to_lowercase();
                json!({
                    "USER": email,
                    "EMAIL": email,
                    "FIRST_NAME": m.name.given_name,
                    "LAST_NAME": m.name.surname,
                    "PERMISSIONS_ID": 25,
                    "dropbox_user_id": m.team_member_id,
                })
            })
            .collect();
        let sync_field = ["EMAIL".to_string()];
        records
            .chunks(BATCH)
            .map(|chunk| {
                let body = BulkRequest {
                    connector_version: "0.1.0",
                    connector_name: "Dropbox Users",
                    portion,
                    data_type: "users",
                    sync_field: &sync_field,
                    insert_only: false,
                    update_only: false,
                    test_run: false,
                    records: chunk,
                    error: None,
                };
                serde_json::to_vec(&body).unwrap_or_default().into()
            })
            .collect()
    }
}
