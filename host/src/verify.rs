//! `verify`: a bundle read back and checked, byte for byte.
//!
//! Every file must be exactly what the host writes: `run.json` as the host
//! renders its content, each ledger entry as the host serializes it, each
//! evidence line as [`write_line`] writes it, each log line one JSON value,
//! every line ending in a line feed and none in a carriage return. Then the
//! chain, the evidence hash, the counts and the citations are recomputed,
//! and the [`Seal`](crate::seal::Seal): without a head kept apart, that
//! proves the bundle is consistent with itself; with it (`--head`), that it
//! is the bundle the host wrote.
//!
//! Evidence data is checked with [`jsontext::validate`], the definition of
//! JSON `collect` accepted it with, so that `verify` accepts exactly what
//! `collect` wrote.

use crate::bundle::{
    EVIDENCE_FILE, FORMAT, Head, LEDGER_FILE, LOG_FILE, Outcome, RUN_FILE, RecordSource, RunRecord,
    render_run, write_line,
};
use crate::jsonl::{LineError, StrictLines};
use crate::ledger::{self, ChainError};
use crate::seal::{Change, FileHashes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// What `verify` found in a sound bundle.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// The bundle's seal: the head `collect` printed.
    pub seal: String,
    /// Whether the seal was checked against a head kept apart from the
    /// bundle; without one, the bundle is only shown consistent with itself.
    pub head_checked: bool,
    /// The ledger's recomputed head, which the seal covers.
    pub ledger_head: String,
    /// Exchanges in the ledger, as `run.json` says too.
    pub ledger_entries: u64,
    /// Records in `evidence.jsonl`.
    pub evidence_records: u64,
    /// Records per kind, as `run.json`'s `counts` says too.
    pub counts: BTreeMap<String, u64>,
    /// How the run ended: a sound bundle of a partial or failed run is
    /// still a partial or failed run.
    pub outcome: Outcome,
    /// Warnings that say a resource was not fully read.
    pub incomplete: usize,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

/// Why a bundle does not verify. Each names the file, and where it can, the
/// line or the field.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file of the bundle is missing or unreadable.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// `run.json` is of a bundle format this host does not verify.
    #[error("run.json is format `{found}`; this host verifies `{FORMAT}`")]
    Format {
        /// The format `run.json` names.
        found: String,
    },
    /// `run.json` does not parse as a run record.
    #[error("run.json is unreadable: {0}")]
    Run(serde_json::Error),
    /// `run.json` parses, but its bytes are not the host's rendering of it.
    #[error("run.json is not as the host writes it, from byte {byte} on: it was edited")]
    RunNotCanonical {
        /// The first byte offset that differs.
        byte: usize,
    },
    /// The ledger's chain does not verify.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// A line of a `.jsonl` file not framed as the host writes lines.
    #[error("{file} {error}")]
    Line {
        /// The file's name in the bundle.
        file: &'static str,
        /// What is wrong with the line.
        error: LineError,
    },
    /// An evidence record not as the host writes it, or citing an exchange
    /// the ledger does not hold.
    #[error("evidence.jsonl line {line}: {why}")]
    Record {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// A log line that is not one JSON value.
    #[error("log.jsonl line {line}: not JSON: {error}")]
    LogLine {
        /// The line's number, from 1.
        line: usize,
        /// Where and why it is not JSON.
        error: jsontext::Error,
    },
    #[error(
        "run.json's seal says {recorded} but its parts hash to {computed}: the seal was edited"
    )]
    /// The seal's hash is not the hash of its own parts.
    SealEdited {
        /// The hash `run.json` records.
        recorded: String,
        /// The hash of the parts it records.
        computed: String,
    },
    #[error(
        "run.json's content does not match the seal {expected}: the bundle is sealed as {found}, so it was resealed after an edit or is another run's bundle"
    )]
    /// The bundle is sealed, but not by the head kept apart (`--head`).
    NotSealedBy {
        /// The head given.
        expected: String,
        /// The seal the bundle carries.
        found: String,
    },
    /// Files or `run.json` fields that no longer hash as the seal records.
    #[error("changed since the bundle was sealed: {}", list(.0))]
    Changed(Vec<Change>),
    /// The ledger's recomputed head is not the one `run.json` records.
    #[error("ledger head {found} does not match run.json's `ledger_head` {expected}")]
    LedgerHead {
        /// The head `run.json` records.
        expected: String,
        /// The head recomputed from the ledger.
        found: String,
    },
    /// The ledger holds another number of entries than `run.json` records.
    #[error("the ledger holds {found} entries, run.json's `ledger_entries` says {expected}")]
    LedgerEntries {
        /// The number `run.json` records.
        expected: u64,
        /// The entries in the ledger.
        found: u64,
    },
    #[error(
        "evidence.jsonl SHA-256 is {found}, run.json's `evidence_sha256` says {expected}: the evidence was edited"
    )]
    /// `evidence.jsonl` does not hash as `run.json` records.
    EvidenceHash {
        /// The SHA-256 `run.json` records.
        expected: String,
        /// The SHA-256 of the file.
        found: String,
    },
    #[error(
        "counts differ: run.json's `counts` says {expected:?} ({records} records), evidence.jsonl holds {found:?}"
    )]
    /// The records per kind are not what `run.json` records.
    Counts {
        /// Per kind, what `run.json` records.
        expected: BTreeMap<String, u64>,
        /// The total `run.json` records.
        records: u64,
        /// Per kind, what `evidence.jsonl` holds.
        found: BTreeMap<String, u64>,
    },
}

