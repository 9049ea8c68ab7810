//! When an integration and its workflows run: the schedules' next times,
//! and `serve`, which runs the sync and the workflows on them.
//!
//! `daily` runs once a day at `at` in `timezone` (UTC or a fixed offset);
//! `every-n-hours` runs every `hours` hours on a grid anchored at `at`. A
//! sync missed while the host was down (the latest scheduled time is after
//! the latest recorded run) runs once at start. A workflow runs on its own
//! grid (`every = "hourly"`, ...; once at start too) and/or right after
//! each successful sync (`after_sync`). Overlap is impossible: each sync
//! takes the integration's lock in the state database, each workflow run
//! its own.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};

use crate::config::{Config, Schedule, ScheduleKind};
use crate::sync::SyncReport;
use crate::workflow::{Unattended, WorkflowConfig};

const DAY: i64 = 86_400;

/// (anchor seconds since midnight UTC, period seconds).
fn grid(s: &Schedule) -> Result<(i64, i64)> {
    let (h, m) =
        s.at.split_once(':')
            .and_then(|(h, m)| Some((h.parse::<i64>().ok()?, m.parse::<i64>().ok()?)))
            .ok_or_else(|| anyhow!("schedule.at = {:?}: expected HH:MM", s.at))?;
    let offset = if s.timezone == "UTC" {
        0
    } else {
        let sign = if s.timezone.starts_with('-') { -1 } else { 1 };
        let oh: i64 = s.timezone[1..3].parse().unwrap_or(0);
        let om: i64 = s.timezone[4..6].parse().unwrap_or(0);
        sign * (oh * 3600 + om * 60)
    };
    // Local HH:MM is UTC HH:MM minus the offset.
    let anchor = (h * 3600 + m * 60 - offset).rem_euclid(DAY);
    let period = match s.every {
        ScheduleKind::Daily => DAY,
        ScheduleKind::EveryNHours => i64::from(s.hours.unwrap_or(24)) * 3600,
    };
    Ok((anchor, period))
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn at(s: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s.max(0) as u64)
}

/// The next `n` scheduled times strictly after `after`.
pub fn next_runs(s: &Schedule, after: SystemTime, n: usize) -> Result<Vec<SystemTime>> {
    let (anchor, period) = grid(s)?;
    let t = secs(after);
    let day_start = t - t.rem_euclid(DAY);
    let base = day_start + anchor;
    let k = (t - base).div_euclid(period) + 1;
    Ok((0..n as i64).map(|i| at(base + (k + i) * period)).collect())
}

/// The latest scheduled time at or before `now`.
pub fn previous_run(s: &Schedule, now: SystemTime) -> Result<SystemTime> {
    let (anchor, period) = grid(s)?;
    let t = secs(now);
    let day_start = t - t.rem_euclid(DAY);
    let base = day_start + anchor;
    Ok(at(base + (t - base).div_euclid(period) * period))
}

/// `oomnitza-connect schedule`: the sync's next `count` runs, then each
/// workflow's schedule and its next runs.
pub fn describe(config: &Config, now: SystemTime, count: usize) -> Result<String> {
    let s = &config.schedule;
    let what = match s.every {
        ScheduleKind::Daily => format!("daily at {} ({})", s.at, s.timezone),
        ScheduleKind::EveryNHours => format!(
            "every {} hours from {} ({})",
            s.hours.unwrap_or(24),
            s.at,
            s.timezone
        ),
    };
    let mut out = format!(
        "`{}` runs {what}; next runs (UTC):\n",
        config.integration.name
    );
    for t in next_runs(s, now, count)? {
        out.push_str(&format!("  {}\n", crate::clock::rfc3339(t)));
    }
    for w in &config.workflows {
        out.push_str(&format!(
            "workflow `{}` runs {}",
            w.name,
            w.when(&s.timezone)
        ));
        match w.schedule(&s.timezone) {
            Some(ws) => {
                out.push_str("; next runs (UTC):\n");
                for t in next_runs(&ws, now, count)? {
                    out.push_str(&format!("  {}\n", crate::clock::rfc3339(t)));
                }
            }
            None => out.push('\n'),
        }
    }
    Ok(out)
}

