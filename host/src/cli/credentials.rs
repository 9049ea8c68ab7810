//! `credentials set` (store a secret, never printed) and `credentials
//! check` (each credential's verdict).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::{Printer, prompt};
use crate::config::Config;
use crate::integration::Integration;

pub fn set(
    printer: Printer,
    config_path: &Path,
    key: &str,
    file: Option<PathBuf>,
) -> Result<ExitCode> {
    let file = file.unwrap_or_else(|| {
        config_path
            .parent()
            .map_or_else(|| PathBuf::from("secrets.toml"), |d| d.join("secrets.toml"))
    });
    let value = prompt::read_secret(key)?;
    crate::credentials::store_secret(&file, key, &value)?;
    printer.out(format_args!("stored `{key}` in {}", file.display()));
    Ok(ExitCode::SUCCESS)
}

pub async fn check(printer: Printer, config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let integration = Integration::prepare(config).await?;
    let checked = crate::integration::check_credentials(&integration).await;
    // The labels line up: `dropbox:  OK`, `oomnitza: OK`.
    let vendor = format!("{}:", checked.vendor);
    let width = vendor.len().max("oomnitza:".len());
    match &checked.source {
        Ok(()) => printer.out(format_args!(
            "{vendor:<width$} OK (the vendor accepted the credential)"
        )),
        Err(e) => printer.out(format_args!("{vendor:<width$} FAILED: {e}")),
    }
    match &checked.oomnitza {
        Ok(()) => printer.out(format_args!(
            "{:<width$} OK (the API token is accepted)",
            "oomnitza:"
        )),
        Err(e) => printer.out(format_args!("{:<width$} FAILED: {e}", "oomnitza:")),
    }
    Ok(if checked.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
