//! The evidence bundle: one folder per run, and its verification.
//!
//! - `evidence.jsonl`: one record a line, `{kind, id, collected_at, source:
//!   {method, url, ledger_seq}, [derived,] data}`, written as the plugin emits
//!   batches; each record's data proven to come from the response it cites
//!   ([`crate::provenance`]).
//! - `ledger.jsonl`: the hash chain of every exchange ([`crate::ledger`]).
//! - `run.json`: who ran what, when, with which configuration (no secrets),
//!   the counts, findings, warnings, checkpoint, outcome, the SHA-256 of
//!   `evidence.jsonl`, the ledger's head hash, and the [`Seal`] over all of it.
//! - `log.jsonl`: the run's log, scrubbed.
//!
//! [`verify`] recomputes the chain, the hashes, the counts and the seal, and
//! checks that every record cites an exchange the ledger holds.

use crate::contract::{Evidence, Finding, PluginError, Warning};
use crate::outbound::{CitationIndex, Traffic};
use crate::provenance::{Citations, Unproven};
use crate::sandbox::Limits;
use crate::seal::{FileHashes, Seal};
use crate::secrets::Scrubber;
use crate::tape::Tape;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;

/// The run's record, written last: its presence says the bundle is finished.
pub const RUN_FILE: &str = "run.json";
/// The evidence records, one a line.
pub const EVIDENCE_FILE: &str = "evidence.jsonl";
/// The hash chain of exchanges.
pub const LEDGER_FILE: &str = "ledger.jsonl";
/// The run's log, scrubbed.
pub const LOG_FILE: &str = "log.jsonl";

pub use crate::verify::{VerifyError, VerifyReport, verify};

/// The format `run.json` is written in: 2 is sealed ([`Seal`]).
pub const FORMAT: &str = "watchdog-bundle/2";

/// One line of `evidence.jsonl`. Read back, `data` is a
/// [`serde_json::Value`]; written, it is the plugin's JSON text as emitted
/// ([`write_line`]): checked to be JSON, but never rebuilt, since parsing
/// every record into a tree and printing it again was a third of the host's
/// work in a large collection.
#[derive(Debug, Serialize, Deserialize)]
pub struct Record {
    /// The evidence kind, one the manifest declares.
    pub kind: String,
    /// The record's id, unique within its kind.
    pub id: String,
    /// When the plugin collected it, RFC 3339.
    pub collected_at: String,
    /// The exchange it was read from.
    pub source: RecordSource,
    /// Data the plugin computed rather than copied from the cited response:
    /// a kind declared derived ([`crate::provenance::is_derived`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
    /// The record's content: an object or array value of the cited body,
    /// unless derived.
    pub data: serde_json::Value,
}

/// The exchange a record was read from.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecordSource {
    /// The request's method.
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// The ledger entry (`seq`) of that exchange.
    pub ledger_seq: u64,
}

/// Accepts evidence from the plugin, checks each record, writes it.
///
/// Checks run in the plugin's `emit` call, so a bad batch is refused to the
/// plugin. Rendering, hashing and writing the accepted records run on a
/// thread of their own: they then overlap the plugin's work on its next page
/// instead of adding to it (in the plugin's thread they were a quarter of a
/// large collection's time). At most `QUEUED_BATCHES` wait for that
/// thread, so memory stays bounded whatever the pace of the disk.
pub struct EvidenceWriter {
    /// Accepted records on their way to the file; `None` once finished.
    records: Option<SyncSender<Vec<Accepted>>>,
    /// The thread writing them: the file's SHA-256 when it is done.
    written: Option<JoinHandle<std::io::Result<String>>>,
    /// What that thread ended with, once joined: the file's SHA-256, or why
    /// it could not be written, kept for [`EvidenceWriter::finish`].
    ended: Option<Result<String, (std::io::ErrorKind, String)>>,
    kinds: BTreeSet<String>,
    counts: BTreeMap<String, u64>,
    /// Hashes of `(kind, id)`: 8 bytes a record keeps duplicate detection
    /// flat enough for a million events.
    seen: Keys,
    /// The bodies records may cite, and the progress display.
    citations: CitationIndex,
    rejected: u64,
    /// Why the first refused record was refused.
    first_refusal: Option<Refused>,
}

