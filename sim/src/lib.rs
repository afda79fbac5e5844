//! A simulated Atlassian organization: a loopback HTTP server that behaves like the Atlassian
//! Cloud Admin REST APIs as documented (same paths, shapes, cursor styles, status codes, error
//! bodies and rate-limit headers), serving a synthetic organization generated from a seed.
//!
//! It exists so the WatchDog Atlassian integration can be developed, tested end to end and
//! benchmarked without a real organization: nothing here contacts Atlassian, it binds
//! 127.0.0.1 only, and all data is synthetic (RFC 2606 domains, RFC 5737 addresses).
//!
//! * [`Population`] is the truth: the organization a seed builds, with methods that compute
//!   the exact records and posture findings a collector should report.
//! * [`SimHandle::start`] serves it under a [`SimConfig`]: key, scopes, latency and [`Fault`]s.
//! * [`SimHandle::start_orgs`] serves many organizations on one listener, each under its own
//!   [`SimConfig`] (see [`SimConfig::orgs`]), and [`SimHandle::write_tenants`] writes the
//!   tenants file a multi-tenant worker reads.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use atlassian_sim::{SimConfig, SimHandle};
//! let sim = SimHandle::start(SimConfig::default()).await?;
//! println!("{}/admin/v1/orgs/{}", sim.base_url(), sim.org_id());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Pagination links that are full URLs (v1 lists, events) use `https://api.atlassian.com`
//! like the real API by default: clients reach the simulator by rerouting that origin to it,
//! and a same-origin check on `next` links then holds. The `links` fault moves them to the
//! request's `Host` or to another origin.

mod api;
mod auth;
mod body;
mod clock;
mod config;
mod cursor;
mod errors;
mod faults;
mod pagination;
mod population;
mod prng;
mod ratelimit;
mod routes;
mod server;
mod tenants;
mod views;

pub use clock::{DAY_MS, NOW_MS};
pub use config::{Paging, READ_SCOPES, SimConfig, guide_scopes};
pub use faults::{Fault, FaultParseError, LinkOrigin, Trigger};
pub use population::*;
pub use routes::Endpoint;
pub use server::{OrgsError, SimHandle, SimOrg};
pub use tenants::{Tenant, TenantConfig, TenantSecrets, tenant_name};

/// The real API's origin, used in every link the simulator writes unless a `links` fault
/// says otherwise.
pub(crate) const PUBLIC_ORIGIN: &str = "https://api.atlassian.com";
