//! `action`: one connector action by hand, for the users named.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::plan::{PlanRun, run_plan};
use super::{Printer, open_state};
use crate::config::Config;
use crate::integration::Integration;

pub async fn action(
    printer: Printer,
    config_path: &Path,
    name: &str,
    users: &[String],
    params: &[(String, String)],
    how: PlanRun,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let integration = Integration::prepare(config).await?;
    let db = open_state(&integration.config)?;
    let plan = crate::workflow::plan_action(&integration, name, users, params).await?;
    run_plan(printer, &integration, &plan, &db, how).await
}
