//! The command line: argument definitions ([`args`]), one module per verb,
//! and the one place that prints ([`Printer`]).
//!
//! Each verb module turns its arguments into calls of library code (which
//! returns results and never prints) and prints what came back. Signals
//! ([`signals`]) and questions to the operator ([`prompt`]) have modules of
//! their own. `main.rs` only parses the arguments, calls [`run`] and turns
//! an error into a message and an exit code.

mod action;
pub mod args;
mod console;
mod credentials;
#[cfg(feature = "demo")]
mod demo;
mod describe;
mod plan;
mod printer;
mod prompt;
mod report;
mod runs;
mod serve;
mod signals;
mod sync;
mod validate;
mod workflow;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::integration::Integration;

pub use args::{Args, Command, CredentialsCommand, WorkflowCommand};
pub use printer::Printer;

/// Runs the command line: logging, the async runtime, the verb.
pub fn run(args: Args) -> Result<ExitCode> {
    init_logging(&args);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(dispatch(args))
}

fn init_logging(args: &Args) {
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

async fn dispatch(args: Args) -> Result<ExitCode> {
    let printer = Printer::new(args.quiet);
    let config = args.config.as_path();
    match args.command {
        Command::Describe { json, component } => {
            describe::describe(printer, config, json, component).await
        }
        Command::Validate => validate::validate(printer, config).await,
        Command::Sync {
            dry_run,
            test_run,
            full,
            allow_mass_deactivation,
        } => {
            let how = sync::SyncArgs {
                dry_run,
                test_run,
                full,
                allow_mass_deactivation,
            };
            sync::sync(printer, config, how).await
        }
        #[cfg(feature = "demo")]
        Command::Demo(demo) => demo::run(printer, demo).await,
        Command::Credentials(CredentialsCommand::Set { key, file }) => {
            credentials::set(printer, config, &key, file)
        }
        Command::Credentials(CredentialsCommand::Check) => {
            credentials::check(printer, config).await
        }
        Command::Workflow(WorkflowCommand::List) => workflow::list(printer, config),
        Command::Workflow(WorkflowCommand::Run {
            name,
            dry_run,
            yes,
            allow_more,
        }) => {
            let how = plan::PlanRun {
                dry_run,
                yes,
                allow_more,
                lock: None,
            };
            workflow::run(printer, config, &name, how).await
        }
        Command::Action {
            name,
            users,
            params,
            dry_run,
            yes,
            allow_more,
        } => {
            let how = plan::PlanRun {
                dry_run,
                yes,
                allow_more,
                lock: None,
            };
            action::action(printer, config, &name, &users, &params, how).await
        }
        Command::Serve { max_runs } => serve::serve(printer, config, max_runs).await,
        Command::Schedule { count } => serve::schedule(printer, config, count),
        Command::Audit {
            limit,
            format,
            filter,
        } => runs::audit(printer, config, limit, &format, filter),
        Command::Runs {
            limit,
            format,
            status,
            since,
            until,
        } => {
            let filter = crate::views::RunFilter {
                status,
                since,
                until,
            };
            runs::runs(printer, config, limit, &format, filter)
        }
        Command::Report(r) => report::report(printer, config, r),
        Command::Console(c) => console::run(printer, config, c).await,
    }
}

/// The state database the config names.
fn open_state(config: &Config) -> Result<crate::state::StateDb> {
    crate::state::StateDb::open(&config.resolve(&config.state.path))
}

/// An Oomnitza client with the integration's token and retries.
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
