//! `fake-servers`: the fake Dropbox and the fake Oomnitza as a standalone
//! process, for benchmarks and for poking at the fakes by hand.
//!
//! ```text
//! fake-servers [--members N] [--seed S] [--dropbox-token T] [--oomnitza-token T]
//!              [--page-delay-ms X] [--request-delay-ms Y] [--pregenerate WHICH]
//!              [--slack-scim] [--slack-token T]
//! ```
//!
//! Before it serves, it renders every Dropbox page of the listing the
//! benchmarks make (`--pregenerate removed`, the default: pages of 1000
//! members, removed ones included; `active`: removed ones left out; `both`;
//! `none`), so that serving a page costs next to nothing; any other page is
//! rendered on its first request and kept. This takes about 640 bytes of
//! memory a member for each way of paging (640 MB for 1,000,000 members).
//!
//! With `--slack-scim` it also serves a fake Slack SCIM API with the same
//! people (held in memory: meant for thousands, not millions).
//!
//! Once the servers listen it prints one JSON line on stdout,
//! `{"dropbox": "http://127.0.0.1:P", "oomnitza": "http://127.0.0.1:Q"}`
//! (and `"slack_scim"` with `--slack-scim`),
//! then serves until stdin closes, or SIGTERM / SIGINT. A line `stats` on
//! stdin prints the current counters as one JSON line; on exit it prints
//! them once more (the last line of stdout is always the final stats).
//!
//! Running the fakes in their own process keeps their memory (the fake
//! Oomnitza stores every record it receives) and CPU out of the host's
//! measurements.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use connector_fakes::dropbox::DEFAULT_MAX_LIMIT;
use connector_fakes::{
    DropboxConfig, FakeDropbox, FakeOomnitza, FakeSlackScim, OomnitzaConfig, SlackScimConfig, Team,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const USAGE: &str = "usage: fake-servers [--members N] [--seed S] [--dropbox-token T] \
[--oomnitza-token T] [--page-delay-ms X] [--request-delay-ms Y] [--pregenerate WHICH]
[--slack-scim] [--slack-token T]

Starts the fake Dropbox and the fake Oomnitza on 127.0.0.1, prints
{\"dropbox\": URL, \"oomnitza\": URL} on stdout, and serves until stdin closes
or SIGTERM/SIGINT. A line `stats` on stdin prints the counters as JSON; they
are printed again on exit.

--pregenerate renders Dropbox pages of 1000 members before serving:
`removed` (removed members included), `active` (left out), `both` or `none`.

--slack-scim also serves a fake Slack SCIM API (/scim/v2/Users) with the
same people, accepting --slack-token; its URL is printed as \"slack_scim\".

defaults: --members 2500 --seed 7 --dropbox-token sl.fake-dropbox-token
          --oomnitza-token fake-oomnitza-token --page-delay-ms 0 --request-delay-ms 0
          --pregenerate removed --slack-token xoxp-fake-slack-token";

/// Errors (with messages) listed in the stats, at most this many per portion.
const MAX_ERRORS_SHOWN: usize = 5;

#[derive(Debug)]
struct Args {
    members: usize,
    seed: u64,
    dropbox_token: String,
    oomnitza_token: String,
    page_delay: Duration,
    request_delay: Duration,
    /// The `include_removed` values whose pages are rendered up front.
    pregenerate: Vec<bool>,
    /// Also serve a fake Slack SCIM API, accepting this token.
    slack_scim: Option<String>,
}

impl Args {
    fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>> {
        let mut args = Args {
            members: 2500,
            seed: 7,
            dropbox_token: "sl.fake-dropbox-token".to_string(),
            oomnitza_token: "fake-oomnitza-token".to_string(),
            page_delay: Duration::ZERO,
            request_delay: Duration::ZERO,
            pregenerate: vec![true],
            slack_scim: None,
        };
        let mut slack_token = "xoxp-fake-slack-token".to_string();
        let mut slack = false;
        while let Some(flag) = argv.next() {
            // Both `--flag value` and `--flag=value`.
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
                _ => (flag.clone(), None),
            };
            if name == "-h" || name == "--help" {
                return Ok(None);
            }
            let mut value = || -> Result<String> {
                match inline.clone() {
                    Some(v) => Ok(v),
                    None => argv.next().with_context(|| format!("{name} needs a value")),
                }
            };
            match name.as_str() {
                "--members" => args.members = number(&name, &value()?)?,
                "--seed" => args.seed = number(&name, &value()?)?,
                "--dropbox-token" => args.dropbox_token = token(&name, value()?)?,
                "--oomnitza-token" => args.oomnitza_token = token(&name, value()?)?,
                "--page-delay-ms" => {
                    args.page_delay = Duration::from_millis(number(&name, &value()?)?);
                }
                "--request-delay-ms" => {
                    args.request_delay = Duration::from_millis(number(&name, &value()?)?);
                }
                "--pregenerate" => {
                    args.pregenerate = match value()?.as_str() {
                        "removed" => vec![true],
                        "active" => vec![false],
                        "both" => vec![true, false],
                        "none" => vec![],
                        other => bail!(
                            "--pregenerate: {other:?} is not one of removed, active, both, none"
                        ),
                    };
                }
                "--slack-scim" => slack = true,
                "--slack-token" => slack_token = token(&name, value()?)?,
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        args.slack_scim = slack.then_some(slack_token);
        Ok(Some(args))
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .parse()
        .map_err(|e| anyhow::anyhow!("{name}: {value:?} is not a valid number: {e}"))
}

fn token(name: &str, value: String) -> Result<String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("{name}: a token must be non-empty, without spaces or control characters");
    }
    Ok(value)
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("fake-servers: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-servers: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let mut dropbox_config =
        DropboxConfig::new(Team::generate(args.members, args.seed), args.dropbox_token);
    dropbox_config.page_delay = args.page_delay;
    // Nothing here reads the recorded requests.
    dropbox_config.record_requests = 0;
    let mut oomnitza_config = OomnitzaConfig::new(args.oomnitza_token);
    oomnitza_config.request_delay = args.request_delay;

    // Each fake serves from its own thread and runtime; this process's
    // runtime only watches stdin and signals.
    let dropbox = FakeDropbox::start(dropbox_config).context("starting the fake Dropbox")?;
    for include_removed in args.pregenerate {
        dropbox.pregenerate(DEFAULT_MAX_LIMIT, include_removed);
    }
    let oomnitza = FakeOomnitza::start(oomnitza_config).context("starting the fake Oomnitza")?;
    let slack = match &args.slack_scim {
        Some(token) => Some(
            FakeSlackScim::start(SlackScimConfig::from_team(
                &Team::generate(args.members, args.seed),
                token.clone(),
            ))
            .context("starting the fake Slack SCIM API")?,
        ),
        None => None,
    };
    let mut urls = json!({"dropbox": dropbox.url(), "oomnitza": oomnitza.url()});
    if let (Some(slack), Some(map)) = (&slack, urls.as_object_mut()) {
        map.insert("slack_scim".to_string(), json!(slack.url()));
    }
    emit(&urls)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    runtime.block_on(control(&dropbox, &oomnitza))?;
    emit(&stats(&dropbox, &oomnitza))?;
    Ok(())
}

/// Serves until stdin closes or a signal; answers `stats` lines.
async fn control(dropbox: &FakeDropbox, oomnitza: &FakeOomnitza) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    // stdin is read on a plain thread (blocking reads; no extra tokio
    // feature needed); the channel closes when stdin does.
    let (tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::Builder::new()
        .name("stdin".to_string())
        .spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
        .context("spawning the stdin reader")?;
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => match line.trim() {
                    "stats" => emit(&stats(dropbox, oomnitza))?,
                    "" => {}
                    other => eprintln!("fake-servers: unknown command {other:?} (known: stats)"),
                },
                None => return Ok(()),
            },
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
        }
    }
}