/// A record that passed the checks, on its way to the writer: its data is
/// JSON text on one line. What a batch's records have in common (when they
/// were collected, the exchange they cite) is shared, not copied into each.
struct Accepted {
    kind: String,
    id: String,
    collected_at: Arc<str>,
    source: Arc<RecordSource>,
    derived: bool,
    data: String,
}

impl EvidenceWriter {
    /// Writes to `file`, the bundle's `evidence.jsonl` ([`create_dir`], or
    /// an embedder's [`crate::sink::BundleSink`]).
    pub fn create(
        file: Box<dyn Write + Send>,
        kinds: BTreeSet<String>,
        citations: CitationIndex,
        scrubber: Scrubber,
    ) -> std::io::Result<EvidenceWriter> {
        let (records, batches) = std::sync::mpsc::sync_channel(QUEUED_BATCHES);
        let written = std::thread::Builder::new()
            .name("watchdog-evidence".into())
            .spawn(move || write_records(file, batches, scrubber))?;
        Ok(EvidenceWriter {
            records: Some(records),
            written: Some(written),
            ended: None,
            kinds,
            counts: BTreeMap::new(),
            seen: Keys::default(),
            citations,
            rejected: 0,
            first_refusal: None,
        })
    }

    /// Checks a whole batch, then writes it; a batch with one bad record is
    /// refused whole, so the bundle never holds half of a page.
    pub fn accept(&mut self, batch: Vec<Evidence>) -> Result<usize, PluginError> {
        let collected_at: Arc<str> = crate::now_rfc3339().into();
        let mut accepted = Vec::with_capacity(batch.len());
        let mut batch_keys = Keys::default();
        let mut citations = Citations::default();
        for (index, evidence) in batch.into_iter().enumerate() {
            let record = self
                .check(evidence, &collected_at, &mut batch_keys, &mut citations)
                .map_err(|why| {
                    self.rejected += 1;
                    let message = format!("evidence record {index} refused: {why}");
                    self.first_refusal.get_or_insert(why);
                    PluginError::Internal(message)
                })?;
            accepted.push(record);
        }
        let sent = accepted.len();
        // Counted before the records move to the writer; a batch it cannot
        // take ends the run without a `run.json`, so no count is wrong.
        for cited in accepted.chunk_by(|a, b| Arc::ptr_eq(&a.source, &b.source)) {
            self.citations
                .count_records(&cited[0].source.url, cited.len() as u64);
        }
        for record in &accepted {
            match self.counts.get_mut(&record.kind) {
                Some(count) => *count += 1,
                None => {
                    self.counts.insert(record.kind.clone(), 1);
                }
            }
        }
        let queued = self
            .records
            .as_ref()
            .is_some_and(|r| r.send(accepted).is_ok());
        if !queued {
            // The writer stopped: it failed, and says why when joined.
            let why = match self.join() {
                Err(e) => e.to_string(),
                Ok(_) => "the bundle is already finished".to_owned(),
            };
            return Err(PluginError::Internal(format!(
                "host cannot write evidence: {why}"
            )));
        }
        self.seen.extend(batch_keys);
        Ok(sent)
    }

    /// Stops taking records and waits for the writer: the file's SHA-256.
    fn join(&mut self) -> std::io::Result<String> {
        self.records = None;
        if let Some(written) = self.written.take() {
            let result = written
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the evidence writer panicked")));
            self.ended = Some(result.map_err(|e| (e.kind(), e.to_string())));
        }
        match &self.ended {
            Some(Ok(sha256)) => Ok(sha256.clone()),
            Some(Err((kind, why))) => Err(std::io::Error::new(*kind, why.clone())),
            None => unreachable!("the writer thread is joined above"),
        }
    }

