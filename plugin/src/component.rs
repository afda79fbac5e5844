//! The component: the integration logic behind the `watchdog:integration`
//! contract, with `wasi:http` as its transport and the host's `emit` and `log`
//! as its sink. Built only for `wasm32`; everything else in this crate is
//! plain Rust, tested natively.
//!
//! What is generic (the bindings, the export macro, concurrent requests over
//! `wasi:http` with one `wasi:io/poll.poll` per round, lent evidence) is
//! `watchdog-sdk`'s; what stays here converts the integration's native
//! `contract` types to the contract's and back.

use crate::contract as c;
use crate::transport::{Request, Response, Sink, Transport, TransportError};
use std::cell::RefCell;
use watchdog_sdk::Guest;
use watchdog_sdk::emit::{LentEvidence, LentSource, emit_lent};
use watchdog_sdk::{self as w, LogLevel};

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

watchdog_sdk::export!(Component);

/// HTTP through the host's `wasi:http/outgoing-handler`, as the SDK
/// carries it.
struct WasiTransport;

impl Transport for WasiTransport {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        watchdog_sdk::http::send_all(&requests, meanwhile)
    }
}

/// Evidence and log lines to the host.
struct HostSink;

impl Sink for HostSink {
    fn emit(&mut self, batch: Vec<c::Evidence<'_>>) -> Result<(), c::Error> {
        let batch: Vec<LentEvidence<'_>> = batch
            .iter()
            .map(|e| LentEvidence {
                kind: &e.kind,
                id: &e.id,
                source: LentSource {
                    method: &e.source.method,
                    url: &e.source.url,
                },
                data: &e.data,
            })
            .collect();
        // The SDK reports a refusal as invalid-config or internal.
        emit_lent(&batch).map_err(|e| match e {
            w::Error::InvalidConfig(p) => c::Error::InvalidConfig(
                p.into_iter()
                    .map(|p| c::FieldProblem {
                        field: p.field,
                        problem: p.problem,
                    })
                    .collect(),
            ),
            other => c::Error::Internal(format!("{other:?}")),
        })
    }

    fn log(&mut self, level: c::Level, message: &str) {
        let level = match level {
            c::Level::Trace => LogLevel::Trace,
            c::Level::Debug => LogLevel::Debug,
            c::Level::Info => LogLevel::Info,
            c::Level::Warn => LogLevel::Warn,
            c::Level::Error => LogLevel::Error,
        };
        watchdog_sdk::log(level, message);
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
