//! Every HTTP request a plugin makes, carried or refused here.
//!
//! [`Outbound`] backs the `wasi:http/outgoing-handler` import through
//! wasmtime-wasi-http's [`WasiHttpHooks::send_request`], in the stages
//! Spin's outbound networking separates:
//!
//! 1. the gate (`gate.rs`) admits a request or refuses it: the plugin's framing, a
//!    body on a read, the [`EgressPolicy`](crate::egress::EgressPolicy);
//! 2. an interceptor (`intercept.rs`) may answer it from a recording, with
//!    no network, or keep the response for one;
//! 3. otherwise the carrier (`carrier.rs`) resolves its origin (refusing a public one
//!    that resolves to a private address), applies a developer reroute,
//!    injects secret headers for that origin only, bounds timeouts by the
//!    call's remaining time, and caps requests in flight until the body
//!    ends; only identity content coding is asked for and accepted
//!    ([`crate::encoding`]);
//! 4. the meter (`meter.rs`) counts the exchange and writes its ledger entry; the
//!    response body reaches the plugin scrubbed of secrets (as are its
//!    headers and trailers), capped, counted and hashed.
//!
//! The bodies evidence may cite are held in a [`Window`], which the
//! evidence writer reads through a [`CitationIndex`].

mod carrier;
mod gate;
mod intercept;
mod meter;

pub use meter::Traffic;

use crate::connect::Unanswered;
use crate::egress::Denial;
use crate::grant::Grant;
use crate::ledger::{Exchange, Outcome, Refusal};
use crate::log::RunLog;
use crate::progress::Progress;
use crate::provenance::{self, Window};
use crate::request::{Prepared, RequestRefused};
use crate::sandbox::Limits;
use crate::tape::{OpenTape, TapeError};
use carrier::Carrier;
use gate::Gate;
use http_body_util::BodyExt;
use intercept::{Asked, Interceptor};
use meter::{Delivery, Meter, MeteredBody};
use rustls::pki_types::CertificateDer;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// The future that drives a response's connection, as wasmtime-wasi-http
/// expects it back. The pool in [`crate::connect::Connections`] drives its
/// connections itself, so the host hands back one with nothing left to do.
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

/// Why the host refused a request before it left: the kind the ledger
/// files it under, and what the plugin is told and the ledger keeps.
#[derive(Debug)]
struct Refused {
    kind: Refusal,
    why: Unanswered,
}

impl Refused {
    fn new(kind: Refusal, code: HttpError, detail: String) -> Refused {
        Refused {
            kind,
            why: Unanswered { code, detail },
        }
    }
}

impl From<Denial> for Refused {
    fn from(denial: Denial) -> Refused {
        let code = match denial {
            Denial::ForbiddenAddress { .. } => HttpError::DestinationIpProhibited,
            _ => HttpError::HttpRequestDenied,
        };
        Refused::new(denial.refusal(), code, denial.to_string())
    }
}

impl From<RequestRefused> for Refused {
    fn from(refused: RequestRefused) -> Refused {
        let detail = refused.to_string();
        Refused::new(Refusal::RequestBody, refused.code(), detail)
    }
}

/// Why an admitted request got no response (its detail scrubbed of
/// secrets), and where it was sent.
struct NotCarried {
    why: Unanswered,
    routed_to: Option<String>,
}

/// The shared state of a run's outbound traffic.
pub struct Outbound {
    grant: Arc<Grant>,
    /// The largest response body the plugin gets.
    response_cap: u64,
    gate: Gate,
    interceptor: Box<dyn Interceptor>,
    carrier: Carrier,
    meter: Arc<Meter>,
    /// The response bodies evidence may cite.
    window: Arc<Window>,
}

/// What the evidence writer needs of a run's traffic: the bodies records
/// may cite, and the progress display that counts records per list.
#[derive(Clone)]
pub struct CitationIndex {
    window: Arc<Window>,
    progress: Arc<Progress>,
}

