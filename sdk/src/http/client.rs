//! [`Client`]: requests with typed errors, bounded retries and paging.

use std::time::Duration;

use super::{Request, Response, TransportError};
use crate::Error;
use crate::retry::{Backoff, asked_wait};
use crate::status::request_error;

/// Sends a batch and returns one answer per request, in order.
type Transport = dyn Fn(&[Request]) -> Vec<Result<Response, TransportError>>;

/// An HTTP client over `wasi:http` for an integration.
///
/// Every method returns the request with its response, so the evidence read
/// from it can cite it ([`crate::Emitter::emit`]). A response that is not a
/// 2xx becomes the contract's typed [`Error`] (see [`crate::status`]).
/// 429, 5xx, timeouts and network errors are retried up to
/// [`Client::max_attempts`] sends, waiting what `Retry-After` or
/// `X-RateLimit-Reset` ask, else [`Client::backoff`]; a wait longer than
/// the backoff's `max` ends the retries instead, as
/// retrying early would only be refused again. A refusal by the host's
/// egress policy is final at once.
pub struct Client {
    headers: Vec<(String, String)>,
    /// Sends per request, the first included.
    pub max_attempts: u32,
    /// The wait before a retry the upstream did not time, and the longest
    /// single wait.
    pub backoff: Backoff,
    transport: Box<Transport>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client over the host's `wasi:http`: four sends per request, backoff
    /// from half a second, waits of up to a minute.
    pub fn new() -> Client {
        Client::with_transport(|requests| super::send_all(requests, &mut || {}))
    }

    /// A client over another transport: a scripted one in native tests.
    pub fn with_transport(
        transport: impl Fn(&[Request]) -> Vec<Result<Response, TransportError>> + 'static,
    ) -> Client {
        Client {
            headers: Vec::new(),
            max_attempts: 4,
            backoff: Backoff::default(),
            transport: Box::new(transport),
        }
    }

    /// Adds a header to every request (such as `accept`). Never a secret:
    /// the host injects those.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Client {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// GETs `url`.
    pub fn get(&self, url: &str) -> Result<(Request, Response), Error> {
        self.send(Request::get(url))
    }

    /// Sends one request, with retries.
    pub fn send(&self, request: Request) -> Result<(Request, Response), Error> {
        self.send_all(vec![request])
            .pop()
            .expect("one answer per request")
    }

    /// Sends the requests concurrently, with retries, and returns their
    /// results in order. Each round sends every request still pending at
    /// once and waits for all of them with one `wasi:io/poll.poll`.
    pub fn send_all(&self, requests: Vec<Request>) -> Vec<Result<(Request, Response), Error>> {
        let requests: Vec<Request> = requests.into_iter().map(|r| self.with_headers(r)).collect();
        let mut results: Vec<Option<Result<Response, Error>>> = vec![None; requests.len()];
        let mut pending: Vec<usize> = (0..requests.len()).collect();
        for attempt in 1..=self.max_attempts.max(1) {
            let batch: Vec<Request> = pending.iter().map(|&i| requests[i].clone()).collect();
            let answers = (self.transport)(&batch);
            let mut longest = Duration::ZERO;
            let mut retry = Vec::new();
            for (&i, answer) in pending.iter().zip(answers) {
                let (error, asked) = match judge(&requests[i], answer) {
                    Ok(response) => {
                        results[i] = Some(Ok(response));
                        continue;
                    }
                    Err(Judged::Final(error)) => {
                        results[i] = Some(Err(error));
                        continue;
                    }
                    Err(Judged::Retryable(error, asked)) => (error, asked),
                };
                let wait = asked.unwrap_or_else(|| self.backoff.wait(attempt, random()));
                if attempt == self.max_attempts || wait > self.backoff.max {
                    results[i] = Some(Err(error));
                } else {
                    longest = longest.max(wait);
                    results[i] = Some(Err(error));
                    retry.push(i);
                }
            }
            if retry.is_empty() {
                break;
            }
            std::thread::sleep(longest);
            pending = retry;
        }
        requests
            .into_iter()
            .zip(results)
            .map(|(request, result)| {
                result
                    .expect("every request was answered")
                    .map(|response| (request, response))
            })
            .collect()
    }

    /// Pages through a list: `next` reads each page and says which request
    /// fetches the following one, if any. Stops after the first error.
    pub fn pages<F>(&self, first: Request, next: F) -> Pages<'_, F>
    where
        F: FnMut(&Request, &Response) -> Result<Option<Request>, Error>,
    {
        Pages {
            client: self,
            upcoming: Some(first),
            next,
        }
    }

    /// Pages through a list whose pages name the next with a cursor:
    /// `cursor` reads it from a page (`None` on the last), and the next
    /// page is `url` with the query parameter `param` set to it.
    pub fn cursor_pages<'a>(
        &'a self,
        url: &str,
        param: &'a str,
        mut cursor: impl FnMut(&Response) -> Result<Option<String>, Error> + 'a,
    ) -> Pages<'a, impl FnMut(&Request, &Response) -> Result<Option<Request>, Error> + 'a> {
        self.pages(Request::get(url), move |request, response| {
            Ok(cursor(response)?.map(|c| Request::get(with_query(&request.url, param, &c))))
        })
    }

    fn with_headers(&self, mut request: Request) -> Request {
        for (name, value) in &self.headers {
            if !request.headers.iter().any(|(n, _)| n == name) {
                request.headers.push((name.clone(), value.clone()));
            }
        }
        request
    }
}

/// A random number for the backoff's jitter: the standard library's
/// randomly keyed hasher, finished at once.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Pages of a list, as [`Client::pages`] fetches them: each item is a page
/// with the request that fetched it.
pub struct Pages<'a, F> {
    client: &'a Client,
    upcoming: Option<Request>,
    next: F,
}

