//! An example multi-tenant worker: one process, one [`Host`], every
//! tenant's collection at once under the worker's caps.
//!
//! Tenants come from a JSON-lines file, one object a line:
//!
//! ```json
//! {"tenant":"t0001","config":{"org-id":"..."},"secrets":{"api-key":"..."},"routes":{"https://api.atlassian.com":"http://127.0.0.1:8080"}}
//! ```
//!
//! `secrets` stands in for a vault: a real worker holds secret references
//! and implements [`watchdog_host::secrets::SecretSource`] over its vault,
//! asked per run; this example reads the values from the file
//! ([`SecretMap`]). Each tenant's bundle goes to
//! `OUT/<tenant>/`; each finished run is one JSON line ([`RunLine`]), then a
//! summary ([`Summary`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use watchdog_host::bundle::Outcome;
use watchdog_host::egress::{EgressError, Reroutes};
use watchdog_host::embed::{Host, Report, Run, SecretMap};
use watchdog_host::run::Loaded;
use watchdog_host::sink::FolderSink;

/// One tenant's line of the tenants file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// The tenant's id, also its bundle folder's name.
    pub tenant: String,
    /// Non-secret configuration values.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Secret values by field name (the example's stand-in for a vault).
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Reroutes of declared origins to loopback (`ORIGIN` to `URL`).
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
}

/// Why the tenants file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A line that is not a tenant. serde_json's own message may quote the
    /// value it choked on, and a line holds secrets: only where and what
    /// kind of problem are kept.
    #[error("line {line}, column {column}: {}", json_problem(*.category))]
    Json {
        line: usize,
        column: usize,
        category: serde_json::error::Category,
    },
    #[error(
        "line {line}: tenant id `{tenant}` is not a folder name (letters, digits, `.`, `-`, `_`; not starting with `.`)"
    )]
    Id { line: usize, tenant: String },
    #[error("line {line}: tenant `{tenant}` appears twice")]
    Duplicate { line: usize, tenant: String },
    #[error("line {line}: {source}")]
    Route { line: usize, source: EgressError },
}

/// What is wrong with a line that is not a tenant, never quoting it.
fn json_problem(category: serde_json::error::Category) -> &'static str {
    use serde_json::error::Category;
    match category {
        Category::Syntax | Category::Io => "not valid JSON",
        Category::Eof => "the JSON ends early",
        Category::Data => {
            "not a tenant: a field is missing, unknown or of the wrong type (`tenant`, `config`, `secrets`, `routes`)"
        }
    }
}

impl Tenant {
    /// The tenant's reroutes.
    fn reroutes(&self) -> Result<Reroutes, EgressError> {
        let specs: Vec<String> = (self.routes.iter())
            .map(|(from, to)| format!("{from}={to}"))
            .collect();
        Reroutes::parse(specs.iter().map(String::as_str))
    }
}

/// Whether `id` is safe as one folder name under the output folder.
fn is_folder_name(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Reads and checks the tenants file: every line a tenant with a unique,
/// folder-safe id and valid routes, or the first problem.
pub fn read_tenants(path: &Path) -> Result<Vec<(Tenant, Reroutes)>, TenantsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut seen = std::collections::BTreeSet::new();
    let mut tenants = Vec::new();
    for (i, text) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let line = i + 1;
        let tenant: Tenant = serde_json::from_str(text).map_err(|e| TenantsError::Json {
            line,
            column: e.column(),
            category: e.classify(),
        })?;
        let id = tenant.tenant.clone();
        if !is_folder_name(&id) {
            return Err(TenantsError::Id { line, tenant: id });
        }
        if !seen.insert(id.clone()) {
            return Err(TenantsError::Duplicate { line, tenant: id });
        }
        let reroutes =
            (tenant.reroutes()).map_err(|source| TenantsError::Route { line, source })?;
        tenants.push((tenant, reroutes));
    }
    Ok(tenants)
}

/// A finished run as one stdout line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunLine {
    pub tenant: String,
    pub outcome: Outcome,
    pub error: Option<String>,
    /// The bundle's seal, when it was finished.
    pub seal: Option<String>,
    pub records: u64,
    pub counts: BTreeMap<String, u64>,
    pub queued_ms: f64,
    /// Instantiate start to first request sent; none if none was sent.
    pub start_ms: Option<f64>,
    pub wall_ms: f64,
    /// CPU of the run's own work (its guest calls) on the runtime's threads.
    pub cpu_ms: f64,
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

impl RunLine {
    /// The line for `tenant`'s report.
    pub fn new(tenant: &str, report: &Report) -> RunLine {
        let run = report.run.as_ref();
        RunLine {
            tenant: tenant.to_owned(),
            outcome: report.outcome,
            error: report.error.as_ref().map(ToString::to_string),
            seal: run.map(|r| r.seal.hash.clone()),
            records: run.map_or(0, |r| r.evidence_records),
            counts: run.map(|r| r.counts.clone()).unwrap_or_default(),
            queued_ms: ms(report.timings.queued),
            start_ms: report.timings.start.map(ms),
            wall_ms: ms(report.timings.wall),
            cpu_ms: ms(report.timings.cpu),
        }
    }
}

impl RunLine {
    /// The line of a run whose task panicked.
    fn panicked(tenant: &str, error: &tokio::task::JoinError) -> RunLine {
        RunLine {
            tenant: tenant.to_owned(),
            outcome: Outcome::Failed,
            error: Some(format!("the run's task ended: {error}")),
            seal: None,
            records: 0,
            counts: BTreeMap::new(),
            queued_ms: 0.0,
            start_ms: None,
            wall_ms: 0.0,
            cpu_ms: 0.0,
        }
    }
}

