//! What to simulate: [`SimConfig`].

use std::collections::BTreeSet;
use std::time::Duration;

use crate::faults::Fault;

/// How to build and serve the simulated organization.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every generated record; the same seed yields the same organization.
    pub seed: u64,
    /// Members of the organization.
    pub users: usize,
    /// Audit events initially in the log (more can be appended while running).
    pub events: usize,
    /// The organization API key clients must send as `Authorization: Bearer KEY`.
    pub api_key: String,
    /// The key has expired: every request gets the same 401 as a wrong key.
    pub key_expired: bool,
    /// The key's scopes; `None` is a key without scopes, which may call everything.
    pub scopes: Option<BTreeSet<String>>,
    /// Delay before every response (`--latency-ms`).
    pub latency: Duration,
    /// Injected faults (`--fault SPEC`, see [`Fault`]).
    pub faults: Vec<Fault>,
    /// Port on 127.0.0.1; 0 picks an ephemeral one.
    pub port: u16,
    /// Requests a wall-clock minute every endpoint allows, as the gateway's limiter: beyond
    /// it, `429` with `X-RateLimit-Reset` at minute precision and no `Retry-After` until the
    /// minute ends. `None`: limits are advertised, not enforced (except on `/events`).
    pub rate_limit: Option<u64>,
    /// The largest audit-log page size (`limit`) served; a larger one is a 400. Atlassian
    /// documents only the default of 200; 500 is a third-party client's figure (notes §0).
    pub events_max_limit: usize,
    /// The organization subscribes to Atlassian Guard. Without it the audit-log APIs answer
    /// 403 naming the plan (what the real API answers is undocumented).
    pub guard: bool,
}

impl Default for SimConfig {
    /// Seed 7: 300 users, 3,000 events, key `sim-api-key` without scopes, no latency, no
    /// faults, an ephemeral port.
    fn default() -> Self {
        SimConfig {
            seed: 7,
            users: 300,
            events: 3_000,
            api_key: "sim-api-key".to_owned(),
            key_expired: false,
            scopes: None,
            latency: Duration::ZERO,
            faults: Vec::new(),
            port: 0,
            rate_limit: None,
            events_max_limit: 500,
            guard: true,
        }
    }
}
