//! The component: the integration logic behind the `watchdog:integration`
//! contract, with `wasi:http` as its transport and the host's `emit` and `log`
//! as its sink. Built only for `wasm32`; everything else in this crate is
//! plain Rust, tested natively.
//!
//! [`WasiTransport::send_all`] starts every request of a batch at
//! once (`outgoing-handler.handle` returns a future response immediately),
//! runs the caller's `meanwhile` work while the host carries them, and then
//! drives them all, heads and bodies, with one `wasi:io/poll.poll` over every
//! pending pollable, so independent lists are fetched in parallel without an
//! async runtime in the guest.

wit_bindgen::generate!({
    path: "../wit",
    world: "watchdog:integration/plugin",
    generate_all,
});

/// The `host` import again, taking borrowed text, so that `emit` lends the
/// evidence (`contract::Evidence`) instead of taking copies. Only for it:
/// `wasi:http`'s bindings do not build that way.
mod lend {
    wit_bindgen::generate!({
        inline: "package watchdog:lend; world lend { import watchdog:integration/host@0.1.0; }",
        path: "../wit",
        generate_all,
        ownership: Borrowing {
            duplicate_if_necessary: true
        },
    });
}

use crate::contract as c;
use crate::transport::{Method, Request, Response, Sink, Transport, TransportError};
use exports::watchdog::integration::integration::Guest;
use std::cell::RefCell;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, Method as WasiMethod, OutgoingBody,
    OutgoingRequest, Scheme,
};
use wasi::io::streams::{InputStream, StreamError};
use watchdog::integration::host;
use watchdog::integration::types as w;

thread_local! {
    /// The configured integration; a component instance is single-threaded.
    static INTEGRATION: RefCell<crate::Integration> = RefCell::new(crate::Integration::new());
}

struct Component;

impl Guest for Component {
    fn manifest() -> w::Manifest {
        manifest(crate::Integration::manifest())
    }

    fn configure(config: Vec<w::ConfigEntry>) -> Result<(), w::Error> {
        let entries = config
            .into_iter()
            .map(|e| c::ConfigEntry {
                name: e.name,
                value: e.value,
            })
            .collect();
        INTEGRATION
            .with(|i| i.borrow_mut().configure(entries))
            .map_err(error)
    }

    fn validate() -> Result<Vec<w::Check>, w::Error> {
        let checks = INTEGRATION.with(|i| i.borrow().validate(&mut WasiTransport))?;
        Ok(checks.into_iter().map(check).collect())
    }

    fn collect(checkpoint: Option<String>) -> Result<w::Summary, w::Error> {
        let summary = INTEGRATION.with(|i| {
            i.borrow()
                .collect(&mut WasiTransport, &mut HostSink, checkpoint)
        })?;
        Ok(w::Summary {
            counts: summary
                .counts
                .into_iter()
                .map(|k| w::KindCount {
                    kind: k.kind,
                    count: k.count,
                })
                .collect(),
            findings: summary.findings.into_iter().map(finding).collect(),
            warnings: summary
                .warnings
                .into_iter()
                .map(|x| w::Warning {
                    resource: x.resource,
                    message: x.message,
                    cause: x.cause.map(error),
                    incomplete: x.incomplete,
                })
                .collect(),
            checkpoint: summary.checkpoint,
        })
    }
}

export!(Component);

/// HTTP through the host's `wasi:http/outgoing-handler`.
struct WasiTransport;

/// One request of a batch on its way.
enum InFlight {
    Head(FutureIncomingResponse),
    Body {
        status: u16,
        headers: Vec<(String, String)>,
        // Declared before `body`: the stream is a child of the body resource
        // and must be dropped first.
        stream: InputStream,
        body: IncomingBody,
        bytes: Vec<u8>,
    },
    Done(Result<Response, TransportError>),
}

impl Transport for WasiTransport {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        let mut flights: Vec<InFlight> = requests
            .iter()
            .map(|r| match start(r) {
                Ok(future) => InFlight::Head(future),
                Err(e) => InFlight::Done(Err(e)),
            })
            .collect();
        meanwhile();
        loop {
            let pending: Vec<usize> = (0..flights.len())
                .filter(|&i| !matches!(flights[i], InFlight::Done(_)))
                .collect();
            if pending.is_empty() {
                break;
            }
            let pollables: Vec<_> = pending
                .iter()
                .map(|&i| match &flights[i] {
                    InFlight::Head(future) => future.subscribe(),
                    InFlight::Body { stream, .. } => stream.subscribe(),
                    InFlight::Done(_) => unreachable!("filtered out above"),
                })
                .collect();
            let refs: Vec<_> = pollables.iter().collect();
            let ready = wasi::io::poll::poll(&refs);
            drop(pollables);
            for index in ready {
                let i = pending[index as usize];
                let flight = std::mem::replace(&mut flights[i], InFlight::Done(Err(lost())));
                flights[i] = advance(flight);
            }
        }
        flights
            .into_iter()
            .map(|f| match f {
                InFlight::Done(result) => result,
                _ => Err(lost()),
            })
            .collect()
    }
}

