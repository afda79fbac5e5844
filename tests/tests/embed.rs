//! The embedding API end to end: many runs of real components at once in
//! one pooled host, over loopback HTTP. One run's trap or limit ends that
//! run only; the caps queue runs instead of failing them; each tenant's
//! rate limits are its own; a bundle streamed to another store verifies.

use atlassian_sim::{SimConfig, SimHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_components::fixtures::PROBE;
use watchdog_e2e::{PROBE_TOKEN, ProbeServer, ledger_entries};
use watchdog_host::bundle::{self, Outcome, WriteError};
use watchdog_host::egress::Reroutes;
use watchdog_host::embed::{Host, HostConfig, Report, Run, RunError, SecretMap};
use watchdog_host::run::{Failure, Loaded};
use watchdog_host::runtime::{CallError, Crash};
use watchdog_host::sandbox::{Limits, Violation};
use watchdog_host::sink::{BundleSink, FolderSink, Streams};

const MIB: u64 = 1 << 20;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("watchdog-embed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A pooled host: `max_runs` at once, 64 MiB slots.
fn host(max_runs: usize) -> Arc<Host> {
    Arc::new(
        Host::new(HostConfig {
            max_runs,
            max_guest_memory_mib: 4096,
            limits: Limits {
                memory_bytes: 64 * MIB,
                ..Limits::default()
            },
            pooling: true,
            ..HostConfig::default()
        })
        .unwrap(),
    )
}

/// A run of the probe behaving as `behaviour`, its bundle in `dir`.
fn probe_run(probe: &Arc<Loaded>, server: &ProbeServer, behaviour: &str, dir: &Path) -> Run {
    let limits = Limits {
        memory_bytes: 32 * MIB,
        ..Limits::default()
    };
    Run {
        values: [("behaviour".to_owned(), behaviour.to_owned())].into(),
        secrets: Box::new(SecretMap::new(
            behaviour,
            [("token".to_owned(), PROBE_TOKEN.to_owned())].into(),
        )),
        reroutes: server.reroutes(),
        ..Run::new(probe.clone(), limits, Box::new(FolderSink::new(dir)))
    }
}

/// Runs them all at once, each on its own task, reports in order.
async fn run_all(host: &Arc<Host>, runs: Vec<Run>) -> Vec<Report> {
    let tasks: Vec<_> = runs
        .into_iter()
        .map(|run| {
            let host = host.clone();
            tokio::spawn(async move { host.run(run).await })
        })
        .collect();
    let mut reports = Vec::new();
    for task in tasks {
        reports.push(task.await.unwrap());
    }
    reports
}

/// The report is of a complete run whose bundle verifies against its seal.
fn assert_complete_and_verified(report: &Report, dir: &Path) {
    assert_eq!(report.outcome, Outcome::Complete, "{:?}", report.error);
    let seal = &report.run.as_ref().unwrap().seal.hash;
    bundle::verify(dir, Some(seal)).expect("the bundle verifies");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trap_a_memory_bomb_and_a_spin_end_their_own_runs_and_the_concurrent_runs_complete() {
    let server = ProbeServer::start(0).await;
    let host = host(8);
    let probe = host.component(Path::new(PROBE)).await.unwrap();
    let dir = scratch("isolation");
    let behaviours = [
        "panic",
        "well-behaved",
        "memory-bomb",
        "well-behaved",
        "loop",
        "well-behaved",
    ];
    let mut runs: Vec<Run> = (behaviours.iter().enumerate())
        .map(|(i, b)| probe_run(&probe, &server, b, &dir.join(i.to_string())))
        .collect();
    runs[4].limits.cpu_per_call = Duration::from_millis(300);
    let reports = run_all(&host, runs).await;

    let Some(RunError::Run(Failure::Call(CallError::Trap(Crash::Panic(panic))))) =
        &reports[0].error
    else {
        panic!("the panic was not a trap: {:?}", reports[0].error);
    };
    assert!(panic.contains("the probe panics on purpose"), "{panic}");
    // Under the pool (64 MiB slots) the run's own limit of 32 MiB holds:
    // the plugin-wide meter, not the slot, stops the bomb.
    assert!(
        matches!(
            &reports[2].error,
            Some(RunError::Run(Failure::Call(CallError::Sandbox(Violation::Memory { limit, .. }))))
                if *limit == 32 * MIB
        ),
        "{:?}",
        reports[2].error
    );
    // A spinning plugin yields at each epoch tick and is stopped at its
    // own CPU limit, while the others run.
    assert!(
        matches!(
            &reports[4].error,
            Some(RunError::Run(Failure::Call(CallError::Sandbox(Violation::Cpu { limit }))))
                if *limit == Duration::from_millis(300)
        ),
        "{:?}",
        reports[4].error
    );
    for failed in [0, 2, 4] {
        assert_eq!(reports[failed].outcome, Outcome::Failed);
        let seal = &reports[failed].run.as_ref().unwrap().seal.hash;
        bundle::verify(&dir.join(failed.to_string()), Some(seal)).expect("a failed run's bundle");
    }
    for ok in [1, 3, 5] {
        assert_complete_and_verified(&reports[ok], &dir.join(ok.to_string()));
        assert_eq!(reports[ok].run.as_ref().unwrap().counts["test.item"], 4);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_memory_limit_exceeds_the_pool_slot_is_refused_before_it_starts() {
    let server = ProbeServer::start(0).await;
    let host = host(1);
    let probe = host.component(Path::new(PROBE)).await.unwrap();
    let dir = scratch("above-pool");
    let mut run = probe_run(&probe, &server, "well-behaved", &dir);
    run.limits.memory_bytes = 65 * MIB;
    let report = host.run(run).await;
    assert!(
        matches!(
            report.error,
            Some(RunError::AbovePool { limit, slot }) if limit == 65 * MIB && slot == 64 * MIB
        ),
        "{:?}",
        report.error
    );
    assert!(!dir.exists(), "a refused run wrote a bundle");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_cap_of_two_six_runs_all_complete_and_never_more_than_two_at_once() {
    let server = ProbeServer::start(0).await;
    let host = host(2);
    let probe = host.component(Path::new(PROBE)).await.unwrap();
    let dir = scratch("cap");
    let runs = (0..6)
        .map(|i| probe_run(&probe, &server, "well-behaved", &dir.join(i.to_string())))
        .collect();
    let reports = run_all(&host, runs).await;
    for (i, report) in reports.iter().enumerate() {
        assert_complete_and_verified(report, &dir.join(i.to_string()));
    }
    assert_eq!(host.peak_runs(), 2, "the cap was not the limit");
    std::fs::remove_dir_all(dir).unwrap();
}

const KEY_A: &str = "embed-key-a-7c1d9e";
const KEY_B: &str = "embed-key-b-2f8a4b";

async fn sim(seed: u64, key: &str, faults: &[&str]) -> SimHandle {
    SimHandle::start(SimConfig {
        seed,
        users: 40,
        events: 200,
        api_key: key.into(),
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn atlassian_run(host: &Host, plugin: &Arc<Loaded>, sim: &SimHandle, key: &str, dir: &Path) -> Run {
    let route = format!("https://api.atlassian.com={}", sim.base_url());
    Run {
        values: [("org-id".to_owned(), sim.org_id().to_owned())].into(),
        secrets: Box::new(SecretMap::new(
            sim.org_id(),
            [("api-key".to_owned(), key.to_owned())].into(),
        )),
        reroutes: Reroutes::parse([route.as_str()]).unwrap(),
        ..Run::new(
            plugin.clone(),
            host.limits(),
            Box::new(FolderSink::new(dir)),
        )
    }
}

/// Requests (URL and body) sent more than once in a bundle's ledger:
/// retries.
fn retried(dir: &Path) -> BTreeSet<(String, Option<String>)> {
    let mut seen = BTreeSet::new();
    ledger_entries(dir)
        .into_iter()
        .map(|e| (e.exchange.url, e.exchange.request_sha256))
        .filter(|request| !seen.insert(request.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm_at_one_tenant_leaves_another_tenants_concurrent_run_unretried() {
    // Every request of tenant A's first 30 is refused with a 429.
    let storm = sim(1, KEY_A, &["429:every=1,count=30"]).await;
    let calm = sim(2, KEY_B, &[]).await;
    let host = host(4);
    let plugin = host
        .component(Path::new(ATLASSIAN_CLOUD_ADMIN))
        .await
        .unwrap();
    let dir = scratch("politeness");
    let runs = vec![
        atlassian_run(&host, &plugin, &storm, KEY_A, &dir.join("a")),
        atlassian_run(&host, &plugin, &calm, KEY_B, &dir.join("b")),
    ];
    let reports = run_all(&host, runs).await;

    let stormy = ledger_entries(&dir.join("a"));
    assert_eq!(
        stormy
            .iter()
            .filter(|e| e.exchange.status == Some(429))
            .count(),
        30,
        "tenant A saw the storm"
    );
    assert!(!retried(&dir.join("a")).is_empty(), "tenant A retried");
    assert_complete_and_verified(&reports[1], &dir.join("b"));
    let calm_ledger = ledger_entries(&dir.join("b"));
    assert!(calm_ledger.iter().all(|e| e.exchange.status == Some(200)));
    assert_eq!(retried(&dir.join("b")), BTreeSet::new(), "tenant B retried");
    assert_eq!(calm.requests_served(), calm_ledger.len() as u64);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A stand-in for an object store: each stream's bytes in memory, kept
/// when the host says the bundle is durable, `run.json` last.
#[derive(Default, Clone)]
struct MemorySink {
    objects: Arc<Mutex<BTreeMap<&'static str, Vec<u8>>>>,
    /// What the host called, in order.
    calls: Arc<Mutex<Vec<&'static str>>>,
}

/// One object being uploaded.
struct Upload {
    name: &'static str,
    bytes: Vec<u8>,
    store: MemorySink,
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        let bytes = std::mem::take(&mut self.bytes);
        self.store.objects.lock().unwrap().insert(self.name, bytes);
    }
}

impl MemorySink {
    fn upload(&self, name: &'static str) -> Box<dyn Write + Send> {
        let store = self.clone();
        Box::new(Upload {
            name,
            bytes: Vec::new(),
            store,
        })
    }

    fn call(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }

    /// The objects as a folder, for `verify`.
    fn download(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in self.objects.lock().unwrap().iter() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

impl BundleSink for MemorySink {
    fn location(&self) -> PathBuf {
        PathBuf::from("memory://bundle")
    }

    fn open(&self) -> Result<Streams, WriteError> {
        self.call("open");
        Ok(Streams {
            evidence: self.upload(bundle::EVIDENCE_FILE),
            ledger: self.upload(bundle::LEDGER_FILE),
            log: self.upload(bundle::LOG_FILE),
        })
    }

    fn durable(&self) -> Result<(), WriteError> {
        self.call("durable");
        Ok(())
    }

    fn finish(&self, run_json: &[u8]) -> Result<(), WriteError> {
        self.call("finish");
        let mut objects = self.objects.lock().unwrap();
        objects.insert(bundle::RUN_FILE, run_json.to_vec());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_streamed_to_another_store_is_sealed_over_the_bytes_it_received() {
    let server = ProbeServer::start(0).await;
    let host = host(1);
    let probe = host.component(Path::new(PROBE)).await.unwrap();
    let sink = MemorySink::default();
    let run = Run {
        sink: Box::new(sink.clone()),
        ..probe_run(&probe, &server, "well-behaved", Path::new("unused"))
    };
    let report = host.run(run).await;
    assert_eq!(report.outcome, Outcome::Complete, "{:?}", report.error);
    assert_eq!(*sink.calls.lock().unwrap(), ["open", "durable", "finish"]);
    let dir = scratch("memory-sink");
    sink.download(&dir);
    let seal = &report.run.as_ref().unwrap().seal.hash;
    let verified = bundle::verify(&dir, Some(seal)).expect("the stored bundle verifies");
    assert_eq!(verified.evidence_records, 4);
    // One byte changed in the store is caught.
    let evidence = dir.join(bundle::EVIDENCE_FILE);
    let text = std::fs::read_to_string(&evidence).unwrap();
    std::fs::write(&evidence, text.replacen("item-1", "item-9", 1)).unwrap();
    assert!(bundle::verify(&dir, Some(seal)).is_err());
    std::fs::remove_dir_all(dir).unwrap();
}
