//! `sync`: one run of the pipeline, stopped cleanly by a signal; the
//! report on stderr, dry-run payloads on stdout.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{Printer, signals};
use crate::config::Config;
use crate::integration::Integration;
use crate::sync::SyncOptions;

/// The flags of `sync`.
pub struct SyncArgs {
    pub dry_run: bool,
    pub test_run: bool,
    pub full: bool,
    pub allow_mass_deactivation: bool,
}

pub async fn sync(printer: Printer, config_path: &Path, how: SyncArgs) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let integration = Integration::prepare(config).await?;
    let stop = signals::stop_on_signal(printer);
    let report = crate::sync::run(
        &integration,
        &SyncOptions {
            dry_run: how.dry_run,
            test_run: how.test_run,
            progress: printer.progress(),
            full: how.full,
            allow_mass_deactivation: how.allow_mass_deactivation,
            stop: Some(stop),
            payloads: how.dry_run.then(|| printer.payloads()),
        },
    )
    .await?;
    printer.err(report.render());
    Ok(if report.stopped {
        ExitCode::from(130)
    } else if report.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