fn list(changes: &[Change]) -> String {
    let names: Vec<String> = changes.iter().map(Change::to_string).collect();
    names.join(", ")
}

/// Checks a bundle byte for byte and recomputes its chain, hashes, counts
/// and seal. `expected_head`, when given, is the seal `collect` printed and
/// the platform kept apart from the files.
pub fn verify(dir: &Path, expected_head: Option<&str>) -> Result<VerifyReport, VerifyError> {
    let run = read_run(dir)?;
    let chain = ledger::verify(open(dir, LEDGER_FILE)?)?;
    let evidence = read_evidence(dir, &chain.entries)?;
    let log_sha256 = read_log(dir)?;
    let files = FileHashes {
        ledger_head: chain.head,
        evidence_sha256: evidence.sha256,
        log_sha256,
    };
    check_seal(&run, &files, expected_head)?;
    let ledger_entries = chain.entries.len() as u64;
    check_consistent(&run, &files, ledger_entries, &evidence.counts)?;
    Ok(VerifyReport {
        seal: run.seal.hash,
        head_checked: expected_head.is_some(),
        ledger_head: files.ledger_head,
        ledger_entries,
        evidence_records: evidence.counts.values().sum(),
        counts: evidence.counts,
        outcome: run.outcome,
        incomplete: run.warnings.iter().filter(|w| w.incomplete).count(),
        error: run
            .error
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned()),
    })
}

fn open(dir: &Path, file: &str) -> Result<BufReader<File>, VerifyError> {
    let path = dir.join(file);
    File::open(&path)
        .map(BufReader::new)
        .map_err(|source| VerifyError::Io { path, source })
}

/// `run.json`, which must be exactly as the host renders its content: the
/// seal covers the content, and this the bytes.
fn read_run(dir: &Path) -> Result<RunRecord, VerifyError> {
    let path = dir.join(RUN_FILE);
    let bytes = std::fs::read(&path).map_err(|source| VerifyError::Io { path, source })?;
    #[derive(Deserialize)]
    struct Format {
        format: String,
    }
    let format: Format = serde_json::from_slice(&bytes).map_err(VerifyError::Run)?;
    if format.format != FORMAT {
        return Err(VerifyError::Format {
            found: format.format,
        });
    }
    let run: RunRecord = serde_json::from_slice(&bytes).map_err(VerifyError::Run)?;
    let rendered = render_run(&run);
    if rendered.as_bytes() != bytes {
        let byte = rendered
            .bytes()
            .zip(&bytes)
            .position(|(a, b)| a != *b)
            .unwrap_or(rendered.len().min(bytes.len()));
        return Err(VerifyError::RunNotCanonical { byte });
    }
    Ok(run)
}

/// What `evidence.jsonl` holds.
struct EvidenceRead {
    sha256: String,
    counts: BTreeMap<String, u64>,
}

