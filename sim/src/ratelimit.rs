//! Rate-limit windows behind the `X-RateLimit-*` headers every response carries.
//!
//! The only documented limit is the one on `GET …/events`: 10 requests a minute, enforced here
//! with a fixed one-minute window and `429` + `Retry-After` beyond it. Other endpoints have no
//! documented number; they advertise a generous window (see [`GENERAL_LIMIT`]) that the
//! simulator counts but does not enforce, so that throttling elsewhere happens only through the
//! deterministic `429` fault and never slows a benchmark by accident, unless
//! [`SimConfig::rate_limit`](crate::SimConfig::rate_limit) asks for the gateway's limiter: a
//! per-minute window on every endpoint that, once tripped, refuses everything until the minute
//! ends, announcing the reset only in `X-RateLimit-Reset` at minute precision.

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
    /// The gateway's limiter: windows are the wall clock's minutes, so the reset it
    /// announces at minute precision is exact.
    on_the_minute: Option<Mutex<(i64, u64)>>,
}

impl Window {
    pub(crate) fn new(limit: u64, enforced: bool) -> Window {
        Window {
            limit,
            enforced,
            state: Mutex::new(None),
            on_the_minute: None,
        }
    }

    /// An enforced limit of `limit` requests per wall-clock minute: once tripped, every
    /// request is refused until the minute ends.
    pub(crate) fn per_minute(limit: u64) -> Window {
        Window {
            on_the_minute: Some(Mutex::new((i64::MIN, 0))),
            ..Window::new(limit, true)
        }
    }

    /// Counts one request against a per-minute window.
    fn take_on_the_minute(&self, minute: &Mutex<(i64, u64)>) -> Quota {
        let mut guard = minute.lock().unwrap_or_else(|e| e.into_inner());
        let this_minute = wall_now_ms().div_euclid(60_000);
        if guard.0 != this_minute {
            *guard = (this_minute, 0);
        }
        guard.1 += 1;
        Quota {
            limit: self.limit,
            remaining: self.limit.saturating_sub(guard.1),
            reset_ms: (this_minute + 1) * 60_000,
            exceeded: guard.1 > self.limit,
        }
    }

    /// Counts one request.
    pub(crate) fn take(&self) -> Quota {
        if let Some(minute) = &self.on_the_minute {
            return self.take_on_the_minute(minute);
        }
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
    fn a_per_minute_window_resets_on_the_minute() {
        let window = Window::per_minute(1);
        let first = window.take();
        let second = window.take();
        assert!(!first.exceeded);
        // Unless the minute turned between the two takes.
        assert!(second.exceeded || second.reset_ms > first.reset_ms);
        assert_eq!(second.reset_ms % 60_000, 0);
    }

    #[test]
    fn advisory_window_never_refuses() {
        let window = Window::new(1, false);
        window.take();
        let quota = window.take();
        assert_eq!((quota.remaining, quota.exceeded), (0, false));
    }
}
