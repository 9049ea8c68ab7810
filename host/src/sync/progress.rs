//! What a running sync shows: a progress bar on a terminal, and with `-v`
//! a line per page; both with a total and an ETA when the connector gives
//! a count hint (`count-hint`, Dropbox's `team/get_info`).
//!
//! The hint is only shown, never trusted: the listing runs to its end
//! whatever the count, and a listing that passes it just raises the total.

use std::time::{Duration, Instant};

use crate::bindings::{RecordKind, Value};
use crate::integration::Integration;

/// The expected number of records, when the connector says cheaply; `None`
/// (logged at debug) when it cannot or fails.
pub(super) async fn count_hint(
    integration: &Integration,
    kind: RecordKind,
    options: &[(String, Value)],
) -> Option<u64> {
    let answer = async {
        let mut inst = integration.instance().await?;
        inst.count_hint(kind, options).await
    }
    .await;
    match answer {
        Ok(Ok(Some(n))) => {
            tracing::info!("listing about {n} records (the connector's count)");
            Some(n)
        }
        Ok(Ok(None)) => None,
        Ok(Err(e)) => {
            tracing::debug!("no count hint: {}", crate::integration::describe_error(&e));
            None
        }
        Err(e) => {
            tracing::debug!("no count hint: {e:#}");
            None
        }
    }
}

/// Whether anyone will see progress: a terminal, or `-v`.
pub(super) fn wanted(terminal: bool) -> bool {
    terminal || tracing::enabled!(tracing::Level::DEBUG)
}

/// The progress of one listing, shared by the fetcher and the committer.
#[derive(Clone)]
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: Option<u64>,
    started: Instant,
}

impl Progress {
    pub(super) fn new(terminal: bool, total: Option<u64>) -> Progress {
        let bar = terminal.then(|| {
            let pb = match total {
                Some(n) => {
                    let pb = indicatif::ProgressBar::new(n);
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{spinner} [{bar:30}] {pos}/{len} · ETA {eta} · {msg}",
                    ) {
                        pb.set_style(style.progress_chars("=> "));
                    }
                    pb
                }
                None => indicatif::ProgressBar::new_spinner(),
            };
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        });
        Progress {
            bar,
            total,
            started: Instant::now(),
        }
    }

    /// After each committed page.
    pub(super) fn page(&self, pages: u64, fetched: u64, queued: u64) {
        let line = page_line(pages, fetched, queued, self.total, self.started.elapsed());
        tracing::debug!("{line}");
        if let Some(pb) = &self.bar {
            if self.total.is_some() {
                if pb.length().is_some_and(|l| fetched > l) {
                    pb.set_length(fetched);
                }
                pb.set_position(fetched);
                pb.set_message(format!("page {pages} · {queued} queued for Oomnitza"));
            } else {
                pb.set_message(line);
            }
        }
    }

    pub(super) fn finish(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
    }
}

/// `page 3 · 3000 of ~10000 records (30%) · ETA 7 s · 3000 queued for
/// Oomnitza`; without a total, `page 3 · 3000 fetched · ...`.
pub fn page_line(
    pages: u64,
    fetched: u64,
    queued: u64,
    total: Option<u64>,
    elapsed: Duration,
) -> String {
    let so_far = match total {
        Some(t) => {
            let pct = (fetched * 100).checked_div(t).map_or(100, |p| p.min(100));
            let eta = eta(fetched, t, elapsed)
                .map(|d| format!(" · ETA {} s", d.as_secs()))
                .unwrap_or_default();
            format!("{fetched} of ~{t} records ({pct}%){eta}")
        }
        None => format!("{fetched} fetched"),
    };
    format!("page {pages} · {so_far} · {queued} queued for Oomnitza")
}

/// The time left at the rate so far; `None` before there is a rate, or
/// once the count is reached.
pub fn eta(done: u64, total: u64, elapsed: Duration) -> Option<Duration> {
    if done == 0 || done >= total {
        return None;
    }
    let per = elapsed.as_secs_f64() / done as f64;
    // The hint is the connector's word: an absurd one must not panic.
    Duration::try_from_secs_f64(per * (total - done) as f64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lines_show_a_total_and_an_eta_when_there_is_one() {
        let s = Duration::from_secs;
        assert_eq!(
            page_line(3, 3000, 2900, Some(10_000), s(3)),
            "page 3 · 3000 of ~10000 records (30%) · ETA 7 s · 2900 queued for Oomnitza"
        );
        assert_eq!(
            page_line(1, 1000, 1000, None, s(1)),
            "page 1 · 1000 fetched · 1000 queued for Oomnitza"
        );
        // A listing past its hint: 100%, no ETA.
        assert_eq!(
            page_line(11, 10_500, 10_500, Some(10_000), s(9)),
            "page 11 · 10500 of ~10000 records (100%) · 10500 queued for Oomnitza"
        );
        assert_eq!(eta(0, 10, s(1)), None);
        assert_eq!(eta(5, 10, s(5)), Some(s(5)));
        // A hostile hint: no panic, no ETA.
        assert_eq!(eta(1, u64::MAX, s(100_000)), None);
        let _ = page_line(1, 1, 1, Some(u64::MAX), s(100_000));
    }
}
