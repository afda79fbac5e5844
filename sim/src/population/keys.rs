//! Organization API keys that expire soon: monitoring stops the day the
//! key WatchDog uses expires, so the simulated organization holds two that
//! expire within 30 days of [`NOW_MS`] beside the keys `generate` makes.

use super::model::ApiKey;
use crate::clock::{DAY_MS, NOW_MS};
use crate::prng::{SplitMix64, mix};

/// Where this module draws its randomness in the seed's streams, apart
/// from the organization's own, so that adding these keys changed nothing
/// else the seed makes.
const STREAM: u64 = 0x4B45_5953;

/// Two keys, expiring 3 to 29 and 10 to 25 days after [`NOW_MS`].
pub(super) fn expiring_soon(seed: u64) -> Vec<ApiKey> {
    let mut rng = SplitMix64::new(mix(seed, STREAM));
    [("scim-bridge", 3, 29), ("legacy-sync", 10, 25)]
        .into_iter()
        .map(|(name, min_days, max_days)| {
            let expires_ms = NOW_MS + rng.between(min_days * DAY_MS, max_days * DAY_MS);
            ApiKey {
                id: rng.uuid(),
                name,
                created_ms: expires_ms - 365 * DAY_MS,
                expires_ms,
            }
        })
        .collect()
}
