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
    },
    /// Run a real sync against a bundled fake Dropbox and fake Oomnitza.
    Demo(crate::demo::DemoArgs),
    /// Store or verify credentials without ever printing them.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync { dry_run, test_run } => {
            let config = Config::load(&args.config)?;
            let integration = Integration::prepare(config).await?;
            let report = sync::run(
                &integration,
                &SyncOptions {
                    dry_run,
                    test_run,
                    progress,
                },
            )
            .await?;
            eprintln!("{}", report.render());
            Ok(if report.succeeded() {
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
