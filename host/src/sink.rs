//! Where a bundle's bytes go: a folder ([`FolderSink`], what the CLI
//! writes), or whatever an embedder implements [`BundleSink`] for, such as
//! an object store.
//!
//! The host computes every hash of the seal over the bytes it hands the
//! sink's streams, in order, so a sink that stores exactly those bytes holds
//! a bundle that verifies; one that changes them holds one that does not.

use crate::bundle::{self, WriteError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The three streams of a bundle, written while the run goes on.
pub struct Streams {
    /// `evidence.jsonl`, written from a thread of its own.
    pub evidence: Box<dyn Write + Send>,
    /// `ledger.jsonl`.
    pub ledger: Box<dyn Write + Send>,
    /// `log.jsonl`.
    pub log: Box<dyn Write + Send>,
}

/// A place a run writes its bundle to. The host calls [`BundleSink::open`]
/// once; writes each stream to its end, flushes it and drops it; calls
/// [`BundleSink::durable`]; then [`BundleSink::finish`] with `run.json`,
/// which says the bundle is finished and must be stored last. Each call
/// runs where it may block ([`blocking`]); the streams' writes are buffered
/// and come from the run's task, or for the evidence, a thread of its own.
pub trait BundleSink: Send + Sync {
    /// Where the bundle is, for messages and [`crate::run::Collected::dir`]:
    /// a folder, or an object store's prefix spelled as a path. File names
    /// in errors are joined to it.
    fn location(&self) -> PathBuf;

    /// Opens a new bundle's streams. A place that already holds a bundle, or
    /// that another run is writing, is refused: a run never mixes its records
    /// with another's.
    fn open(&self) -> Result<Streams, WriteError>;

    /// Makes the three streams, flushed and dropped by now, durable: before
    /// `run.json` says the bundle is finished, what it describes is stored.
    /// An object-store sink completes its uploads here.
    fn durable(&self) -> Result<(), WriteError>;

    /// Stores the sealed `run.json`, whole or not at all.
    fn finish(&self, run_json: &[u8]) -> Result<(), WriteError>;
}

/// A bundle as a folder of files, created new ([`bundle::create_dir`]).
#[derive(Debug, Clone)]
pub struct FolderSink {
    dir: PathBuf,
}

impl FolderSink {
    /// The bundle folder `dir`, created with its parents if missing.
    pub fn new(dir: impl Into<PathBuf>) -> FolderSink {
        FolderSink { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl BundleSink for FolderSink {
    fn location(&self) -> PathBuf {
        self.dir.clone()
    }

    fn open(&self) -> Result<Streams, WriteError> {
        let files = bundle::create_dir(&self.dir)?;
        Ok(Streams {
            evidence: Box::new(files.evidence),
            ledger: Box::new(files.ledger),
            log: Box::new(files.log),
        })
    }

    fn durable(&self) -> Result<(), WriteError> {
        bundle::sync_files(&self.dir)
    }

    fn finish(&self, run_json: &[u8]) -> Result<(), WriteError> {
        bundle::write_run_file(&self.dir, run_json)
            .map_err(WriteError::at(&self.dir.join(bundle::RUN_FILE)))
    }
}

/// Runs a sink's blocking work (creating files, `fsync`, a few milliseconds
/// each on a disk) so that it does not stall the other runs sharing the
/// runtime: on a multi-threaded runtime the thread hands its other tasks on
/// first ([`tokio::task::block_in_place`]); elsewhere it simply runs.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
    match flavor {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