    /// Checks one record. `citations` remembers the sources looked up for
    /// the batch: a page's records all cite the same request, so the batch
    /// looks it up once instead of once a record.
    fn check(
        &self,
        evidence: Evidence,
        collected_at: &Arc<str>,
        batch_keys: &mut Keys,
        citations: &mut Citations,
    ) -> Result<Accepted, Refused> {
        let Evidence {
            kind,
            id,
            source,
            data,
        } = evidence;
        if !self.kinds.contains(&kind) {
            return Err(Refused::Undeclared { kind });
        }
        if id.trim().is_empty() {
            return Err(Refused::EmptyId { kind });
        }
        let key = key_hash(&kind, &id);
        if self.seen.contains(&key) || !batch_keys.insert(key) {
            return Err(Refused::Duplicate { kind, id });
        }
        if let Err(e) = jsontext::validate(&data) {
            let why = e.to_string();
            return Err(Refused::NotJson { kind, id, why });
        }
        let derived = crate::provenance::is_derived(&kind);
        let cites = citations.prove(
            self.citations.window(),
            &source.method,
            &source.url,
            data.as_bytes(),
            derived,
        );
        let cites = match cites {
            Ok(cites) => cites,
            Err(why) => {
                let (method, url) = (source.method, source.url);
                return Err(Refused::Unproven {
                    kind,
                    id,
                    method,
                    url,
                    why,
                });
            }
        };
        // A line break becomes a space ([`crate::provenance::one_line`]):
        // the data keeps its length and every other byte of the span it is.
        let data = crate::provenance::one_line(data);
        Ok(Accepted {
            kind,
            id,
            collected_at: collected_at.clone(),
            source: cites,
            derived,
            data,
        })
    }

    /// Writes what is queued and closes the file; returns the counts and
    /// the file's SHA-256.
    pub fn finish(&mut self) -> std::io::Result<EvidenceTotals> {
        Ok(EvidenceTotals {
            sha256: self.join()?,
            counts: self.counts.clone(),
            rejected: self.rejected,
            first_refusal: self.first_refusal.clone(),
        })
    }
}

/// Batches of records waiting for the evidence writer, at most.
const QUEUED_BATCHES: usize = 4;

/// The evidence writer's thread: every record, in order, as a scrubbed line
/// to the file and the digest, until the sender is dropped.
fn write_records(
    file: Box<dyn Write + Send>,
    batches: Receiver<Vec<Accepted>>,
    scrubber: Scrubber,
) -> std::io::Result<String> {
    let mut out = BufWriter::new(file);
    let mut digest = Sha256::new();
    let mut line = Vec::new();
    for batch in batches {
        for record in &batch {
            line.clear();
            let head = Head {
                kind: &record.kind,
                id: &record.id,
                collected_at: &record.collected_at,
                source: &record.source,
                derived: record.derived,
            };
            write_line(&mut line, &head, &record.data)?;
            let clean = scrubber.bytes(&line);
            digest.update(&clean);
            out.write_all(&clean)?;
        }
    }
    out.flush()?;
    Ok(hex::encode(digest.finalize()))
}

/// A [`Record`] but its data, which [`write_line`] adds.
#[derive(Serialize)]
pub(crate) struct Head<'a> {
    pub kind: &'a str,
    pub id: &'a str,
    pub collected_at: &'a str,
    pub source: &'a RecordSource,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub derived: bool,
}

/// Writes an evidence line: the fields of `head`, a non-empty object, then `data`,
/// JSON text on one line, as it is, then a line feed. Writing data as it was
/// checked, never as a tree printed again, keeps the host's cost per record
/// to one pass over it.
pub fn write_line(line: &mut Vec<u8>, head: &impl Serialize, data: &str) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *line, head)?;
    debug_assert_eq!(line.last(), Some(&b'}'), "the head is an object");
    line.pop();
    line.extend_from_slice(b",\"data\":");
    line.extend_from_slice(data.as_bytes());
    line.extend_from_slice(b"}\n");
    Ok(())
}

/// Why the host refused an evidence record. A refused record fails the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "refused", rename_all = "kebab-case")]
pub enum Refused {
    /// A kind the manifest does not declare.
    #[error("kind `{kind}` is not declared")]
    Undeclared {
        /// The kind emitted.
        kind: String,
    },
    /// A record with no id, which nothing could cite or deduplicate.
    #[error("a `{kind}` record has an empty id")]
    EmptyId {
        /// The record's kind.
        kind: String,
    },
    /// A second record of the same kind and id in the run.
    #[error("`{kind}` record `{id}` was already emitted")]
    Duplicate {
        /// The record's kind.
        kind: String,
        /// The repeated id.
        id: String,
    },
    /// Data that is not one JSON value.
    #[error("`{kind}` record `{id}` data is not JSON: {why}")]
    NotJson {
        /// The record's kind.
        kind: String,
        /// The record's id.
        id: String,
        /// The parser's reason.
        why: String,
    },
    /// Data not proven to come from the response the record cites.
    #[error("`{kind}` record `{id}` cites {method} {url}: {why}")]
    Unproven {
        /// The record's kind.
        kind: String,
        /// The record's id.
        id: String,
        /// The cited request's method.
        method: String,
        /// The cited request's URL.
        url: String,
        /// Why the citation does not hold.
        why: Unproven,
    },
}

