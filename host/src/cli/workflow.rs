//! `workflow list` and `workflow run`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::plan::{PlanRun, run_plan};
use super::{Printer, oomnitza_client, open_state};
use crate::config::Config;
use crate::integration::Integration;

pub fn list(printer: Printer, config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    if config.workflows.is_empty() {
        printer.out(
            "no workflows configured (add [[workflow]] tables; see the README's workflow guide)",
        );
    }
    for w in &config.workflows {
        printer.out(format_args!(
            "{}{}",
            w.name,
            if w.description.is_empty() {
                String::new()
            } else {
                format!(": {}", w.description)
            }
        ));
        printer.out(format_args!("  on     {}", w.on.as_str()));
        printer.out(format_args!("  when   {}", w.trigger_text()));
        printer.out(format_args!(
            "  runs   {}; at most {} users a run, {} at once",
            w.when(&config.schedule.timezone),
            w.max_users,
            w.concurrency
        ));
        for (i, s) in w.steps.iter().enumerate() {
            let params: Vec<String> = s.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            printer.out(format_args!(
                "  step {} {} {}",
                i + 1,
                s.action,
                params.join(" ")
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans the workflow and runs it under its lock (a dry run takes none).
pub async fn run(
    printer: Printer,
    config_path: &Path,
    name: &str,
    how: PlanRun,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let Some(workflow) = config.workflows.iter().find(|w| w.name == name).cloned() else {
        anyhow::bail!(
            "no workflow named `{name}` in {} (configured: {})",
            config_path.display(),
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
    let lock = crate::workflow::lock_name(name);
    let dry_run = how.dry_run;
    if !dry_run && let Err(pid) = db.acquire_lock(&lock)? {
        anyhow::bail!(
            "workflow `{name}` is already running (process {pid}); it was not started twice"
        );
    }
    let result = async {
        let plan = crate::workflow::plan_workflow(&integration, &workflow, &client, &db).await?;
        let how = PlanRun {
            lock: Some(lock.clone()),
            ..how
        };
        run_plan(printer, &integration, &plan, &db, how).await
    }
    .await;
    if !dry_run {
        let _ = db.release_lock(&lock);
    }
    result
}