fn read_evidence(dir: &Path, entries: &[ledger::Entry]) -> Result<EvidenceRead, VerifyError> {
    let carried: HashMap<u64, (&str, &str)> = entries
        .iter()
        .filter(|e| e.exchange.status.is_some())
        .map(|e| {
            (
                e.exchange.seq,
                (e.exchange.method.as_str(), e.exchange.url.as_str()),
            )
        })
        .collect();
    let mut lines = StrictLines::new(open(dir, EVIDENCE_FILE)?);
    let mut digest = Sha256::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut rendered = Vec::new();
    while let Some((line, text)) = lines.next_line().map_err(|error| VerifyError::Line {
        file: EVIDENCE_FILE,
        error,
    })? {
        digest.update(text.as_bytes());
        digest.update(b"\n");
        let kind = check_record(text, &carried, &mut rendered)
            .map_err(|why| VerifyError::Record { line, why })?;
        match counts.get_mut(kind.as_str()) {
            Some(count) => *count += 1,
            None => {
                counts.insert(kind, 1);
            }
        }
    }
    Ok(EvidenceRead {
        sha256: hex::encode(digest.finalize()),
        counts,
    })
}

/// An evidence line's fields before `data`, read back.
#[derive(Deserialize)]
struct RecordHead {
    kind: String,
    id: String,
    collected_at: String,
    source: RecordSource,
    #[serde(default)]
    derived: bool,
}

/// What separates a record's head from its data.
const DATA_KEY: &str = ",\"data\":";

/// Checks one evidence line (without its line feed): written exactly as
/// [`write_line`] writes it, its data JSON by [`jsontext`]'s definition,
/// citing an exchange the ledger carried. Its kind, or why not.
fn check_record(
    line: &str,
    carried: &HashMap<u64, (&str, &str)>,
    rendered: &mut Vec<u8>,
) -> Result<String, String> {
    let head_end = head_end(line).map_err(|e| format!("not an evidence record: {e}"))?;
    let head: RecordHead = serde_json::from_str(&format!("{}}}", &line[..head_end]))
        .map_err(|e| format!("not an evidence record: {e}"))?;
    let data = line
        .get(head_end + DATA_KEY.len()..line.len().saturating_sub(1))
        .ok_or("not an evidence record: no data")?;
    jsontext::validate(data).map_err(|e| format!("`{}` data is not JSON: {e}", head.id))?;
    rendered.clear();
    let fields = Head {
        kind: &head.kind,
        id: &head.id,
        collected_at: &head.collected_at,
        source: &head.source,
        derived: head.derived,
    };
    write_line(rendered, &fields, data).map_err(|e| e.to_string())?;
    if rendered.strip_suffix(b"\n") != Some(line.as_bytes()) {
        return Err("not as the host writes records: it was edited".to_owned());
    }
    let source = &head.source;
    match carried.get(&source.ledger_seq) {
        Some((method, url)) if *method == source.method && *url == source.url => Ok(head.kind),
        _ => Err(format!(
            "cites ledger entry {} for {} {}, which the ledger does not hold",
            source.ledger_seq, source.method, source.url
        )),
    }
}

/// Where the fields before `data` end in an evidence line.
fn head_end(line: &str) -> Result<usize, jsontext::Error> {
    let mut cursor = jsontext::Cursor::new(line);
    cursor.object()?;
    let mut end = 0;
    while let Some(key) = cursor.key()? {
        if key == "data" {
            break;
        }
        end = cursor.skip()?.end;
    }
    Ok(end)
}

/// Checks `log.jsonl` line by line: its SHA-256.
fn read_log(dir: &Path) -> Result<String, VerifyError> {
    let mut lines = StrictLines::new(open(dir, LOG_FILE)?);
    let mut digest = Sha256::new();
    while let Some((line, text)) = lines.next_line().map_err(|error| VerifyError::Line {
        file: LOG_FILE,
        error,
    })? {
        jsontext::validate(text).map_err(|error| VerifyError::LogLine { line, error })?;
        digest.update(text.as_bytes());
        digest.update(b"\n");
    }
    Ok(hex::encode(digest.finalize()))
}

