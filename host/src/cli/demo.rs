//! `oomnitza-connect demo`: a real sync, end to end, against the bundled
//! fake Dropbox and fake Oomnitza on loopback. Built only with the `demo`
//! feature (`scripts/dev demo` turns it on): the product binary carries no
//! fakes, no test data generator and no path of the machine it was built on.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use connector_fakes::{DropboxConfig, FakeDropbox, FakeOomnitza, OomnitzaConfig, Team};
use serde_json::Value as Json;

use super::Printer;
use crate::config::Config;
use crate::credentials::write_secrets_file;
use crate::integration::Integration;
use crate::sync::{self, SyncOptions};

/// Where `cargo build --release --target wasm32-wasip2 -p dropbox-connector`
/// puts the component, relative to the workspace.
pub const COMPONENT_REL: &str = "target/wasm32-wasip2/release/dropbox_connector.wasm";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Members in the simulated Dropbox team.
    #[arg(long, default_value_t = 2500)]
    pub members: usize,
    /// Seed of the simulated team (same seed, same team).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// The connector component (default: the workspace's release build).
    #[arg(long, env = "DROPBOX_CONNECTOR_WASM")]
    pub component: Option<PathBuf>,
    /// Folder for the demo's config and secrets (default: a new temp folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// After the sync, keep the simulators running and serve the web
    /// console on loopback until Ctrl-C.
    #[arg(long)]
    pub console: bool,
}

/// Finds the component: the flag, else the release build next to the
/// current folder or next to this crate's workspace.
pub fn find_component(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return std::path::absolute(p).context("component path");
    }
    let candidates = [
        PathBuf::from(COMPONENT_REL),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(COMPONENT_REL),
    ];
    for c in &candidates {
        if c.is_file() {
            return std::path::absolute(c).context("component path");
        }
    }
    bail!(
        "the Dropbox connector component is not built (looked for {}); build it with `cargo build --release --target wasm32-wasip2 -p dropbox-connector`, or pass --component",
        COMPONENT_REL
    )
}

pub async fn run(printer: Printer, args: DemoArgs) -> Result<ExitCode> {
    let component = find_component(args.component.as_deref())?;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            std::path::absolute(d)?
        }
        None => {
            let d =
                std::env::temp_dir().join(format!("oomnitza-connect-demo-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            d
        }
    };
    let team = Team::generate(args.members, args.seed);
    // Demo tokens are random per run; they never leave loopback.
    let dropbox_token = format!("sl.demo-{}", uuid::Uuid::new_v4().simple());
    let oomnitza_token = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let dropbox = FakeDropbox::start(DropboxConfig::new(team, dropbox_token.clone()))?;
    let oomnitza = FakeOomnitza::start(OomnitzaConfig::new(oomnitza_token.clone()))?;
    printer.err(format_args!(
        "fake Dropbox  {} ({} members)\nfake Oomnitza {}",
        dropbox.url(),
        args.members,
        oomnitza.url()
    ));

    let secrets = dir.join("secrets.toml");
    write_secrets_file(
        &secrets,
        &[
            ("dropbox_token", &dropbox_token),
            ("oomnitza_token", &oomnitza_token),
        ],
    )?;
    let config_path = dir.join("oomnitza-connect.toml");
    std::fs::write(
        &config_path,
        crate::example_config::example_config(&component, &dropbox.url(), &oomnitza.url()),
    )?;
    printer.err(format_args!("config        {}\n", config_path.display()));

    let config = Config::load(&config_path)?;
    let integration = Integration::prepare(config).await?;
    let report = sync::run(
        &integration,
        &SyncOptions {
            progress: printer.progress(),
            ..Default::default()
        },
    )
    .await?;
    printer.out(format_args!("{}\n", report.render()));
    print_holdings(printer, &oomnitza);
    printer.out(format_args!(
        "\nrun history: oomnitza-connect --config {} runs",
        config_path.display()
    ));
    let db =
        crate::state::StateDb::open(&integration.config.resolve(&integration.config.state.path))?;
    let data = crate::report::ReportData::gather(
        &db,
        &integration.config.integration.name,
        &Default::default(),
    )?;
    let report_path = dir.join("oomnitza-connect-report.html");
    std::fs::write(&report_path, crate::report::render(&data))?;
    printer.out(format_args!("report: {}", report_path.display()));
    if args.console {
        let (url, server) = crate::console::start(
            config_path.clone(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await?;
        printer.out(format_args!(
            "console: {url}\n(the simulators keep running; Ctrl-C stops both)"
        ));
        let _ = tokio::signal::ctrl_c().await;
        server.abort();
    } else {
        printer.out(format_args!(
            "console: `oomnitza-connect demo --console` (keeps the simulators up) or, on your own config, `oomnitza-connect --config FILE console`"
        ));
    }
    Ok(if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn print_holdings(printer: Printer, oomnitza: &FakeOomnitza) {
    let users = oomnitza.users();
    printer.out(format_args!(
        "fake Oomnitza now holds {} users",
        users.len()
    ));
    for p in oomnitza.portions() {
        printer.out(format_args!(
            "  portion {}: {} batches, {} records ({} created, {} updated, {} unchanged, {} failed), {}",
            p.id,
            p.batches,
            p.records,
            p.created,
            p.updated,
            p.unchanged,
            p.failed,
            if p.finalized {
                "finalized"
            } else {
                "NOT finalized"
            }
        ));
    }
    for u in users.iter().take(3) {
        printer.out(format_args!(
            "  e.g. {}",
            Json::Object(u.as_object().cloned().unwrap_or_default())
        ));
    }
}