impl CitationIndex {
    /// The response bodies this run's evidence may cite.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Counts records written from `url`, for progress displays.
    pub fn count_records(&self, url: &str, n: u64) {
        self.progress.recorded(&request_path(url), n);
    }
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
        Arc::new(Outbound {
            gate: Gate::new(grant.clone()),
            interceptor: intercept::for_tape(tape, log.clone()),
            carrier: Carrier::new(grant.clone(), limits, roots),
            meter: Arc::new(Meter::new(log, ledger, progress)),
            window: Arc::new(Window::new(provenance::window_bytes(limits.response_bytes))),
            response_cap: limits.response_bytes,
            grant,
        })
    }

    /// The first request the replayed recording did not hold, if any: such a
    /// run did not see what the recorded one saw.
    pub fn take_replay_miss(&self) -> Option<TapeError> {
        self.interceptor.take_miss()
    }

    /// Sets when the current call must end; request timeouts never outlast it.
    pub fn set_deadline(&self, deadline: Instant) {
        self.carrier.set_deadline(deadline);
    }

    /// What the evidence writer reads of this run's traffic.
    pub fn citation_index(&self) -> CitationIndex {
        CitationIndex {
            window: self.window.clone(),
            progress: self.meter.progress.clone(),
        }
    }

    /// What the run's requests have come to so far, for `run.json`.
    pub fn traffic(&self) -> Traffic {
        self.meter.traffic()
    }

    /// The ledger's head hash and entry count, once every exchange that
    /// ended so far is written; the first error writing it, if any. The
    /// ledger is closed then ([`crate::ledger::LedgerThread::close`]).
    pub fn ledger_head(&self) -> std::io::Result<(String, u64)> {
        self.meter.ledger_head()
    }

    async fn send(
        self: Arc<Self>,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<(http::Response<WasiBody>, IoFuture), HttpError> {
        let started = Instant::now();
        let seq = self.meter.start();
        let method = request.method().as_str().to_string();
        let url = self
            .grant
            .scrubber
            .text(&request.uri().to_string())
            .into_owned();
        let framed = self.gate.frame(request).await;
        let entry = Exchange {
            seq,
            time: crate::now_rfc3339(),
            method: method.clone(),
            url: url.clone(),
            request_sha256: framed.request_sha256,
            routed_to: None,
            outcome: Outcome::Complete,
            status: None,
            duration_ms: 0,
            bytes: 0,
            body_sha256: None,
            refusal: None,
            detail: None,
        };
        let timed = |mut entry: Exchange| {
            entry.duration_ms = started.elapsed().as_millis() as u64;
            entry
        };
        let admitted = framed.ready.and_then(|prepared| {
            let origin = self.gate.admit(&method, prepared.request.uri())?;
            Ok((prepared, origin))
        });
        let (
            Prepared {
                request,
                body: request_body,
                ..
            },
            origin,
        ) = match admitted {
            Ok(admitted) => admitted,
            Err(refused) => return Err(self.meter.denied(timed(entry), refused)),
        };
        let key = normalize_url(&url).unwrap_or_else(|| url.clone());
        let asked = Asked {
            seq,
            method: &method,
            url: &url,
            key: &key,
            body: &request_body,
            body_sha256: entry.request_sha256.as_deref(),
        };
        let carried = match self.interceptor.intercept(&asked) {
            Some(answered) => answered,
            None => match self.carrier.approve(&origin).await {
                Ok(()) => self.carrier.carry(request, options, &origin).await,
                Err(refused) => return Err(self.meter.denied(timed(entry.clone()), refused)),
            },
        };
        let carried = match carried {
            Ok(carried) => carried,
            Err(not) => {
                let mut failed = timed(entry.clone());
                failed.routed_to = not.routed_to;
                self.meter.failed(failed, not.why.detail);
                return Err(not.why.code);
            }
        };
        let response = self.deliver(carried, &asked, timed(entry.clone()), started);
        let io: IoFuture = Box::new(std::future::ready(Ok(())));
        Ok((response, io))
    }

    /// The response the plugin gets: headers scrubbed, the body metered,
    /// held for citation when its status allows, and kept by the
    /// interceptor when the run records.
    fn deliver(
        &self,
        carried: Carried,
        asked: &Asked<'_>,
        mut exchange: Exchange,
        started: Instant,
    ) -> http::Response<WasiBody> {
        let Carried {
            response,
            routed_to,
            slot,
        } = carried;
        let seq = exchange.seq;
        let status = response.status().as_u16();
        let cited_as = provenance::key(asked.method, asked.key);
        let held = self
            .window
            .open(&cited_as, seq, status)
            .then(|| (cited_as, Vec::new()));
        let (mut parts, body) = response.into_parts();
        self.scrub_headers(&mut parts.headers);
        self.meter
            .progress
            .answered(&request_path(asked.url), status, &parts.headers);
        let kept = self.interceptor.keep(asked, &parts);
        exchange.status = Some(status);
        exchange.routed_to = routed_to;
        let delivery = Delivery {
            exchange,
            started,
            slot,
            held,
            kept,
        };
        let body = MeteredBody::new(
            body,
            delivery,
            self.response_cap,
            self.grant.scrubber.clone(),
            self.meter.clone(),
            self.window.clone(),
        );
        http::Response::from_parts(parts, body.boxed_unsync())
    }

    fn scrub_headers(&self, headers: &mut http::HeaderMap) {
        self.grant.scrubber.headers(headers);
    }
}

