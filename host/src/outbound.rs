//! Every HTTP request a plugin makes, carried or refused here.
//!
//! [`Outbound`] backs the `wasi:http/outgoing-handler` import through
//! wasmtime-wasi-http's [`WasiHttpHooks::send_request`]. For each request it:
//! asks the [`EgressPolicy`](crate::egress::EgressPolicy); refuses public
//! origins that resolve to private addresses, and approves the addresses
//! that passed for the run's pooled [`Connections`]; applies a developer
//! reroute; strips headers the host owns and injects secret headers for
//! their origin only; asks for and accepts only identity content coding
//! ([`crate::encoding`]); bounds timeouts by the call's remaining time; caps
//! requests in flight until the body ends; and wraps the response body to
//! scrub secrets (and its headers and trailers), cap its size, count it, and
//! have the ledger hash it and write the entry when the exchange ends. With a
//! [`Tape`](crate::tape::Tape) it also records each response, or answers
//! from a recording instead of the network once the policy admitted the
//! request.

use crate::connect::{Connections, Timeouts, Unanswered};
use crate::egress::{Denial, Origin, ReadMethod, check_framing, forbidden_address_class};
use crate::encoding;
use crate::grant::Grant;
use crate::ledger::{Exchange, LedgerThread, Outcome};
use crate::log::{Level, RunLog};
use crate::progress::Progress;
use crate::provenance::{self, Window};
use crate::request::{self, Prepared};
use crate::sandbox::Limits;
use crate::secrets::StreamScrubber;
use crate::tape::{OpenTape, Recorded, Recorder, Recording, Replay, TapeError};
use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use rustls::pki_types::CertificateDer;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// Counters for `run.json`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize, Clone, Copy)]
pub struct Traffic {
    pub requests: u64,
    pub denied: u64,
    pub failed: u64,
    pub truncated: u64,
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

/// Response headers a replay does not serve: they framed the recorded
/// connection, not the body now served whole from its file.
const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// The future that drives a response's connection, as wasmtime-wasi-http
/// expects it back. The pool in [`Connections`] drives its connections
/// itself, so the host hands back one with nothing left to do.
type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

/// A response on its way back, from the network or a recording.
struct Carried {
    response: http::Response<WasiBody>,
    /// What the ledger names as the place it really came from, if not the URL.
    routed_to: Option<String>,
    /// The request's place under the cap on requests in flight, held until
    /// its body is consumed or dropped (none for a replay).
    slot: Option<OwnedSemaphorePermit>,
}

/// A request as a recording keeps it.
struct Asked<'a> {
    method: &'a str,
    /// As the ledger spells it.
    url: &'a str,
    body: &'a [u8],
    body_sha256: Option<&'a str>,
}

/// Why an admitted request got no response.
struct NotCarried {
    code: HttpError,
    /// For the ledger, secrets scrubbed.
    detail: String,
    routed_to: Option<String>,
}

/// The shared state of a run's outbound traffic.
pub struct Outbound {
    grant: Arc<Grant>,
    limits: Limits,
    log: RunLog,
    ledger: LedgerThread,
    connections: Connections,
    in_flight: Arc<Semaphore>,
    next_seq: AtomicU64,
    deadline: Mutex<Instant>,
    counters: Counters,
    progress: Arc<Progress>,
    /// The response bodies evidence may cite.
    window: Window,
    /// What every request says in `user-agent`.
    user_agent: http::HeaderValue,
    tape: OpenTape,
    /// The first request a replay could not answer.
    replay_miss: Mutex<Option<TapeError>>,
}

