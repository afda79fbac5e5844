//! Opaque page cursors.
//!
//! A cursor is `base64url(checksum ‖ JSON state)`: the state is everything needed to serve the
//! next page (position, filters, page size, sort order), because the v2 API documents that a
//! cursor makes the server discard every other parameter. The checksum is keyed by the seed
//! and bound to a *scope* naming the list (e.g. `users:-`), so a cursor that was edited, comes
//! from another list, or comes from a simulator with another seed is rejected with
//! `400 invalid cursor`, as the real API rejects cursors it did not issue. It is an integrity
//! check for realism, not a security boundary.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errors::ApiError;
use crate::prng::mix;

const CHECKSUM_LEN: usize = 8;

/// Encodes and checks cursors for one population.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursors {
    key: u64,
}

impl Cursors {
    pub(crate) fn new(key: u64) -> Cursors {
        Cursors { key }
    }

    fn checksum(&self, scope: &str, payload: &[u8]) -> [u8; CHECKSUM_LEN] {
        let mut h = mix(self.key, scope.len() as u64);
        for chunk in scope.as_bytes().chunks(8).chain(payload.chunks(8)) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            h = mix(h, u64::from_le_bytes(word));
        }
        mix(h, payload.len() as u64).to_be_bytes()
    }

    pub(crate) fn encode<T: Serialize>(&self, scope: &str, state: &T) -> String {
        let payload = serde_json::to_vec(state).expect("cursor state serializes");
        let mut raw = Vec::with_capacity(CHECKSUM_LEN + payload.len());
        raw.extend_from_slice(&self.checksum(scope, &payload));
        raw.extend_from_slice(&payload);
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        scope: &str,
        token: &str,
    ) -> Result<T, ApiError> {
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| ApiError::invalid_cursor())?;
        if raw.len() < CHECKSUM_LEN {
            return Err(ApiError::invalid_cursor());
        }
        let (checksum, payload) = raw.split_at(CHECKSUM_LEN);
        if checksum != self.checksum(scope, payload) {
            return Err(ApiError::invalid_cursor());
        }
        serde_json::from_slice(payload).map_err(|_| ApiError::invalid_cursor())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_not_a_plain_number() {
        let cursors = Cursors::new(1);
        let token = cursors.encode("users:-", &(100usize, "active"));
        assert!(token.parse::<u64>().is_err());
        let back: (usize, String) = cursors.decode("users:-", &token).unwrap();
        assert_eq!(back, (100, "active".to_owned()));
    }

    #[test]
    fn rejects_foreign_edited_and_misplaced_cursors() {
        let cursors = Cursors::new(1);
        let token = cursors.encode("users:-", &100usize);
        let invalid = Err(ApiError::invalid_cursor());
        assert_eq!(Cursors::new(2).decode::<usize>("users:-", &token), invalid);
        assert_eq!(cursors.decode::<usize>("groups:-", &token), invalid);
        let mut edited = token.into_bytes();
        let last = edited.len() - 1;
        edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(edited).unwrap();
        assert_eq!(cursors.decode::<usize>("users:-", &edited), invalid);
        assert_eq!(cursors.decode::<usize>("users:-", "MTAw"), invalid);
        assert_eq!(cursors.decode::<usize>("users:-", "not base64!"), invalid);
    }
}
