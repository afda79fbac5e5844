//! Bounded retries. Decides, for one answer to one request, whether the
//! request is done or is sent again after a wait; the waiting itself is the
//! scheduler's, so a request that waits holds up no other.
//!
//! - 429: wait what `Retry-After` says (seconds or an HTTP date), else until
//!   `X-RateLimit-Reset` (ISO 8601), else exponential backoff.
//! - 5xx, transport timeouts and network errors: exponential backoff with full
//!   jitter (a uniformly random wait up to the backoff), so parallel requests
//!   that failed together do not return together; a 5xx `Retry-After` is
//!   honoured too.
//! - A host egress refusal and every other status are final at once.
//! - Caps: attempts per request, any single wait (a longer wait asked by the
//!   upstream ends the retries rather than being cut short, since retrying
//!   early would only be refused again), and the total waited per request.

use crate::api::Endpoint;
use crate::contract::Error;
use crate::dates::{parse_http_date_ms, parse_iso_ms};
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay_ms: 500,
            max_delay_ms: 60_000,
            max_total_wait_ms: 300_000,
        }
    }
}

/// What one request has been through so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    sent: u32,
    waited_ms: u64,
}

/// What to do after an answer.
#[derive(Debug)]
pub enum Verdict {
    /// Final: a 2xx response, or the error to report.
    Done(Result<Response, Error>),
    /// Send the request again after this many milliseconds.
    RetryIn(u64),
}

impl RetryPolicy {
    /// Judges the answer to one send of `request`. `random` feeds the jitter.
    pub fn judge(
        &self,
        attempts: &mut Attempts,
        endpoint: &Endpoint,
        request: &Request,
        answer: Result<Response, TransportError>,
        now_ms: i64,
        random: &mut dyn FnMut() -> u64,
    ) -> Verdict {
        attempts.sent += 1;
        let what = format!("{} {}", request.method.as_str(), request.url);
        let tries = attempts.sent;
        let (asked_ms, error) = match answer {
            Ok(response) if (200..300).contains(&response.status) => {
                return Verdict::Done(Ok(response));
            }
            Ok(response) if response.status == 429 || response.status >= 500 => {
                let asked = asked_wait_ms(&response, now_ms);
                let error = status_error(endpoint, request, &response, tries, asked);
                (asked, error)
            }
            Ok(response) => {
                return Verdict::Done(Err(status_error(endpoint, request, &response, tries, None)));
            }
            Err(TransportError::Denied(why)) => {
                return Verdict::Done(Err(Error::Network(format!(
                    "{what} was refused by the host's egress policy: {why}"
                ))));
            }
            Err(TransportError::Timeout(why)) => (
                None,
                Error::Timeout(format!("{what}: {why} ({tries} attempts)")),
            ),
            Err(TransportError::Network(why)) => (
                None,
                Error::Network(format!("{what}: {why} ({tries} attempts)")),
            ),
        };
        let wait = asked_ms.unwrap_or_else(|| self.backoff_ms(tries, random()));
        if tries >= self.max_attempts
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

/// The wait the upstream asked for: `Retry-After` (any retryable status),
/// else, on a 429, the time left until `X-RateLimit-Reset`. A reset time
/// already past says nothing useful and falls back to backoff.
fn asked_wait_ms(response: &Response, now_ms: i64) -> Option<u64> {
    let until = |at_ms: i64| u64::try_from(at_ms - now_ms).ok().filter(|ms| *ms > 0);
    if let Some(value) = response.header("retry-after") {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(seconds.saturating_mul(1000));
        }
        if let Some(at) = parse_http_date_ms(value) {
            return Some(until(at).unwrap_or(0));
        }
    }
    if response.status == 429 {
        return response
            .header("x-ratelimit-reset")
            .and_then(parse_iso_ms)
            .and_then(until);
    }
    None
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
            Verdict::RetryIn(5000)
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
                        Err(Error::Upstream { status: 502, detail }) if detail.contains("after 6 attempts")
                    ));
                    break;
                }
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
            Verdict::Done(Err(Error::RateLimited {
                retry_after_ms: Some(3_600_000),
                ..
            }))
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
            Verdict::Done(Err(Error::Network(m))) if m.contains("egress policy")
        ));
        assert!(matches!(
            judge(&p, &mut Attempts::default(), answer(400, &[])),
            Verdict::Done(Err(Error::Upstream { status: 400, .. }))
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
            Verdict::Done(Err(Error::Network(m))) if m.contains("2 attempts")
        ));
    }
}
