//! Rate-limit windows behind the `X-RateLimit-*` headers every response carries.
//!
//! The only documented limit is the one on `GET …/events`: 10 requests a minute, enforced here
//! with a fixed one-minute window and `429` + `Retry-After` beyond it. Other endpoints have no
//! documented number; they advertise a generous window (see [`GENERAL_LIMIT`]) that the
//! simulator counts but does not enforce, so that throttling elsewhere happens only through the
//! deterministic `429` fault and never slows a benchmark by accident.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::wall_now_ms;

/// Requests a minute the `events` endpoint allows (documented since May 2025).
pub(crate) const EVENTS_LIMIT: u64 = 10;
/// Requests a minute advertised (not enforced) for every other endpoint.
pub(crate) const GENERAL_LIMIT: u64 = 100_000;

const PERIOD: Duration = Duration::from_secs(60);

/// The headers' values for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    pub limit: u64,
    pub remaining: u64,
    /// When the window resets, epoch milliseconds (wall clock).
    pub reset_ms: i64,
    /// The request is over an enforced limit.
    pub exceeded: bool,
}

impl Quota {
    /// Whole seconds until the window resets (at least 1), for `Retry-After`.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        u64::try_from((self.reset_ms - wall_now_ms()).max(0))
            .unwrap_or(0)
            .div_ceil(1000)
            .max(1)
    }
}

struct WindowState {
    started: Instant,
    started_ms: i64,
    used: u64,
}

/// A fixed one-minute window that starts with the first request after the last one expired.
pub(crate) struct Window {
    limit: u64,
    enforced: bool,
    state: Mutex<Option<WindowState>>,
}

impl Window {
    pub(crate) fn new(limit: u64, enforced: bool) -> Window {
        Window {
            limit,
            enforced,
            state: Mutex::new(None),
        }
    }

    /// Counts one request.
    pub(crate) fn take(&self) -> Quota {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let state = match guard.as_mut() {
            Some(state) if now.duration_since(state.started) < PERIOD => state,
            _ => guard.insert(WindowState {
                started: now,
                started_ms: wall_now_ms(),
                used: 0,
            }),
        };
        state.used += 1;
        Quota {
            limit: self.limit,
            remaining: self.limit.saturating_sub(state.used),
            reset_ms: state.started_ms + PERIOD.as_millis() as i64,
            exceeded: self.enforced && state.used > self.limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enforced_window_refuses_after_its_limit() {
        let window = Window::new(3, true);
        let quotas: Vec<Quota> = (0..4).map(|_| window.take()).collect();
        assert_eq!(
            quotas.iter().map(|q| q.remaining).collect::<Vec<_>>(),
            [2, 1, 0, 0]
        );
        assert_eq!(
            quotas.iter().map(|q| q.exceeded).collect::<Vec<_>>(),
            [false, false, false, true]
        );
        assert!((1..=60).contains(&quotas[3].retry_after_secs()));
    }

    #[test]
    fn advisory_window_never_refuses() {
        let window = Window::new(1, false);
        window.take();
        let quota = window.take();
        assert_eq!((quota.remaining, quota.exceeded), (0, false));
    }
}