fn lost() -> TransportError {
    TransportError::Network("the request was lost by the transport".into())
}

/// Starts one request; the response arrives later on the returned future.
fn start(request: &Request) -> Result<FutureIncomingResponse, TransportError> {
    let invalid = |why: &str| TransportError::Network(format!("{why}: {}", request.url));
    let (scheme, rest) = request
        .url
        .split_once("://")
        .ok_or_else(|| invalid("not an absolute URL"))?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&headers).map_err(|e| invalid(&format!("header {e:?}")))?;
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Post => WasiMethod::Post,
    };
    let scheme = match scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        _ => return Err(invalid("unsupported scheme")),
    };
    outgoing
        .set_method(&method)
        .and_then(|()| outgoing.set_scheme(Some(&scheme)))
        .and_then(|()| outgoing.set_authority(Some(authority)))
        .and_then(|()| outgoing.set_path_with_query(Some(&path)))
        .map_err(|()| invalid("the host refused the request line"))?;
    let body = outgoing.body().map_err(|()| invalid("no request body"))?;
    if let Some(bytes) = &request.body {
        let stream = body
            .write()
            .map_err(|()| invalid("no request body stream"))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| TransportError::Network(format!("writing the request body: {e:?}")))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(http_error)?;
    outgoing_handler::handle(outgoing, None).map_err(http_error)
}

/// The most a response's announced length reserves ahead of its bytes.
const RESERVED_BODY: usize = 16 << 20;

/// Moves a request one step on, after its pollable fired.
fn advance(flight: InFlight) -> InFlight {
    match flight {
        InFlight::Head(future) => match future.get() {
            None => InFlight::Head(future),
            Some(Err(())) => InFlight::Done(Err(lost())),
            Some(Ok(Err(code))) => InFlight::Done(Err(http_error(code))),
            Some(Ok(Ok(response))) => {
                let status = response.status();
                let headers: Vec<(String, String)> = response
                    .headers()
                    .entries()
                    .into_iter()
                    .map(|(n, v)| {
                        (
                            n.to_ascii_lowercase(),
                            String::from_utf8_lossy(&v).into_owned(),
                        )
                    })
                    .collect();
                // Room for the whole body when its length is announced, so
                // that a page is not copied again each time it outgrows its
                // buffer; only up to a bound, as an announcement is not a body.
                let announced = headers
                    .iter()
                    .find(|(name, _)| name == "content-length")
                    .and_then(|(_, value)| value.parse::<usize>().ok())
                    .unwrap_or(0);
                let Ok(body) = response.consume() else {
                    return InFlight::Done(Err(lost()));
                };
                let Ok(stream) = body.stream() else {
                    return InFlight::Done(Err(lost()));
                };
                InFlight::Body {
                    status,
                    headers,
                    stream,
                    body,
                    bytes: Vec::with_capacity(announced.min(RESERVED_BODY)),
                }
            }
        },
        InFlight::Body {
            status,
            headers,
            stream,
            body,
            mut bytes,
        } => loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => {
                    return InFlight::Body {
                        status,
                        headers,
                        stream,
                        body,
                        bytes,
                    };
                }
                Ok(chunk) => bytes.extend(chunk),
                Err(StreamError::Closed) => {
                    drop(stream);
                    return InFlight::Done(finish_body(body).map(|()| Response {
                        status,
                        headers,
                        body: bytes,
                    }));
                }
                Err(StreamError::LastOperationFailed(e)) => {
                    let error = match wasi::http::types::http_error_code(&e) {
                        Some(code) => http_error(code),
                        None => TransportError::Network(e.to_debug_string()),
                    };
                    // The stream is the body's child: it must go first.
                    drop(stream);
                    drop(body);
                    return InFlight::Done(Err(error));
                }
            }
        },
        done @ InFlight::Done(_) => done,
    }
}

/// Waits for the body's trailers, where a failure after the last byte shows.
fn finish_body(body: IncomingBody) -> Result<(), TransportError> {
    let trailers = IncomingBody::finish(body);
    trailers.subscribe().block();
    match trailers.get() {
        Some(Ok(Err(code))) => Err(http_error(code)),
        _ => Ok(()),
    }
}

fn http_error(code: ErrorCode) -> TransportError {
    match code {
        ErrorCode::HttpRequestDenied | ErrorCode::DestinationIpProhibited => {
            TransportError::Denied(format!("the host refused the request: {code:?}"))
        }
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout
        | ErrorCode::DnsTimeout => TransportError::Timeout(format!("{code:?}")),
        other => TransportError::Network(format!("{other:?}")),
    }
}

