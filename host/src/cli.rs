//! The command line: argument definitions and one function per verb.

use std::io::IsTerminal;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::integration::{Integration, launch_gaps, load_manifest};
use crate::sync::{self, SyncOptions};
use crate::term::{errln, errput, outln};

#[derive(Debug, Parser)]
#[command(
    name = "oomnitza-connect",
    version,
    about = "Sync a vendor's users into Oomnitza through a sandboxed WebAssembly connector",
    after_help = "Start with `oomnitza-connect describe --component <file.wasm>`, then `validate`. From a checkout, `scripts/dev demo` runs a full sync against bundled simulators."
)]
pub struct Args {
    /// The integration's config file.
    #[arg(
        short,
        long,
        global = true,
        env = "OOMNITZA_CONNECT_CONFIG",
        default_value = "oomnitza-connect.toml"
    )]
    pub config: PathBuf,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on stderr; no progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the component's manifest: fields, default mapping, hosts, actions.
    Describe {
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
        /// Describe this component instead of the config's.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Check the config is complete ("launched", not draft) without syncing.
    Validate,
    /// Fetch every member, map them, and upsert them into Oomnitza.
    Sync {
        /// Print the exact Oomnitza payloads (JSON lines) and send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Mark the run as a trial in Oomnitza; send at most 10 records.
        #[arg(long)]
        test_run: bool,
        /// Send every record, not only those changed since last sent.
        #[arg(long)]
        full: bool,
        /// Confirm, for this run only, a SaaS reconciliation that would
        /// deactivate more than `saas.max_deactivations`.
        #[arg(long)]
        allow_mass_deactivation: bool,
    },
    /// Run a real sync against a bundled fake Dropbox and fake Oomnitza.
    #[cfg(feature = "demo")]
    Demo(crate::demo::DemoArgs),
    /// Store or verify credentials without ever printing them.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// List or run the configured workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Run one connector action by hand, e.g. `action deactivate-user --user a@corp.com`.
    Action {
        /// The action, as `describe` lists it.
        name: String,
        /// A Dropbox member, by email; repeat for more.
        #[arg(long = "user", required = true)]
        users: Vec<String>,
        /// A parameter, `name=value`; repeat for more.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Print the plan (with the effective parameters) and stop.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before a destructive action.
        #[arg(long)]
        yes: bool,
        /// Act on up to N users this once (more than 25 need it).
        #[arg(long, value_name = "N")]
        allow_more: Option<u32>,
    },
    /// Show the audit log of actions, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        format: ListFormat,
        #[command(flatten)]
        filter: AuditFilterArgs,
    },
    /// Write a self-contained HTML report of the team, the runs and the
    /// actions taken (to mail to management), or the list views as CSV.
    Report(ReportArgs),
    /// A local web console: dashboards, list views, runs, mapping, actions.
    Console(crate::console::ConsoleArgs),
    /// Run the integration on its schedule until stopped (SIGINT/SIGTERM).
    Serve {
        /// Exit after this many runs (for scripts and tests).
        #[arg(long, hide = true)]
        max_runs: Option<u32>,
    },
    /// Show the next scheduled runs.
    Schedule {
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// Show the history of sync runs, newest first.
    Runs {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        format: ListFormat,
        /// Only runs with this status (succeeded, failed, stopped, running).
        #[arg(long)]
        status: Option<String>,
        /// Only runs started at or after this date (YYYY-MM-DD or RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only runs started on or before this date.
        #[arg(long)]
        until: Option<String>,
    },
}

/// How a list view is printed.
#[derive(Debug, clap::Args)]
pub struct ListFormat {
    /// Print JSON (an array of objects).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print CSV (a header line, then one row each).
    #[arg(long)]
    pub csv: bool,
}

