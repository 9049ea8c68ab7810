//! `serve` (run on the schedule until stopped) and `schedule` (the next
//! scheduled runs).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::{Printer, signals};
use crate::config::Config;

pub async fn serve(
    printer: Printer,
    config_path: &Path,
    max_runs: Option<u32>,
) -> Result<ExitCode> {
    // Check the config up front: a bad one should fail now, not at 2 am.
    Config::load(config_path)?;
    let stop = signals::stop_on_signal(printer);
    crate::schedule::serve(
        config_path,
        stop,
        max_runs,
        printer.progress(),
        &|report: &crate::sync::SyncReport| printer.err(report.render()),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub fn schedule(printer: Printer, config_path: &Path, count: usize) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    printer
        .out(crate::schedule::describe(&config, std::time::SystemTime::now(), count)?.trim_end());
    Ok(ExitCode::SUCCESS)
}
