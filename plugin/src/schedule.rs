//! Sends requests in rounds: every round, each request that is ready goes out
//! together in one `Transport::send_all`, up to the host's in-flight cap.
//! A request waiting for a retry sits out until its time while the others
//! proceed; the scheduler sleeps only when nothing at all is ready.

use std::collections::VecDeque;
use std::time::Duration;

use crate::api::Endpoint;
use crate::dates::format_ms;
use crate::failure::Failure;
use crate::retry::{Attempts, RetryPolicy, Verdict};
use crate::transport::{Request, Response, Transport};

struct Pending<K> {
    key: K,
    endpoint: Endpoint,
    request: Request,
    attempts: Attempts,
    ready_at_ms: i64,
}

/// A request whose retries are over, with its final outcome.
pub struct Finished<K> {
    pub key: K,
    pub endpoint: Endpoint,
    pub request: Request,
    pub outcome: Result<Response, Failure>,
}

/// What one round produced.
pub struct Round<K> {
    pub finished: Vec<Finished<K>>,
    /// One line per request that will be sent again, for the log.
    pub retrying: Vec<String>,
}

/// A queue of requests, each tagged with the caller's key `K`.
pub struct Scheduler<K> {
    queue: VecDeque<Pending<K>>,
    max_in_flight: usize,
    policy: RetryPolicy,
    /// When the first round went out: the start of the run's time budget.
    started_ms: Option<i64>,
}

impl<K> Scheduler<K> {
    pub fn new(max_in_flight: usize, policy: RetryPolicy) -> Self {
        Scheduler {
            queue: VecDeque::new(),
            max_in_flight: max_in_flight.max(1),
            policy,
            started_ms: None,
        }
    }

    /// Queues a request to be sent in the next round.
    pub fn submit(&mut self, key: K, endpoint: Endpoint, request: Request) {
        self.queue.push_back(Pending {
            key,
            endpoint,
            request,
            attempts: Attempts::default(),
            ready_at_ms: i64::MIN,
        });
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends every ready request the caller allows (`may_send`), oldest
    /// first, up to the cap, and judges the answers. With nothing ready it
    /// sleeps until the earliest retry is due instead. `may_send` lets the
    /// caller hold back requests for back-pressure; if it would hold back
    /// every queued request it is ignored, so a round always makes progress.
    /// `meanwhile` runs once, while the round's requests are in flight.
    pub fn round(
        &mut self,
        transport: &mut impl Transport,
        may_send: impl Fn(&K) -> bool,
        meanwhile: &mut dyn FnMut(),
    ) -> Round<K> {
        let mut round = Round {
            finished: Vec::new(),
            retrying: Vec::new(),
        };
        let any_allowed = self.queue.iter().any(|p| may_send(&p.key));
        let allowed = |p: &Pending<K>| !any_allowed || may_send(&p.key);
        let now = transport.now_ms();
        let mut batch = Vec::new();
        let mut waiting = VecDeque::with_capacity(self.queue.len());
        for pending in self.queue.drain(..) {
            if batch.len() < self.max_in_flight && pending.ready_at_ms <= now && allowed(&pending) {
                batch.push(pending);
            } else {
                waiting.push_back(pending);
            }
        }
        self.queue = waiting;
        if batch.is_empty() {
            meanwhile();
            if let Some(due) = self
                .queue
                .iter()
                .filter(|p| allowed(p))
                .map(|p| p.ready_at_ms)
                .min()
            {
                transport.sleep(Duration::from_millis(u64::try_from(due - now).unwrap_or(0)));
            }
            return round;
        }
        let requests = batch.iter().map(|p| p.request.clone()).collect::<Vec<_>>();
        let answers = transport.send_all(requests, meanwhile);
        if answers.len() != batch.len() {
            let bug = format!(
                "the transport answered {} of {} requests",
                answers.len(),
                batch.len()
            );
            round.finished = batch
                .into_iter()
                .map(|p| Finished {
                    key: p.key,
                    endpoint: p.endpoint,
                    request: p.request,
                    outcome: Err(Failure::Internal(bug.clone())),
                })
                .collect();
            return round;
        }
        let now = transport.now_ms();
        let started = *self.started_ms.get_or_insert(now);
        for (mut pending, answer) in batch.into_iter().zip(answers) {
            let verdict = self.policy.judge(
                &mut pending.attempts,
                &pending.endpoint,
                &pending.request,
                answer,
                now,
                started,
                &mut || transport.random_u64(),
            );
            match verdict {
                Verdict::Done(outcome) => round.finished.push(Finished {
                    key: pending.key,
                    endpoint: pending.endpoint,
                    request: pending.request,
                    outcome,
                }),
                Verdict::RetryIn(wait) => {
                    round.retrying.push(format!(
                        "{} {}: retrying in {} ms",
                        pending.request.method.as_str(),
                        pending.request.url,
                        wait.as_millis()
                    ));
                    pending.ready_at_ms =
                        now.saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
                    self.queue.push_back(pending);
                }
                Verdict::AwaitReset { wait, at_ms } => {
                    round.retrying.push(format!(
                        "{} {}: rate limited; waiting {} s for the limit to reset at {}",
                        pending.request.method.as_str(),
                        pending.request.url,
                        wait.as_millis().div_ceil(1000),
                        format_ms(at_ms)
                    ));
                    pending.ready_at_ms = at_ms;
                    self.queue.push_back(pending);
                }
            }
        }
        round
    }
}