/// Sets of [`key_hash`]es. The keys are hashes already, so the set uses
/// them as they are instead of hashing each one again.
type Keys = HashSet<u64, BuildHasherDefault<PreHashed>>;

/// The [`Hasher`] of [`Keys`]: a `u64` key is its own hash.
#[derive(Default)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed with PreHashed");
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }
}

fn key_hash(kind: &str, id: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (kind, id).hash(&mut hasher);
    hasher.finish()
}

/// What was written to `evidence.jsonl`.
#[derive(Debug, Clone, Default)]
pub struct EvidenceTotals {
    /// Records written per kind.
    pub counts: BTreeMap<String, u64>,
    /// Hex SHA-256 of `evidence.jsonl` as written (scrubbed).
    pub sha256: String,
    /// Records refused; any fails the run.
    pub rejected: u64,
    /// Why the first refused record was refused.
    pub first_refusal: Option<Refused>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything was collected.
    Complete,
    /// The run finished, but some resources were not (fully) read.
    Partial,
    /// The run did not finish; what was written is kept but incomplete.
    Failed,
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`FORMAT`], so a reader knows which fields and checks apply.
    pub format: String,
    /// Which integration ran.
    pub plugin: PluginInfo,
    /// Which host ran it.
    pub host: HostInfo,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// When it ended, RFC 3339 UTC; evidence ages are measured from it.
    pub finished_at: String,
    /// Non-secret configuration values.
    pub config: BTreeMap<String, String>,
    /// Names of the secrets the host injected (never their values).
    pub secrets: Vec<String>,
    /// Developer reroutes in force: a bundle made through one did not come
    /// from the public origin.
    pub routes: BTreeMap<String, String>,
    /// A run that replayed a recording says so: its evidence came from the
    /// recording, not from the network. A recording run names its folder.
    #[serde(default, skip_serializing_if = "Tape::is_live")]
    pub tape: Tape,
    /// The sandbox limits the run had.
    pub limits: Limits,
    /// How the run ended.
    pub outcome: Outcome,
    /// Why a failed run failed, scrubbed; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// Records per kind, as written to `evidence.jsonl`.
    pub counts: BTreeMap<String, u64>,
    /// Records per kind as the plugin reported them.
    pub plugin_counts: BTreeMap<String, u64>,
    /// Records in `evidence.jsonl`, all kinds together.
    pub evidence_records: u64,
    /// Hex SHA-256 of `evidence.jsonl`, which `verify` recomputes.
    pub evidence_sha256: String,
    /// Records the host refused (none in a run that did not fail).
    pub evidence_rejected: u64,
    /// The plugin's findings, scrubbed.
    pub findings: Vec<Finding>,
    /// The plugin's warnings, scrubbed; an incomplete one makes the run partial.
    pub warnings: Vec<Warning>,
    /// The checkpoint handed to the plugin at the start, if any.
    #[serde(default)]
    pub checkpoint_in: Option<String>,
    /// The checkpoint the plugin returned, where the next run starts.
    #[serde(default)]
    pub checkpoint: Option<String>,
    /// Requests made, refused, failed and cut, and response bytes.
    pub traffic: Traffic,
    /// Hash of the ledger's last entry, which commits to the whole chain.
    pub ledger_head: String,
    /// Entries in `ledger.jsonl`.
    pub ledger_entries: u64,
    /// Largest plugin memory, bytes: all its linear memories and tables and
    /// the header fields the host held for it, together.
    pub guest_peak_memory: u64,
    /// What every byte of the bundle hashed to when it was written; its
    /// `hash` is the head to keep apart from the bundle.
    #[serde(default)]
    pub seal: Seal,
}

/// The integration a bundle came from, as `run.json` names it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInfo {
    /// The manifest id.
    pub id: String,
    /// The manifest's display name.
    pub name: String,
    /// The plugin's version, from its manifest.
    pub version: String,
    /// The contract version the component exports.
    pub contract_version: String,
    /// Hex SHA-256 of the component's bytes: exactly which build ran.
    pub component_sha256: String,
}

