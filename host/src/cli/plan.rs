//! Running a plan from the command line, for `action` and `workflow run`:
//! print it, stop for a dry run or at the cap, confirm, execute (printing
//! each result as it comes), summarize.

use std::process::ExitCode;

use anyhow::Result;

use super::{Printer, prompt};
use crate::integration::Integration;
use crate::state::StateDb;
use crate::workflow::Plan;

/// How a plan is run from the command line.
pub struct PlanRun {
    pub dry_run: bool,
    pub yes: bool,
    pub allow_more: Option<u32>,
    /// The workflow's lock, held by the caller for the run.
    pub lock: Option<String>,
}

pub async fn run_plan(
    printer: Printer,
    integration: &Integration,
    plan: &Plan,
    db: &StateDb,
    how: PlanRun,
) -> Result<ExitCode> {
    printer.out(crate::workflow::render_plan(plan).trim_end());
    let over = plan.over_cap(how.allow_more);
    if how.dry_run {
        if let Some(why) = &over {
            printer.out(format_args!("a real run would stop here: {why}"));
        }
        printer.out("dry run: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(why) = over {
        crate::workflow::execute::record_blocked(db, plan, &why)?;
        anyhow::bail!("{why}");
    }
    if !prompt::confirm(printer, plan, how.yes)? {
        printer.out("cancelled: nothing was changed");
        return Ok(ExitCode::FAILURE);
    }
    let opts = crate::workflow::ExecuteOptions { lock: how.lock };
    let done = crate::workflow::execute(integration, plan, db, &opts, &mut |r| {
        printer.out(crate::workflow::render_result(r));
    })
    .await?;
    printer.out(format_args!(
        "{} (audit log: {})",
        crate::workflow::render_summary(&plan.title, &done),
        db.path().display()
    ));
    Ok(if done.failed == 0 && done.not_run == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
