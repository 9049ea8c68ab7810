//! Workflows: rules over Oomnitza data that decide which Dropbox actions
//! to run, for whom, with which parameters (the seed's Begin block plus
//! API blocks), by hand or on their own schedule.
//!
//! A workflow reads people (`GET /api/v3/users`) or the SaaS users of the
//! configured Dropbox app (`GET /api/v3/saas_users`), keeps the records its
//! trigger selects ([`trigger`], typed and checked when the config is
//! read; the workflow tables themselves are `config::workflow`), and runs its
//! steps for each: actions with parameters, where `{field}` takes a value
//! from the record (the manager's email as transfer destination).
//!
//! Running one is three stages:
//! - [`plan`]: read the records, check the trigger's fields exist, resolve
//!   each user's parameters and have the connector check them
//!   (`check-action`, HTTP denied), mark steps already done;
//! - the blast-radius cap ([`plan::Plan::over_cap`]): a plan that would act
//!   on more than `max_users` users does nothing unless the operator
//!   allows it once (`--allow-more N`);
//! - [`execute`](mod@execute): run the steps, `concurrency` users at a time, waiting out
//!   vendor rate limits, every outcome in the audit log.
//!
//! Nothing here prints: plans and results are returned to the caller.

pub mod execute;
pub mod plan;

use anyhow::Result;

pub use crate::config::trigger::{self, ConditionConfig, Op};
pub use crate::config::workflow::{
    DEFAULT_CONCURRENCY, DEFAULT_MAX_USERS, Every, MAX_CONCURRENCY, Source, StepConfig,
    WorkflowConfig, placeholder,
};
pub use execute::{ExecuteOptions, Executed, StepResult, execute};
pub use plan::{Plan, StepState, UserPlan, plan_action, plan_workflow};

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    crate::clock::now()[..10].to_string()
}

/// The plan for people: a header, then one line per user and step.
pub fn render_plan(plan: &Plan) -> String {
    let mut out = format!(
        "{}: {} user(s), {} to act on (cap {}), {} step(s) to run{}\n",
        plan.title,
        plan.users.len(),
        plan.acting_on(),
        plan.max_users,
        plan.users
            .iter()
            .flat_map(|u| &u.steps)
            .filter(|s| matches!(s, StepState::Ready(_)))
            .count(),
        if plan.workflow.is_some() {
            format!(" ({} records read)", plan.records_read)
        } else {
            String::new()
        }
    );
    for note in &plan.notes {
        out.push_str(&format!("  note: {note}\n"));
    }
    for user in &plan.users {
        for (state, info) in user.steps.iter().zip(&plan.steps) {
            let (params, note) = match state {
                StepState::Ready(p) => (
                    plan::params_text(p),
                    if info.confirm {
                        "   (needs confirmation)".to_string()
                    } else {
                        String::new()
                    },
                ),
                StepState::AlreadyDone => (String::new(), "   (already done: skipped)".into()),
                StepState::CannotRun(why) => (String::new(), format!("   (cannot run: {why})")),
            };
            out.push_str(&format!(
                "  {:<36} {:<18} {params}{note}\n",
                user.user, info.action
            ));
        }
    }
    out
}

/// One result for people: user, action, outcome, detail.
pub fn render_result(r: &StepResult) -> String {
    format!(
        "  {:<36} {:<18} {:<9} {}",
        r.user, r.action, r.outcome, r.detail
    )
}

/// The summary line of a run.
pub fn render_summary(title: &str, e: &Executed) -> String {
    format!(
        "{title}: {} done, {} unchanged, {} failed, {} could not run, {} skipped{}",
        e.done,
        e.unchanged,
        e.failed,
        e.not_run,
        e.skipped,
        if e.retried > 0 {
            format!(" ({} retried after rate limits or outages)", e.retried)
        } else {
            String::new()
        }
    )
}

/// What an unattended run (under `serve`) did.
#[derive(Debug)]
pub enum Unattended {
    Ran(Executed),
    /// The cap stopped it; the message says why.
    Blocked(String),
    /// Another process runs it now.
    Busy(i64),
}

/// Runs a workflow without a person at hand (`serve`): planned, stopped
/// by the cap (recorded in the audit log), or executed. Its lock keeps a
/// run by hand and a scheduled one from overlapping.
pub async fn run_unattended(
    integration: &crate::integration::Integration,
    workflow: &WorkflowConfig,
    client: &crate::oomnitza::OomnitzaClient,
    db: &crate::state::StateDb,
) -> Result<Unattended> {
    let lock = lock_name(&workflow.name);
    if let Err(pid) = db.acquire_lock(&lock)? {
        return Ok(Unattended::Busy(pid));
    }
    let result = async {
        let plan = plan_workflow(integration, workflow, client, db).await?;
        if let Some(why) = plan.over_cap(None) {
            execute::record_blocked(db, &plan, &why)?;
            return Ok(Unattended::Blocked(why));
        }
        let opts = ExecuteOptions {
            lock: Some(lock.clone()),
        };
        let done = execute(integration, &plan, db, &opts, &mut |r| {
            tracing::info!("{}", render_result(r).trim_start());
        })
        .await?;
        Ok(Unattended::Ran(done))
    }
    .await;
    let _ = db.release_lock(&lock);
    result
}

/// The state-database lock of a workflow's runs.
pub fn lock_name(workflow: &str) -> String {
    format!("workflow:{workflow}")
}