/// The last stdout line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub runs: usize,
    pub complete: usize,
    pub partial: usize,
    pub failed: usize,
    pub wall_ms: f64,
    /// The whole process's CPU (user and system, all threads).
    pub cpu_ms: f64,
    /// The process's peak resident memory (`VmHWM`).
    pub peak_rss_kib: Option<u64>,
    pub start_p50_ms: Option<f64>,
    pub start_p99_ms: Option<f64>,
    /// The most runs that ran at once.
    pub peak_runs: usize,
}

/// The summary line wraps [`Summary`] in `{"summary": ...}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryLine {
    pub summary: Summary,
}

impl Summary {
    /// The summary of `lines`, run in `wall` by a host that ran at most
    /// `peak_runs` at once.
    pub fn of(lines: &[RunLine], wall: Duration, peak_runs: usize) -> Summary {
        let count = |o: Outcome| lines.iter().filter(|l| l.outcome == o).count();
        let mut starts: Vec<f64> = lines.iter().filter_map(|l| l.start_ms).collect();
        starts.sort_by(f64::total_cmp);
        Summary {
            runs: lines.len(),
            complete: count(Outcome::Complete),
            partial: count(Outcome::Partial),
            failed: count(Outcome::Failed),
            wall_ms: ms(wall),
            cpu_ms: ms(process_cpu()),
            peak_rss_kib: peak_rss_kib(),
            start_p50_ms: percentile(&starts, 50),
            start_p99_ms: percentile(&starts, 99),
            peak_runs,
        }
    }
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: usize) -> Option<f64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// CPU the whole process used, every thread, user and system: what
/// `getrusage(RUSAGE_SELF)` adds up.
fn process_cpu() -> Duration {
    let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(time.tv_sec as u64, time.tv_nsec as u32)
}

/// The process's peak resident set, KiB, from `/proc/self/status`.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs every tenant's collection at once on `host`, each bundle in
/// `out/<tenant>/`, calling `finished` with each run's line as it ends.
pub async fn run_all(
    host: Arc<Host>,
    component: Arc<Loaded>,
    tenants: Vec<(Tenant, Reroutes)>,
    out: &Path,
    mut finished: impl FnMut(&RunLine),
) -> Vec<RunLine> {
    let mut runs = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (tenant, reroutes) in tenants {
        let sink = FolderSink::new(out.join(&tenant.tenant));
        let run = Run {
            values: tenant.config.clone(),
            // The example's vault is the tenants file.
            secrets: Box::new(SecretMap::new(&tenant.tenant, tenant.secrets.clone())),
            reroutes,
            ..Run::new(component.clone(), host.limits(), Box::new(sink))
        };
        let host = host.clone();
        let id = tenant.tenant.clone();
        let task = runs.spawn(async move { RunLine::new(&id, &host.run(run).await) });
        names.insert(task.id(), tenant.tenant);
    }
    let mut lines = Vec::new();
    while let Some(joined) = runs.join_next_with_id().await {
        let line = match joined {
            Ok((_, line)) => line,
            // A run reports whatever its plugin did; only a bug of the
            // host's own panics its task, and ends that run alone.
            Err(error) => RunLine::panicked(&names[&error.id()], &error),
        };
        finished(&line);
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `text` as a tenants file, each call from a file of its own.
    fn read(text: &str) -> Result<Vec<(Tenant, Reroutes)>, TenantsError> {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "watchdog-worker-tenants-{}-{n}.jsonl",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        let read = read_tenants(&path);
        std::fs::remove_file(path).unwrap();
        read
    }

    #[test]
    fn a_tenant_id_that_is_not_one_folder_name_is_refused() {
        for id in ["../escape", "a/b", ".hidden", "", "t 1"] {
            let line = serde_json::json!({ "tenant": id }).to_string();
            let Err(TenantsError::Id { line: 1, tenant }) = read(&line) else {
                panic!("`{id}` was accepted as a folder name");
            };
            assert_eq!(tenant, id);
        }
        assert_eq!(read(r#"{"tenant":"t-0001.a_b"}"#).unwrap().len(), 1);
    }

    #[test]
    fn a_tenant_listed_twice_or_routed_off_loopback_is_refused() {
        let twice = "{\"tenant\":\"t1\"}\n\n{\"tenant\":\"t1\"}";
        assert!(matches!(
            read(twice),
            Err(TenantsError::Duplicate { line: 3, .. })
        ));
        let remote =
            r#"{"tenant":"t1","routes":{"https://api.atlassian.com":"http://203.0.113.9"}}"#;
        assert!(matches!(
            read(remote),
            Err(TenantsError::Route {
                line: 1,
                source: EgressError::NonLoopbackTarget { .. }
            })
        ));
    }

    #[test]
    fn a_malformed_line_is_refused_without_quoting_its_secret() {
        for line in [
            r#"{"tenant":"t1","config":{},"secrets":"k-secret-5150"}"#,
            r#"{"tenant":"t1","config":{},"secrets":{"api-key":["k-secret-5150"]}}"#,
            r#"{"tenant":"t1","secrets":{"api-key":"k-secret-5150"},"extra":"k-secret-5150"}"#,
        ] {
            let error = read(line).unwrap_err();
            assert!(
                matches!(error, TenantsError::Json { line: 1, .. }),
                "{error:?}"
            );
            assert!(!error.to_string().contains("k-secret-5150"), "{error}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 50), Some(50.0));
        assert_eq!(percentile(&values, 99), Some(99.0));
        assert_eq!(percentile(&[7.0], 99), Some(7.0));
        assert_eq!(percentile(&[], 99), None);
    }
}
