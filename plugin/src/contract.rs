//! Plain Rust mirrors of the records and variants of `wit/integration.wit`
//! (`watchdog:integration@0.1.0`), one to one, so that the logic can be tested
//! natively and the wasm glue converts them field by field. The WIT file's doc
//! comments are the reference for what each field means.

use std::borrow::Cow;
use std::fmt;

/// `config-field`: a field the operator fills in when connecting the integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigField {
    pub name: String,
    pub label: String,
    pub help: String,
    pub required: bool,
    pub secret: bool,
}

/// `route`: one kind of request the integration may make to an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path pattern: `*` is one segment, a final `**` the rest.
    pub path: String,
}

/// `egress-rule`: the requests the integration may make to one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    pub origin: String,
    pub routes: Vec<Route>,
}

/// `secret-header`: how the host sends a secret config value upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHeader {
    pub field: String,
    pub origin: String,
    pub header: String,
    pub template: String,
}

/// `evidence-kind`: a kind of evidence record the integration emits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceKind {
    pub name: String,
    pub description: String,
}

/// `manifest`: what the integration is and what it asks of the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub version: String,
    pub contract_version: String,
    pub description: String,
    pub config: Vec<ConfigField>,
    pub egress: Vec<EgressRule>,
    pub secrets: Vec<SecretHeader>,
    pub evidence_kinds: Vec<EvidenceKind>,
}

/// `config-entry`: one non-secret configuration value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    pub name: String,
    pub value: String,
}

/// `field-problem`: a configuration field that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub problem: String,
}

/// `error`: why an operation failed. The WIT records `forbidden`,
/// `rate-limited` and `upstream-failure` are inlined as struct variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidConfig(Vec<FieldProblem>),
    Unauthorized(String),
    Forbidden {
        resource: String,
        missing: Option<String>,
        detail: String,
    },
    NotFound(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        detail: String,
    },
    Upstream {
        status: u16,
        detail: String,
    },
    Network(String),
    Timeout(String),
    Internal(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig(problems) => {
                write!(f, "invalid configuration:")?;
                for p in problems {
                    write!(f, " {}: {};", p.field, p.problem)?;
                }
                Ok(())
            }
            Error::Unauthorized(detail) => write!(f, "unauthorized: {detail}"),
            Error::Forbidden {
                resource,
                missing,
                detail,
            } => {
                write!(f, "forbidden: {resource}")?;
                if let Some(scope) = missing {
                    write!(f, " (needs {scope})")?;
                }
                write!(f, ": {detail}")
            }
            Error::NotFound(detail) => write!(f, "not found: {detail}"),
            Error::RateLimited { detail, .. } => write!(f, "rate limited: {detail}"),
            Error::Upstream { status, detail } => write!(f, "upstream error {status}: {detail}"),
            Error::Network(detail) => write!(f, "network: {detail}"),
            Error::Timeout(detail) => write!(f, "timeout: {detail}"),
            Error::Internal(detail) => write!(f, "internal: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

/// `check-status`: outcome of one `validate` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
}

/// `check`: one capability checked by `validate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub id: String,
    pub title: String,
    pub status: CheckStatus,
    pub detail: String,
    pub remedy: String,
}

/// `source`: the request an evidence record was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source<'a> {
    pub method: Cow<'a, str>,
    pub url: Cow<'a, str>,
}

/// `evidence`: one object as the upstream described it; `data` is JSON text.
///
/// Borrowed, unlike the other mirrors: a collection emits every record it
/// reads, and lending the page's text, the request's URL and the kind's name
/// to the host's `emit` spares a copy of each (the lowering of `emit` copies
/// them once anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence<'a> {
    pub kind: Cow<'a, str>,
    pub id: Cow<'a, str>,
    pub source: Source<'a>,
    pub data: Cow<'a, str>,
}

impl Evidence<'_> {
    /// The same evidence, owning its text.
    pub fn into_owned(self) -> Evidence<'static> {
        Evidence {
            kind: Cow::Owned(self.kind.into_owned()),
            id: Cow::Owned(self.id.into_owned()),
            source: Source {
                method: Cow::Owned(self.source.method.into_owned()),
                url: Cow::Owned(self.source.url.into_owned()),
            },
            data: Cow::Owned(self.data.into_owned()),
        }
    }
}

/// `finding-status`: result of one posture check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingStatus {
    Pass,
    Fail,
    Unknown,
}

/// `severity`: how much a failure matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// `finding`: a posture check, the population examined and who fails it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: String,
    pub title: String,
    pub status: FindingStatus,
    pub severity: Severity,
    pub population: u64,
    pub failing: Vec<String>,
    pub detail: String,
    pub remedy: String,
    pub controls: Vec<String>,
}

/// `warning`: something the operator should know about a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub resource: String,
    pub message: String,
    pub cause: Option<Error>,
    pub incomplete: bool,
}

/// `kind-count`: how many records of a kind were emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    pub kind: String,
    pub count: u64,
}

/// `summary`: what `collect` reports once every record has been emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub counts: Vec<KindCount>,
    pub findings: Vec<Finding>,
    pub warnings: Vec<Warning>,
    pub checkpoint: Option<String>,
}

/// `host.log-level`: severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}