/// The seal: consistent with its parts, the head kept apart when given,
/// and its parts what the files and `run.json` hash to now.
fn check_seal(
    run: &RunRecord,
    files: &FileHashes,
    expected_head: Option<&str>,
) -> Result<(), VerifyError> {
    let computed = run.seal.computed_hash();
    if computed != run.seal.hash {
        return Err(VerifyError::SealEdited {
            recorded: run.seal.hash.clone(),
            computed,
        });
    }
    if let Some(expected) = expected_head
        && expected != run.seal.hash
    {
        return Err(VerifyError::NotSealedBy {
            expected: expected.to_owned(),
            found: run.seal.hash.clone(),
        });
    }
    let changes = run.seal.changes(files, run);
    if changes.is_empty() {
        Ok(())
    } else {
        Err(VerifyError::Changed(changes))
    }
}

/// What `run.json` says of the files is what they hold.
fn check_consistent(
    run: &RunRecord,
    files: &FileHashes,
    ledger_entries: u64,
    counts: &BTreeMap<String, u64>,
) -> Result<(), VerifyError> {
    if files.ledger_head != run.ledger_head {
        return Err(VerifyError::LedgerHead {
            expected: run.ledger_head.clone(),
            found: files.ledger_head.clone(),
        });
    }
    if ledger_entries != run.ledger_entries {
        return Err(VerifyError::LedgerEntries {
            expected: run.ledger_entries,
            found: ledger_entries,
        });
    }
    if files.evidence_sha256 != run.evidence_sha256 {
        return Err(VerifyError::EvidenceHash {
            expected: run.evidence_sha256.clone(),
            found: files.evidence_sha256.clone(),
        });
    }
    if *counts != run.counts || counts.values().sum::<u64>() != run.evidence_records {
        return Err(VerifyError::Counts {
            expected: run.counts.clone(),
            records: run.evidence_records,
            found: counts.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An evidence line as the host writes it, citing entry 3.
    fn line(data: &str) -> String {
        let source = RecordSource {
            method: "GET".into(),
            url: "https://api.example.com/items".into(),
            ledger_seq: 3,
        };
        let head = Head {
            kind: "example.item",
            id: "i-1",
            collected_at: "2026-12-01T00:00:00Z",
            source: &source,
            derived: false,
        };
        let mut bytes = Vec::new();
        write_line(&mut bytes, &head, data).unwrap();
        bytes.pop();
        String::from_utf8(bytes).unwrap()
    }

    fn check(line: &str) -> Result<String, String> {
        let carried = HashMap::from([(3, ("GET", "https://api.example.com/items"))]);
        check_record(line, &carried, &mut Vec::new())
    }

    #[test]
    fn verify_accepts_every_record_collect_accepts() {
        let deepest = format!("{}{}", "[".repeat(128), "]".repeat(128));
        let lone_surrogate = r#"{"name":"\ud800"}"#;
        let spaced = " {\"a\" : [1, 2] } ";
        for data in [deepest.as_str(), lone_surrogate, spaced] {
            // What collect checks a record's data with...
            jsontext::validate(data).unwrap();
            // ...is what verify checks it with, unlike a second parser.
            assert_eq!(check(&line(data)).as_deref(), Ok("example.item"), "{data}");
        }
        assert!(serde_json::from_str::<serde_json::Value>(&deepest).is_err());
        assert!(serde_json::from_str::<serde_json::Value>(lone_surrogate).is_err());
    }

    #[test]
    fn a_record_not_written_as_the_host_writes_it_is_refused() {
        let good = line(r#"{"a":1}"#);
        let reordered = good.replacen(
            r#"{"kind":"example.item","id":"i-1""#,
            r#"{"id":"i-1","kind":"example.item""#,
            1,
        );
        let spaced = good.replacen(r#""id":"i-1""#, r#""id": "i-1""#, 1);
        let extra = good.replacen(r#""id":"i-1""#, r#""id":"i-1","note":"ok""#, 1);
        let escaped = good.replacen(r#""id":"i-1""#, r#""id":"i\u002d1""#, 1);
        for edited in [reordered, spaced, extra, escaped] {
            let why = check(&edited).unwrap_err();
            assert!(
                why.contains("not as the host writes records"),
                "{edited}: {why}"
            );
        }
        let bad_data = line(r#"{"a":1,}"#);
        assert!(check(&bad_data).unwrap_err().contains("data is not JSON"));
        let uncited = good.replacen("\"ledger_seq\":3", "\"ledger_seq\":4", 1);
        assert!(check(&uncited).unwrap_err().contains("does not hold"));
    }
}
