//! The contract: host bindings for the `watchdog:integration` WIT package in
//! `wit/`, and the rule for which contract versions this host accepts.
//!
//! A component declares its contract version in the names of what it exports
//! (`watchdog:integration/integration@0.1.0`). The host accepts every version
//! of the series it implements (`0.1.x`): within a series the existing items
//! never change, and wasmtime matches export and import names by
//! semver-compatible name, so a plugin built against `0.1.0` loads in a host
//! built against `0.1.7`. Other series are refused with a message naming both.

use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// What `bindgen!` generates for the WIT, re-exported below at the same paths.
/// Its items carry the WIT's doc comments; those the WIT cannot document
/// (the world's `Plugin`, its linker functions) are wasmtime's, so the lint
/// is off here only.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "watchdog:integration/plugin",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
        additional_derives: [serde::Serialize, serde::Deserialize],
    });
}

pub use bindings::*;

pub use exports::watchdog::integration::integration::{Check, Summary};
pub use watchdog::integration::host::LogLevel;
pub use watchdog::integration::types::{
    CheckStatus, ConfigEntry, Error as PluginError, Evidence, Finding, FindingStatus, Manifest,
    Warning,
};

/// How a finding that does not apply opens its `detail` in contract 0.1,
/// which has no status for it (see `finding` in `wit/integration.wit`).
pub const NOT_APPLICABLE: &str = "Not applicable:";

/// Whether a finding does not apply (an empty population, or a control the
/// organization's plan does not offer): `unknown`, with an empty population,
/// nothing failing and a detail opening with [`NOT_APPLICABLE`]. Neither a
/// pass nor a failure.
pub fn is_not_applicable(finding: &Finding) -> bool {
    finding.status == FindingStatus::Unknown
        && finding.population == 0
        && finding.failing.is_empty()
        && finding.detail.starts_with(NOT_APPLICABLE)
}

/// The contract version this host was built against.
pub const HOST_CONTRACT: &str = "0.1.0";

/// The interface every integration exports, without its version.
const EXPORT_PREFIX: &str = "watchdog:integration/integration@";

/// Why a component is not an integration this host can run.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// No export is the versioned integration interface: some other component.
    #[error(
        "the component does not export `{EXPORT_PREFIX}<version>`: it is not a WatchDog integration (it exports: {exports})"
    )]
    NotAnIntegration {
        /// What the component does export, comma-separated, so the operator
        /// sees what they loaded instead.
        exports: String,
    },
    /// An integration of a contract series this host does not implement.
    #[error(
        "the component implements contract {found}, this host implements {HOST_CONTRACT} and accepts 0.1.x only"
    )]
    IncompatibleVersion {
        /// The version named in the component's export.
        found: String,
    },
}

/// The contract version a component implements, if this host accepts it.
pub fn contract_version(
    component: &Component,
    engine: &wasmtime::Engine,
) -> Result<String, ContractError> {
    let ty = component.component_type();
    let mut names = Vec::new();
    for (name, item) in ty.exports(engine) {
        names.push(name.to_string());
        if let (Some(version), ComponentItem::ComponentInstance(_)) =
            (name.strip_prefix(EXPORT_PREFIX), item.ty)
        {
            return if is_accepted(version) {
                Ok(version.to_string())
            } else {
                Err(ContractError::IncompatibleVersion {
                    found: version.to_string(),
                })
            };
        }
    }
    Err(ContractError::NotAnIntegration {
        exports: if names.is_empty() {
            "nothing".into()
        } else {
            names.join(", ")
        },
    })
}

/// True for the versions of the series this host speaks: `0.1.x`,
/// pre-releases included.
pub fn is_accepted(version: &str) -> bool {
    semver::Version::parse(version).is_ok_and(|v| v.major == 0 && v.minor == 1)
}

/// The names a component imports, for `inspect`.
pub fn imports(component: &Component, engine: &wasmtime::Engine) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_series_versions_are_accepted() {
        for v in ["0.1.0", "0.1.7", "0.1.12-rc.1"] {
            assert!(is_accepted(v), "{v}");
        }
    }

    #[test]
    fn other_series_are_refused() {
        for v in ["0.2.0", "1.0.0", "0.10.1", "0.1", "x"] {
            assert!(!is_accepted(v), "{v}");
        }
    }
}