impl Outbound {
    /// The outbound traffic of a run: `roots` are certificate authorities
    /// HTTPS trusts beside the web PKI's.
    pub fn new(
        grant: Arc<Grant>,
        limits: Limits,
        log: RunLog,
        ledger: Box<dyn Write + Send>,
        progress: Arc<Progress>,
        tape: OpenTape,
        roots: &[CertificateDer<'static>],
    ) -> Arc<Outbound> {
        let ledger = LedgerThread::start(ledger, {
            let log = log.clone();
            move |e| log.host(Level::Error, &format!("cannot write the ledger: {e}"))
        });
        let in_flight = limits.requests_in_flight.max(1);
        let user_agent = request::user_agent(
            grant
                .integration
                .as_ref()
                .map(|(id, version)| (id.as_str(), version.as_str())),
        );
        Arc::new(Outbound {
            connections: Connections::new(limits.connect_timeout, in_flight, roots),
            in_flight: Arc::new(Semaphore::new(in_flight)),
            grant,
            limits,
            log,
            ledger,
            next_seq: AtomicU64::new(0),
            deadline: Mutex::new(Instant::now() + limits.wall_per_call),
            counters: Counters::default(),
            progress,
            window: Window::new(crate::provenance::window_bytes(limits.response_bytes)),
            user_agent,
            tape,
            replay_miss: Mutex::new(None),
        })
    }

    /// The first request the replayed recording did not hold, if any: such a
    /// run did not see what the recorded one saw.
    pub fn take_replay_miss(&self) -> Option<TapeError> {
        self.replay_miss.lock().expect("replay miss lock").take()
    }

    /// Sets when the current call must end; request timeouts never outlast it.
    pub fn set_deadline(&self, deadline: Instant) {
        *self.deadline.lock().expect("deadline lock") = deadline;
    }

    /// The response bodies this run's evidence may cite.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Counts records written from `url`, for progress displays.
    pub fn count_records(&self, url: &str, n: u64) {
        self.progress.recorded(request_path(url), n);
    }

    pub fn traffic(&self) -> Traffic {
        let c = &self.counters;
        Traffic {
            requests: c.requests.load(Ordering::Relaxed),
            denied: c.denied.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            truncated: c.truncated.load(Ordering::Relaxed),
            response_bytes: c.response_bytes.load(Ordering::Relaxed),
        }
    }

    /// The ledger's head hash and entry count, once every exchange that
    /// ended so far is written; the first error writing it, if any. The
    /// ledger is closed then ([`LedgerThread::close`]).
    pub fn ledger_head(&self) -> std::io::Result<(String, u64)> {
        self.ledger.close()
    }

    fn remaining(&self) -> Duration {
        self.deadline
            .lock()
            .expect("deadline lock")
            .saturating_duration_since(Instant::now())
    }

    async fn send(
        self: Arc<Self>,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let started = Instant::now();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.progress.requests.fetch_add(1, Ordering::Relaxed);
        self.progress.first_request.get_or_init(Instant::now);
        let method = request.method().as_str().to_string();
        let url = self
            .grant
            .scrubber
            .text(&request.uri().to_string())
            .into_owned();
        // What the plugin set is screened before the host frames the
        // request itself (length, user agent).
        let screened = screen(&mut request);
        let prepared = request::prepare(request, &self.user_agent).await;
        let request_sha256 = prepared.as_ref().ok().and_then(|p| p.body_sha256.clone());
        let entry = |outcome, detail: Option<String>| Exchange {
            seq,
            time: crate::now_rfc3339(),
            method: method.clone(),
            url: url.clone(),
            request_sha256: request_sha256.clone(),
            routed_to: None,
            outcome,
            status: None,
            duration_ms: started.elapsed().as_millis() as u64,
            bytes: 0,
            body_sha256: None,
            detail,
        };

        let deny = |denial: String, code: HttpError| {
            self.counters.denied.fetch_add(1, Ordering::Relaxed);
            self.progress.denied.fetch_add(1, Ordering::Relaxed);
            self.log.host(
                Level::Warn,
                &format!("egress denied: {method} {url}: {denial}"),
            );
            self.ledger.append(entry(Outcome::Denied, Some(denial)));
            Err(code)
        };
        if let Err(denial) = screened {
            return deny(denial.to_string(), HttpError::HttpRequestDenied);
        }
        let Prepared {
            request,
            body: request_body,
            ..
        } = match prepared {
            Ok(prepared) => prepared,
            Err(refused) => return deny(refused.to_string(), refused.code()),
        };
        let origin = match self.admit(&method, request.uri()).await {
            Ok(origin) => origin,
            Err(refused) => return deny(refused.detail, refused.code),
        };
        let carried = match &self.tape {
            OpenTape::Replay(replay) => {
                self.replayed(replay, &method, &url, request_sha256.as_deref())
            }
            OpenTape::Live | OpenTape::Record(_) => self.carry(request, options, &origin).await,
        };
        let Carried {
            response,
            routed_to,
            slot,
        } = match carried {
            Ok(carried) => carried,
            Err(not) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.log_failure(&method, &url, &not);
                let mut failed = entry(Outcome::Failed, Some(not.detail));
                failed.routed_to = not.routed_to;
                self.ledger.append(failed);
                return Err(not.code);
            }
        };

        let status = response.status().as_u16();
        let normalized = normalize_url(&url);
        let cited_as = provenance::key(&method, normalized.as_deref().unwrap_or(&url));
        let held = self
            .window
            .open(&cited_as, seq, status)
            .then(|| (cited_as, Vec::new()));
        let (mut parts, body) = response.into_parts();
        self.scrub_headers(&mut parts.headers);
        self.progress
            .answered(request_path(&url), status, &parts.headers);
        let recording = match &self.tape {
            OpenTape::Record(recorder) => self.start_recording(
                recorder,
                seq,
                Asked {
                    method: &method,
                    url: normalized.as_deref().unwrap_or(&url),
                    body: &request_body,
                    body_sha256: request_sha256.as_deref(),
                },
                status,
                &parts.headers,
            ),
            OpenTape::Live | OpenTape::Replay(_) => None,
        };
        let mut head = entry(Outcome::Complete, None);
        head.status = Some(status);
        head.routed_to = routed_to;
        let body = MeteredBody {
            inner: body,
            scrubber: self.grant.scrubber.stream(),
            seq,
            bytes: 0,
            cap: self.limits.response_bytes,
            inner_done: false,
            started,
            exchange: Some(head),
            recording,
            slot,
            trailers: None,
            held,
            outbound: self.clone(),
        };
        let io: IoFuture = Box::new(std::future::ready(Ok(())));
        Ok((http::Response::from_parts(parts, body.boxed_unsync()), io))
    }

