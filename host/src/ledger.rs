//! The ledger: one hash-chained entry per HTTP exchange the host carried or
//! refused, written by the host and never by the plugin, so the provenance of
//! evidence does not rest on the plugin's word.
//!
//! Each entry's `hash` is the SHA-256 of the previous entry's hash and the
//! entry's own canonical JSON (every field but `hash`, in declaration order).
//! Editing, removing, inserting or reordering a line breaks the chain from
//! there on; the head hash (the last entry's) is printed by the CLI and kept in
//! `run.json`, so truncating the file is caught as well.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufRead, Write};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried, and the whole response body was read.
    Complete,
    /// Carried, but the plugin stopped reading the body early.
    Abandoned,
    /// Carried, but the response body exceeded the size cap and was cut.
    Truncated,
    /// Refused by the egress policy before anything left the host.
    Denied,
    /// Could not be carried (DNS, connect, TLS, timeout) or failed mid-body.
    Failed,
}

/// One exchange. Field order is the canonical order hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Request number in this run, in the order the plugin made them. Lines are
    /// written when an exchange ends, so numbers need not be in line order.
    pub seq: u64,
    /// When the request started, RFC 3339 UTC.
    pub time: String,
    pub method: String,
    /// The URL the plugin asked for, secrets scrubbed.
    pub url: String,
    /// The loopback origin actually contacted, when a developer `--route` sent
    /// it elsewhere: evidence from such a run did not come from `url`'s origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_to: Option<String>,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// Response body bytes delivered to the plugin.
    pub bytes: u64,
    /// SHA-256 of those bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Why a request was denied or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    pub hash: String,
}

impl Entry {
    /// The hash this entry must carry given its content and `prev`.
    pub fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let canonical = serde_json::to_vec(&unhashed).expect("entries always serialize");
        let mut digest = Sha256::new();
        digest.update(self.prev.as_bytes());
        digest.update(&canonical);
        hex::encode(digest.finalize())
    }
}

/// An entry before it is chained.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub seq: u64,
    pub time: String,
    pub method: String,
    pub url: String,
    pub routed_to: Option<String>,
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub bytes: u64,
    pub body_sha256: Option<String>,
    pub detail: Option<String>,
}

/// Appends chained entries to a writer.
pub struct LedgerWriter<W: Write> {
    out: W,
    head: String,
    entries: u64,
}

impl<W: Write> LedgerWriter<W> {
    pub fn new(out: W) -> Self {
        LedgerWriter {
            out,
            head: GENESIS.to_string(),
            entries: 0,
        }
    }

    /// Chains and writes one exchange; returns its hash.
    pub fn append(&mut self, exchange: Exchange) -> std::io::Result<String> {
        let mut entry = Entry {
            seq: exchange.seq,
            time: exchange.time,
            method: exchange.method,
            url: exchange.url,
            routed_to: exchange.routed_to,
            outcome: exchange.outcome,
            status: exchange.status,
            duration_ms: exchange.duration_ms,
            bytes: exchange.bytes,
            body_sha256: exchange.body_sha256,
            detail: exchange.detail,
            prev: self.head.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        serde_json::to_writer(&mut self.out, &entry)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.head = entry.hash;
        self.entries += 1;
        Ok(self.head.clone())
    }

    pub fn head(&self) -> &str {
        &self.head
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// A ledger read back and checked.
#[derive(Debug)]
pub struct Verified {
    pub head: String,
    pub entries: Vec<Entry>,
}

/// Why a ledger does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("ledger line {line}: not a ledger entry: {source}")]
    Malformed {
        line: usize,
        source: serde_json::Error,
    },
    #[error("ledger line {line} (request {seq}): `prev` does not match the previous entry's hash")]
    BrokenLink { line: usize, seq: u64 },
    #[error("ledger line {line} (request {seq}): content does not match its hash (edited)")]
    Tampered { line: usize, seq: u64 },
    #[error("ledger line {line}: request number {seq} appears twice")]
    DuplicateSeq { line: usize, seq: u64 },
    #[error("reading the ledger: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a ledger and recomputes its chain.
pub fn verify(input: impl BufRead) -> Result<Verified, ChainError> {
    let mut head = GENESIS.to_string();
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, line) in input.lines().enumerate() {
        let line_no = index + 1;
        let line = line?;
        let entry: Entry = serde_json::from_str(&line).map_err(|source| ChainError::Malformed {
            line: line_no,
            source,
        })?;
        if entry.prev != head {
            return Err(ChainError::BrokenLink {
                line: line_no,
                seq: entry.seq,
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainError::Tampered {
                line: line_no,
                seq: entry.seq,
            });
        }
        if !seen.insert(entry.seq) {
            return Err(ChainError::DuplicateSeq {
                line: line_no,
                seq: entry.seq,
            });
        }
        head = entry.hash.clone();
        entries.push(entry);
    }
    Ok(Verified { head, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(seq: u64, status: u16) -> Exchange {
        Exchange {
            seq,
            time: "2026-11-01T00:00:00Z".into(),
            method: "GET".into(),
            url: format!("https://api.example.com/items?page={seq}"),
            routed_to: None,
            outcome: Outcome::Complete,
            status: Some(status),
            duration_ms: 3,
            bytes: 10,
            body_sha256: Some("ab".repeat(32)),
            detail: None,
        }
    }

    fn ledger(n: u64) -> (Vec<u8>, String) {
        let mut writer = LedgerWriter::new(Vec::new());
        for seq in 0..n {
            writer.append(exchange(seq, 200)).unwrap();
        }
        let head = writer.head().to_string();
        (writer.out, head)
    }

    #[test]
    fn chain_verifies_and_reports_head() {
        let (bytes, head) = ledger(3);
        let verified = verify(&bytes[..]).unwrap();
        assert_eq!(verified.head, head);
        assert_eq!(verified.entries.len(), 3);
        assert_eq!(verified.entries[0].prev, GENESIS);
    }

    #[test]
    fn edited_entry_is_tampered() {
        let (bytes, _) = ledger(3);
        let text = String::from_utf8(bytes).unwrap();
        let edited = text.replacen("\"status\":200", "\"status\":404", 1);
        assert!(matches!(
            verify(edited.as_bytes()),
            Err(ChainError::Tampered { line: 1, .. })
        ));
    }

    #[test]
    fn removed_entry_breaks_the_chain() {
        let (bytes, _) = ledger(3);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let without_middle = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(matches!(
            verify(without_middle.as_bytes()),
            Err(ChainError::BrokenLink { line: 2, .. })
        ));
    }

    #[test]
    fn rehashed_edit_still_breaks_the_next_link() {
        let (bytes, _) = ledger(2);
        let text = String::from_utf8(bytes).unwrap();
        let mut first: Entry = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first.status = Some(500);
        first.hash = first.compute_hash();
        let forged = format!(
            "{}\n{}\n",
            serde_json::to_string(&first).unwrap(),
            text.lines().nth(1).unwrap()
        );
        assert!(matches!(
            verify(forged.as_bytes()),
            Err(ChainError::BrokenLink { line: 2, .. })
        ));
    }
}
