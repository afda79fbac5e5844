//! Bounded retries. Decides, for one answer to one request, whether the
//! request is done or is sent again after a wait; the waiting itself is the
//! scheduler's, so a request that waits holds up no other.
//!
//! - 429: wait what `Retry-After` says (seconds or an HTTP date), else until
//!   `X-RateLimit-Reset` (ISO 8601 in any form, minute precision included:
//!   `2026-12-01T18:05Z`), else exponential backoff. A tripped limiter refuses
//!   every request until its reset (notes §0), so a wait until the announced
//!   reset is not one of the quick retries: it does not count against the
//!   attempts nor the single-wait cap, only against the run's time budget.
//! - 5xx, transport timeouts and network errors: exponential backoff with full
//!   jitter (a uniformly random wait up to the backoff), so parallel requests
//!   that failed together do not return together; a 5xx `Retry-After` is
//!   honoured too.
//! - A host egress refusal and every other status are final at once.
//! - Caps: attempts per request, any single wait (a longer wait asked by the
//!   upstream ends the retries rather than being cut short, since retrying
//!   early would only be refused again), and the total waited per request.

use crate::api::Endpoint;
use std::time::Duration;

use crate::dates::{parse_http_date_ms, parse_iso_ms};
use crate::failure::Failure;
use crate::transport::{Request, Response, TransportError};
use crate::upstream::status_error;

/// Retry limits; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends per request, the first included.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles with each further one.
    pub base_delay_ms: u64,
    /// The longest single wait.
    pub max_delay_ms: u64,
    /// The most one request may spend waiting, all retries together.
    pub max_total_wait_ms: u64,
    /// How long a collection may run: a wait until a rate limit's reset is
    /// taken only if it ends within this time of the collection's start.
    /// The default stays under the host's default wall-clock limit of 30
    /// minutes.
    pub run_budget_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay_ms: 500,
            max_delay_ms: 60_000,
            max_total_wait_ms: 300_000,
            run_budget_ms: 25 * 60_000,
        }
    }
}

/// What one request has been through so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    sent: u32,
    waited_ms: u64,
    /// Sends answered by a tripped limiter that announced its reset.
    reset_waits: u32,
}

/// What to do after an answer.
#[derive(Debug)]
pub enum Verdict {
    /// Final: a 2xx response, or the error to report.
    Done(Result<Response, Failure>),
    /// Send the request again after this many milliseconds.
    RetryIn(u64),
    /// Rate limited: send it again when the limiter resets, at this time
    /// (epoch milliseconds), this many milliseconds from now.
    AwaitReset { ms: u64, at_ms: i64 },
}

impl RetryPolicy {
    /// Judges the answer to one send of `request`, in a collection that
    /// started at `started_ms`. `random` feeds the jitter.
    #[allow(clippy::too_many_arguments)]
    pub fn judge(
        &self,
        attempts: &mut Attempts,
        endpoint: &Endpoint,
        request: &Request,
        answer: Result<Response, TransportError>,
        now_ms: i64,
        started_ms: i64,
        random: &mut dyn FnMut() -> u64,
    ) -> Verdict {
        attempts.sent += 1;
        let what = format!("{} {}", request.method.as_str(), request.url);
        let tries = attempts.sent;
        let (asked_ms, error) = match answer {
            Ok(response) if (200..300).contains(&response.status) => {
                return Verdict::Done(Ok(response));
            }
            Ok(response) if let Some(at_ms) = limiter_reset_ms(&response, now_ms) => {
                let ms = u64::try_from(at_ms - now_ms).unwrap_or(0);
                let budget_end = started_ms
                    .saturating_add(i64::try_from(self.run_budget_ms).unwrap_or(i64::MAX));
                if at_ms > budget_end {
                    return Verdict::Done(Err(status_error(
                        endpoint,
                        request,
                        &response,
                        tries,
                        Some(Duration::from_millis(ms)),
                    )));
                }
                attempts.reset_waits += 1;
                attempts.waited_ms += ms;
                return Verdict::AwaitReset { ms, at_ms };
            }
            Ok(response) if response.status == 429 || response.status >= 500 => {
                let asked = asked_wait_ms(&response, now_ms);
                let error = status_error(
                    endpoint,
                    request,
                    &response,
                    tries,
                    asked.map(Duration::from_millis),
                );
                (asked, error)
            }
            Ok(response) => {
                return Verdict::Done(Err(status_error(endpoint, request, &response, tries, None)));
            }
            Err(TransportError::Denied(why)) => {
                return Verdict::Done(Err(Failure::Network(format!(
                    "{what} was refused by the host's egress policy: {why}"
                ))));
            }
            Err(TransportError::Timeout(why)) => (
                None,
                Failure::Timeout(format!("{what}: {why} ({tries} attempts)")),
            ),
            Err(TransportError::Network(why)) => (
                None,
                Failure::Network(format!("{what}: {why} ({tries} attempts)")),
            ),
        };
        let wait = asked_ms.unwrap_or_else(|| self.backoff_ms(tries, random()));
        if tries - attempts.reset_waits >= self.max_attempts
            || wait > self.max_delay_ms
            || attempts.waited_ms + wait > self.max_total_wait_ms
        {
            return Verdict::Done(Err(error));
        }
        attempts.waited_ms += wait;
        Verdict::RetryIn(wait)
    }