    /// Sends an admitted request over the network: rerouted if a developer
    /// asked, with the secret headers, timeouts bounded by the call's
    /// remaining time, within the cap on requests in flight.
    async fn carry(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        origin: &Origin,
    ) -> Result<Carried, NotCarried> {
        let target = self.grant.reroutes.target(origin).cloned();
        if let Some(target) = &target {
            *request.uri_mut() = reroute(request.uri(), target);
        }
        self.inject_secrets(origin, request.headers_mut());

        let remaining = self.remaining();
        let bound = |asked: Option<Duration>| {
            asked
                .unwrap_or(self.limits.read_timeout)
                .min(self.limits.read_timeout)
                .min(remaining)
        };
        // The connect timeout is the run's, in the pool's connector; the
        // time to the response head, connecting included, is this one.
        let timeouts = Timeouts {
            first_byte: bound(options.and_then(|o| o.first_byte_timeout)),
            between_bytes: bound(options.and_then(|o| o.between_bytes_timeout)),
        };

        let slot = self
            .in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let sent = self.connections.send(request, timeouts).await;
        let routed_to = target.map(|t| t.to_string());
        let sent = sent.and_then(
            |response| match encoding::check_response(response.headers()) {
                Ok(()) => Ok(response),
                Err(encoded) => Err(Unanswered {
                    code: HttpError::HttpResponseContentCoding(Some(encoded.coding.clone())),
                    detail: encoded.to_string(),
                }),
            },
        );
        match sent {
            Ok(response) => Ok(Carried {
                response,
                routed_to,
                slot: Some(slot),
            }),
            Err(Unanswered { code, detail }) => Err(NotCarried {
                detail: self.grant.scrubber.text(&detail).into_owned(),
                code,
                routed_to,
            }),
        }
    }

    /// Says which request failed, where it was sent and why: the plugin sees
    /// only an error code, which cannot tell a refused connection from a
    /// failed TLS handshake.
    fn log_failure(&self, method: &str, url: &str, not: &NotCarried) {
        let routed = match &not.routed_to {
            Some(target) => format!(" (routed to {target})"),
            None => String::new(),
        };
        self.log.host(
            Level::Info,
            &format!("request failed: {method} {url}{routed}: {}", not.detail),
        );
    }