/// The host that wrote a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host crate's name.
    pub name: String,
    /// The host crate's version.
    pub version: String,
}

impl HostInfo {
    /// This host, as built.
    pub fn current() -> HostInfo {
        HostInfo {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// A file of the bundle that could not be written: the run fails, since a
/// bundle missing what the run saw must never be reported as a result.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", .path.display())]
pub struct WriteError {
    /// The file or folder that could not be written.
    pub path: PathBuf,
    /// Why.
    pub source: std::io::Error,
}

impl WriteError {
    /// A function that names `path` in an I/O error about it.
    pub fn at(path: &Path) -> impl FnOnce(std::io::Error) -> WriteError + '_ {
        move |source| WriteError {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Seals `run` over the files ([`Seal`]) and writes it as `run.json`,
/// atomically (a reader never sees half of it) and durably, with every
/// secret scrubbed from what the plugin contributed (warnings, errors,
/// findings); returns the record as written.
pub fn write_run(
    dir: &Path,
    run: RunRecord,
    files: &FileHashes,
    scrubber: &Scrubber,
) -> Result<RunRecord, WriteError> {
    let path = dir.join(RUN_FILE);
    let run = seal_run(run, files, scrubber).map_err(|e| WriteError::at(&path)(e.into()))?;
    write_run_file(dir, render_run(&run).as_bytes()).map_err(WriteError::at(&path))?;
    Ok(run)
}

/// `run` with every secret scrubbed from what the plugin contributed, sealed
/// over the files ([`Seal`]): the record `run.json` holds.
pub fn seal_run(
    run: RunRecord,
    files: &FileHashes,
    scrubber: &Scrubber,
) -> serde_json::Result<RunRecord> {
    let text = serde_json::to_string_pretty(&run)?;
    let mut run: RunRecord = serde_json::from_str(&scrubber.text(&text))?;
    run.seal = Seal::new(files, &run);
    Ok(run)
}

/// Writes `text` as `dir/run.json`, atomically (a reader never sees half of
/// it) and durably.
pub fn write_run_file(dir: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text)?;
    file.as_file().sync_all()?;
    file.persist(dir.join(RUN_FILE)).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// `run.json`'s bytes, as the host writes them and `verify` expects them.
pub fn render_run(run: &RunRecord) -> String {
    let mut text = serde_json::to_string_pretty(run).expect("run records serialize");
    text.push('\n');
    text
}

/// Makes the files written so far durable, then their names in `dir`:
/// before `run.json` says the bundle is finished, what it describes is on
/// the disk.
pub fn sync_files(dir: &Path) -> Result<(), WriteError> {
    sync_files_named(dir, &[EVIDENCE_FILE, LEDGER_FILE, LOG_FILE])
}

/// [`sync_files`] for the files named.
pub fn sync_files_named(dir: &Path, names: &[&str]) -> Result<(), WriteError> {
    for name in names {
        let path = dir.join(name);
        File::open(&path)
            .and_then(|file| file.sync_all())
            .map_err(WriteError::at(&path))?;
    }
    sync_dir(dir).map_err(WriteError::at(dir))
}

/// Makes the names in `dir` durable (a rename or a new file).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A new bundle's files, created empty.
pub struct Files {
    /// The bundle's folder.
    pub dir: PathBuf,
    /// [`EVIDENCE_FILE`], for the [`EvidenceWriter`].
    pub evidence: File,
    /// [`LEDGER_FILE`], for the ledger.
    pub ledger: File,
    /// [`LOG_FILE`], for the run log.
    pub log: File,
}

/// Creates the bundle folder and its files. Each file is created only if
/// it does not exist, which the filesystem decides at once: of two runs
/// started with the same folder, one writes it and the other is refused, and
/// a run never mixes its records with another's.
pub fn create_dir(dir: &Path) -> Result<Files, WriteError> {
    std::fs::create_dir_all(dir).map_err(WriteError::at(dir))?;
    let taken = |path: &Path| WriteError {
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "{} already holds a bundle, or another run is writing one there",
                dir.display()
            ),
        ),
    };
    let run = dir.join(RUN_FILE);
    if run.exists() {
        return Err(taken(&run));
    }
    let create = |name: &str| {
        let path = dir.join(name);
        File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => taken(&path),
                _ => WriteError::at(&path)(e),
            })
    };
    Ok(Files {
        dir: dir.to_path_buf(),
        ledger: create(LEDGER_FILE)?,
        evidence: create(EVIDENCE_FILE)?,
        log: create(LOG_FILE)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::PluginError;
    use crate::secrets::Secret;

    #[test]
    fn an_evidence_line_reads_back_as_its_record_with_the_data_as_written() {
        let source = RecordSource {
            method: "GET".into(),
            url: "https://api.example.com/items?q=\"x\"".into(),
            ledger_seq: 7,
        };
        let head = Head {
            kind: "example.item",
            id: "i-1",
            collected_at: "2026-11-25T00:00:00Z",
            source: &source,
            derived: false,
        };
        let data = r#"{"b":1.50,"a":["\u00e9"]}"#;
        let mut line = Vec::new();
        write_line(&mut line, &head, data).unwrap();
        let text = std::str::from_utf8(&line).unwrap();
        assert!(text.ends_with(&format!(",\"data\":{data}}}\n")), "{text}");
        let record: Record = serde_json::from_str(text).unwrap();
        assert_eq!(
            (record.kind.as_str(), record.id.as_str()),
            ("example.item", "i-1")
        );
        assert_eq!(record.source.url, source.url);
        assert_eq!(record.source.ledger_seq, 7);
        assert_eq!(record.data, serde_json::json!({"a": ["é"], "b": 1.5}));
    }

    #[test]
    fn a_second_run_into_the_same_folder_is_refused_before_it_writes() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("bundle");
        let first = create_dir(&dir).unwrap();
        let Err(second) = create_dir(&dir) else {
            panic!("two runs were given the same folder");
        };
        assert_eq!(second.source.kind(), std::io::ErrorKind::AlreadyExists);
        assert!(
            second
                .to_string()
                .contains("another run is writing one there"),
            "{second}"
        );
        drop(first);
    }

    #[test]
    fn data_broken_over_lines_is_written_on_one_line_as_the_same_json() {
        let data = "{\n  \"a\": [1,\r\n 2],\n  \"b\": \"x\"\n}".to_owned();
        let line = crate::provenance::one_line(data);
        assert!(!line.contains(['\n', '\r']), "{line}");
        jsontext::validate(&line).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&line).unwrap(),
            serde_json::json!({"a": [1, 2], "b": "x"})
        );
    }

