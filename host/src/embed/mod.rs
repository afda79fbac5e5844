//! The host as a library for a multi-tenant worker: one [`Host`] and any
//! number of runs at once on one tokio runtime.
//!
//! The [`Host`] holds what every run shares: the engine (instances pooled,
//! [`crate::pooling`]), the linker, and each component compiled and checked
//! once, kept by its SHA-256 ([`Host::component`]). A [`Run`] brings what is
//! its own: configuration values, a [`SecretSource`] the embedder implements
//! (its vault; never the process environment), limits, reroutes, the
//! checkpoint of the previous run and a [`BundleSink`] ([`FolderSink`](crate::sink::FolderSink), or an
//! embedder's object store). [`Host::run`] waits for room under the worker's
//! caps ([`Caps`]: runs at once, guest memory at once), runs the collection
//! in a store of its own, and returns a [`Report`].
//!
//! Runs share nothing a plugin can reach: each has its own store, memory
//! meter, grant, HTTP client state (and with it its rate-limit state), ledger
//! and bundle. One run's failure, trap or limit ends that run only; it is
//! reported in its own [`Report`] and bundle.
//!
//! ```no_run
//! # async fn example(vault: Box<dyn watchdog_host::secrets::SecretSource + Send + Sync>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use watchdog_host::embed::{Host, HostConfig, Run};
//! use watchdog_host::sink::FolderSink;
//! let host = Host::new(HostConfig::default())?;
//! let component = host.component("plugin.wasm".as_ref()).await?;
//! let report = host
//!     .run(Run {
//!         values: [("org-id".to_owned(), "o-1".to_owned())].into(),
//!         secrets: vault,
//!         ..Run::new(component, host.limits(), Box::new(FolderSink::new("bundles/t0001")))
//!     })
//!     .await;
//! println!("{:?} in {:?}", report.outcome, report.timings.wall);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod caps;
pub mod cpu;

pub use caps::{Admission, Caps, TooLarge};

use crate::bundle::{Outcome, RunRecord};
use crate::cache::{self, Cache};
use crate::config;
use crate::egress::Reroutes;
use crate::log::RunLog;
use crate::pooling::{Allocation, PoolSize};
use crate::progress::Progress;
use crate::run::{Collected, Failure, Loaded, Options};
use crate::runtime::{LoadError, Runtime};
use crate::sandbox::Limits;
use crate::secrets::{Scrubber, Secret, SecretSource, SourceError};
use crate::sink::BundleSink;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a worker's host is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Runs at once; more wait.
    pub max_runs: usize,
    /// Guest memory at once, MiB: the sum of the admitted runs' memory
    /// limits. More wait.
    pub max_guest_memory_mib: u64,
    /// Each run's limits unless its [`Run`] says otherwise. Their memory
    /// sizes the pool's slots: no run may have more.
    pub limits: Limits,
    /// Admitted runs between making their instance and their first request
    /// at once ([`Caps::start`]); more wait their turn, counted as queued.
    pub max_starting: usize,
    /// Whether instances come from the pooling allocator (a worker's
    /// choice) or are allocated on demand.
    pub pooling: bool,
    /// Compiled components kept on disk between processes.
    pub cache: Option<Cache>,
}

impl Default for HostConfig {
    /// 100 runs at once, 16 GiB of guest memory, 64 MiB a run, as many
    /// starting at once as the machine has cores, pooled.
    fn default() -> HostConfig {
        HostConfig {
            max_runs: 100,
            max_guest_memory_mib: 16 << 10,
            max_starting: std::thread::available_parallelism().map_or(1, usize::from),
            limits: Limits {
                memory_bytes: 64 << 20,
                ..Limits::default()
            },
            pooling: true,
            cache: None,
        }
    }
}

/// The shared part of a worker: engine, linker, components, caps.
pub struct Host {
    runtime: Runtime,
    components: tokio::sync::Mutex<HashMap<String, Arc<Loaded>>>,
    caps: Caps,
    limits: Limits,
    /// The memory of one pool slot, if pooled.
    slot_bytes: Option<u64>,
}

/// One run: everything of its own.
pub struct Run {
    /// The component, shared ([`Host::component`]).
    pub component: Arc<Loaded>,
    /// Non-secret configuration values, checked against the manifest.
    pub values: BTreeMap<String, String>,
    /// Where this run's secrets come from; asked once per secret field the
    /// manifest declares.
    pub secrets: Box<dyn SecretSource + Send + Sync>,
    /// The run's sandbox limits.
    pub limits: Limits,
    /// Loopback reroutes of declared origins (tests, simulators).
    pub reroutes: Reroutes,
    /// The checkpoint the previous run returned.
    pub checkpoint: Option<String>,
    /// Where the bundle goes.
    pub sink: Box<dyn BundleSink>,
}

