//! `validate`: the launch check, the sandbox binding, every workflow.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use super::Printer;
use crate::config::Config;
use crate::integration::{Integration, launch_gaps};

pub async fn validate(printer: Printer, config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let name = config.integration.name.clone();
    let integration = Integration::prepare(config).await?;
    let gaps = launch_gaps(
        &integration.config,
        &integration.manifest,
        &integration.spec,
    );
    debug_assert!(gaps.is_empty());
    printer.out(format_args!(
        "integration `{name}` is complete: component {} (sha256 {}), {} mapping rules, sync key {:?}",
        integration.manifest.display_name,
        &integration.component.sha256[..12],
        integration.spec.rules.len(),
        integration.spec.sync_key
    ));
    let report = &integration.policy_report;
    match &report.binding {
        Some(b) => printer.out(b),
        None => printer.out("no credential is sent: no accepted host asks for one"),
    }
    for w in &report.warnings {
        printer.out(format_args!("warning: {w}"));
    }
    let ok = validate_workflows(printer, &integration).await?;
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every workflow, checked statically (no Oomnitza, no vendor call): prints
/// each step's effective parameters or what is wrong; whether all are fine.
async fn validate_workflows(printer: Printer, integration: &Integration) -> Result<bool> {
    let workflows = &integration.config.workflows;
    if workflows.is_empty() {
        return Ok(true);
    }
    let mut checker = crate::workflow::plan::Checker::new(integration).await?;
    let mut ok = true;
    for w in workflows {
        match crate::workflow::plan::validate_workflow(integration, w, &mut checker).await {
            Ok(steps) => {
                printer.out(format_args!(
                    "workflow `{}` is valid: on {}, {}, at most {} users a run, {} at once",
                    w.name,
                    w.on.as_str(),
                    w.when(&integration.config.schedule.timezone),
                    w.max_users,
                    w.concurrency
                ));
                for s in steps {
                    printer.out(format_args!("  {s}"));
                }
            }
            Err(e) => {
                ok = false;
                printer.out(format_args!("workflow `{}` is INVALID: {e:#}", w.name));
            }
        }
    }
    Ok(ok)
}
