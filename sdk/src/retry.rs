//! When to send a request again: what an answer asks for (`Retry-After`,
//! `X-RateLimit-Reset`) and the backoff when it asks nothing. Pure (no
//! clock, no randomness of its own), so that [`crate::http::Client`] and an
//! integration with a scheduler of its own read the headers the same way
//! and test the policy natively.

use std::time::Duration;

use crate::dates::{parse_http_date_ms, parse_iso8601_ms};
use crate::http::Response;

/// The wait `Retry-After` asks for: delta-seconds, or an HTTP date (a date
/// already past asks for no wait).
pub fn retry_after(response: &Response, now_ms: i64) -> Option<Duration> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    parse_http_date_ms(value).map(|at| until(at, now_ms))
}

/// When the rate limiter resets, by `X-RateLimit-Reset` (epoch
/// milliseconds): Unix seconds, or an ISO 8601 time in any of the forms
/// [`parse_iso8601_ms`] reads (the Atlassian gateway writes
/// `2026-12-01T18:05Z`).
pub fn rate_limit_reset_ms(response: &Response) -> Option<i64> {
    let value = response.header("x-ratelimit-reset")?.trim();
    match value.parse::<i64>() {
        Ok(seconds) => Some(seconds.saturating_mul(1000)),
        Err(_) => parse_iso8601_ms(value),
    }
}

/// The wait an answer asks for: `Retry-After`, else the time left until
/// `X-RateLimit-Reset`. A reset already past says nothing useful.
pub fn asked_wait(response: &Response, now_ms: i64) -> Option<Duration> {
    retry_after(response, now_ms).or_else(|| {
        rate_limit_reset_ms(response)
            .filter(|at| *at > now_ms)
            .map(|at| until(at, now_ms))
    })
}

/// The time from `now_ms` to `at_ms`; zero if past.
fn until(at_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0))
}

/// Exponential backoff with full jitter: before retry `n` (the first is 1),
/// a uniformly random wait up to `base · 2^(n-1)`, capped at `max`, so that
/// requests that failed together do not return together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first wait; doubles with each further one.
    pub base: Duration,
    /// The longest single wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// From half a second, up to a minute.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before retry `retry` (1 for the first), drawn from `random`:
    /// `random` modulo one more than the ceiling, in milliseconds.
    pub fn wait(&self, retry: u32, random: u64) -> Duration {
        let ceiling = millis(self.base)
            .saturating_mul(1u64 << retry.saturating_sub(1).min(32))
            .min(millis(self.max));
        Duration::from_millis(random % (ceiling + 1))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &[(&str, &str)]) -> Response {
        Response::fake(429, headers, "")
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_an_http_date() {
        let wait = |value| retry_after(&response(&[("retry-after", value)]), 1_000_000);
        assert_eq!(wait("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            wait("Thu, 01 Jan 1970 00:17:00 GMT"),
            Some(Duration::from_secs(20))
        );
        assert_eq!(wait("Thu, 01 Jan 1970 00:00:01 GMT"), Some(Duration::ZERO));
        assert_eq!(wait("soon"), None);
    }

    #[test]
    fn the_reset_is_read_as_unix_seconds_or_any_iso_form() {
        let reset = |value| rate_limit_reset_ms(&response(&[("x-ratelimit-reset", value)]));
        assert_eq!(reset("1030"), Some(1_030_000));
        assert_eq!(reset("1970-01-01T00:17:00Z"), Some(1_020_000));
        assert_eq!(reset("1970-01-01T00:17Z"), Some(1_020_000));
        assert_eq!(reset("tomorrow"), None);
    }

    #[test]
    fn the_asked_wait_prefers_retry_after_then_a_reset_still_ahead() {
        let wait = |headers: &[(&str, &str)]| asked_wait(&response(headers), 1_000_000);
        assert_eq!(
            wait(&[("retry-after", "7"), ("x-ratelimit-reset", "1030")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1030")]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(wait(&[("x-ratelimit-reset", "900")]), None);
        assert_eq!(wait(&[]), None);
    }

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_cap() {
        let backoff = Backoff::default();
        let ceilings: Vec<Duration> = (1..=9).map(|n| backoff.wait(n, u64::MAX)).collect();
        let expected: Vec<Duration> = [500u64, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000]
            .iter()
            .map(|c| Duration::from_millis(u64::MAX % (c + 1)))
            .collect();
        assert_eq!(ceilings, expected);
        assert_eq!(backoff.wait(40, 0), Duration::ZERO);
    }
}
