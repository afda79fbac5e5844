//! The seal: one hash that commits to every byte of a bundle.
//!
//! The ledger's head covers the exchanges only; an auditor who kept it could
//! still be shown a bundle whose findings, records or log were rewritten
//! with `run.json`'s hashes and counts fixed up. The seal covers all of it:
//! the ledger's head, the SHA-256 of `evidence.jsonl` and of `log.jsonl`,
//! and the SHA-256 of every top-level field of `run.json` but the seal
//! itself, as the host renders it. `collect` prints the seal's hash as the
//! head to keep apart from the bundle, and `verify --head` recomputes every
//! part from the files.
//!
//! The parts are kept in `run.json` beside the hash, so that when the hash
//! still matches the head, what differs from them names the file or the
//! field that changed. Whoever rewrites them must also rewrite the hash, and
//! then it no longer matches the head kept apart.

use crate::bundle::{EVIDENCE_FILE, LEDGER_FILE, LOG_FILE, RunRecord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// What the seal's hash is computed over, so that a later format can never
/// be read as this one.
pub const SEAL_FORMAT: &str = "watchdog-seal/1";

/// The name of the seal's field in `run.json`, the one field it does not
/// cover.
const SEAL_FIELD: &str = "seal";

/// `run.json`'s `seal`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// Per file, what it hashed to when sealed: the ledger's head for
    /// `ledger.jsonl`, the SHA-256 of the bytes for the others.
    pub files: BTreeMap<String, String>,
    /// Per top-level field of `run.json` but `seal`, the SHA-256 of its
    /// value as compact JSON.
    pub run: BTreeMap<String, String>,
    /// SHA-256 of [`SEAL_FORMAT`], `files` and `run` as compact JSON: the
    /// head `collect` prints.
    pub hash: String,
}

/// What the files of a bundle hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHashes {
    /// The ledger's head hash, which already commits to every entry.
    pub ledger_head: String,
    /// SHA-256 of `evidence.jsonl`'s bytes, lower-case hex.
    pub evidence_sha256: String,
    /// SHA-256 of `log.jsonl`'s bytes, lower-case hex.
    pub log_sha256: String,
}

impl FileHashes {
    fn by_name(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (LEDGER_FILE.to_owned(), self.ledger_head.clone()),
            (EVIDENCE_FILE.to_owned(), self.evidence_sha256.clone()),
            (LOG_FILE.to_owned(), self.log_sha256.clone()),
        ])
    }
}

/// A part of the bundle that is not what was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A file (`ledger.jsonl`, `evidence.jsonl`, `log.jsonl`).
    File(String),
    /// A top-level field of `run.json`, changed, added or removed.
    RunField(String),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::File(name) => f.write_str(name),
            Change::RunField(name) => write!(f, "run.json's `{name}`"),
        }
    }
}

impl Seal {
    /// Seals a run whose files hash to `files`; `run`'s own seal is not
    /// covered.
    pub fn new(files: &FileHashes, run: &RunRecord) -> Seal {
        let mut seal = Seal {
            files: files.by_name(),
            run: run_field_hashes(run),
            hash: String::new(),
        };
        seal.hash = seal.computed_hash();
        seal
    }

    /// The hash this seal's parts give, which its `hash` must be.
    pub fn computed_hash(&self) -> String {
        #[derive(Serialize)]
        struct Sealed<'a> {
            format: &'a str,
            files: &'a BTreeMap<String, String>,
            run: &'a BTreeMap<String, String>,
        }
        let sealed = Sealed {
            format: SEAL_FORMAT,
            files: &self.files,
            run: &self.run,
        };
        let text = serde_json::to_vec(&sealed).expect("maps of strings serialize");
        hex::encode(Sha256::digest(text))
    }

    /// The parts of a bundle whose files hash to `files` and whose
    /// `run.json` is `run` that differ from what this seal holds.
    pub fn changes(&self, files: &FileHashes, run: &RunRecord) -> Vec<Change> {
        let (files, fields) = (files.by_name(), run_field_hashes(run));
        let files = differing(&self.files, &files).map(Change::File);
        let fields = differing(&self.run, &fields).map(Change::RunField);
        files.chain(fields).collect()
    }
}

/// Keys whose values differ between two maps, or that only one holds.
fn differing<'a>(
    sealed: &'a BTreeMap<String, String>,
    found: &'a BTreeMap<String, String>,
) -> impl Iterator<Item = String> + 'a {
    let changed = sealed
        .iter()
        .filter(|(key, value)| found.get(*key) != Some(value))
        .map(|(key, _)| key.clone());
    let added = found
        .keys()
        .filter(|key| !sealed.contains_key(*key))
        .cloned();
    changed.chain(added)
}

/// The SHA-256 of each top-level field of `run.json` but the seal.
fn run_field_hashes(run: &RunRecord) -> BTreeMap<String, String> {
    let serde_json::Value::Object(fields) =
        serde_json::to_value(run).expect("run records serialize")
    else {
        unreachable!("a run record serializes as an object")
    };
    fields
        .into_iter()
        .filter(|(name, _)| name != SEAL_FIELD)
        .map(|(name, value)| (name, hex::encode(Sha256::digest(value.to_string()))))
        .collect()
}
