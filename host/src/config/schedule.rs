//! `[schedule]`: when the integration runs. Validated when the config is
//! read; `serve` (crate::schedule) runs it. Workflows with their own
//! `every` reuse the same type.

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// When the integration runs. Validated now; `serve` runs it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `daily` (at `at`, in `timezone`) or `every-n-hours`.
    #[serde(default = "Schedule::default_kind")]
    pub every: ScheduleKind,
    /// `HH:MM`, 24-hour clock.
    #[serde(default = "Schedule::default_at")]
    pub at: String,
    /// `UTC` or a fixed offset such as `+02:00`.
    #[serde(default = "Schedule::default_tz")]
    pub timezone: String,
    /// For `every-n-hours`: 1..=24.
    #[serde(default)]
    pub hours: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    Daily,
    EveryNHours,
}

impl Schedule {
    fn default_kind() -> ScheduleKind {
        ScheduleKind::Daily
    }
    fn default_at() -> String {
        "02:00".into()
    }
    fn default_tz() -> String {
        "UTC".into()
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let (h, m) = self
            .at
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h < 24 && *m < 60)
            .with_context(|| format!("schedule.at = {:?}: expected HH:MM (24-hour)", self.at))?;
        let _ = (h, m);
        let tz_ok = self.timezone == "UTC"
            || (self.timezone.len() == 6
                && matches!(&self.timezone[..1], "+" | "-")
                && self.timezone[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
                && &self.timezone[3..4] == ":"
                && self.timezone[4..].parse::<u32>().is_ok_and(|m| m < 60));
        if !tz_ok {
            bail!(
                "schedule.timezone = {:?}: expected UTC or an offset like +02:00",
                self.timezone
            );
        }
        match (self.every, self.hours) {
            (ScheduleKind::EveryNHours, Some(1..=24)) | (ScheduleKind::Daily, None) => Ok(()),
            (ScheduleKind::EveryNHours, h) => {
                bail!("schedule.hours = {h:?}: every-n-hours needs hours between 1 and 24")
            }
            (ScheduleKind::Daily, Some(_)) => {
                bail!("schedule.hours is only used with every = \"every-n-hours\"")
            }
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            every: ScheduleKind::Daily,
            at: Self::default_at(),
            timezone: Self::default_tz(),
            hours: None,
        }
    }
}