    /// Full jitter: uniform in `0..=min(max_delay, base · 2^(tries-1))`.
    fn backoff_ms(&self, tries: u32, random: u64) -> u64 {
        let ceiling = self
            .base_delay_ms
            .saturating_mul(1u64 << (tries - 1).min(32))
            .min(self.max_delay_ms);
        random % (ceiling + 1)
    }
}

/// The wait `Retry-After` asks for (any retryable status).
fn asked_wait_ms(response: &Response, now_ms: i64) -> Option<u64> {
    let value = response.header("retry-after")?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(seconds.saturating_mul(1000));
    }
    parse_http_date_ms(value).map(|at| u64::try_from(at - now_ms).unwrap_or(0))
}

/// When a 429 without `Retry-After` says its limiter resets: its
/// `X-RateLimit-Reset`, if still ahead. A reset already past says nothing
/// useful and falls back to backoff.
fn limiter_reset_ms(response: &Response, now_ms: i64) -> Option<i64> {
    if response.status != 429 || response.header("retry-after").is_some() {
        return None;
    }
    response
        .header("x-ratelimit-reset")
        .and_then(parse_iso_ms)
        .filter(|at| *at > now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Method;

    fn request() -> Request {
        Request {
            method: Method::Get,
            url: "https://api.atlassian.com/admin/v1/orgs/o/domains".into(),
            headers: vec![],
            body: None,
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)]) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: vec![],
        })
    }

    fn judge(
        policy: &RetryPolicy,
        attempts: &mut Attempts,
        answer: Result<Response, TransportError>,
    ) -> Verdict {
        policy.judge(
            attempts,
            &Endpoint::Domains,
            &request(),
            answer,
            1_000_000,
            0,
            &mut || u64::MAX,
        )
    }

    #[test]
    fn retry_after_seconds_and_dates_are_waited() {
        let p = RetryPolicy::default();
        let mut a = Attempts::default();
        assert!(matches!(
            judge(&p, &mut a, answer(429, &[("retry-after", "7")])),
            Verdict::RetryIn(7000)
        ));
        // now is 1_000_000 ms = 00:16:40; the date asks for 00:17:00.
        assert!(matches!(
            judge(
                &p,
                &mut a,
                answer(429, &[("retry-after", "Thu, 01 Jan 1970 00:17:00 GMT")])
            ),
            Verdict::RetryIn(20_000)
        ));
    }

    #[test]
    fn reset_header_is_used_only_without_retry_after() {
        let p = RetryPolicy::default();
        let reset = ("x-ratelimit-reset", "1970-01-01T00:16:45Z");
        assert!(matches!(
            judge(&p, &mut Attempts::default(), answer(429, &[reset])),
            Verdict::AwaitReset {
                ms: 5000,
                at_ms: 1_005_000
            }
        ));
        assert!(matches!(
            judge(
                &p,
                &mut Attempts::default(),
                answer(429, &[reset, ("retry-after", "2")])
            ),
            Verdict::RetryIn(2000)
        ));
    }

    #[test]
    fn a_minute_precision_reset_is_waited_for_however_many_times_within_the_budget() {
        let p = RetryPolicy::default();
        let mut a = Attempts::default();
        // now is 00:16:40; the limiter resets at 00:17 (the gateway's form).
        let reset = ("x-ratelimit-reset", "1970-01-01T00:17Z");
        for _ in 0..2 * p.max_attempts {
            assert!(matches!(
                judge(&p, &mut a, answer(429, &[reset])),
                Verdict::AwaitReset { ms: 20_000, .. }
            ));
        }
        // Quick retries keep their own count.
        assert!(matches!(
            judge(&p, &mut a, answer(503, &[])),
            Verdict::RetryIn(_)
        ));
    }

    #[test]
    fn a_reset_beyond_the_run_budget_ends_the_retries() {
        let p = RetryPolicy {
            run_budget_ms: 1_010_000,
            ..RetryPolicy::default()
        };
        let reset = ("x-ratelimit-reset", "1970-01-01T00:17Z");
        assert!(matches!(
            judge(&p, &mut Attempts::default(), answer(429, &[reset])),
            Verdict::Done(Err(Failure::RateLimited {
                retry_after: Some(wait),
                ..
            })) if wait == Duration::from_secs(20)
        ));
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops_at_the_attempt_cap() {
        let p = RetryPolicy::default();
        let mut a = Attempts::default();
        let mut waits = vec![];
        loop {
            match judge(&p, &mut a, answer(502, &[])) {
                Verdict::RetryIn(ms) => waits.push(ms),
                Verdict::Done(result) => {
                    assert!(matches!(
                        result,
                        Err(Failure::Status { status: 502, detail }) if detail.contains("after 6 attempts")
                    ));
                    break;
                }
                Verdict::AwaitReset { .. } => panic!("a 502 announces no reset"),
            }
        }
        // random = u64::MAX: u64::MAX % (ceiling + 1) for ceilings 500, 1000, 2000…
        let ceilings: Vec<u64> = [500u64, 1000, 2000, 4000, 8000]
            .iter()
            .map(|c| u64::MAX % (c + 1))
            .collect();
        assert_eq!(waits, ceilings);
    }

    #[test]
    fn longer_waits_than_the_cap_end_the_retries() {
        let p = RetryPolicy::default();
        let v = judge(
            &p,
            &mut Attempts::default(),
            answer(429, &[("retry-after", "3600")]),
        );
        assert!(matches!(
            v,
            Verdict::Done(Err(Failure::RateLimited {
                retry_after: Some(wait),
                ..
            })) if wait == Duration::from_secs(3600)
        ));
    }

    #[test]
    fn denials_and_client_errors_are_final() {
        let p = RetryPolicy::default();
        assert!(matches!(
            judge(
                &p,
                &mut Attempts::default(),
                Err(TransportError::Denied("not declared".into()))
            ),
            Verdict::Done(Err(Failure::Network(m))) if m.contains("egress policy")
        ));
        assert!(matches!(
            judge(&p, &mut Attempts::default(), answer(400, &[])),
            Verdict::Done(Err(Failure::Status { status: 400, .. }))
        ));
    }

    #[test]
    fn network_errors_are_retried_then_reported() {
        let p = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let mut a = Attempts::default();
        let reset = || Err(TransportError::Network("connection reset".into()));
        assert!(matches!(judge(&p, &mut a, reset()), Verdict::RetryIn(_)));
        assert!(matches!(
            judge(&p, &mut a, reset()),
            Verdict::Done(Err(Failure::Network(m))) if m.contains("2 attempts")
        ));
    }
}