/// Runs syncs and workflows on their schedules until `stop` is raised;
/// `max_runs` ends it after that many syncs (tests), once the workflows
/// due with the last one have run.
///
/// A sync missed while the host was down runs once at start. Workflows
/// with `every` run once at start too (a restart never delays an
/// offboarding by a whole period; a run repeats no completed step), then
/// on their own grid; workflows with `after_sync` run after each sync that
/// succeeded. The config is read afresh before each run.
///
/// Nothing here prints: each sync's report goes to `on_sync` (the command
/// line prints it on stderr); workflow outcomes are logged.
pub async fn serve(
    config_path: &std::path::Path,
    stop: Arc<AtomicBool>,
    max_runs: Option<u32>,
    progress: bool,
    on_sync: &(dyn Fn(&SyncReport) + Sync),
) -> Result<()> {
    let config = Config::load(config_path)?;
    let db = crate::state::StateDb::open(&config.resolve(&config.state.path))?;
    // Test and dry runs are trials by hand, not the schedule's runs.
    let last = db.last_sync_started(&config.integration.name)?;
    drop(db);
    let now = SystemTime::now();
    let due = crate::clock::rfc3339(previous_run(&config.schedule, now)?);
    // RFC 3339 UTC strings of one format order like the times they name.
    let mut next_sync = if last.is_none_or(|l| l < due) {
        tracing::info!("a scheduled run was missed (due {due}); running once now");
        now
    } else {
        next_runs(&config.schedule, now, 1)?[0]
    };
    // Timed workflows run once at start.
    let mut next_workflow: HashMap<String, SystemTime> = config
        .workflows
        .iter()
        .filter(|w| w.every.is_some())
        .map(|w| (w.name.clone(), now))
        .collect();
    let mut last_good = config;
    let mut runs = 0;
    loop {
        let earliest = next_workflow
            .values()
            .copied()
            .chain([next_sync])
            .min()
            .unwrap_or(next_sync);
        if earliest > SystemTime::now() {
            tracing::info!("next run at {}", crate::clock::rfc3339(earliest));
        }
        while SystemTime::now() < earliest {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // The config is read afresh for each run, so edits take effect.
        // A config that no longer loads fails this round's runs; the next
        // ones follow the last config that did.
        let config = match Config::load(config_path) {
            Ok(c) => {
                last_good = c.clone();
                Some(c)
            }
            Err(e) => {
                tracing::error!("{e:#}");
                None
            }
        };
        let now = SystemTime::now();
        let sync_due = next_sync <= now;
        let timed_due: Vec<String> = last_good
            .workflows
            .iter()
            .filter(|w| w.every.is_some())
            .filter(|w| next_workflow.get(&w.name).is_some_and(|t| *t <= now))
            .map(|w| w.name.clone())
            .collect();
        let prepared = match config {
            Some(c) => match crate::integration::Integration::prepare(c).await {
                Ok(i) => Some(i),
                Err(e) => {
                    tracing::error!("{e:#}");
                    None
                }
            },
            None => None,
        };
        let config = &last_good;
        if let Some(integration) = prepared {
            run_due(&integration, sync_due, &timed_due, &stop, progress, on_sync).await;
        }
        let now = SystemTime::now();
        if sync_due {
            runs += 1;
            next_sync = next_runs(&config.schedule, now, 1)?[0];
        }
        next_workflow.retain(|name, _| {
            config
                .workflows
                .iter()
                .any(|w| w.name == *name && w.every.is_some())
        });
        for w in &config.workflows {
            if let Some(ws) = w.schedule(&config.schedule.timezone) {
                let due_now = timed_due.contains(&w.name);
                let entry = next_workflow.entry(w.name.clone());
                let next = next_runs(&ws, now, 1)?[0];
                match entry {
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(next);
                    }
                    std::collections::hash_map::Entry::Occupied(mut o) if due_now => {
                        o.insert(next);
                    }
                    std::collections::hash_map::Entry::Occupied(_) => {}
                }
            }
        }
        if max_runs.is_some_and(|m| runs >= m) || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}

/// What is due in one round: the sync (if due), the workflows that run
/// after it when it succeeded, then the timed workflows due; each
/// workflow once.
async fn run_due(
    integration: &crate::integration::Integration,
    sync_due: bool,
    timed_due: &[String],
    stop: &Arc<AtomicBool>,
    progress: bool,
    on_sync: &(dyn Fn(&SyncReport) + Sync),
) {
    let config = &integration.config;
    let mut synced = false;
    if sync_due {
        let opts = crate::sync::SyncOptions {
            progress,
            stop: Some(stop.clone()),
            ..Default::default()
        };
        match crate::sync::run(integration, &opts).await {
            Ok(report) => {
                on_sync(&report);
                synced = report.succeeded() && !report.stopped;
            }
            Err(e) => tracing::error!("sync did not start: {e:#}"),
        }
    }
    let after: Vec<&WorkflowConfig> = if sync_due {
        config.workflows.iter().filter(|w| w.after_sync).collect()
    } else {
        vec![]
    };
    if !after.is_empty() && !synced {
        tracing::warn!(
            "the sync did not succeed: the workflows that run after it ({}) wait for the next one",
            after
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut ran: Vec<&str> = Vec::new();
    let todo = after.into_iter().filter(|_| synced).chain(
        config
            .workflows
            .iter()
            .filter(|w| timed_due.contains(&w.name)),
    );
    for w in todo {
        if ran.contains(&w.name.as_str()) || stop.load(Ordering::Relaxed) {
            continue;
        }
        ran.push(&w.name);
        run_workflow(integration, w).await;
    }
}

/// One unattended workflow run under `serve`, its outcome logged.
async fn run_workflow(integration: &crate::integration::Integration, w: &WorkflowConfig) {
    let outcome = async {
        let config = &integration.config;
        let db = crate::state::StateDb::open(&config.resolve(&config.state.path))?;
        let token = integration
            .oomnitza_token
            .as_ref()
            .ok_or_else(|| anyhow!("no Oomnitza token configured"))?;
        let client = crate::oomnitza::OomnitzaClient::new(
            &config.oomnitza.url,
            token,
            config.limits.max_retries + 1,
        )
        .map_err(|e| anyhow!("{e}"))?;
        crate::workflow::run_unattended(integration, w, &client, &db).await
    }
    .await;
    let title = format!("workflow `{}`", w.name);
    match outcome {
        Ok(Unattended::Ran(done)) => {
            tracing::info!("{}", crate::workflow::render_summary(&title, &done));
        }
        Ok(Unattended::Blocked(why)) => tracing::warn!("{why}"),
        Ok(Unattended::Busy(pid)) => {
            tracing::warn!("{title} is already running (process {pid}); this run is skipped")
        }
        Err(e) => tracing::error!("{title} failed: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(every: ScheduleKind, at: &str, tz: &str, hours: Option<u32>) -> Schedule {
        Schedule {
            every,
            at: at.into(),
            timezone: tz.into(),
            hours,
        }
    }

    fn t(s: &str) -> SystemTime {
        // 2026-11-27T10:00:00Z and friends, relative to a known day.
        let day = 1_795_737_600; // 2026-11-27T00:00:00Z
        let (h, m) = s.split_once(':').unwrap();
        at(day + h.parse::<i64>().unwrap() * 3600 + m.parse::<i64>().unwrap() * 60)
    }

    #[test]
    fn daily_runs_at_the_time_in_the_zone() {
        let s = sched(ScheduleKind::Daily, "02:00", "UTC", None);
        let next = next_runs(&s, t("10:00"), 2).unwrap();
        assert_eq!(crate::clock::rfc3339(next[0]), "2026-11-28T02:00:00Z");
        assert_eq!(crate::clock::rfc3339(next[1]), "2026-11-29T02:00:00Z");
        let s = sched(ScheduleKind::Daily, "02:00", "+02:00", None);
        assert_eq!(
            crate::clock::rfc3339(next_runs(&s, t("10:00"), 1).unwrap()[0]),
            "2026-11-28T00:00:00Z"
        );
        let s = sched(ScheduleKind::Daily, "23:30", "-05:00", None);
        assert_eq!(
            crate::clock::rfc3339(next_runs(&s, t("03:00"), 1).unwrap()[0]),
            "2026-11-27T04:30:00Z"
        );
    }

    #[test]
    fn every_n_hours_follows_a_grid_anchored_at_the_time() {
        let s = sched(ScheduleKind::EveryNHours, "01:00", "UTC", Some(6));
        let next = next_runs(&s, t("10:00"), 3).unwrap();
        let shown: Vec<String> = next.into_iter().map(crate::clock::rfc3339).collect();
        assert_eq!(
            shown,
            [
                "2026-11-27T13:00:00Z",
                "2026-11-27T19:00:00Z",
                "2026-11-28T01:00:00Z"
            ]
        );
        // Exactly on a slot: the next one is the following slot.
        assert_eq!(
            crate::clock::rfc3339(next_runs(&s, t("13:00"), 1).unwrap()[0]),
            "2026-11-27T19:00:00Z"
        );
    }

    #[test]
    fn the_previous_slot_is_found_for_missed_runs() {
        let s = sched(ScheduleKind::Daily, "02:00", "UTC", None);
        assert_eq!(
            crate::clock::rfc3339(previous_run(&s, t("10:00")).unwrap()),
            "2026-11-27T02:00:00Z"
        );
        assert_eq!(
            crate::clock::rfc3339(previous_run(&s, t("01:00")).unwrap()),
            "2026-11-26T02:00:00Z"
        );
    }
}
