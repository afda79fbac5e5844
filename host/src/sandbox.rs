//! Sandbox limits and how they are enforced: linear memory through a
//! [`wasmtime::ResourceLimiter`], CPU through epoch ticks, wall-clock time per
//! call, response size and requests in flight (enforced in
//! [`crate::outbound`]).
//!
//! CPU is counted in ticks of [`TICK`]: the engine's epoch advances every tick,
//! and a guest that is running when it does gets a callback. A callback that
//! follows the previous one by about one tick means the guest ran the whole
//! tick, and that tick is charged; after a pause (the guest was waiting on the
//! host, for HTTP) nothing is charged. So an endless loop exhausts its budget
//! at the promised rate, while time spent waiting on the network does not count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{Engine, ResourceLimiter};

/// How often the engine's epoch advances.
pub const TICK: Duration = Duration::from_millis(10);

/// The limits of one run. Each is a CLI flag; these defaults suit a
/// collection of a large organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Guest linear memory, bytes.
    pub memory_bytes: u64,
    /// Guest CPU per call.
    pub cpu_per_call: Duration,
    /// Wall-clock time per call.
    pub wall_per_call: Duration,
    /// Largest response body delivered to the guest, bytes.
    pub response_bytes: u64,
    /// Requests waiting for a response at once.
    pub requests_in_flight: usize,
    /// Connect timeout per request (also bounded by the call's remaining time).
    pub connect_timeout: Duration,
    /// Time to the first response byte and between bytes.
    pub read_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            cpu_per_call: Duration::from_secs(300),
            wall_per_call: Duration::from_secs(1800),
            response_bytes: 16 << 20,
            requests_in_flight: 8,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

/// A limit the guest crossed. Returned as the trap's error so the caller can
/// tell a sandbox violation from a plugin bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("guest linear memory would exceed {limit} bytes (asked for {requested})")]
    Memory { limit: u64, requested: u64 },
    #[error("guest used more than {limit:?} of CPU in one call")]
    Cpu { limit: Duration },
    #[error("call took longer than the wall-clock limit of {limit:?}")]
    WallClock { limit: Duration },
    #[error("guest tables would exceed {limit} elements")]
    Table { limit: usize },
}

/// Enforces the memory limit, and counts CPU ticks.
#[derive(Debug)]
pub struct Meter {
    limits: Limits,
    cpu_used: Duration,
    last_tick: Option<Instant>,
    /// Largest linear memory the guest reached, for `run.json` and benchmarks.
    pub peak_memory: u64,
}

const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl Meter {
    pub fn new(limits: Limits) -> Meter {
        Meter {
            limits,
            cpu_used: Duration::ZERO,
            last_tick: None,
            peak_memory: 0,
        }
    }

    /// Starts a call: the CPU budget is per call.
    pub fn start_call(&mut self) {
        self.cpu_used = Duration::ZERO;
        self.last_tick = None;
    }

    /// Called on each epoch tick while the guest runs.
    pub fn tick(&mut self, now: Instant) -> Result<(), Violation> {
        if let Some(last) = self.last_tick
            && now.duration_since(last) < TICK * 2
        {
            self.cpu_used += now.duration_since(last);
        }
        self.last_tick = Some(now);
        if self.cpu_used > self.limits.cpu_per_call {
            Err(Violation::Cpu {
                limit: self.limits.cpu_per_call,
            })
        } else {
            Ok(())
        }
    }
}

impl ResourceLimiter for Meter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limits.memory_bytes {
            return Err(Violation::Memory {
                limit: self.limits.memory_bytes,
                requested: desired as u64,
            }
            .into());
        }
        self.peak_memory = self.peak_memory.max(desired as u64);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(Violation::Table {
                limit: MAX_TABLE_ELEMENTS,
            }
            .into());
        }
        Ok(true)
    }
}

/// Advances an engine's epoch every [`TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("watchdog-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(cpu_ms: u64) -> Meter {
        Meter::new(Limits {
            cpu_per_call: Duration::from_millis(cpu_ms),
            ..Limits::default()
        })
    }

    #[test]
    fn continuous_running_is_charged() {
        let mut meter = meter(50);
        let start = Instant::now();
        let mut result = Ok(());
        for i in 0..20 {
            result = meter.tick(start + TICK * i);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(Violation::Cpu { .. })));
    }

    #[test]
    fn waiting_on_the_host_is_not_charged() {
        let mut meter = meter(50);
        let start = Instant::now();
        // One tick of running after each long wait: never near the budget.
        for i in 0..100 {
            meter.tick(start + Duration::from_secs(i)).unwrap();
        }
    }

    #[test]
    fn memory_beyond_the_limit_is_a_violation() {
        let mut meter = Meter::new(Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        });
        assert!(meter.memory_growing(0, 1 << 19, None).unwrap());
        let err = meter.memory_growing(0, 2 << 20, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Violation>(),
            Some(Violation::Memory { .. })
        ));
        assert_eq!(meter.peak_memory, 1 << 19);
    }
}
