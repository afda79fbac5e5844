//! The simulator's only source of randomness: SplitMix64 and a stateless mixer.
//!
//! Everything the simulator invents (ids, names, statuses, events) comes from here, seeded from
//! the population seed, so the same seed always yields the same organization. Nothing reads the
//! wall clock or the OS entropy pool. SplitMix64 (Steele, Lea and Flood, 2014) is small, fast and
//! statistically good enough for synthetic data; it is not, and need not be, cryptographic.

/// Golden-ratio increment of SplitMix64.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective avalanche of one 64-bit word.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes two words into one. Used to derive independent streams from `(seed, label, index)`
/// so that an item (an audit event, say) can be generated on demand from its index alone.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    finalize(a.wrapping_add(GAMMA).wrapping_mul(GAMMA) ^ finalize(b.wrapping_add(GAMMA)))
}

/// A SplitMix64 generator.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// A generator for item `index` of the stream `label` under `seed`: independent of every
    /// other item, so lazily generated data does not depend on generation order.
    pub(crate) fn for_item(seed: u64, label: u64, index: u64) -> SplitMix64 {
        SplitMix64::new(mix(mix(seed, label), index))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        finalize(self.state)
    }

    /// A uniform integer in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for the
    /// small `n` used here). `n` must be positive.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in the inclusive range `lo..=hi`.
    pub(crate) fn between(&mut self, lo: i64, hi: i64) -> i64 {
        debug_assert!(lo <= hi);
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// True with probability `percent`/100.
    pub(crate) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher-Yates shuffle.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// A random (version 4, RFC 9562 variant) UUID in canonical lowercase form.
    pub(crate) fn uuid(&mut self) -> String {
        let hi = self.next_u64();
        let lo = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0x0fff,
            0x8000 | ((lo >> 48) & 0x3fff),
            lo & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_items_are_independent() {
        let a: Vec<u64> = (0..4).map(|_| SplitMix64::new(1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut one = SplitMix64::new(1);
        assert_ne!(one.next_u64(), one.next_u64());
        assert_ne!(
            SplitMix64::for_item(7, 1, 0).next_u64(),
            SplitMix64::for_item(7, 1, 1).next_u64()
        );
        assert_ne!(
            SplitMix64::for_item(7, 1, 0).next_u64(),
            SplitMix64::for_item(7, 2, 0).next_u64()
        );
    }

    #[test]
    fn ranges_are_respected() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..10_000 {
            assert!(rng.below(7) < 7);
            let v = rng.between(-3, 3);
            assert!((-3..=3).contains(&v));
        }
    }

    #[test]
    fn uuid_is_canonical_v4() {
        let id = SplitMix64::new(9).uuid();
        assert_eq!(id.len(), 36);
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'));
    }
}