    /// Answers an admitted request from the recording being replayed, with
    /// no network. A request the recording does not hold fails, and the
    /// first such miss is kept for the run's outcome.
    fn replayed(
        &self,
        replay: &Replay,
        method: &str,
        url: &str,
        request_sha256: Option<&str>,
    ) -> Result<Carried, NotCarried> {
        let routed_to = Some(replay.label());
        let key = normalize_url(url).unwrap_or_else(|| url.to_string());
        let not_carried = |detail: String| NotCarried {
            code: HttpError::InternalError(Some(detail.clone())),
            detail,
            routed_to: routed_to.clone(),
        };
        let (recorded, body) = match replay.take(method, &key, request_sha256) {
            Ok(found) => found,
            Err(miss) => {
                let detail = miss.to_string();
                self.log.host(Level::Error, &detail);
                self.replay_miss
                    .lock()
                    .expect("replay miss lock")
                    .get_or_insert(miss);
                return Err(not_carried(detail));
            }
        };
        let mut response = http::Response::builder().status(recorded.status);
        for (name, value) in &recorded.headers {
            // The body is served whole from the file; the recorded framing
            // describes a connection that no longer exists.
            if !FRAMING_HEADERS.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        let body = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = response
            .body(body)
            .map_err(|e| not_carried(format!("recorded response for {method} {url}: {e}")))?;
        // A recording made before the host owned content encoding may hold
        // an encoded body, which must not reach the plugin now either.
        encoding::check_response(response.headers()).map_err(|encoded| NotCarried {
            code: HttpError::HttpResponseContentCoding(Some(encoded.coding.clone())),
            ..not_carried(format!("recorded response for {method} {url}: {encoded}"))
        })?;
        Ok(Carried {
            response,
            routed_to,
            slot: None,
        })
    }

    /// Records the request body, if any, and opens the body file of a
    /// response being recorded. A recording that cannot be written is logged
    /// and the run goes on: the evidence and the ledger are what the run is
    /// for.
    fn start_recording(
        &self,
        recorder: &Recorder,
        seq: u64,
        asked: Asked<'_>,
        status: u16,
        headers: &http::HeaderMap,
    ) -> Option<Recording> {
        let Asked {
            method,
            url,
            body: request_body,
            body_sha256: request_sha256,
        } = asked;
        let files = request_sha256
            .map(|_| recorder.request_file(seq, request_body))
            .transpose()
            .and_then(|request| Ok((request, recorder.body_file(seq)?)));
        match files {
            Ok((request_body, (file, body))) => Some(Recording::new(
                file,
                Recorded {
                    seq,
                    method: method.to_string(),
                    url: url.to_string(),
                    request_sha256: request_sha256.map(str::to_owned),
                    request_body,
                    status,
                    headers: headers
                        .iter()
                        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
                        .collect(),
                    body,
                    body_sha256: String::new(),
                },
            )),
            Err(e) => {
                self.log.host(
                    Level::Error,
                    &format!("cannot record the response to {method} {url}: {e}"),
                );
                None
            }
        }
    }

    /// Decides whether a request may leave, and for which origin; approves
    /// the addresses its connection may go to.
    async fn admit(&self, method: &str, uri: &http::Uri) -> Result<Origin, Unanswered> {
        self.grant
            .egress
            .check(method, uri)
            .map_err(|d| Unanswered {
                code: HttpError::HttpRequestDenied,
                detail: d.to_string(),
            })?;
        let origin = Origin::of_uri(uri).expect("the policy admitted an absolute URI");
        if matches!(self.tape, OpenTape::Replay(_)) {
            return Ok(origin);
        }
        match self.grant.reroutes.target(&origin) {
            // A developer's reroute goes where it says, loopback included.
            Some(target) => {
                let addresses = self.resolve(target).await?;
                self.connections.approve(target, addresses);
            }
            None => {
                let addresses = self.resolve(&origin).await?;
                refuse_forbidden(&origin, &addresses)?;
                self.connections.approve(&origin, addresses);
            }
        }
        Ok(origin)
    }

    /// The addresses `origin`'s name resolves to.
    async fn resolve(&self, origin: &Origin) -> Result<Vec<SocketAddr>, Unanswered> {
        let lookup = tokio::net::lookup_host((origin.host(), origin.port()));
        let addresses = tokio::time::timeout(self.limits.connect_timeout, lookup)
            .await
            .map_err(|_| Unanswered {
                code: HttpError::DnsTimeout,
                detail: "DNS lookup timed out".to_owned(),
            })?
            .map_err(|e| Unanswered {
                code: HttpError::DnsError {
                    rcode: None,
                    info_code: None,
                },
                detail: format!("DNS lookup failed: {e}"),
            })?;
        Ok(addresses.collect())
    }

    fn inject_secrets(&self, origin: &Origin, headers: &mut http::HeaderMap) {
        encoding::own_request(headers);
        for reserved in self.grant.reserved_headers() {
            headers.remove(reserved);
        }
        for secret in &self.grant.secret_headers {
            if &secret.origin == origin
                && let Ok(mut value) = http::HeaderValue::from_str(secret.value.expose())
            {
                value.set_sensitive(true);
                headers.insert(secret.header.clone(), value);
            }
        }
    }

    fn scrub_headers(&self, headers: &mut http::HeaderMap) {
        self.grant.scrubber.headers(headers);
    }
}

/// Refuses a request that frames itself or carries a body on a read without
/// one. A GET or HEAD leaves with an empty body whatever the plugin does: a
/// body it already wrote is refused, and one it writes later goes nowhere.
fn screen(request: &mut http::Request<WasiBody>) -> Result<(), Denial> {
    check_framing(request.uri(), request.headers())?;
    let method = match *request.method() {
        http::Method::GET => ReadMethod::Get,
        http::Method::HEAD => ReadMethod::Head,
        _ => return Ok(()),
    };
    let mut body = std::mem::replace(
        request.body_mut(),
        Full::new(Bytes::new())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    let mut cx = Context::from_waker(std::task::Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(None) | Poll::Pending => return Ok(()),
            Poll::Ready(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
            Poll::Ready(Some(_)) => return Err(Denial::BodyOnRead { method }),
        }
    }
}

/// Refuses a public origin whose name resolves to an address the plugin
/// must not reach (a metadata service, the LAN, this machine).
fn refuse_forbidden(origin: &Origin, addresses: &[SocketAddr]) -> Result<(), Unanswered> {
    for address in addresses {
        if let Some(class) = forbidden_address_class(address.ip()) {
            let denial = Denial::ForbiddenAddress {
                origin: origin.clone(),
                address: address.ip(),
                class,
            };
            return Err(Unanswered {
                code: HttpError::DestinationIpProhibited,
                detail: denial.to_string(),
            });
        }
    }
    Ok(())
}

/// The same URL on the rerouted origin.
fn reroute(uri: &http::Uri, target: &Origin) -> http::Uri {
    let scheme = match target.scheme() {
        crate::egress::Scheme::Http => "http",
        crate::egress::Scheme::Https => "https",
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{}{path}", target.authority())
        .parse()
        .expect("an origin and a valid path make a valid URI")
}

/// The path of a URL: the list its pages belong to (the cursor is in the
/// query or the body).
fn request_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or(path)
}

/// One spelling per URL, so evidence sources match ledger entries.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    url.parse::<http::Uri>().ok().map(|u| u.to_string())
}

/// The hooks object that lives in the store; all state is shared.
pub struct Hooks {
    pub outbound: Arc<Outbound>,
}

impl WasiHttpHooks for Hooks {
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let reserved = self.outbound.grant.reserved_headers();
        Arc::new(move |name| DEFAULT_FORBIDDEN_HEADERS.contains(name) || reserved.contains(name))
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        drop(fut);
        Box::new(self.outbound.clone().send(request, options))
    }
}

