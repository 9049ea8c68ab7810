//! Workflows: rules over Oomnitza data that decide which Dropbox actions
//! to run, for whom, with which parameters (the seed's Begin block plus
//! API blocks), by hand or on their own schedule.
//!
//! A workflow reads people (`GET /api/v3/users`) or the SaaS users of the
//! configured Dropbox app (`GET /api/v3/saas_users`), keeps the records its
//! trigger selects ([`trigger`], typed and checked here), and runs its
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
pub mod trigger;

use anyhow::{Result, bail};
use serde::Deserialize;

pub use execute::{ExecuteOptions, Executed, StepResult, execute};
pub use plan::{Plan, StepState, UserPlan, plan_action, plan_workflow};

/// A workflow acts on at most this many users per run unless its config
/// says otherwise (`max_users`) or the operator allows more once.
pub const DEFAULT_MAX_USERS: u32 = 25;
/// Users acted on at once.
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// The most users acted on at once (each needs its own instance).
pub const MAX_CONCURRENCY: u32 = 16;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowConfig {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Which records the trigger reads: people or the app's SaaS users.
    #[serde(default)]
    pub on: Source,
    /// All must hold.
    pub trigger: Vec<ConditionConfig>,
    pub steps: Vec<StepConfig>,
    /// The blast-radius cap: a run that would act on more users does
    /// nothing (and says so) unless the operator allows more once.
    #[serde(default = "default_max_users")]
    pub max_users: u32,
    /// Users acted on at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Runs on its own under `serve`: `hourly`, `daily` or
    /// `every-n-hours` (with `hours`), at `at` in `[schedule] timezone`.
    #[serde(default)]
    pub every: Option<Every>,
    /// `HH:MM`: the time of day (`daily`) or the grid's anchor (hourly:
    /// only the minutes count). Default `00:00`.
    #[serde(default)]
    pub at: Option<String>,
    /// For `every-n-hours`: 1..=24.
    #[serde(default)]
    pub hours: Option<u32>,
    /// Runs under `serve` right after each successful sync.
    #[serde(default)]
    pub after_sync: bool,
}

fn default_max_users() -> u32 {
    DEFAULT_MAX_USERS
}

fn default_concurrency() -> u32 {
    DEFAULT_CONCURRENCY
}

/// What a trigger reads.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// People: `GET /api/v3/users`; the target is the user's `email`.
    #[default]
    People,
    /// The SaaS users of the configured Dropbox app (`[saas] saas_id`):
    /// `GET /api/v3/saas_users`; the target is the SaaS user's `email`.
    SaasUsers,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::People => "people",
            Source::SaasUsers => "saas-users",
        }
    }
}

/// How often a workflow runs on its own.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Every {
    Hourly,
    Daily,
    EveryNHours,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    /// A field of the records read (people: the REST view, e.g.
    /// `offboarding_date`; SaaS users: e.g. `to_be_deleted_in_saas`).
    pub field: String,
    pub op: Op,
    /// Its type decides the comparison (see [`trigger`]). A list for `in`.
    pub value: toml::Value,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::In => "in",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    pub action: String,
    /// Values are text, booleans or integers; text `{field}` takes the
    /// record's field.
    #[serde(default)]
    pub params: toml::Table,
}

/// `field` when `text` is exactly `{field}`.
pub fn placeholder(text: &str) -> Option<&str> {
    text.strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .filter(|f| is_field_name(f))
}

