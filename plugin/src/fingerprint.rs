//! Compact, collision-free-in-practice identities for things a run must
//! remember without keeping them: cursors already followed, records already
//! emitted. SHA-256 truncated to 128 bits keeps the memory per item at 16
//! bytes however long the cursor or id, with a collision chance far below
//! any other failure of the run.

use sha2::{Digest, Sha256};

/// The fingerprint of a sequence of strings (length-prefixed, so that
/// `("ab", "c")` and `("a", "bc")` differ).
pub fn fingerprint(parts: &[&str]) -> u128 {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_eq!(fingerprint(&["x"]), fingerprint(&["x"]));
    }
}
