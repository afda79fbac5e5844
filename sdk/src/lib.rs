//! Write a WatchDog integration in Rust.
//!
//! An integration is a WebAssembly component (`wasm32-wasip2`) that exports
//! the `watchdog:integration/integration` interface and imports only the
//! host's `emit` and `log` and `wasi:http/outgoing-handler`. This crate is the
//! one dependency it needs:
//!
//! - the contract's types, re-exported from bindings generated (by
//!   `wit-bindgen`) from the WIT that ships inside this crate, and the
//!   [`Guest`] trait an integration implements;
//! - [`export!`], which makes a type implementing [`Guest`] the component's
//!   export;
//! - [`http::Client`], requests over `wasi:http` with typed errors, bounded
//!   retries, several requests at once and cursor paging;
//! - [`Emitter`], which hands evidence to the host with its source filled in
//!   and counts it per kind for the [`Summary`];
//! - [`log`], a line in the run's log.
//!
//! ```no_run
//! use watchdog_sdk::{http::Client, Emitter, Error, Guest, Summary};
//! # use watchdog_sdk::{Check, ConfigEntry, Manifest};
//! struct Hello;
//!
//! impl Guest for Hello {
//! #   fn manifest() -> Manifest { unimplemented!() }
//! #   fn configure(_: Vec<ConfigEntry>) -> Result<(), Error> { Ok(()) }
//! #   fn validate() -> Result<Vec<Check>, Error> { Ok(vec![]) }
//!     fn collect(_checkpoint: Option<String>) -> Result<Summary, Error> {
//!         let client = Client::new();
//!         let mut emitter = Emitter::new(["example.user"]);
//!         let (request, response) = client.get("https://api.example.com/users")?;
//!         let body = response.text()?;
//!         emitter.emit(&request, "example.user", "all", body)?;
//!         Ok(emitter.summary())
//!     }
//! }
//!
//! watchdog_sdk::export!(Hello);
//! ```
//!
//! Everything compiles natively too (the imports then panic if called), so
//! an integration's logic can be unit-tested off wasm.

#![deny(missing_docs)]

pub mod dates;
pub mod emit;
pub mod http;
pub mod retry;
pub mod status;

/// Bindings generated from the contract (`wit/`), for what the re-exports at
/// the crate root do not cover. The names follow `wit-bindgen`: WIT's
/// `kebab-case` becomes `CamelCase` types and `snake_case` functions, and
/// `watchdog:integration/types` is `bindings::watchdog::integration::types`.
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "watchdog:integration/plugin",
        // The wasi:* interfaces are the `wasip2` crate's, the standard
        // bindings every Rust guest shares, not a copy generated here.
        with: {
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "watchdog_sdk::bindings",
    });
}

/// The `host` import again, taking borrowed text, so that
/// [`emit::emit_lent`] lends the evidence instead of copying it. Only for
/// it: `wasi:http`'s bindings do not build that way.
#[allow(missing_docs)]
mod lend {
    wit_bindgen::generate!({
        inline: "package watchdog:lend; world lend { import watchdog:integration/host@0.1.0; }",
        path: "wit",
        generate_all,
        ownership: Borrowing {
            duplicate_if_necessary: true
        },
    });
}

pub use bindings::exports::watchdog::integration::integration::Guest;
pub use bindings::watchdog::integration::host::LogLevel;
pub use bindings::watchdog::integration::types::{
    Check, CheckStatus, ConfigEntry, ConfigField, EgressRule, Error, Evidence, EvidenceKind,
    FieldProblem, Finding, FindingStatus, Forbidden, KindCount, Manifest, RateLimited, Route,
    SecretHeader, Severity, Source, Summary, UpstreamFailure, Warning,
};
pub use emit::Emitter;

/// Makes a type implementing [`Guest`] the component's export:
/// `watchdog_sdk::export!(MyIntegration);` once, at the crate's root.
#[doc(inline)]
pub use bindings::export;

/// The contract version this crate's bindings implement; a manifest's
/// `contract-version`.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Writes a line to the run's log (the host's `log` import).
pub fn log(level: LogLevel, message: &str) {
    bindings::watchdog::integration::host::log(level, message);
}