/// A response body on its way to the guest: scrubbed, capped, counted, and
/// passed to the ledger's thread, which hashes it; its ledger entry is
/// written when it ends, fails, or is dropped unread.
struct MeteredBody {
    inner: WasiBody,
    scrubber: StreamScrubber,
    /// The request number, which the ledger's thread files the body under.
    seq: u64,
    bytes: u64,
    cap: u64,
    /// The upstream body has ended; only the scrubber's held bytes were left.
    inner_done: bool,
    started: Instant,
    exchange: Option<Exchange>,
    /// The body file and index line, when the run records responses.
    recording: Option<Recording>,
    /// Released when the exchange ends, not when the head arrived.
    slot: Option<OwnedSemaphorePermit>,
    /// Scrubbed trailers that wait for the held bytes to go first.
    trailers: Option<http::HeaderMap>,
    /// The body's pieces for the provenance window, under the key records
    /// cite it by, when its status lets records cite it.
    held: Option<(String, Vec<Bytes>)>,
    outbound: Arc<Outbound>,
}

impl MeteredBody {
    fn deliver(&mut self, data: Vec<u8>) -> Result<Bytes, HttpError> {
        if self.bytes + data.len() as u64 > self.cap {
            self.outbound
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
        if let Some(recording) = &mut self.recording
            && let Err(e) = recording.write(&data)
        {
            self.outbound
                .log
                .host(Level::Error, &format!("cannot record a response body: {e}"));
            self.recording = None;
        }
        let data = Bytes::from(data);
        if let Some((_, chunks)) = &mut self.held {
            chunks.push(data.clone());
        }
        self.outbound.ledger.body(self.seq, data.clone());
        Ok(data)
    }

    fn finish(&mut self, outcome: Outcome, detail: Option<String>) {
        self.slot = None;
        let Some(mut exchange) = self.exchange.take() else {
            return;
        };
        exchange.outcome = outcome;
        exchange.detail = detail;
        exchange.duration_ms = self.started.elapsed().as_millis() as u64;
        exchange.bytes = self.bytes;
        if let Some((key, chunks)) = self.held.take() {
            self.outbound.window.close(&key, self.seq, outcome, chunks);
        }
        if let (Some(recording), OpenTape::Record(recorder)) =
            (self.recording.take(), &self.outbound.tape)
            && let Err(e) = recording.finish(recorder, outcome)
        {
            self.outbound
                .log
                .host(Level::Error, &format!("cannot record a response: {e}"));
        }
        self.outbound
            .counters
            .response_bytes
            .fetch_add(self.bytes, Ordering::Relaxed);
        if outcome == Outcome::Failed {
            self.outbound
                .counters
                .failed
                .fetch_add(1, Ordering::Relaxed);
        }
        self.outbound.ledger.append_hashed(exchange);
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
            if this.inner_done || this.exchange.is_none() {
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

impl MeteredBody {
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
                    let clean = self.scrubber.push(&data);
                    (!clean.is_empty()).then(|| Some(self.deliver(clean).map(Frame::data)))
                }
                Err(frame) => {
                    let mut trailers = frame.into_trailers().ok()?;
                    self.outbound.grant.scrubber.headers(&mut trailers);
                    self.trailers = Some(trailers);
                    let rest = self.scrubber.finish();
                    (!rest.is_empty()).then(|| Some(self.deliver(rest).map(Frame::data)))
                }
            },
            Some(Err(error)) => {
                let detail = self
                    .outbound
                    .grant
                    .scrubber
                    .text(&error.to_string())
                    .into_owned();
                self.finish(Outcome::Failed, Some(detail));
                Some(Some(Err(error)))
            }
            None => {
                self.inner_done = true;
                let rest = self.scrubber.finish();
                if rest.is_empty() {
                    self.finish(Outcome::Complete, None);
                    return Some(None);
                }
                Some(Some(self.deliver(rest).map(Frame::data)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::{EgressPolicy, Reroutes, Route};
    use crate::grant::SecretHeader;
    use crate::secrets::{Scrubber, Secret};

    fn outbound(origin: &str, reroutes: Reroutes) -> Arc<Outbound> {
        let origin = Origin::parse(origin).unwrap();
        let mut egress = EgressPolicy::deny_all();
        egress.allow(origin.clone(), [Route::parse("GET", "/**").unwrap()]);
        let secret = Secret::new("k-0123456789").unwrap();
        let grant = Grant {
            egress,
            secret_headers: vec![SecretHeader {
                origin,
                header: http::header::AUTHORIZATION,
                value: Secret::new("Bearer k-0123456789").unwrap(),
            }],
            reroutes,
            evidence_kinds: Default::default(),
            integration: None,
            scrubber: Scrubber::new([&secret]),
        };
        Outbound::new(
            Arc::new(grant),
            Limits::default(),
            RunLog::new(None, Scrubber::default()),
            Box::new(std::io::sink()),
            Arc::default(),
            OpenTape::Live,
            &[],
        )
    }

    #[tokio::test]
    async fn a_declared_origin_resolving_to_loopback_is_refused() {
        let outbound = outbound("http://localhost:9", Reroutes::default());
        let uri: http::Uri = "http://localhost:9/x".parse().unwrap();
        let Unanswered { detail: why, code } = outbound.admit("GET", &uri).await.unwrap_err();
        assert!(
            matches!(code, HttpError::DestinationIpProhibited),
            "{code:?}"
        );
        assert!(why.contains("loopback"), "{why}");
    }

    #[tokio::test]
    async fn a_rerouted_origin_may_reach_loopback() {
        let reroutes = Reroutes::parse(["http://localhost:9=http://127.0.0.1:9"]).unwrap();
        let outbound = outbound("http://localhost:9", reroutes);
        let uri: http::Uri = "http://localhost:9/x".parse().unwrap();
        assert!(outbound.admit("GET", &uri).await.is_ok());
    }

    #[test]
    fn secrets_go_only_to_their_origin_and_replace_the_plugins_value() {
        let outbound = outbound("https://api.example.com", Reroutes::default());
        let mut headers = http::HeaderMap::new();
        headers.insert("authorization", "Bearer forged".parse().unwrap());
        outbound.inject_secrets(
            &Origin::parse("https://api.example.com").unwrap(),
            &mut headers,
        );
        assert_eq!(headers["authorization"], "Bearer k-0123456789");
        assert!(headers["authorization"].is_sensitive());

        let mut elsewhere = http::HeaderMap::new();
        elsewhere.insert("authorization", "Bearer forged".parse().unwrap());
        outbound.inject_secrets(
            &Origin::parse("https://other.example.com").unwrap(),
            &mut elsewhere,
        );
        assert!(
            elsewhere.get("authorization").is_none(),
            "stripped, not injected"
        );
    }

    #[test]
    fn an_encoded_recorded_response_is_not_replayed() {
        let dir =
            std::env::temp_dir().join(format!("watchdog-encoded-tape-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let recorder = Recorder::create(&dir).unwrap();
        let (file, body) = recorder.body_file(0).unwrap();
        let url = "https://api.example.com/items";
        let mut recording = Recording::new(
            file,
            Recorded {
                seq: 0,
                method: "GET".into(),
                url: url.into(),
                request_sha256: None,
                request_body: None,
                status: 200,
                headers: vec![("content-encoding".into(), "gzip".into())],
                body,
                body_sha256: String::new(),
            },
        );
        recording.write(b"gzipped").unwrap();
        recording.finish(&recorder, Outcome::Complete).unwrap();
        let replay = Replay::open(&dir).unwrap();
        let outbound = outbound("https://api.example.com", Reroutes::default());
        let Err(refused) = outbound.replayed(&replay, "GET", url, None) else {
            panic!("an encoded body was replayed")
        };
        assert!(
            matches!(&refused.code, HttpError::HttpResponseContentCoding(Some(c)) if c == "gzip"),
            "{:?}",
            refused.code
        );
    }

    #[test]
    fn response_headers_echoing_a_secret_are_scrubbed() {
        let outbound = outbound("https://api.example.com", Reroutes::default());
        let mut headers = http::HeaderMap::new();
        headers.insert("x-echo", "Bearer k-0123456789".parse().unwrap());
        outbound.scrub_headers(&mut headers);
        assert_eq!(headers["x-echo"], "Bearer [REDACTED]");
    }
}
