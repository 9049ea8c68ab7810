//! The command line: argument definitions and one function per verb.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::integration::{Integration, launch_gaps, load_manifest};
use crate::sync::{self, SyncOptions};

#[derive(Debug, Parser)]
#[command(
    name = "oomnitza-connect",
    version,
    about = "Sync a vendor's users into Oomnitza through a sandboxed WebAssembly connector",
    after_help = "Start with `oomnitza-connect demo`: it runs a full sync against bundled simulators."
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
    },
    /// Run a real sync against a bundled fake Dropbox and fake Oomnitza.
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
    },
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
    },
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
                    Config::parse(&crate::demo::minimal_config())?
                }
                Err(e) => return Err(e),
            };
            if let Some(c) = component {
                config.component.path = std::path::absolute(c)?;
            }
            let (_, _, manifest) = load_manifest(&config).await?;
            if json {
                println!("{}", crate::demo::manifest_json(&manifest));
            } else {
                print!("{}", crate::demo::render_manifest(&manifest));
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
            println!(
                "integration `{name}` is complete: component {} (sha256 {}), {} mapping rules, sync key {:?}",
                integration.manifest.display_name,
                &integration.component.sha256[..12],
                integration.spec.rules.len(),
                integration.spec.sync_key
            );
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
                    stop: Some(stop),
                },
            )
            .await?;
            eprintln!("{}", report.render());
            Ok(if report.stopped {
                ExitCode::from(130)
            } else if report.succeeded() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Demo(demo) => crate::demo::run(demo, progress).await,
        Command::Credentials(CredentialsCommand::Set { key, file }) => {
            let file = file.unwrap_or_else(|| {
                args.config
                    .parent()
                    .map_or_else(|| PathBuf::from("secrets.toml"), |d| d.join("secrets.toml"))
            });
            let value = read_secret(&key)?;
            crate::credentials::store_secret(&file, &key, &value)?;
            println!("stored `{key}` in {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Workflow(WorkflowCommand::List) => {
            let config = Config::load(&args.config)?;
            if config.workflows.is_empty() {
                println!(
                    "no workflows configured (add [[workflow]] tables; see the README's workflow guide)"
                );
            }
            for w in &config.workflows {
                println!(
                    "{}{}",
                    w.name,
                    if w.description.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", w.description)
                    }
                );
                println!("  on     {}", w.on.as_str());
                println!("  when   {}", w.trigger_text());
                println!(
                    "  runs   {}; at most {} users a run, {} at once",
                    w.when(&config.schedule.timezone),
                    w.max_users,
                    w.concurrency
                );
                for (i, s) in w.steps.iter().enumerate() {
                    let params: Vec<String> =
                        s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!("  step {} {} {}", i + 1, s.action, params.join(" "));
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
            print!(
                "{}",
                crate::schedule::describe(&config, std::time::SystemTime::now(), count)?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { limit } => {
            let config = Config::load(&args.config)?;
            let db = open_state(&config)?;
            let entries = db.audit(limit)?;
            if entries.is_empty() {
                println!("the audit log of {} is empty", db.path().display());
            }
            for e in entries {
                println!(
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
        Command::Runs { limit } => {
            let config = Config::load(&args.config)?;
            let db = open_state(&config)?;
            let runs = db.runs(limit)?;
            if runs.is_empty() {
                println!("no runs recorded in {}", db.path().display());
            }
            for r in runs {
                println!(
                    "#{:<4} {}  {:<10} fetched {:<7} mapped {:<7} failed {:<5} filtered {:<5} sent {:<7} created {:<7} updated {:<7} {}{}",
                    r.id,
                    r.started_at,
                    r.status,
                    r.fetched,
                    r.mapped,
                    r.failed,
                    r.filtered,
                    r.sent,
                    r.created,
                    r.updated,
                    r.portion,
                    r.error.map(|e| format!("  error: {e}")).unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
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
        for _ in 0..2 {
            #[cfg(unix)]
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            if raised.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "second signal: exiting now; the next sync resumes from the last checkpoint"
                );
                std::process::exit(130);
            }
            eprintln!("stopping after the page in hand (send the signal again to exit at once)");
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
    print!("{}", crate::workflow::render_plan(plan));
    let over = plan.over_cap(how.allow_more);
    if how.dry_run {
        if let Some(why) = &over {
            println!("a real run would stop here: {why}");
        }
        println!("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = over {
        crate::workflow::execute::record_blocked(db, plan, &why)?;
        anyhow::bail!("{why}");
    }
    if !confirm(plan, how.yes)? {
        println!("cancelled: nothing was changed");
        return Ok(ExitCode::FAILURE);
    }
    let opts = crate::workflow::ExecuteOptions { lock: how.lock };
    let done = crate::workflow::execute(integration, plan, db, &opts, &mut |r| {
        println!("{}", crate::workflow::render_result(r));
    })
    .await?;
    println!(
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

/// Asks before destructive steps; `--yes` answers for the operator.
fn confirm(plan: &crate::workflow::Plan, yes: bool) -> Result<bool> {
    use std::io::Write;
    let destructive = plan.destructive_steps();
    if destructive == 0 || yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "{destructive} destructive step(s) need confirmation: run on a terminal, or pass --yes"
        );
    }
    eprint!("Run {destructive} destructive step(s)? [y/N] ");
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
                println!(
                    "workflow `{}` is valid: on {}, {}, at most {} users a run, {} at once",
                    w.name,
                    w.on.as_str(),
                    w.when(&integration.config.schedule.timezone),
                    w.max_users,
                    w.concurrency
                );
                for s in steps {
                    println!("  {s}");
                }
            }
            Err(e) => {
                ok = false;
                println!("workflow `{}` is INVALID: {e:#}", w.name);
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
