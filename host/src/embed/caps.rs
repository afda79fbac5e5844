//! The worker's global caps: runs at once, and guest memory at once. A run
//! reserves its whole memory limit before it starts, so the runs admitted
//! can never together exceed the cap, whatever they do; a run that does not
//! fit waits for one that does to finish (first come, first served).
//!
//! A third, smaller cap orders starts: at most `starting` admitted runs are
//! between making their instance and sending their first request at once.
//! Runs admitted together (a schedule's batch) then start one after another
//! at full speed instead of all at once at a thousandth of it each: the
//! first requests leave sooner, and the time a run waits is counted as
//! queued, where it belongs, not as start-up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes in a MiB, the unit memory is reserved in.
const MIB: u64 = 1 << 20;

/// A run that no amount of waiting would admit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the run's memory limit of {limit_mib} MiB exceeds the worker's total guest memory of \
     {cap_mib} MiB: it could never start (--max-guest-memory-mib)"
)]
pub struct TooLarge {
    /// The run's memory limit, MiB (rounded up).
    pub limit_mib: u64,
    /// The worker's cap, MiB.
    pub cap_mib: u64,
}

/// Runs and guest memory the worker admits at once.
#[derive(Debug)]
pub struct Caps {
    runs: Arc<Semaphore>,
    starting: Arc<Semaphore>,
    memory_mib: Arc<Semaphore>,
    cap_mib: u64,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// Room for one run, held while it runs and given back when dropped.
#[derive(Debug)]
pub struct Admission {
    _run: OwnedSemaphorePermit,
    _memory: OwnedSemaphorePermit,
    running: Arc<AtomicUsize>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Caps {
    /// At most `runs` runs whose memory limits add up to at most
    /// `memory_mib` MiB, of which at most `starting` start at once.
    pub fn new(runs: usize, memory_mib: u64, starting: usize) -> Caps {
        let memory_mib = memory_mib.min(Semaphore::MAX_PERMITS as u64);
        Caps {
            runs: Arc::new(Semaphore::new(runs)),
            starting: Arc::new(Semaphore::new(starting.max(1))),
            memory_mib: Arc::new(Semaphore::new(memory_mib as usize)),
            cap_mib: memory_mib,
            running: Arc::default(),
            peak: Arc::default(),
        }
    }

    /// Waits until a run with this memory limit fits, then holds its room.
    pub async fn admit(&self, memory_bytes: u64) -> Result<Admission, TooLarge> {
        let limit_mib = memory_bytes.div_ceil(MIB);
        let too_large = TooLarge {
            limit_mib,
            cap_mib: self.cap_mib,
        };
        let permits = u32::try_from(limit_mib).map_err(|_| too_large.clone())?;
        if limit_mib > self.cap_mib {
            return Err(too_large);
        }
        let closed = "the caps' semaphores are never closed";
        let run = self.runs.clone().acquire_owned().await.expect(closed);
        let memory = (self.memory_mib.clone().acquire_many_owned(permits).await).expect(closed);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Ok(Admission {
            _run: run,
            _memory: memory,
            running: self.running.clone(),
        })
    }

    /// Waits for a turn to start an admitted run; the turn ends when the
    /// permit is dropped (at the run's first request, or its end).
    pub async fn start(&self) -> OwnedSemaphorePermit {
        let starting = self.starting.clone().acquire_owned().await;
        starting.expect("the caps' semaphores are never closed")
    }

    /// The most runs that were admitted at once so far.
    pub fn peak_runs(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_run_larger_than_the_whole_memory_cap_is_refused_not_queued_forever() {
        let caps = Caps::new(4, 100, 1);
        let error = caps.admit(101 * MIB).await.unwrap_err();
        assert_eq!(
            error,
            TooLarge {
                limit_mib: 101,
                cap_mib: 100
            }
        );
        assert!(caps.admit(100 * MIB).await.is_ok());
    }

    #[tokio::test]
    async fn a_run_waits_for_memory_another_gives_back() {
        let caps = Arc::new(Caps::new(4, 100, 1));
        let first = caps.admit(60 * MIB).await.unwrap();
        let waiting = tokio::spawn({
            let caps = caps.clone();
            async move { caps.admit(60 * MIB).await.map(drop) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "admitted beyond the memory cap");
        drop(first);
        waiting.await.unwrap().unwrap();
        assert_eq!(caps.peak_runs(), 1);
    }
}
