//! What a run's traffic amounts to: the counters in `run.json`, the progress
//! display, and the ledger, which gets one entry per exchange. A response
//! body goes to the plugin through a [`MeteredBody`], which scrubs secrets
//! from it, caps its size, counts it, and has the ledger hash it and write
//! the entry when the exchange ends.

use super::Refused;
use super::intercept::Keep;
use crate::ledger::{Exchange, LedgerThread, Outcome};
use crate::log::{Level, RunLog};
use crate::progress::Progress;
use crate::provenance::Window;
use crate::secrets::{Scrubber, StreamScrubber};
use bytes::Bytes;
use http_body::{Body, Frame};
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// Counters for `run.json`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, Clone, Copy)]
pub struct Traffic {
    /// Every request the plugin made, refused ones included.
    pub requests: u64,
    /// Refused before anything left the host (each with a ledger
    /// [`Refusal`](crate::ledger::Refusal)).
    pub denied: u64,
    /// Admitted but unanswered, or cut off mid-body by a failure.
    pub failed: u64,
    /// Cut at the response size cap.
    pub truncated: u64,
    /// Response body bytes the plugin was given, after scrubbing.
    pub response_bytes: u64,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    denied: AtomicU64,
    failed: AtomicU64,
    truncated: AtomicU64,
    response_bytes: AtomicU64,
}

/// Counts a run's exchanges and writes their ledger entries.
pub(super) struct Meter {
    counters: Counters,
    pub(super) progress: Arc<Progress>,
    ledger: LedgerThread,
    pub(super) log: RunLog,
    next_seq: AtomicU64,
}

impl Meter {
    pub(super) fn new(
        log: RunLog,
        ledger: Box<dyn Write + Send>,
        progress: Arc<Progress>,
    ) -> Meter {
        let ledger = LedgerThread::start(ledger, {
            let log = log.clone();
            move |e| log.host(Level::Error, &format!("cannot write the ledger: {e}"))
        });
        Meter {
            counters: Counters::default(),
            progress,
            ledger,
            log,
            next_seq: AtomicU64::new(0),
        }
    }

    /// Numbers and counts a new request.
    pub(super) fn start(&self) -> u64 {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.progress.requests.fetch_add(1, Ordering::Relaxed);
        self.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Logs and chains a request refused before anything was sent.
    pub(super) fn denied(&self, mut entry: Exchange, refused: Refused) -> HttpError {
        let Refused { kind, why } = refused;
        self.counters.denied.fetch_add(1, Ordering::Relaxed);
        self.progress.denied.fetch_add(1, Ordering::Relaxed);
        self.log.host(
            Level::Warn,
            &format!(
                "egress denied: {} {}: {}",
                entry.method, entry.url, why.detail
            ),
        );
        entry.outcome = Outcome::Denied;
        entry.refusal = Some(kind);
        entry.detail = Some(why.detail);
        self.ledger.append(entry);
        why.code
    }

    /// Logs and chains an admitted request that got no response. The log
    /// says where it was sent and why: the plugin sees only an error code,
    /// which cannot tell a refused connection from a failed TLS handshake.
    pub(super) fn failed(&self, mut entry: Exchange, detail: String) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        let routed = match &entry.routed_to {
            Some(target) => format!(" (routed to {target})"),
            None => String::new(),
        };
        self.log.host(
            Level::Info,
            &format!(
                "request failed: {} {}{routed}: {detail}",
                entry.method, entry.url
            ),
        );
        entry.outcome = Outcome::Failed;
        entry.detail = Some(detail);
        self.ledger.append(entry);
    }

    pub(super) fn traffic(&self) -> Traffic {
        let c = &self.counters;
        Traffic {
            requests: c.requests.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            response_bytes: c.response_bytes.load(Ordering::Relaxed),
        }
    }

    pub(super) fn ledger_head(&self) -> std::io::Result<(String, u64)> {
        self.ledger.close()
    }
}

/// What a response body carries beside its bytes until its exchange ends.
pub(super) struct Delivery {
    /// The ledger entry, written when the exchange ends.
    pub exchange: Exchange,
    pub started: Instant,
    /// The request's place under the cap on requests in flight, released
    /// when the exchange ends, not when the head arrived.
    pub slot: Option<OwnedSemaphorePermit>,
    /// The body's pieces for the provenance window, under the key records
    /// cite it by, when its status lets records cite it.
    pub held: Option<(String, Vec<Bytes>)>,
    /// The body being recorded, when the run records responses.
    pub kept: Option<Box<dyn Keep>>,
}

