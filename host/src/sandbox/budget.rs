//! Per-call accounting of one instance's requests: how many it made
//! (refused ones included), how many are in flight (until the response body
//! is read to its end or dropped), whether HTTP is allowed at all in this
//! call, and the first limit it breached. A breach is turned into the
//! call's error by the instance.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct CallBudget {
    pub(super) requests: AtomicU32,
    in_flight: AtomicU32,
    /// Set for calls the contract says make no HTTP request (`describe`,
    /// `map-records`): the name of the call.
    http_denied: Mutex<Option<&'static str>>,
    breach: Mutex<Option<String>>,
}

impl CallBudget {
    /// Starts a new call; `no_http` names a call that may make no request.
    pub fn reset(&self, no_http: Option<&'static str>) {
        self.requests.store(0, Ordering::Relaxed);
        if let Ok(mut b) = self.breach.lock() {
            *b = None;
        }
        if let Ok(mut d) = self.http_denied.lock() {
            *d = no_http;
        }
    }

    /// The call in progress, if it may make no HTTP request.
    pub fn http_denied(&self) -> Option<&'static str> {
        self.http_denied.lock().ok().and_then(|d| *d)
    }

    /// Whether the call has breached a limit (it is being stopped).
    pub fn breached(&self) -> bool {
        self.breach.lock().map(|b| b.is_some()).unwrap_or(true)
    }

    /// The limit the call breached, if any.
    pub fn take_breach(&self) -> Option<String> {
        self.breach.lock().ok().and_then(|mut b| b.take())
    }

    /// Records a breach (the first one wins); the call will end with it.
    pub fn breach(&self, what: String) {
        tracing::warn!("sandbox: {what}");
        if let Ok(mut b) = self.breach.lock() {
            b.get_or_insert(what);
        }
    }

    /// Counts one more request in this call; `Err` past `max`.
    pub fn count_request(&self, max: u32) -> Result<(), String> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if n > max {
            return Err(format!(
                "the component made more than {max} requests in one call (limits.max_requests_per_call), refused ones included"
            ));
        }
        Ok(())
    }

    /// Takes an in-flight slot; `Err` (the slot already released) past `max`.
    pub fn enter_flight(self: &Arc<Self>, max: u32) -> Result<Arc<InFlight>, String> {
        let concurrent = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Arc::new(InFlight(self.clone()));
        if concurrent > max {
            return Err(format!(
                "the component had more than {max} requests in flight, unread response bodies included (limits.max_concurrent_requests)"
            ));
        }
        Ok(slot)
    }
}

/// One in-flight request: held by the sender and by the response body, so
/// the slot is free only when the body has been read to its end or dropped
/// (an open body holds a connection and a file descriptor).
#[derive(Debug)]
pub struct InFlight(Arc<CallBudget>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Requests in flight now (for tests).
#[cfg(test)]
pub(crate) fn in_flight(b: &CallBudget) -> u32 {
    b.in_flight.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_held_until_every_holder_drops() {
        let b = Arc::new(CallBudget::default());
        let slot = b.enter_flight(1).unwrap();
        let body_holds = slot.clone();
        drop(slot);
        assert_eq!(in_flight(&b), 1, "the body still holds the slot");
        assert!(
            b.enter_flight(1).is_err(),
            "a second request is over the cap"
        );
        drop(body_holds);
        assert_eq!(in_flight(&b), 0);
        assert!(b.enter_flight(1).is_ok());
    }

    #[test]
    fn requests_past_the_cap_are_refused() {
        let b = CallBudget::default();
        assert!(b.count_request(2).is_ok());
        assert!(b.count_request(2).is_ok());
        let err = b.count_request(2).unwrap_err();
        assert!(err.contains("limits.max_requests_per_call"), "{err}");
        b.reset(None);
        assert!(b.count_request(2).is_ok());
    }
}
