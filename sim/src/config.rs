//! What to simulate: [`SimConfig`].

use std::collections::BTreeSet;
use std::time::Duration;

use crate::faults::Fault;

/// Every read scope an organization API key can be given, as WatchDog's
/// setup guide asks customers to select (notes §1, scope table).
pub const READ_SCOPES: &[&str] = &[
    "read:orgs:admin",
    "read:accounts:admin",
    "read:directories:admin",
    "read:groups:admin",
    "read:domains:admin",
    "read:events:admin",
    "read:workspaces:admin",
    "read:policies:admin",
    "read:tokens:admin",
];

/// The scopes of the key the setup guide asks for: every read scope.
pub fn guide_scopes() -> BTreeSet<String> {
    READ_SCOPES.iter().map(|s| (*s).to_owned()).collect()
}

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
    /// Scoped keys are refused by the endpoints for which Atlassian documents
    /// no scope (whether they accept one is unconfirmed).
    pub strict_scopes: bool,
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
    /// How list pages are cut and laid out, beyond what the client asked.
    pub paging: Paging,
}

/// Paging choices the real API leaves to the server: a client must read
/// every list to its end whatever they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Paging {
    /// At most this many records a page, whatever `limit` asked
    /// (`--page-size`): the API documents no minimum page size.
    pub max_page: Option<usize>,
    /// `links` (and `meta`) before `data` in list pages (`--links-first`);
    /// JSON members have no order, and the API promises none.
    pub links_first: bool,
}

impl Default for SimConfig {
    /// Seed 7: 300 users, 3,000 events, key `sim-api-key` as WatchDog's setup guide has
    /// customers create it (scoped, every read scope), no latency, no faults, an ephemeral
    /// port, pages as the client asks with `data` first.
    fn default() -> Self {
        SimConfig {
            seed: 7,
            users: 300,
            events: 3_000,
            api_key: "sim-api-key".to_owned(),
            key_expired: false,
            scopes: Some(guide_scopes()),
            strict_scopes: false,
            latency: Duration::ZERO,
            faults: Vec::new(),
            port: 0,
            paging: Paging::default(),
            rate_limit: None,
            events_max_limit: 500,
            guard: true,
        }
    }
}

impl SimConfig {
    /// `n` organizations like this one, for [`SimHandle::start_orgs`](crate::SimHandle::start_orgs):
    /// the first is this one; organization `i` has seed `seed + i` (hence its own id and
    /// population) and key `KEY-i`, and everything else the same.
    pub fn orgs(&self, n: usize) -> Vec<SimConfig> {
        (0..n)
            .map(|i| match i {
                0 => self.clone(),
                i => SimConfig {
                    seed: self.seed.wrapping_add(i as u64),
                    api_key: format!("{}-{i}", self.api_key),
                    ..self.clone()
                },
            })
            .collect()
    }
}