/// Secrets a worker already holds for one run, by field name: what its
/// vault returned for the tenant. [`SecretMap::default`] holds none.
#[derive(Default)]
pub struct SecretMap {
    owner: String,
    values: BTreeMap<String, String>,
}

impl SecretMap {
    /// The secrets of `owner` (a tenant, named in errors about a value).
    pub fn new(owner: impl Into<String>, values: BTreeMap<String, String>) -> SecretMap {
        SecretMap {
            owner: owner.into(),
            values,
        }
    }
}

impl SecretSource for SecretMap {
    fn secret(&self, _integration: &str, field: &str) -> Option<Result<Secret, SourceError>> {
        let value = self.values.get(field)?;
        Some(Secret::new(value.as_str()).map_err(|why| SourceError {
            place: format!("{}'s secret `{field}`", self.owner),
            why,
        }))
    }

    fn remedy(&self, _integration: &str, field: &str) -> String {
        format!("{}'s secrets hold no `{field}`", self.owner)
    }
}

impl Run {
    /// A run of `component` with `limits`, its bundle into `sink`, and no
    /// values, secrets, reroutes or checkpoint: set those with struct
    /// update syntax.
    pub fn new(component: Arc<Loaded>, limits: Limits, sink: Box<dyn BundleSink>) -> Run {
        Run {
            component,
            values: BTreeMap::new(),
            secrets: Box::<SecretMap>::default(),
            limits,
            reroutes: Reroutes::default(),
            checkpoint: None,
            sink,
        }
    }
}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run failed: before its bundle existed (configuration, grant), or
    /// in it (the plugin's error, a trap, a limit), as `run.json` says.
    #[error(transparent)]
    Run(#[from] Failure),
    /// The run's memory limit exceeds the worker's whole guest memory cap.
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    /// The run's memory limit exceeds the pool's slot.
    #[error(
        "the run's memory limit of {limit} bytes exceeds the pool's {slot} bytes a memory \
         (--memory-mib of the worker)"
    )]
    AbovePool {
        /// The run's limit, bytes.
        limit: u64,
        /// The slot, bytes.
        slot: u64,
    },
}

/// How long a run took, part by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Waiting for room under the caps.
    pub queued: Duration,
    /// From the start of making its instance to its first request: none if
    /// it sent none.
    pub start: Option<Duration>,
    /// From admission to the report.
    pub wall: Duration,
    /// CPU of the run's own work on the runtime's threads ([`cpu::measured`]).
    pub cpu: Duration,
}

/// What a run came to.
#[derive(Debug)]
pub struct Report {
    /// Complete, partial or failed.
    pub outcome: Outcome,
    /// Why it failed, if it did.
    pub error: Option<RunError>,
    /// `run.json` as written, when the bundle was finished: its findings,
    /// warnings, new checkpoint, seal, counts and traffic.
    pub run: Option<RunRecord>,
    /// How long it took.
    pub timings: Timings,
}

impl Report {
    fn failed(error: RunError, timings: Timings) -> Report {
        Report {
            outcome: Outcome::Failed,
            error: Some(error),
            run: None,
            timings,
        }
    }
}

impl Host {
    /// A host with an engine allocating as `config` says.
    pub fn new(config: HostConfig) -> wasmtime::Result<Host> {
        let runs = u32::try_from(config.max_runs).unwrap_or(u32::MAX);
        let allocation = match config.pooling {
            true => Allocation::Pooling(PoolSize {
                runs,
                memory_bytes: config.limits.memory_bytes,
            }),
            false => Allocation::OnDemand,
        };
        Ok(Host {
            runtime: Runtime::with_allocation(config.cache, allocation)?,
            components: tokio::sync::Mutex::default(),
            caps: Caps::new(
                config.max_runs,
                config.max_guest_memory_mib,
                config.max_starting,
            ),
            limits: config.limits,
            slot_bytes: config.pooling.then_some(config.limits.memory_bytes),
        })
    }

    /// The runs' default limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The most runs that ran at once so far.
    pub fn peak_runs(&self) -> usize {
        self.caps.peak_runs()
    }