    #[test]
    fn run_json_never_holds_a_secret_even_if_the_plugin_wrote_one() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let secret = Secret::new("s3cr3t-value-99").unwrap();
        let run = RunRecord {
            format: FORMAT.into(),
            plugin: PluginInfo {
                id: "p".into(),
                name: "P".into(),
                version: "1".into(),
                contract_version: "0.1.0".into(),
                component_sha256: String::new(),
            },
            host: HostInfo::current(),
            started_at: String::new(),
            finished_at: String::new(),
            config: BTreeMap::new(),
            secrets: vec!["api-key".into()],
            routes: BTreeMap::new(),
            tape: Default::default(),
            limits: Limits::default(),
            outcome: Outcome::Partial,
            error: None,
            counts: BTreeMap::new(),
            plugin_counts: BTreeMap::new(),
            evidence_records: 0,
            evidence_sha256: String::new(),
            evidence_rejected: 0,
            findings: vec![],
            warnings: vec![Warning {
                resource: "users".into(),
                message: "upstream said: Bearer s3cr3t-value-99 is wrong".into(),
                cause: Some(PluginError::Unauthorized("s3cr3t-value-99".into())),
                incomplete: true,
            }],
            checkpoint_in: None,
            checkpoint: None,
            traffic: Traffic::default(),
            ledger_head: String::new(),
            ledger_entries: 0,
            guest_peak_memory: 0,
            seal: Seal::default(),
        };
        let files = FileHashes {
            ledger_head: String::new(),
            evidence_sha256: String::new(),
            log_sha256: String::new(),
        };
        let written = write_run(dir, run, &files, &Scrubber::new([&secret])).unwrap();
        let text = std::fs::read_to_string(dir.join(RUN_FILE)).unwrap();
        assert!(!text.contains("s3cr3t-value-99"));
        assert!(text.contains("Bearer [REDACTED] is wrong"));
        assert_eq!(
            written.warnings[0].message,
            "upstream said: Bearer [REDACTED] is wrong"
        );
    }
}