/// The counters of both fakes, one JSON object.
fn stats(dropbox: &FakeDropbox, oomnitza: &FakeOomnitza) -> Value {
    let d = dropbox.stats();
    let portions: Vec<Value> = oomnitza
        .portions()
        .into_iter()
        .map(|p| {
            json!({
                "id": p.id,
                "connector_name": p.connector_name,
                "batches": p.batches,
                "records": p.records,
                "created": p.created,
                "updated": p.updated,
                "unchanged": p.unchanged,
                "skipped": p.skipped,
                "failed": p.failed,
                "finalized": p.finalized,
                "test_run": p.test_run,
                "error_count": p.errors.len(),
                "errors": p.errors.iter().take(MAX_ERRORS_SHOWN).collect::<Vec<_>>(),
            })
        })
        .collect();
    let by_status: serde_json::Map<String, Value> = d
        .by_status
        .iter()
        .map(|(status, n)| (status.to_string(), json!(n)))
        .collect();
    json!({
        "stats": true,
        "dropbox": {
            "requests": d.requests,
            "pages_served": d.pages_served,
            "members_served": d.members_served,
            "faults_applied": d.faults_applied,
            "by_status": by_status,
        },
        "oomnitza": {
            "requests": oomnitza.request_count(),
            "user_count": oomnitza.user_count(),
            "portions": portions,
        },
    })
}

/// One JSON line on stdout, flushed (the reader is usually a pipe).
fn emit(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}").context("writing to stdout")?;
    out.flush().context("flushing stdout")?;
    Ok(())
}
