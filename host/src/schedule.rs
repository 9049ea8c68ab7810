//! When an integration runs: the schedule's next times, and `serve`, which
//! runs the sync on them.
//!
//! `daily` runs once a day at `at` in `timezone` (UTC or a fixed offset);
//! `every-n-hours` runs every `hours` hours on a grid anchored at `at`. A
//! run missed while the host was down (the latest scheduled time is after
//! the latest recorded sync) runs once at start. Overlap is impossible: each
//! sync takes the integration's lock in the state database. Each run is a
//! full one when `[sync] full_every` says so (the sync decides).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Result, anyhow};

use crate::config::{Config, Schedule, ScheduleKind};
use crate::term::errln;

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

/// Runs syncs on the schedule until `stop` is raised; `max_runs` ends it
/// after that many runs (tests).
pub async fn serve(
    config_path: &std::path::Path,
    stop: Arc<AtomicBool>,
    max_runs: Option<u32>,
    progress: bool,
) -> Result<()> {
    let config = Config::load(config_path)?;
    let db = crate::state::StateDb::open(&config.resolve(&config.state.path))?;
    // Test and dry runs are trials by hand, not the schedule's runs.
    let last = db.last_sync_started(&config.integration.name)?;
    drop(db);
    let now = SystemTime::now();
    let due = crate::clock::rfc3339(previous_run(&config.schedule, now)?);
    // RFC 3339 UTC strings of one format order like the times they name.
    let mut run_now = last.is_none_or(|l| l < due);
    if run_now {
        tracing::info!("a scheduled run was missed (due {due}); running once now");
    }
    let mut runs = 0;
    loop {
        if !run_now {
            let next = next_runs(&config.schedule, SystemTime::now(), 1)?[0];
            tracing::info!("next run at {}", crate::clock::rfc3339(next));
            while SystemTime::now() < next {
                if stop.load(Ordering::Relaxed) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        run_now = false;
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // The config is read afresh for each run, so edits take effect.
        match Config::load(config_path) {
            Ok(config) => match crate::integration::Integration::prepare(config).await {
                Ok(integration) => {
                    let opts = crate::sync::SyncOptions {
                        progress,
                        stop: Some(stop.clone()),
                        ..Default::default()
                    };
                    match crate::sync::run(&integration, &opts).await {
                        Ok(report) => errln!("{}", report.render()),
                        Err(e) => tracing::error!("sync did not start: {e:#}"),
                    }
                }
                Err(e) => tracing::error!("{e:#}"),
            },
            Err(e) => tracing::error!("{e:#}"),
        }
        runs += 1;
        if max_runs.is_some_and(|m| runs >= m) || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
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
