//! WatchDog's Atlassian Cloud Admin integration: the logic, free of any
//! transport. It reads an Atlassian organization through the Admin APIs,
//! emits every object as evidence, and checks access-control posture.
//!
//! The wasm glue (`component`, built for `wasm32` only) exports the WIT
//! `integration` interface by calling [`Integration`], implementing
//! [`Transport`] over `wasi:http` and the host clock and randomness and
//! [`Sink`] over the host's `emit` and `log`, and converting the [`contract`]
//! types field by field. Everything here runs natively too, which is how it
//! is tested and benchmarked.
//!
//! Inside, an operation fails with a typed `Failure`; [`Integration`]'s
//! methods turn it into the contract's [`Error`], the only form the host sees.

mod api;
mod checkpoint;
mod checks;
mod collect;
#[cfg(target_arch = "wasm32")]
mod component;
mod config;
pub mod contract;
mod dates;
mod failure;
mod fields;
mod fingerprint;
mod keys;
mod manifest;
mod pagination;
mod retry;
mod schedule;
pub mod transport;
mod upstream;
mod urls;
mod validate;

pub use checks::{NOT_APPLICABLE, is_not_applicable};
pub use collect::Limits;
pub use contract::{
    Check, CheckStatus, ConfigEntry, ConfigField, EgressRule, Error, Evidence, EvidenceKind,
    FieldProblem, Finding, FindingStatus, KindCount, Level, Manifest, Route, SecretHeader,
    Severity, Source, Summary, Warning,
};
pub use retry::RetryPolicy;
pub use transport::{Method, Request, Response, Sink, Transport, TransportError};

use config::Config;
use failure::Failure;

/// One instance of the integration, as the WIT exports see it: `manifest`,
/// then `configure`, then `validate` or `collect`.
#[derive(Debug, Clone, Default)]
pub struct Integration {
    config: Option<Config>,
    limits: Limits,
}

impl Integration {
    pub fn new() -> Integration {
        Integration::default()
    }

    /// With other limits than the production defaults (tests, benchmarks).
    pub fn with_limits(limits: Limits) -> Integration {
        Integration {
            config: None,
            limits,
        }
    }

    /// The manifest; needs no configuration and cannot fail.
    pub fn manifest() -> Manifest {
        manifest::manifest()
    }

    /// Checks and keeps the non-secret configuration. Makes no request.
    pub fn configure(&mut self, entries: Vec<ConfigEntry>) -> Result<(), Error> {
        self.config = Some(config::parse(&entries)?);
        Ok(())
    }

    /// The connection diagnosis: one check per capability.
    pub fn validate(&self, transport: &mut impl Transport) -> Result<Vec<Check>, Error> {
        let config = self.configured()?;
        Ok(validate::validate(config, &self.limits, transport)?)
    }

    /// Collects the evidence into `sink` and returns the summary; pass the
    /// previous summary's checkpoint to read the audit log incrementally.
    pub fn collect(
        &self,
        transport: &mut impl Transport,
        sink: &mut impl Sink,
        checkpoint: Option<String>,
    ) -> Result<Summary, Error> {
        let config = self.configured()?;
        Ok(collect::collect(
            config,
            &self.limits,
            transport,
            sink,
            checkpoint,
        )?)
    }

    /// The configuration, or the same refusal `configure` gives without one.
    fn configured(&self) -> Result<&Config, Failure> {
        match &self.config {
            Some(config) => Ok(config),
            None => Err(config::parse(&[]).expect_err("an empty configuration lacks org-id")),
        }
    }
}
