//! The organization's own admin API keys, listed by the API Access API
//! (`GET /admin/api-access/v1/orgs/{orgId}/api-keys`): the key a customer
//! creates for WatchDog is one of them, and keys that expire stop whatever
//! monitoring runs on them.

use crate::clock::{DAY_MS, NOW_MS};
use crate::prng::{SplitMix64, mix};

/// One organization API key. Keys last at most a year (notes §1).
#[derive(Debug, Clone)]
pub struct OrgApiKey {
    pub id: String,
    pub label: &'static str,
    /// Whether it was created as an API key with scopes.
    pub scoped: bool,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// Where this module draws its randomness in the seed's streams.
const STREAM: u64 = 0x4B45_5953;

/// Four keys: the compliance key WatchDog's guide asks for (scoped, months
/// left), two that expire within 30 days of [`NOW_MS`] and one well after.
pub(super) fn org_api_keys(seed: u64) -> Vec<OrgApiKey> {
    let mut rng = SplitMix64::new(mix(seed, STREAM));
    let plan: [(&str, bool, i64, i64); 4] = [
        ("watchdog-compliance", true, 150, 330),
        ("scim-bridge", false, 3, 29),
        ("ci-reporting", true, 40, 300),
        ("legacy-sync", false, 10, 25),
    ];
    plan.into_iter()
        .map(|(label, scoped, min_days, max_days)| {
            let expires_ms = NOW_MS + rng.between(min_days * DAY_MS, max_days * DAY_MS);
            OrgApiKey {
                id: rng.uuid(),
                label,
                scoped,
                created_ms: expires_ms - 365 * DAY_MS,
                expires_ms,
            }
        })
        .collect()
}
