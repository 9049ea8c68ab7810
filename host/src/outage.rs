//! Outage reporting: one warning per endpoint and state change, with a
//! count, instead of one per failed attempt.
//!
//! Sixteen bulk posts retrying five times through an Oomnitza outage would
//! otherwise print eighty lines saying the same thing. Here the first
//! failure of an endpoint is a warning ("failing: ..., retrying"), further
//! failures of the same kind are only counted (debug), a different failure
//! (a 502 turning into timeouts, or a 429) is a warning again, and the
//! first success after failures says how many there were. The tracker is
//! shared by the whole process, so every client and task feeds one story.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// What is known to be failing, by endpoint (`POST /api/v3/bulk`).
#[derive(Debug, Default)]
pub struct Outages {
    down: Mutex<HashMap<String, Down>>,
}

#[derive(Debug)]
struct Down {
    /// The kind of failure (`502`, `429`, `network`): a change is news.
    kind: String,
    failures: u64,
    since: Instant,
}

/// What a call to [`Outages::failed`] or [`Outages::succeeded`] logged, for
/// tests; `None` when it only counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    Failing,
    Changed,
    Recovered(u64),
}

impl Outages {
    /// An attempt on `endpoint` failed with `error` (of `kind`); the caller
    /// retries after `wait`.
    pub fn failed(
        &self,
        endpoint: &str,
        kind: &str,
        error: &str,
        wait: Duration,
    ) -> Option<Logged> {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        match down.get_mut(endpoint) {
            None => {
                down.insert(
                    endpoint.to_string(),
                    Down {
                        kind: kind.to_string(),
                        failures: 1,
                        since: Instant::now(),
                    },
                );
                tracing::warn!(
                    "{endpoint} is failing: {error}; retrying in {:.1} s (further failures like this one are counted, and reported when it recovers)",
                    wait.as_secs_f64()
                );
                Some(Logged::Failing)
            }
            Some(d) if d.kind != kind => {
                d.failures += 1;
                let before = std::mem::replace(&mut d.kind, kind.to_string());
                tracing::warn!(
                    "{endpoint} now fails differently: {error} (after {} failed attempts, the last ones {before}); retrying in {:.1} s",
                    d.failures - 1,
                    wait.as_secs_f64()
                );
                Some(Logged::Changed)
            }
            Some(d) => {
                d.failures += 1;
                tracing::debug!(
                    "{endpoint}: failed attempt {} ({error}); retrying in {wait:?}",
                    d.failures
                );
                None
            }
        }
    }

    /// An attempt on `endpoint` succeeded.
    pub fn succeeded(&self, endpoint: &str) -> Option<Logged> {
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
        let d = down.remove(endpoint)?;
        tracing::warn!(
            "{endpoint} recovered after {} failed attempt(s) over {:.1} s",
            d.failures,
            d.since.elapsed().as_secs_f64()
        );
        Some(Logged::Recovered(d.failures))
    }
}

static GLOBAL: LazyLock<Outages> = LazyLock::new(Outages::default);

/// The process's tracker.
pub fn global() -> &'static Outages {
    &GLOBAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_endpoint_and_state_change() {
        let o = Outages::default();
        let w = Duration::from_millis(10);
        let bulk = "POST /api/v3/bulk";
        assert_eq!(
            o.failed(bulk, "502", "502 Bad Gateway", w),
            Some(Logged::Failing)
        );
        for _ in 0..79 {
            assert_eq!(o.failed(bulk, "502", "502 Bad Gateway", w), None);
        }
        // Another endpoint has its own story.
        assert_eq!(
            o.failed("GET /api/v3/users", "502", "x", w),
            Some(Logged::Failing)
        );
        assert_eq!(
            o.failed(bulk, "429", "429 slow down", w),
            Some(Logged::Changed)
        );
        assert_eq!(o.failed(bulk, "429", "429 slow down", w), None);
        assert_eq!(o.succeeded(bulk), Some(Logged::Recovered(82)));
        assert_eq!(o.succeeded(bulk), None, "up already");
        assert_eq!(o.failed(bulk, "502", "again", w), Some(Logged::Failing));
    }
}
