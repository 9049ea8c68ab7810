//! The component's [`Sleeper`] over `wasi:clocks/monotonic-clock` (wasm32
//! only).

use std::time::Duration;

use wasi::clocks::monotonic_clock;

use crate::transport::Sleeper;

/// Reads and waits on the host's monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct WasiSleeper;

impl Sleeper for WasiSleeper {
    fn now(&mut self) -> Duration {
        Duration::from_nanos(monotonic_clock::now())
    }

    fn sleep(&mut self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        monotonic_clock::subscribe_duration(nanos).block();
    }
}
