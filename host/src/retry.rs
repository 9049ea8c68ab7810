//! The one retry policy every HTTP path follows: the component's vendor
//! calls (retried by the host around `fetch`) and the host's own Oomnitza
//! calls.
//!
//! - 429: wait what `Retry-After` (or the body's `retry_after`) says, at
//!   most [`MAX_WAIT`];
//! - 5xx, connection resets and timeouts: exponential backoff with jitter;
//! - 400, 403, 409 and other client errors: never retried;
//! - attempts are bounded (`limits.max_retries`), and so is the total time
//!   spent waiting ([`MAX_TOTAL`]).

use std::time::{Duration, Instant};

/// The longest single wait, whatever a server asks.
pub const MAX_WAIT: Duration = Duration::from_secs(300);
/// The longest a call keeps retrying, in all.
pub const MAX_TOTAL: Duration = Duration::from_secs(900);

/// Exponential backoff with jitter: ~0.5 s, 1 s, 2 s, ... capped at 30 s.
pub fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    let base = base.min(30_000);
    // Jitter from the clock's sub-second noise: enough to spread retries.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
}

/// Tracks one call's retries against the attempt and time bounds.
#[derive(Debug)]
pub struct Retry {
    started: Instant,
    attempts: u32,
    max_retries: u32,
}

impl Retry {
    pub fn new(max_retries: u32) -> Self {
        Self {
            started: Instant::now(),
            attempts: 0,
            max_retries,
        }
    }

    /// The wait before the next attempt, or `None` when the bounds are
    /// spent. `retry_after` is the server's ask (a 429); else backoff.
    pub fn next(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.attempts >= self.max_retries {
            return None;
        }
        self.attempts += 1;
        let wait = retry_after
            .map(|d| d.clamp(Duration::from_secs(1), MAX_WAIT))
            .unwrap_or_else(|| backoff(self.attempts));
        if self.started.elapsed() + wait > MAX_TOTAL {
            return None;
        }
        Some(wait)
    }

    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(1) <= Duration::from_millis(500));
        assert!(backoff(3) >= Duration::from_millis(1000));
        assert!(backoff(30) <= Duration::from_secs(30));
    }

    #[test]
    fn attempts_and_waits_are_bounded() {
        let mut r = Retry::new(2);
        assert_eq!(
            r.next(Some(Duration::from_secs(7))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(r.next(Some(Duration::from_secs(100_000))), Some(MAX_WAIT));
        assert_eq!(r.next(None), None);
        assert_eq!(r.attempts(), 2);
    }
}