#[derive(Debug, clap::Args)]
pub struct AuditFilterArgs {
    /// Only entries whose user contains this text.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action.
    #[arg(long)]
    pub action: Option<String>,
    /// Only this outcome (done, unchanged, failed).
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only this workflow.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only entries at or after this date (YYYY-MM-DD or RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Only entries on or before this date.
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The HTML file to write (default: oomnitza-connect-report.html beside the config).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Write the list views as CSV (members.csv, runs.csv, audit.csv) into this folder instead.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// List members suspended for more than this many days.
    #[arg(long, default_value_t = 30)]
    pub suspended_days: u32,
    /// How many of the latest runs to show.
    #[arg(long, default_value_t = 20)]
    pub runs: u32,
    /// CSV members: only this status (active, invited, suspended, removed).
    #[arg(long)]
    pub status: Option<String>,
    /// CSV members: only this membership type (full, limited).
    #[arg(long)]
    pub membership_type: Option<String>,
    /// CSV members: only holders of this admin role (`member`: none).
    #[arg(long)]
    pub role: Option<String>,
    /// CSV members: joined on or after this date (YYYY-MM-DD).
    #[arg(long)]
    pub joined_from: Option<String>,
    /// CSV members: joined on or before this date (YYYY-MM-DD).
    #[arg(long)]
    pub joined_to: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// List the workflows in the config.
    List,
    /// Plan a workflow, confirm destructive steps, and run it.
    Run {
        name: String,
        /// Print the plan (with the effective parameters) and stop.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask before destructive steps.
        #[arg(long)]
        yes: bool,
        /// Act on up to N users this once, past the workflow's max_users.
        #[arg(long, value_name = "N")]
        allow_more: Option<u32>,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected name=value, got {s:?}")),
    }
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store a secret in a secrets file (mode 0600). The value is read from
    /// standard input, without echo on a terminal.
    Set {
        /// The key, e.g. `dropbox_token` or `dropbox_refresh_token`.
        key: String,
        /// The secrets file (default: secrets.toml beside the config file).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Verify the configured credentials against Dropbox and Oomnitza.
    Check,
}

pub fn init_logging(args: &Args) {
    let level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "{level},wasmtime=warn,cranelift=warn,hyper=warn,reqwest=warn"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: a log file or a pipe gets text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

pub async fn run(args: Args) -> Result<ExitCode> {
    let progress = !args.quiet && std::io::stderr().is_terminal();
    match args.command {
        Command::Describe { json, component } => {
            let mut config = match Config::load(&args.config) {
                Ok(c) => c,
                Err(e) if component.is_some() => {
                    tracing::debug!("no usable config ({e:#}); describing the given component");
                    Config::parse(&crate::manifest_text::minimal_config())?
                }
                Err(e) => return Err(e),
            };
            if let Some(c) = component {
                config.component.path = std::path::absolute(c)?;
            }
            let (_, _, manifest) = load_manifest(&config).await?;
            if json {
                outln!("{}", crate::manifest_text::manifest_json(&manifest));
            } else {
                outln!(
                    "{}",
                    crate::manifest_text::render_manifest(&manifest).trim_end()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate => {
            let config = Config::load(&args.config)?;
            let name = config.integration.name.clone();
            let integration = Integration::prepare(config).await?;
            let gaps = launch_gaps(
                &integration.config,
                &integration.manifest,
                &integration.spec,
            );
            debug_assert!(gaps.is_empty());
            outln!(
                "integration `{name}` is complete: component {} (sha256 {}), {} mapping rules, sync key {:?}",
                integration.manifest.display_name,
                &integration.component.sha256[..12],
                integration.spec.rules.len(),
                integration.spec.sync_key
            );
            let report = &integration.policy_report;
            match &report.binding {
                Some(b) => outln!("{b}"),
                None => outln!("no credential is sent: no accepted host asks for one"),
            }
            for w in &report.warnings {
                outln!("warning: {w}");
            }
            let ok = validate_workflows(&integration).await?;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sync {
            dry_run,
            test_run,
            full,
            allow_mass_deactivation,
        } => {
            let config = Config::load(&args.config)?;
            let integration = Integration::prepare(config).await?;
            let stop = stop_on_signal();
            let report = sync::run(
                &integration,
                &SyncOptions {
                    dry_run,
                    test_run,
                    progress,
                    full,
                    allow_mass_deactivation,
                    stop: Some(stop),
                },
            )
            .await?;
            errln!("{}", report.render());
            Ok(if report.stopped {
                ExitCode::from(130)
            } else if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        #[cfg(feature = "demo")]
        Command::Demo(demo) => crate::demo::run(demo, progress).await,
        Command::Credentials(CredentialsCommand::Set { key, file }) => {
            let file = file.unwrap_or_else(|| {
                args.config
                    .parent()
                    .map_or_else(|| PathBuf::from("secrets.toml"), |d| d.join("secrets.toml"))
            });
            let value = read_secret(&key)?;
            crate::credentials::store_secret(&file, &key, &value)?;
            outln!("stored `{key}` in {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflow(WorkflowCommand::List) => {
            let config = Config::load(&args.config)?;
            if config.workflows.is_empty() {
                outln!(
                    "no workflows configured (add [[workflow]] tables; see the README's workflow guide)"
                );
            }
            for w in &config.workflows {
                outln!(
                    "{}{}",
                    w.name,
                    if w.description.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", w.description)
                    }
                );
                outln!("  on     {}", w.on.as_str());
                outln!("  when   {}", w.trigger_text());
                outln!(
                    "  runs   {}; at most {} users a run, {} at once",
                    w.when(&config.schedule.timezone),
                    w.max_users,
                    w.concurrency
                );
                for (i, s) in w.steps.iter().enumerate() {
                    let params: Vec<String> =
                        s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    outln!("  step {} {} {}", i + 1, s.action, params.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflow(WorkflowCommand::Run {
            name,
            dry_run,
            yes,
            allow_more,
        }) => {
            let config = Config::load(&args.config)?;
            let Some(workflow) = config.workflows.iter().find(|w| w.name == name).cloned() else {
                anyhow::bail!(
                    "no workflow named `{name}` in {} (configured: {})",
                    args.config.display(),
                    config
                        .workflows
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let integration = Integration::prepare(config).await?;
            let db = open_state(&integration.config)?;
            let client = oomnitza_client(&integration)?;
            let lock = crate::workflow::lock_name(&name);
            if !dry_run && let Err(pid) = db.acquire_lock(&lock)? {
                anyhow::bail!(
                    "workflow `{name}` is already running (process {pid}); it was not started twice"
                );
            }
            let result = async {
                let plan =
                    crate::workflow::plan_workflow(&integration, &workflow, &client, &db).await?;
                run_plan(
                    &integration,
                    &plan,
                    &db,
                    PlanRun {
                        dry_run,
                        yes,
                        allow_more,
                        lock: Some(lock.clone()),
                    },
                )
                .await
            }
            .await;
            if !dry_run {
                let _ = db.release_lock(&lock);
            }
            result
        }
        Command::Action {
            name,
            users,
            params,
            dry_run,
            yes,
            allow_more,
        } => {
            let config = Config::load(&args.config)?;
            let integration = Integration::prepare(config).await?;
            let db = open_state(&integration.config)?;
            let plan = crate::workflow::plan_action(&integration, &name, &users, &params).await?;
            run_plan(
                &integration,
                &plan,
                &db,
                PlanRun {
                    dry_run,
                    yes,
                    allow_more,
                    lock: None,
                },
            )
            .await
        }
        Command::Serve { max_runs } => {
            // Check the config up front: a bad one should fail now, not at 2 am.
            Config::load(&args.config)?;
            let stop = stop_on_signal();
            crate::schedule::serve(&args.config, stop, max_runs, progress).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule { count } => {
            let config = Config::load(&args.config)?;
            outln!(
                "{}",
                crate::schedule::describe(&config, std::time::SystemTime::now(), count)?.trim_end()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            limit,
            format,
            filter,
        } => {
            let config = Config::load(&args.config)?;
            let db = open_state(&config)?;
            let filter = crate::views::AuditFilter {
                user: filter.user,
                action: filter.action,
                outcome: filter.outcome,
                workflow: filter.workflow,
                since: filter.since,
                until: filter.until,
            };
            let entries = crate::views::audit(&db, &filter, limit)?;
            if format.json {
                print_data(&serde_json::to_string_pretty(&entries)?);
                return Ok(ExitCode::SUCCESS);
            }
            if format.csv {
                let mut buf = Vec::new();
                crate::views::csv::write_audit(&mut buf, &entries)?;
                print_data(&String::from_utf8_lossy(&buf));
                return Ok(ExitCode::SUCCESS);
            }
            if entries.is_empty() {
                outln!("the audit log of {} is empty", db.path().display());
            }
            for e in entries {
                outln!(
                    "{}  {:<20} {:<32} {:<16} {:<9} {}  params {}  vendor {}",
                    e.at,
                    e.workflow.as_deref().unwrap_or("(by hand)"),
                    e.user,
                    e.action,
                    e.outcome,
                    e.detail,
                    e.params,
                    if e.vendor_response.is_empty() {
                        "-"
                    } else {
                        &e.vendor_response
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Runs {
            limit,
            format,
            status,
            since,
            until,
        } => {
            let config = Config::load(&args.config)?;
            let db = open_state(&config)?;
            // A run whose process died shows as interrupted, not running.
            db.mark_dead_runs()?;
            let filter = crate::views::RunFilter {
                status,
                since,
                until,
            };
            let rows = crate::views::runs(&db, &filter, limit)?;
            if format.json {
                print_data(&serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            if format.csv {
                let mut buf = Vec::new();
                crate::views::csv::write_runs(&mut buf, &rows)?;
                print_data(&String::from_utf8_lossy(&buf));
                return Ok(ExitCode::SUCCESS);
            }
            let runs = rows;
            if runs.is_empty() {
                outln!("no runs recorded in {}", db.path().display());
            }
            for r in runs {
                outln!("{}", run_line(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(r) => report(&args.config, r),
        Command::Console(c) => crate::console::run(&args.config, c).await,
        Command::Credentials(CredentialsCommand::Check) => {
            let config = Config::load(&args.config)?;
            let integration = Integration::prepare(config).await?;
            let ok = crate::integration::check_credentials(&integration).await;
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// One line of `runs`: what kind of run it was (full, test, dry), how it
/// ended, its counts, and what Oomnitza did (or accepted without counts).
fn run_line(r: &crate::views::RunRow) -> String {
    let kind = r.kind;
    let sent = if r.dry {
        format!("would send {:<7}", r.sent)
    } else {
        format!("sent {:<7}", r.sent)
    };
    let oomnitza = if r.dry {
        String::new()
    } else if r.accepted > 0 && r.accepted == r.sent {
        format!("accepted {:<7} (no counts)  ", r.accepted)
    } else if r.accepted > 0 {
        format!(
            "created {:<7} updated {:<7} accepted {:<7} (no counts)  ",
            r.created, r.updated, r.accepted
        )
    } else {
        format!("created {:<7} updated {:<7} ", r.created, r.updated)
    };
    let saas = match (r.deactivated, r.reactivated) {
        (0, 0) => String::new(),
        (d, a) => format!("saas {d} deactivated {a} reactivated  "),
    };
    format!(
        "#{:<4} {}  {:<11} {:<8} fetched {:<7} mapped {:<7} failed {:<5} filtered {:<5} {sent} {oomnitza}{saas}{}{}",
        r.id,
        r.started_at,
        r.status,
        kind,
        r.fetched,
        r.mapped,
        r.failed,
        r.filtered,
        r.portion,
        r.error
            .as_ref()
            .map(|e| format!("  error: {e}"))
            .unwrap_or_default()
    )
}

/// Prints machine-readable output (JSON, CSV). JSON escapes control
/// characters itself; CSV keeps values as they are, so on a terminal it
/// goes through the same cleaning as every line, and into a pipe or file
/// unchanged (it is data there, not something a terminal interprets).
fn print_data(text: &str) {
    use std::io::Write;
    if std::io::stdout().is_terminal() {
        for line in text.lines() {
            outln!("{line}");
        }
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        if !text.ends_with('\n') {
            let _ = out.write_all(b"\n");
        }
    }
}

fn report(config_path: &std::path::Path, r: ReportArgs) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let db = open_state(&config)?;
    if let Some(dir) = r.csv {
        std::fs::create_dir_all(&dir)?;
        let filter = crate::views::MemberFilter {
            status: r.status,
            membership_type: r.membership_type,
            role: r.role,
            joined_from: r.joined_from,
            joined_to: r.joined_to,
            q: None,
        };
        let members = std::fs::File::create(dir.join("members.csv"))?;
        let n = crate::views::csv::write_members(std::io::BufWriter::new(members), &db, &filter)?;
        let runs = crate::views::runs(&db, &Default::default(), u32::MAX)?;
        crate::views::csv::write_runs(std::fs::File::create(dir.join("runs.csv"))?, &runs)?;
        let audit = crate::views::audit(&db, &Default::default(), u32::MAX)?;
        crate::views::csv::write_audit(std::fs::File::create(dir.join("audit.csv"))?, &audit)?;
        outln!(
            "wrote {n} members, {} runs and {} audit entries as CSV into {}",
            runs.len(),
            audit.len(),
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let out = r
        .out
        .unwrap_or_else(|| config.resolve(std::path::Path::new("oomnitza-connect-report.html")));
    let opts = crate::report::ReportOptions {
        suspended_days: r.suspended_days,
        runs: r.runs,
        ..Default::default()
    };
    let data = crate::report::ReportData::gather(&db, &config.integration.name, &opts)?;
    std::fs::write(&out, crate::report::render(&data))
        .map_err(|e| anyhow::anyhow!("cannot write the report to {}: {e}", out.display()))?;
    outln!("report written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// A flag raised by SIGINT or SIGTERM: the sync finishes the page in hand,
/// checkpoints and stops. A second signal exits at once (the state database
/// is consistent at every commit, so even that loses nothing).
fn stop_on_signal() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag = std::sync::Arc::new(AtomicBool::new(false));
    let raised = flag.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        // One stream for the whole run: a second Ctrl-C that comes quickly
        // is not lost between two listeners.
        #[cfg(unix)]
        let mut int = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        {
            Ok(s) => s,
            Err(_) => return,
        };
        for _ in 0..2 {
            #[cfg(unix)]
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            if raised.swap(true, Ordering::SeqCst) {
                errln!(
                    "second signal: exiting now; the next sync resumes from the last checkpoint"
                );
                std::process::exit(130);
            }
            errln!("stopping after the page in hand (send the signal again to exit at once)");
        }
    });
    flag
}

fn open_state(config: &Config) -> Result<crate::state::StateDb> {
    crate::state::StateDb::open(&config.resolve(&config.state.path))
}

fn oomnitza_client(integration: &Integration) -> Result<crate::oomnitza::OomnitzaClient> {
    let token = integration
        .oomnitza_token
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no Oomnitza token configured"))?;
    crate::oomnitza::OomnitzaClient::new(
        &integration.config.oomnitza.url,
        token,
        integration.config.limits.max_retries + 1,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// How a plan is run from the command line.
struct PlanRun {
    dry_run: bool,
    yes: bool,
    allow_more: Option<u32>,
    lock: Option<String>,
}

/// Prints a plan, stops for a dry run or at the cap, confirms, executes
/// (printing each result as it comes), summarizes.
async fn run_plan(
    integration: &Integration,
    plan: &crate::workflow::Plan,
    db: &crate::state::StateDb,
    how: PlanRun,
) -> Result<ExitCode> {
    outln!("{}", crate::workflow::render_plan(plan).trim_end());
    let over = plan.over_cap(how.allow_more);
    if how.dry_run {
        if let Some(why) = &over {
            outln!("a real run would stop here: {why}");
        }
        outln!("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = over {
        crate::workflow::execute::record_blocked(db, plan, &why)?;
        anyhow::bail!("{why}");
    }
    if !confirm(plan, how.yes)? {
        outln!("cancelled: nothing was changed");
        return Ok(ExitCode::FAILURE);
    }
    let opts = crate::workflow::ExecuteOptions { lock: how.lock };
    let done = crate::workflow::execute(integration, plan, db, &opts, &mut |r| {
        outln!("{}", crate::workflow::render_result(r));
    })
    .await?;
    outln!(
        "{} (audit log: {})",
        crate::workflow::render_summary(&plan.title, &done),
        db.path().display()
    );
    Ok(if done.failed == 0 && done.not_run == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Asks before steps that need confirmation (every action not listed in
/// `[actions] safe`); `--yes` answers for the operator.
fn confirm(plan: &crate::workflow::Plan, yes: bool) -> Result<bool> {
    use std::io::Write;
    let steps = plan.steps_to_confirm();
    if steps == 0 || yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{steps} step(s) need confirmation (actions not listed in [actions] safe): run on a terminal, or pass --yes"
        );
    }
    errput!("Run {steps} step(s) that need confirmation? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `validate`'s check of every workflow, statically (no Oomnitza, no
/// vendor call): prints each step's effective parameters or what is wrong;
/// whether all are fine.
async fn validate_workflows(integration: &Integration) -> Result<bool> {
    let workflows = &integration.config.workflows;
    if workflows.is_empty() {
        return Ok(true);
    }
    let mut checker = crate::workflow::plan::Checker::new(integration).await?;
    let mut ok = true;
    for w in workflows {
        match crate::workflow::plan::validate_workflow(integration, w, &mut checker).await {
            Ok(steps) => {
                outln!(
                    "workflow `{}` is valid: on {}, {}, at most {} users a run, {} at once",
                    w.name,
                    w.on.as_str(),
                    w.when(&integration.config.schedule.timezone),
                    w.max_users,
                    w.concurrency
                );
                for s in steps {
                    outln!("  {s}");
                }
            }
            Err(e) => {
                ok = false;
                outln!("workflow `{}` is INVALID: {e:#}", w.name);
            }
        }
    }
    Ok(ok)
}

/// Reads a secret from stdin: a prompt without echo on a terminal, else the
/// first line.
fn read_secret(key: &str) -> Result<zeroize::Zeroizing<String>> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("value for `{key}` (not echoed): "))?
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line
    };
    let value = zeroize::Zeroizing::new(value.trim().to_string());
    if value.is_empty() {
        anyhow::bail!("no value given for `{key}` on standard input");
    }
    Ok(value)
}
