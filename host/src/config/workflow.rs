//! `[[workflow]]` tables: which records a workflow reads, its trigger,
//! its steps, its cap and its schedule. Checked when the config is read
//! (the trigger is compiled by [`super::trigger`]); planning and running
//! them is `crate::workflow`'s.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::trigger::{self, ConditionConfig};
use super::{Schedule, ScheduleKind};

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
                "on = \"saas-users\" reads the SaaS users of the configured SaaS app: it needs a [saas] table with saas_id"
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
    pub fn schedule(&self, timezone: &str) -> Option<Schedule> {
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