impl<F> Iterator for Pages<'_, F>
where
    F: FnMut(&Request, &Response) -> Result<Option<Request>, Error>,
{
    type Item = Result<(Request, Response), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let request = self.upcoming.take()?;
        let page = self.client.send(request);
        if let Ok((request, response)) = &page {
            match (self.next)(request, response) {
                Ok(next) => self.upcoming = next,
                Err(error) => return Some(Err(error)),
            }
        }
        Some(page)
    }
}

enum Judged {
    Final(Error),
    /// With the wait the upstream asked for, if it did.
    Retryable(Error, Option<Duration>),
}

fn judge(request: &Request, answer: Result<Response, TransportError>) -> Result<Response, Judged> {
    let what = || format!("{} {}", request.method.as_str(), request.url);
    match answer {
        Ok(response) if (200..300).contains(&response.status) => Ok(response),
        Ok(response) => {
            let now = now_ms();
            let error = request_error(request, &response, now);
            if response.status == 429 || response.status >= 500 {
                let asked = asked_wait(&response, now);
                Err(Judged::Retryable(error, asked))
            } else {
                Err(Judged::Final(error))
            }
        }
        Err(TransportError::Denied(why)) => Err(Judged::Final(Error::Network(format!(
            "{} was refused by the host's egress policy: {why}",
            what()
        )))),
        Err(TransportError::Timeout(why)) => Err(Judged::Retryable(
            Error::Timeout(format!("{}: {why}", what())),
            None,
        )),
        Err(TransportError::Network(why)) => Err(Judged::Retryable(
            Error::Network(format!("{}: {why}", what())),
            None,
        )),
    }
}

/// Unix epoch milliseconds from the host clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `url` with the query parameter `name` set to `value` (replacing it).
pub(crate) fn with_query(url: &str, name: &str, value: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(n, _)| n != name)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            parsed
                .query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair(name, value);
            parsed.into()
        }
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Forbidden, RateLimited, UpstreamFailure};
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A transport answering from a script, one answer per send, and
    /// keeping the URLs sent.
    fn scripted(
        answers: Vec<Result<Response, TransportError>>,
    ) -> (Client, Rc<RefCell<Vec<String>>>) {
        let sent = Rc::new(RefCell::new(Vec::new()));
        let log = sent.clone();
        let answers = RefCell::new(answers.into_iter());
        let mut client = Client::with_transport(move |requests| {
            requests
                .iter()
                .map(|r| {
                    log.borrow_mut().push(r.url.clone());
                    answers.borrow_mut().next().expect("scripted answer")
                })
                .collect()
        });
        client.backoff.base = Duration::ZERO;
        (client, sent)
    }

    fn answer(
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Response, TransportError> {
        Ok(Response::fake(status, headers, body))
    }

    #[test]
    fn server_errors_and_network_failures_are_retried_until_an_answer() {
        let (client, sent) = scripted(vec![
            answer(503, &[], ""),
            Err(TransportError::Network("reset".into())),
            answer(200, &[], "[]"),
        ]);
        let (_, response) = client.get("https://api.example.com/users").unwrap();
        assert_eq!(response.body, b"[]");
        assert_eq!(sent.borrow().len(), 3);
    }

    #[test]
    fn retries_stop_at_the_attempt_cap_with_the_last_typed_error() {
        let (client, sent) = scripted(vec![answer(500, &[], "down"); 4]);
        let error = client.get("https://api.example.com/users").unwrap_err();
        assert!(matches!(
            error,
            Error::Upstream(UpstreamFailure { status: 500, .. })
        ));
        assert_eq!(sent.borrow().len(), 4);
    }

    #[test]
    fn a_wait_longer_than_the_cap_ends_the_retries_as_rate_limited() {
        let (client, sent) = scripted(vec![answer(429, &[("retry-after", "3600")], "")]);
        let error = client.get("https://api.example.com/users").unwrap_err();
        assert!(matches!(
            error,
            Error::RateLimited(RateLimited {
                retry_after_ms: Some(3_600_000),
                ..
            })
        ));
        assert_eq!(sent.borrow().len(), 1);
    }

    #[test]
    fn client_errors_and_egress_refusals_are_final() {
        let (client, sent) = scripted(vec![
            answer(403, &[], r#"{"scope":"read:users:example"}"#),
            Err(TransportError::Denied("not in the manifest".into())),
        ]);
        let results = client.send_all(vec![
            Request::get("https://api.example.com/users"),
            Request::get("https://elsewhere.example.com/"),
        ]);
        assert!(matches!(
            &results[0],
            Err(Error::Forbidden(Forbidden { missing: Some(s), .. })) if s == "read:users:example"
        ));
        assert!(matches!(&results[1], Err(Error::Network(_))));
        assert_eq!(sent.borrow().len(), 2);
    }

    #[test]
    fn cursor_pages_follow_the_cursor_until_the_last_page() {
        let (client, sent) = scripted(vec![
            answer(200, &[], "a"),
            answer(200, &[], "b"),
            answer(200, &[], "c"),
        ]);
        let pages: Vec<_> = client
            .cursor_pages("https://api.example.com/users?limit=2", "cursor", |page| {
                Ok(match page.body.as_slice() {
                    b"a" => Some("n 1".to_owned()),
                    b"b" => Some("n2".to_owned()),
                    _ => None,
                })
            })
            .map(|page| page.unwrap().1.body)
            .collect();
        assert_eq!(pages, [b"a", b"b", b"c"]);
        assert_eq!(
            *sent.borrow(),
            [
                "https://api.example.com/users?limit=2",
                "https://api.example.com/users?limit=2&cursor=n+1",
                "https://api.example.com/users?limit=2&cursor=n2",
            ]
        );
    }
}
