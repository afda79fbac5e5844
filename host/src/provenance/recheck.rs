//! Provenance checked again after the run, from a recording.
//!
//! The host checks each record's data as it arrives, against an index of
//! the body it cites, and never keeps the body; `collect --record DIR`
//! keeps the bodies. With them, [`recheck`] proves it again for an auditor,
//! from the files alone and by the same proof ([`Index`]): every body of the
//! recording must hash as the bundle's ledger says (so the recording is this
//! run's), and the data of every record not derived must be a whole object
//! or array value of the body of the exchange it cites (`verify DIR --tape
//! TAPE`).

use super::{Index, digest};
use crate::bundle::{EVIDENCE_FILE, LEDGER_FILE, RecordSource};
use crate::ledger::{self, ChainError};
use crate::tape::{INDEX_FILE, Recorded};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Why a bundle's spans do not check against a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    /// A file of the bundle or the recording could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The bundle's ledger does not verify, so its body hashes are not
    /// to be trusted.
    #[error(transparent)]
    Ledger(#[from] ChainError),
    /// A line of the evidence or of the recording's index that does not
    /// parse as the host writes it.
    #[error("{}, line {line}: {why}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    #[error(
        "the recording's body of request {seq} does not hash as the bundle's ledger says: it is not this run's recording, or was edited"
    )]
    /// A recorded body whose SHA-256 is not the ledger's: another run's
    /// recording, or an edited one.
    NotThisRun {
        /// The request whose recorded body differs.
        seq: u64,
    },
    #[error(
        "evidence.jsonl line {line}: `{kind}` record `{id}` cites request {seq}, whose body the recording does not hold"
    )]
    /// A record citing a request whose body the recording does not hold.
    Unrecorded {
        /// The record's line in `evidence.jsonl`, from 1.
        line: usize,
        /// The record's kind.
        kind: String,
        /// The record's id.
        id: String,
        /// The request it cites.
        seq: u64,
    },
    #[error(
        "evidence.jsonl line {line}: `{kind}` record `{id}` is not an object or array value of the body of request {seq}"
    )]
    /// A record whose data is not a whole object or array value of the
    /// recorded body it cites.
    NotInBody {
        /// The record's line in `evidence.jsonl`, from 1.
        line: usize,
        /// The record's kind.
        kind: String,
        /// The record's id.
        id: String,
        /// The request it cites.
        seq: u64,
    },
}

/// What a recheck proved.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub struct Rechecked {
    /// Records whose data was found a value of the body they cite.
    pub spans: u64,
    /// Records of derived kinds, which need no span.
    pub derived: u64,
}

/// One line of `evidence.jsonl`, its data as written.
#[derive(Deserialize)]
struct Line<'a> {
    kind: String,
    id: String,
    source: RecordSource,
    #[serde(default)]
    derived: bool,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Checks every record of the bundle in `dir` against the bodies recorded
/// in `tape` by the same run.
pub fn recheck(dir: &Path, tape: &Path) -> Result<Rechecked, RecheckError> {
    let hashes = ledger_hashes(dir)?;
    let recorded = index(tape)?;
    let mut checked = Rechecked {
        spans: 0,
        derived: 0,
    };
    // A page's records are consecutive: its body is read and indexed once
    // for them.
    let mut body: Option<(u64, Index)> = None;
    let path = dir.join(EVIDENCE_FILE);
    for (index, text) in lines(&path)?.enumerate() {
        let line = index + 1;
        let text = text?;
        let record: Line = serde_json::from_str(&text).map_err(|e| RecheckError::Malformed {
            path: path.clone(),
            line,
            why: e.to_string(),
        })?;
        if record.derived {
            checked.derived += 1;
            continue;
        }
        let seq = record.source.ledger_seq;
        if body.as_ref().is_none_or(|(held, _)| *held != seq) {
            let Some(file) = recorded.get(&seq) else {
                return Err(RecheckError::Unrecorded {
                    line,
                    kind: record.kind,
                    id: record.id,
                    seq,
                });
            };
            let bytes = read_body(tape, seq, file, &hashes)?;
            body = Some((seq, Index::of(&bytes, u64::MAX).unwrap_or_default()));
        }
        let (_, index) = body.as_ref().expect("read above");
        if !index.holds(&digest(record.data.get().as_bytes())) {
            return Err(RecheckError::NotInBody {
                line,
                kind: record.kind,
                id: record.id,
                seq,
            });
        }
        checked.spans += 1;
    }
    Ok(checked)
}

/// The ledger's body hash of every exchange, by request number.
fn ledger_hashes(dir: &Path) -> Result<HashMap<u64, String>, RecheckError> {
    let path = dir.join(LEDGER_FILE);
    let file = std::fs::File::open(&path).map_err(|source| RecheckError::Io { path, source })?;
    Ok(ledger::verify(BufReader::new(file))?
        .entries
        .into_iter()
        .filter_map(|e| Some((e.exchange.seq, e.exchange.body_sha256?)))
        .collect())
}

/// The recording's body files, by request number.
fn index(tape: &Path) -> Result<HashMap<u64, String>, RecheckError> {
    let path = tape.join(INDEX_FILE);
    let mut files = HashMap::new();
    for (index, text) in lines(&path)?.enumerate() {
        let recorded: Recorded =
            serde_json::from_str(&text?).map_err(|e| RecheckError::Malformed {
                path: path.clone(),
                line: index + 1,
                why: e.to_string(),
            })?;
        if recorded.body.contains("..") || Path::new(&recorded.body).is_absolute() {
            return Err(RecheckError::Malformed {
                path: path.clone(),
                line: index + 1,
                why: format!("body path `{}` leaves the folder", recorded.body),
            });
        }
        files.insert(recorded.seq, recorded.body);
    }
    Ok(files)
}

/// A recorded body, which must hash as the ledger's entry `seq` says.
fn read_body(
    tape: &Path,
    seq: u64,
    file: &str,
    hashes: &HashMap<u64, String>,
) -> Result<Vec<u8>, RecheckError> {
    let path = tape.join(file);
    let body = std::fs::read(&path).map_err(|source| RecheckError::Io { path, source })?;
    let digest = hex::encode(Sha256::digest(&body));
    if hashes.get(&seq) != Some(&digest) {
        return Err(RecheckError::NotThisRun { seq });
    }
    Ok(body)
}

/// The lines of a file, each read error naming it.
fn lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<String, RecheckError>> + '_, RecheckError> {
    let file = std::fs::File::open(path).map_err(|source| RecheckError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(BufReader::new(file).lines().map(move |line| {
        line.map_err(|source| RecheckError::Io {
            path: path.to_path_buf(),
            source,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_with_its_line_breaks_written_as_spaces() {
        let body = b"[{\"id\":\"a\",\r\n \"admin\":false}]";
        let emitted = "{\"id\":\"a\",\r\n \"admin\":false}";
        let written = crate::provenance::one_line(emitted.to_owned());
        let index = Index::of(body, u64::MAX).unwrap();
        assert!(index.holds(&digest(written.as_bytes())), "{written}");
        assert!(!index.holds(&digest(b"{\"id\":\"a\",   \"admin\":true}")));
    }
}