fn is_field_name(f: &str) -> bool {
    !f.is_empty() && f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl WorkflowConfig {
    /// Checks that need no component and no Oomnitza. `saas_id`: the
    /// configured SaaS app, if any.
    pub fn check(&self, saas_id: Option<&str>) -> Result<()> {
        if self.name.trim().is_empty() {
            bail!("a workflow needs a name");
        }
        if self.trigger.is_empty() {
            bail!("a workflow needs at least one trigger condition (it would act on every user)");
        }
        if self.steps.is_empty() {
            bail!("a workflow needs at least one step");
        }
        for c in &self.trigger {
            if !is_field_name(&c.field) {
                bail!(
                    "condition field {:?} must be a field name (letters, digits, _)",
                    c.field
                );
            }
        }
        trigger::Trigger::compile(&self.trigger, trigger::today())?;
        if self.max_users == 0 {
            bail!("max_users must be at least 1");
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            bail!(
                "concurrency = {}: must be between 1 and {MAX_CONCURRENCY}",
                self.concurrency
            );
        }
        if self.on == Source::SaasUsers && saas_id.is_none() {
            bail!(
                "on = \"saas-users\" reads the SaaS users of the Dropbox app: it needs a [saas] table with saas_id"
            );
        }
        match (self.every, &self.at, self.hours) {
            (None, Some(_), _) | (None, _, Some(_)) => {
                bail!("`at` and `hours` need `every` (hourly, daily or every-n-hours)")
            }
            (Some(Every::EveryNHours), _, None) => {
                bail!("every = \"every-n-hours\" needs hours = 1..24")
            }
            (Some(Every::Hourly | Every::Daily), _, Some(_)) => {
                bail!("`hours` is only used with every = \"every-n-hours\"")
            }
            _ => {}
        }
        if let Some(s) = self.schedule("UTC") {
            s.validate()
                .map_err(|e| anyhow::anyhow!("its every/at/hours: {e:#}"))?;
        }
        Ok(())
    }

    /// When `serve` runs it on its own (timezone from `[schedule]`).
    pub fn schedule(&self, timezone: &str) -> Option<crate::config::Schedule> {
        use crate::config::{Schedule, ScheduleKind};
        let every = self.every?;
        let (kind, hours) = match every {
            Every::Hourly => (ScheduleKind::EveryNHours, Some(1)),
            Every::Daily => (ScheduleKind::Daily, None),
            Every::EveryNHours => (ScheduleKind::EveryNHours, self.hours),
        };
        Some(Schedule {
            every: kind,
            at: self.at.clone().unwrap_or_else(|| "00:00".into()),
            timezone: timezone.to_string(),
            hours,
        })
    }

    /// The schedule in words: `hourly at :15`, `daily at 06:00 (UTC)`.
    pub fn when(&self, timezone: &str) -> String {
        let at = self.at.as_deref().unwrap_or("00:00");
        let timed = self.every.map(|e| match e {
            Every::Hourly => format!("hourly at :{}", at.get(3..5).unwrap_or("00")),
            Every::Daily => format!("daily at {at} ({timezone})"),
            Every::EveryNHours => format!(
                "every {} hours from {at} ({timezone})",
                self.hours.unwrap_or(24)
            ),
        });
        match (timed, self.after_sync) {
            (Some(t), true) => format!("{t}, and after each sync"),
            (Some(t), false) => t,
            (None, true) => "after each sync".into(),
            (None, false) => "by hand only (`workflow run`)".into(),
        }
    }

    /// The trigger as text: `offboarding_date le today and ...`.
    pub fn trigger_text(&self) -> String {
        self.trigger
            .iter()
            .map(|c| format!("{} {} {}", c.field, c.op.as_str(), c.value))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<WorkflowConfig> {
        let text = format!(
            "name = \"w\"\ntrigger = [{{ field = \"offboarding_date\", op = \"le\", value = \"today\" }}]\n[[steps]]\naction = \"deactivate-user\"\n{extra}"
        );
        let w: WorkflowConfig = toml::from_str(&text)?;
        w.check(None)?;
        Ok(w)
    }

    #[test]
    fn defaults_and_schedule() {
        let w = parse("").unwrap();
        assert_eq!((w.max_users, w.concurrency, w.on), (25, 4, Source::People));
        assert!(w.schedule("UTC").is_none());
        assert_eq!(w.when("UTC"), "by hand only (`workflow run`)");
        let w: WorkflowConfig = toml::from_str(
            "name = \"w\"\nevery = \"hourly\"\nat = \"00:15\"\nafter_sync = true\ntrigger = [{ field = \"x\", op = \"eq\", value = 1 }]\nsteps = [{ action = \"a\" }]",
        )
        .unwrap();
        w.check(None).unwrap();
        assert_eq!(w.when("UTC"), "hourly at :15, and after each sync");
        let s = w.schedule("UTC").unwrap();
        assert_eq!((s.hours, s.at.as_str()), (Some(1), "00:15"));
    }

    #[test]
    fn bad_settings_are_named() {
        for (extra, needle) in [
            ("max_users = 0", "max_users"),
            ("concurrency = 0", "concurrency"),
            ("concurrency = 64", "concurrency"),
            ("at = \"01:00\"", "need `every`"),
            ("every = \"every-n-hours\"", "needs hours"),
            ("every = \"daily\"\nhours = 3", "only used with"),
            ("on = \"saas-users\"", "[saas]"),
            ("on = \"devices\"", "unknown variant"),
        ] {
            // Keys before the [[steps]] table.
            let text = format!(
                "name = \"w\"\n{extra}\ntrigger = [{{ field = \"f\", op = \"eq\", value = 1 }}]\n[[steps]]\naction = \"a\"\n"
            );
            let err = toml::from_str::<WorkflowConfig>(&text)
                .map_err(anyhow::Error::from)
                .and_then(|w| w.check(None))
                .unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{extra}: {err:#}");
        }
        assert!(parse("").is_ok());
    }

    #[test]
    fn placeholders_are_whole_field_names() {
        assert_eq!(placeholder("{manager_email}"), Some("manager_email"));
        assert_eq!(placeholder("{manager email}"), None);
        assert_eq!(placeholder("x{y}"), None);
        assert_eq!(placeholder("{}"), None);
    }
}
