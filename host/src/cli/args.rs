//! The command line's arguments: the verbs and their flags (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    Demo(super::demo::DemoArgs),
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
    Console(super::console::ConsoleArgs),
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
