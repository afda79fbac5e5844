//! The seam between the integration's logic and the world: HTTP, time,
//! randomness and the host's evidence sink. The wasm glue implements these
//! traits over `wasi:http` and the host imports; tests implement them with a
//! scripted fake, so every behaviour here is exercised natively.

use std::time::Duration;

use crate::contract::{Error, Evidence, Level};

/// Requests and responses are the SDK's: its `wasi:http` transport sends
/// exactly these. `headers` never holds `authorization`: the host injects
/// the API key itself, so the key never enters the component.
pub use watchdog_sdk::http::{Method, Request, Response, TransportError};

/// HTTP, clock and randomness, as the host provides them.
pub trait Transport {
    /// Sends the requests concurrently and returns their results in the same
    /// order. The glue starts every request, then polls them all, so the
    /// round takes as long as the slowest request, not the sum. `meanwhile`
    /// runs once, while the requests are on their way, so that work left
    /// from earlier answers overlaps the wait for these instead of adding
    /// to it.
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>>;
    /// Waits. Retries wait through this so that tests run on a fake clock.
    /// The default is the standard library's, which on `wasm32-wasip2` is
    /// the host's `wasi:clocks`.
    fn sleep(&mut self, duration: Duration) {
        std::thread::sleep(duration);
    }
    /// Unix epoch milliseconds from the host clock (the standard library's
    /// wall clock, natively and in the component alike).
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
    /// Randomness for retry jitter. The default takes a fresh `RandomState`,
    /// which is seeded from the operating system's randomness (in the
    /// component, the host's `wasi:random`): unpredictable, which is all
    /// jitter needs.
    fn random_u64(&mut self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    }
}

/// Where evidence and log lines go: the host's `emit` and `log` imports.
pub trait Sink {
    /// Hands one batch to the host. An error means the host refused the batch;
    /// the collection stops and returns it.
    fn emit(&mut self, batch: Vec<Evidence<'_>>) -> Result<(), Error>;
    /// Writes a line to the run's log.
    fn log(&mut self, level: Level, message: &str);
}