/// Evidence and log lines to the host.
struct HostSink;

impl Sink for HostSink {
    fn emit(&mut self, batch: Vec<c::Evidence<'_>>) -> Result<(), c::Error> {
        use lend::watchdog::integration::{host, types as w};
        let batch: Vec<w::Evidence<'_>> = batch
            .iter()
            .map(|e| w::Evidence {
                kind: &e.kind,
                id: &e.id,
                source: w::Source {
                    method: &e.source.method,
                    url: &e.source.url,
                },
                data: &e.data,
            })
            .collect();
        host::emit(&batch).map_err(|e| match e {
            w::Error::InvalidConfig(p) => c::Error::InvalidConfig(
                p.into_iter()
                    .map(|p| c::FieldProblem {
                        field: p.field,
                        problem: p.problem,
                    })
                    .collect(),
            ),
            other => c::Error::Internal(format!("the host refused evidence: {other:?}")),
        })
    }

    fn log(&mut self, level: c::Level, message: &str) {
        let level = match level {
            c::Level::Trace => host::LogLevel::Trace,
            c::Level::Debug => host::LogLevel::Debug,
            c::Level::Info => host::LogLevel::Info,
            c::Level::Warn => host::LogLevel::Warn,
            c::Level::Error => host::LogLevel::Error,
        };
        host::log(level, message);
    }
}

impl From<c::Error> for w::Error {
    fn from(e: c::Error) -> w::Error {
        error(e)
    }
}

fn error(e: c::Error) -> w::Error {
    match e {
        c::Error::InvalidConfig(problems) => w::Error::InvalidConfig(
            problems
                .into_iter()
                .map(|p| w::FieldProblem {
                    field: p.field,
                    problem: p.problem,
                })
                .collect(),
        ),
        c::Error::Unauthorized(d) => w::Error::Unauthorized(d),
        c::Error::Forbidden {
            resource,
            missing,
            detail,
        } => w::Error::Forbidden(w::Forbidden {
            resource,
            missing,
            detail,
        }),
        c::Error::NotFound(d) => w::Error::NotFound(d),
        c::Error::RateLimited {
            retry_after_ms,
            detail,
        } => w::Error::RateLimited(w::RateLimited {
            retry_after_ms,
            detail,
        }),
        c::Error::Upstream { status, detail } => {
            w::Error::Upstream(w::UpstreamFailure { status, detail })
        }
        c::Error::Network(d) => w::Error::Network(d),
        c::Error::Timeout(d) => w::Error::Timeout(d),
        c::Error::Internal(d) => w::Error::Internal(d),
    }
}

fn check(x: c::Check) -> w::Check {
    w::Check {
        id: x.id,
        title: x.title,
        status: match x.status {
            c::CheckStatus::Pass => w::CheckStatus::Pass,
            c::CheckStatus::Warn => w::CheckStatus::Warn,
            c::CheckStatus::Fail => w::CheckStatus::Fail,
        },
        detail: x.detail,
        remedy: x.remedy,
    }
}

fn finding(f: c::Finding) -> w::Finding {
    w::Finding {
        id: f.id,
        title: f.title,
        status: match f.status {
            c::FindingStatus::Pass => w::FindingStatus::Pass,
            c::FindingStatus::Fail => w::FindingStatus::Fail,
            c::FindingStatus::Unknown => w::FindingStatus::Unknown,
        },
        severity: match f.severity {
            c::Severity::Low => w::Severity::Low,
            c::Severity::Medium => w::Severity::Medium,
            c::Severity::High => w::Severity::High,
            c::Severity::Critical => w::Severity::Critical,
        },
        population: f.population,
        failing: f.failing,
        detail: f.detail,
        remedy: f.remedy,
        controls: f.controls,
    }
}

fn manifest(m: c::Manifest) -> w::Manifest {
    w::Manifest {
        id: m.id,
        name: m.name,
        version: m.version,
        contract_version: m.contract_version,
        description: m.description,
        config: m
            .config
            .into_iter()
            .map(|f| w::ConfigField {
                name: f.name,
                label: f.label,
                help: f.help,
                required: f.required,
                secret: f.secret,
            })
            .collect(),
        egress: m
            .egress
            .into_iter()
            .map(|r| w::EgressRule {
                origin: r.origin,
                routes: r
                    .routes
                    .into_iter()
                    .map(|x| w::Route {
                        method: x.method,
                        path: x.path,
                    })
                    .collect(),
            })
            .collect(),
        secrets: m
            .secrets
            .into_iter()
            .map(|s| w::SecretHeader {
                field: s.field,
                origin: s.origin,
                header: s.header,
                template: s.template,
            })
            .collect(),
        evidence_kinds: m
            .evidence_kinds
            .into_iter()
            .map(|k| w::EvidenceKind {
                name: k.name,
                description: k.description,
            })
            .collect(),
    }
}