/// A response body on its way to the guest: scrubbed, capped, counted, and
/// passed to the ledger's thread, which hashes it; its ledger entry is
/// written when it ends, fails, or is dropped unread.
pub(super) struct MeteredBody {
    inner: WasiBody,
    scrubber: Scrubber,
    stream: StreamScrubber,
    bytes: u64,
    cap: u64,
    /// The upstream body has ended; only the scrubber's held bytes were left.
    inner_done: bool,
    /// `None` once the exchange ended.
    delivery: Option<Delivery>,
    /// Scrubbed trailers that wait for the held bytes to go first.
    trailers: Option<http::HeaderMap>,
    meter: Arc<Meter>,
    window: Arc<Window>,
}

impl MeteredBody {
    pub(super) fn new(
        inner: WasiBody,
        delivery: Delivery,
        cap: u64,
        scrubber: Scrubber,
        meter: Arc<Meter>,
        window: Arc<Window>,
    ) -> MeteredBody {
        MeteredBody {
            inner,
            stream: scrubber.stream(),
            scrubber,
            bytes: 0,
            cap,
            inner_done: false,
            delivery: Some(delivery),
            trailers: None,
            meter,
            window,
        }
    }

    fn deliver(&mut self, data: Vec<u8>) -> Result<Bytes, HttpError> {
        if self.bytes + data.len() as u64 > self.cap {
            self.meter
                .counters
                .truncated
                .fetch_add(1, Ordering::Relaxed);
            self.finish(
                Outcome::Truncated,
                Some(format!(
                    "response body exceeded the {} byte cap; --response-mib sets this limit",
                    self.cap
                )),
            );
            return Err(HttpError::HttpResponseBodySize(Some(self.cap)));
        }
        self.bytes += data.len() as u64;
        let data = Bytes::from(data);
        if let Some(delivery) = &mut self.delivery {
            if let Some(kept) = &mut delivery.kept
                && let Err(e) = kept.write(&data)
            {
                self.meter
                    .log
                    .host(Level::Error, &format!("cannot record a response body: {e}"));
                delivery.kept = None;
            }
            if let Some((_, chunks)) = &mut delivery.held {
                chunks.push(data.clone());
            }
            self.meter.ledger.body(delivery.exchange.seq, data.clone());
        }
        Ok(data)
    }

    fn finish(&mut self, outcome: Outcome, detail: Option<String>) {
        let Some(Delivery {
            mut exchange,
            started,
            slot,
            held,
            kept,
        }) = self.delivery.take()
        else {
            return;
        };
        drop(slot);
        exchange.outcome = outcome;
        exchange.detail = detail;
        exchange.duration_ms = started.elapsed().as_millis() as u64;
        exchange.bytes = self.bytes;
        if let Some((key, chunks)) = held {
            self.window.close(&key, exchange.seq, outcome, chunks);
        }
        if let Some(kept) = kept
            && let Err(e) = kept.finish(outcome)
        {
            self.meter
                .log
                .host(Level::Error, &format!("cannot record a response: {e}"));
        }
        let counters = &self.meter.counters;
        counters
            .response_bytes
            .fetch_add(self.bytes, Ordering::Relaxed);
        if outcome == Outcome::Failed {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.meter.ledger.append_hashed(exchange);
    }

    /// What the guest gets for one upstream frame; `None` when the scrubber
    /// held back the whole chunk, since an empty data frame would read as
    /// the end of a stream.
    fn next_frame(
        &mut self,
        frame: Option<Result<Frame<Bytes>, HttpError>>,
    ) -> Option<Option<Result<Frame<Bytes>, HttpError>>> {
        match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    let clean = self.stream.push(&data);
                    (!clean.is_empty()).then(|| Some(self.deliver(clean).map(Frame::data)))
                }
                Err(frame) => {
                    let mut trailers = frame.into_trailers().ok()?;
                    self.scrubber.headers(&mut trailers);
                    self.trailers = Some(trailers);
                    let rest = self.stream.finish();
                    (!rest.is_empty()).then(|| Some(self.deliver(rest).map(Frame::data)))
                }
            },
            Some(Err(error)) => {
                let detail = self.scrubber.text(&error.to_string()).into_owned();
                self.finish(Outcome::Failed, Some(detail));
                Some(Some(Err(error)))
            }
            None => {
                self.inner_done = true;
                let rest = self.stream.finish();
                if rest.is_empty() {
                    self.finish(Outcome::Complete, None);
                    return Some(None);
                }
                Some(Some(self.deliver(rest).map(Frame::data)))
            }
        }
    }
}

impl Body for MeteredBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        loop {
            if let Some(trailers) = this.trailers.take() {
                // Trailers end a body: the reader need not poll again, so
                // the exchange is complete now, not abandoned on drop.
                this.finish(Outcome::Complete, None);
                return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
            }
            if this.inner_done || this.delivery.is_none() {
                this.finish(Outcome::Complete, None);
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            if let Some(ready) = this.next_frame(frame) {
                return Poll::Ready(ready);
            }
        }
    }
}

impl Drop for MeteredBody {
    fn drop(&mut self) {
        self.finish(
            Outcome::Abandoned,
            Some("the plugin stopped reading the body".into()),
        );
    }
}
