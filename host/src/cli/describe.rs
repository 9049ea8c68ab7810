//! `describe`: the component's manifest, for people or as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

use super::Printer;
use crate::config::Config;
use crate::integration::load_manifest;

pub async fn describe(
    printer: Printer,
    config_path: &Path,
    json: bool,
    component: Option<PathBuf>,
) -> Result<ExitCode> {
    let mut config = match Config::load(config_path) {
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
        printer.out(crate::manifest_text::manifest_json(&manifest));
    } else {
        printer.out(crate::manifest_text::render_manifest(&manifest).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
