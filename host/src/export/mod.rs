//! What a verified bundle becomes for people and tools outside the host: a
//! self-contained HTML report ([`html`]) and OSCAL assessment results
//! ([`oscal`]). Both start from a bundle that verifies, so neither can
//! present evidence the host did not write.

pub mod html;
pub mod oscal;
pub mod stats;

use std::io::BufRead;
use std::path::{Path, PathBuf};

use crate::bundle::{self, RunRecord, VerifyError, VerifyReport};
use stats::Stats;

/// A bundle that verified, read for export.
#[derive(Debug)]
pub struct Verified {
    /// The bundle's folder, which exports name and sit beside.
    pub dir: PathBuf,
    /// Its `run.json`.
    pub run: RunRecord,
    /// What verification checked, including the seal it confirmed.
    pub report: VerifyReport,
    /// Figures of its evidence, for the charts.
    pub stats: Stats,
}

/// Why a bundle cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The bundle fails verification: nothing is exported from it.
    #[error("the bundle does not verify, so it is not exported: {0}")]
    Unverified(#[from] VerifyError),
    /// A bundle file could not be read after it verified.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// A bundle file that verified but does not parse as this host's format.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Where and why parsing failed.
        source: serde_json::Error,
    },
}

/// Verifies the bundle at `dir` (against `head`, the seal `collect`
/// printed, when given) and reads it.
pub fn load(dir: &Path, head: Option<&str>) -> Result<Verified, ExportError> {
    let report = bundle::verify(dir, head)?;
    let run_path = dir.join(bundle::RUN_FILE);
    let run: RunRecord = read_json(&run_path)?;
    let evidence = dir.join(bundle::EVIDENCE_FILE);
    let io = |source| ExportError::Io {
        path: evidence.clone(),
        source,
    };
    let file = std::io::BufReader::new(std::fs::File::open(&evidence).map_err(io)?);
    let as_of = stats::parse_time(&run.finished_at);
    let mut stats = Stats::new(as_of);
    for line in file.lines() {
        let line = line.map_err(io)?;
        let record: bundle::Record =
            serde_json::from_str(&line).map_err(|source| ExportError::Json {
                path: evidence.clone(),
                source,
            })?;
        stats.add(&record.kind, &record.data);
    }
    Ok(Verified {
        dir: dir.to_path_buf(),
        run,
        report,
        stats,
    })
}

/// The file beside a bundle folder for an export: `DIR.html` for
/// `run-1` or `run-20261206T033800.1Z` alike (a folder name may hold dots).
pub fn beside(dir: &Path, extension: &str) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ExportError> {
    let text = std::fs::read(path).map_err(|source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| ExportError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The lower-case name a contract enum serializes to (`Fail` → `fail`), so
/// exports follow the contract's enums without restating them.
pub(crate) fn enum_name(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s.to_lowercase(),
        _ => "unknown".to_owned(),
    }
}