    /// The component at `path`, compiled, checked and its manifest read the
    /// first time its bytes are seen, then shared.
    pub async fn component(&self, path: &Path) -> Result<Arc<Loaded>, Failure> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let digest = cache::sha256_hex(&bytes);
        let mut components = self.components.lock().await;
        if let Some(loaded) = components.get(&digest) {
            return Ok(loaded.clone());
        }
        let options = Options::new(self.limits, Reroutes::default(), quiet());
        let loaded = Arc::new(Loaded::open(&self.runtime, path, &options).await?);
        components.insert(loaded.plugin.component_sha256.clone(), loaded.clone());
        Ok(loaded)
    }

    /// Waits for room, runs the collection and reports it. Never panics on
    /// the run's account: whatever the plugin did is in the report.
    pub async fn run(&self, run: Run) -> Report {
        let submitted = Instant::now();
        let _admission = match self.admit(run.limits).await {
            Ok(admission) => admission,
            Err(error) => {
                let timings = Timings {
                    queued: submitted.elapsed(),
                    ..Timings::default()
                };
                return Report::failed(error, timings);
            }
        };
        let turn = self.caps.start().await;
        let queued = submitted.elapsed();
        let started = Instant::now();
        let options = Options::new(run.limits, run.reroutes.clone(), quiet());
        let (result, cpu) = started_in_turn(
            cpu::measured(collect(&run, &options)),
            &options.progress,
            turn,
        )
        .await;
        let timings = Timings {
            queued,
            start: start_latency(&options.progress),
            wall: started.elapsed(),
            cpu,
        };
        match result {
            Err(failure) => Report::failed(failure.into(), timings),
            Ok(Collected { run, failure, .. }) => Report {
                outcome: run.outcome,
                error: failure.map(RunError::Run),
                run: Some(run),
                timings,
            },
        }
    }

    /// Room under the caps for a run with `limits`.
    async fn admit(&self, limits: Limits) -> Result<Admission, RunError> {
        if let Some(slot) = self.slot_bytes.filter(|slot| limits.memory_bytes > *slot) {
            let limit = limits.memory_bytes;
            return Err(RunError::AbovePool { limit, slot });
        }
        Ok(self.caps.admit(limits.memory_bytes).await?)
    }
}

/// The run's configuration, checked, then its collection into its sink.
async fn collect(run: &Run, options: &Options) -> Result<Collected, Failure> {
    let manifest = &run.component.manifest;
    let config = config::from_values(&run.values, manifest, run.secrets.as_ref())?;
    run.component
        .collect_into(&config, options, run.sink.as_ref(), run.checkpoint.clone())
        .await
}

/// Runs `run` to its end, giving the start turn back as soon as the run has
/// sent its first request (or ended without one).
async fn started_in_turn<T>(
    run: impl Future<Output = T>,
    progress: &Progress,
    turn: tokio::sync::OwnedSemaphorePermit,
) -> T {
    let mut run = std::pin::pin!(run);
    let mut turn = Some(turn);
    loop {
        tokio::select! {
            done = &mut run => return done,
            () = progress.started(), if turn.is_some() => turn = None,
        }
    }
}

/// From the start of making the instance to the first request sent.
fn start_latency(progress: &Progress) -> Option<Duration> {
    let began = progress.instantiating.get()?;
    let first = progress.first_request.get()?;
    Some(first.saturating_duration_since(*began))
}

/// A log that echoes nothing: each bundle keeps its own.
fn quiet() -> RunLog {
    RunLog::new(None, Scrubber::new([]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_start_turn_is_given_back_at_the_first_request_not_at_the_end() {
        let caps = Caps::new(4, 100, 1);
        let progress = Arc::new(Progress::default());
        let turn = caps.start().await;
        let (finish, finished) = tokio::sync::oneshot::channel::<()>();
        let run = {
            let progress = progress.clone();
            async move {
                progress.note_request_sent();
                finished.await.ok();
                "collected"
            }
        };
        let first = tokio::spawn(async move { started_in_turn(run, &progress, turn).await });
        let second = tokio::time::timeout(Duration::from_secs(30), caps.start())
            .await
            .expect("the next run's turn, once the first sent its first request");
        assert!(!first.is_finished(), "the first run was cut short");
        drop(second);
        finish.send(()).unwrap();
        assert_eq!(first.await.unwrap(), "collected");
    }

    #[tokio::test]
    async fn a_run_that_ends_before_any_request_gives_its_turn_back() {
        let caps = Caps::new(4, 100, 1);
        let progress = Progress::default();
        let ended = started_in_turn(async { "refused" }, &progress, caps.start().await).await;
        assert_eq!(ended, "refused");
        let next = tokio::time::timeout(Duration::from_secs(30), caps.start()).await;
        assert!(next.is_ok(), "the turn was kept by a run that ended");
    }
}