/// The path of a URL: the list its pages belong to (the cursor is in the
/// query or the body).
fn request_path(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| "/".to_owned(), |url| url.path().to_owned())
}

/// One spelling per URL, so evidence sources match ledger entries.
pub(crate) fn normalize_url(url: &str) -> Option<String> {
    url.parse::<http::Uri>().ok().map(|u| u.to_string())
}

/// The hooks object that lives in the store; all state is shared.
pub struct Hooks {
    /// The traffic state every request from this store goes through.
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
        // The plugin has made its request now; what follows is a task the
        // runtime runs in its turn, behind every other run's work.
        self.outbound.meter.progress.note_request_sent();
        Box::new(self.outbound.clone().send(request, options))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::egress::{EgressPolicy, Origin, Reroutes, Route};
    use crate::grant::SecretHeader;
    use crate::secrets::{Scrubber, Secret};

    /// A grant to `GET` anything on `origin`, with a bearer secret for it.
    pub(crate) fn grant(origin: &str, reroutes: Reroutes) -> Arc<Grant> {
        let origin = Origin::parse(origin).unwrap();
        let mut egress = EgressPolicy::deny_all();
        egress.allow(origin.clone(), [Route::parse("GET", "/**").unwrap()]);
        let secret = Secret::new("k-0123456789").unwrap();
        Arc::new(Grant {
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
        })
    }

    #[test]
    fn pages_of_a_list_share_its_path_whatever_their_cursor() {
        for url in [
            "https://api.example.com/v1/users",
            "https://api.example.com/v1/users?cursor=abc",
            "https://api.example.com:8443/v1/users#top",
        ] {
            assert_eq!(request_path(url), "/v1/users", "{url}");
        }
        assert_eq!(request_path("https://api.example.com"), "/");
    }

    #[test]
    fn response_headers_echoing_a_secret_are_scrubbed() {
        let outbound = Outbound::new(
            grant("https://api.example.com", Reroutes::default()),
            Limits::default(),
            RunLog::new(None, Scrubber::default()),
            Box::new(std::io::sink()),
            Arc::default(),
            OpenTape::Live,
            &[],
        );
        let mut headers = http::HeaderMap::new();
        headers.insert("x-echo", "Bearer k-0123456789".parse().unwrap());
        outbound.scrub_headers(&mut headers);
        assert_eq!(headers["x-echo"], "Bearer [REDACTED]");
    }
}
