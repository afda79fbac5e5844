//! Bounded retries. Decides, for one answer to one request, whether the
//! request is done or is sent again after a wait; the waiting itself is the
//! scheduler's, so a request that waits holds up no other.
//!
//! - 429: wait what `Retry-After` says (seconds or an HTTP date), else until
//!   `X-RateLimit-Reset` (Unix seconds, or ISO 8601 in any form, minute
//!   precision included: `2026-12-01T18:05Z`), else exponential backoff;
//!   the SDK reads the headers ([`watchdog_sdk::retry`]). A tripped limiter refuses
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

use std::time::Duration;

use watchdog_sdk::retry::{Backoff, rate_limit_reset_ms, retry_after};

use crate::api::Endpoint;
use crate::failure::Failure;
use crate::transport::{Request, Response, TransportError};
use crate::upstream::status_error;

/// Retry limits; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Sends per request, the first included.
    pub max_attempts: u32,
    /// The wait before a retry the upstream did not time, and the longest
    /// single wait.
    pub backoff: Backoff,
    /// The most one request may spend waiting, all retries together.
    pub max_total_wait: Duration,
    /// How long a collection may run: a wait until a rate limit's reset is
    /// taken only if it ends within this time of the collection's start.
    /// The default stays under the host's default wall-clock limit of 30
    /// minutes.
    pub run_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            backoff: Backoff::default(),
            max_total_wait: Duration::from_secs(300),
            run_budget: Duration::from_secs(25 * 60),
        }
    }
}

/// What one request has been through so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    sent: u32,
    waited: Duration,
    /// Sends answered by a tripped limiter that announced its reset.
    reset_waits: u32,
}

/// What to do after an answer.
#[derive(Debug)]
pub enum Verdict {
    /// Final: a 2xx response, or the failure to report.
    Done(Result<Response, Failure>),
    /// Send the request again after this wait.
    RetryIn(Duration),
    /// Rate limited: send it again when the limiter resets, at `at_ms`
    /// (epoch milliseconds), `wait` from now.
    AwaitReset { wait: Duration, at_ms: i64 },
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
        let (asked, error) = match answer {
            Ok(response) if (200..300).contains(&response.status) => {
                return Verdict::Done(Ok(response));
            }
            Ok(response) if let Some(at_ms) = limiter_reset_ms(&response, now_ms) => {
                let wait = Duration::from_millis(u64::try_from(at_ms - now_ms).unwrap_or(0));
                let budget_end = started_ms
                    .saturating_add(i64::try_from(self.run_budget.as_millis()).unwrap_or(i64::MAX));
                if at_ms > budget_end {
                    return Verdict::Done(Err(status_error(
                        endpoint,
                        request,
                        &response,
                        tries,
                        Some(wait),
                    )));
                }
                attempts.reset_waits += 1;
                attempts.waited += wait;
                return Verdict::AwaitReset { wait, at_ms };
            }
            Ok(response) if response.status == 429 || response.status >= 500 => {
                let asked = retry_after(&response, now_ms);
                let error = status_error(endpoint, request, &response, tries, asked);
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
        let wait = asked.unwrap_or_else(|| self.backoff.wait(tries, random()));
        if tries - attempts.reset_waits >= self.max_attempts
            || wait > self.backoff.max
            || attempts.waited + wait > self.max_total_wait
        {
            return Verdict::Done(Err(error));
        }
        attempts.waited += wait;
        Verdict::RetryIn(wait)
    }
}

/// When a 429 without `Retry-After` says its limiter resets: its
/// `X-RateLimit-Reset`, if still ahead. A reset already past says nothing
/// useful and falls back to backoff.
fn limiter_reset_ms(response: &Response, now_ms: i64) -> Option<i64> {
    if response.status != 429 || response.header("retry-after").is_some() {
        return None;
    }
    rate_limit_reset_ms(response).filter(|at| *at > now_ms)
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

    /// The wait a final rate-limit failure reports.
    fn final_wait(verdict: Verdict) -> Option<Duration> {
        match verdict {
            Verdict::Done(Err(Failure::RateLimited { retry_after, .. })) => retry_after,
            other => panic!("not a final rate limit: {other:?}"),
        }
    }

    #[test]
    fn retry_after_seconds_and_dates_are_waited() {
        let p = RetryPolicy::default();
        let mut a = Attempts::default();
        assert!(matches!(
            judge(&p, &mut a, answer(429, &[("retry-after", "7")])),
            Verdict::RetryIn(wait) if wait == Duration::from_secs(7)
        ));
        // now is 1_000_000 ms = 00:16:40; the date asks for 00:17:00.
        assert!(matches!(
            judge(
                &p,
                &mut a,
                answer(429, &[("retry-after", "Thu, 01 Jan 1970 00:17:00 GMT")])
            ),
            Verdict::RetryIn(wait) if wait == Duration::from_secs(20)
        ));
    }

    #[test]
    fn reset_header_is_used_only_without_retry_after() {
        let p = RetryPolicy::default();
        let reset = ("x-ratelimit-reset", "1970-01-01T00:16:45Z");
        assert!(matches!(
            judge(&p, &mut Attempts::default(), answer(429, &[reset])),
            Verdict::AwaitReset {
                wait,
                at_ms: 1_005_000
            } if wait == Duration::from_secs(5)
        ));
        assert!(matches!(
            judge(
                &p,
                &mut Attempts::default(),
                answer(429, &[reset, ("retry-after", "2")])
            ),
            Verdict::RetryIn(wait) if wait == Duration::from_secs(2)
        ));
    }

    #[test]
    fn a_reset_in_unix_seconds_is_waited_for_as_the_sdk_reads_it() {
        // now is 1_000_000 ms; the limiter resets at 1030 s.
        let reset = ("x-ratelimit-reset", "1030");
        assert!(matches!(
            judge(&RetryPolicy::default(), &mut Attempts::default(), answer(429, &[reset])),
            Verdict::AwaitReset { wait, at_ms: 1_030_000 } if wait == Duration::from_secs(30)
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
                Verdict::AwaitReset { wait, .. } if wait == Duration::from_secs(20)
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
            run_budget: Duration::from_millis(1_010_000),
            ..RetryPolicy::default()
        };
        let reset = ("x-ratelimit-reset", "1970-01-01T00:17Z");
        assert_eq!(
            final_wait(judge(&p, &mut Attempts::default(), answer(429, &[reset]))),
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops_at_the_attempt_cap() {
        let p = RetryPolicy::default();
        let mut a = Attempts::default();
        let mut waits = vec![];
        loop {
            match judge(&p, &mut a, answer(502, &[])) {
                Verdict::RetryIn(wait) => waits.push(wait),
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
        let ceilings: Vec<Duration> = [500u64, 1000, 2000, 4000, 8000]
            .iter()
            .map(|c| Duration::from_millis(u64::MAX % (c + 1)))
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
        assert_eq!(final_wait(v), Some(Duration::from_secs(3600)));
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
