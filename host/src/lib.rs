//! `watchdog-host`: runs WatchDog integration components in a sandbox and
//! writes verifiable evidence bundles.
//!
//! The pieces, each in its own module:
//! - [`contract`]: the WIT contract's bindings and the versions accepted.
//! - [`grant`]: what a plugin's manifest asks for, checked, and what the
//!   operator grants for a run.
//! - [`egress`]: the egress policy as plain data (origins, routes, reroutes).
//! - [`secrets`]: secret values and the scrubber.
//! - [`sandbox`]: memory, CPU and time limits and their enforcement.
//! - [`outbound`]: every HTTP request, checked, carried, metered.
//! - [`encoding`]: the host's ownership of content encoding.
//! - [`provenance`]: each record's data proven an object or array value of
//!   the response it cites.
//! - [`request`]: requests framed as standard clients send them.
//! - [`tape`]: responses recorded by a run and replayed with no network.
//! - [`ledger`]: the hash chain of exchanges.
//! - [`bundle`]: evidence and `run.json`.
//! - [`seal`]: the hash that commits to every byte of a bundle.
//! - [`sink`]: where a bundle's bytes go: a folder, or an embedder's store.
//! - [`verify`]: a bundle read back and checked byte for byte.
//! - [`jsonl`]: JSON-lines files read back exactly as written.
//! - [`cache`]: precompiled components.
//! - [`checkpoint`]: the checkpoint file, in an envelope the host checks.
//! - [`runtime`]: engine, linker, store; sandboxed calls into a plugin.
//! - [`pooling`]: instances on demand, or from a pool sized for a worker.
//! - [`embed`]: a multi-tenant worker's host: many runs at once, capped.
//! - [`config`]: the operator's configuration and secrets.
//! - [`run`]: a run from start to end, as the CLI and embedders use it.
//! - [`log`]: the run log.
//! - [`conformance`]: the battery every integration must pass.
//! - [`diff`]: what a new version of a plugin asks for beyond the old one.
//! - [`terminal`]: plugin-written text made safe to print.

#![warn(missing_docs)]

pub mod bundle;
pub mod cache;
pub mod checkpoint;
pub mod config;
pub mod conformance;
pub mod connect;
pub mod contract;
pub mod diff;
pub mod egress;
pub mod embed;
pub mod encoding;
pub mod export;
pub mod grant;
pub mod jsonl;
pub mod ledger;
pub mod log;
pub mod outbound;
pub mod pooling;
pub mod progress;
pub mod provenance;
pub mod request;
pub mod run;
pub mod runtime;
pub mod sandbox;
pub mod seal;
pub mod secrets;
pub mod sink;
pub mod tape;
pub mod terminal;
pub mod verify;

/// The current time as RFC 3339 UTC, the one timestamp format of bundles.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .expect("UTC times always format")
}
