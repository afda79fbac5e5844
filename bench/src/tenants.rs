//! Figure 6, many tenants: N concurrent runs of the default organization in
//! one `watchdog-worker` (the embedding API's example binary), against one
//! in-process simulator serving N organizations with a fixed latency on
//! every request. Targets (issue #19), on this machine: the worker's peak RSS
//! under 4 MiB a run; the total wall time within 1.2x of the larger of one
//! run's wall time alone and the CPU floor (N x one run's CPU alone in the
//! worker / cores, plus the simulator's CPU over the same work / cores); run
//! start p99 under 5 ms. Beside it, the same K-run load as K concurrent
//! `watchdog-host collect` processes and in the worker.
//!
//! Every run's bundle must verify against the seal it reported and hold
//! exactly its own organization's users and audit events: a figure from a
//! wrong run is an error, never a figure.

use crate::children::{self, Job, Usage};
use crate::report::{Figure, Row, count, mib, millis, secs};
use crate::runs::process_cpu;
use crate::scratch::Scratch;
use crate::sim::{API_ORIGIN, Sim};
use anyhow::{Context, bail, ensure};
use atlassian_sim::{SimOrg, tenant_name};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use watchdog_host::bundle::{self, Outcome, Record};

/// Total wall time against the larger of one run alone and the CPU floor.
const TARGET_RATIO: f64 = 1.2;
/// Worker peak RSS a run.
const TARGET_MIB_A_RUN: f64 = 4.0;
/// Run start (instantiate to first request), 99th percentile.
const TARGET_START_P99_MS: f64 = 5.0;
/// Runs one after another in one worker whose median is "one run alone".
const SOLO_RUNS: usize = 10;
/// Each run's guest memory limit, MiB (the worker's default): the worker's
/// guest-memory cap is set to N times it, so every run is admitted at once.
const RUN_MEMORY_MIB: usize = 64;
/// The secret variable `watchdog-host collect` reads the key from.
const KEY_VARIABLE: &str = "WATCHDOG_SECRET_ATLASSIAN_CLOUD_ADMIN_API_KEY";

/// What figure 6 runs.
pub struct Settings {
    /// Concurrent runs in the worker.
    pub tenants: usize,
    /// Runs of the side-by-side comparison with processes.
    pub process_runs: usize,
    /// Before every response.
    pub latency: Duration,
}

/// One finished run, as the worker prints it.
#[derive(Debug, Deserialize)]
struct RunLine {
    tenant: String,
    outcome: String,
    #[serde(default)]
    error: serde_json::Value,
    seal: Option<String>,
    records: u64,
    /// Waiting for room under the worker's caps (all are submitted at once).
    queued_ms: f64,
    /// From admission to the report.
    wall_ms: f64,
    /// The run's own polls only (not its connections or evidence writer).
    cpu_ms: f64,
}

impl RunLine {
    /// When the run ended, from when every run was submitted.
    fn end_ms(&self) -> f64 {
        self.queued_ms + self.wall_ms
    }
}

/// The worker's last line.
#[derive(Debug, Deserialize, Serialize)]
struct Summary {
    runs: u64,
    complete: u64,
    failed: u64,
    /// The whole process's, compiling the component included.
    wall_ms: f64,
    cpu_ms: f64,
    peak_rss_kib: Option<u64>,
    /// None if no run sent a request.
    start_p50_ms: Option<f64>,
    start_p99_ms: Option<f64>,
    /// Runs at once at most.
    peak_runs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Line {
    Summary { summary: Summary },
    Run(RunLine),
}

/// One worker process: its runs, its summary, and the kernel's account.
struct WorkerRun {
    /// Where its bundles are, one folder a tenant.
    out: PathBuf,
    runs: Vec<RunLine>,
    summary: Summary,
    usage: Usage,
    elapsed: Duration,
}

/// The binaries measured, built beside this one (`./scripts/bench` builds them).
struct Binaries {
    worker: PathBuf,
    host: PathBuf,
}

impl Binaries {
    fn beside_this_one() -> anyhow::Result<Binaries> {
        let this = std::env::current_exe()?;
        let find = |name: &str| -> anyhow::Result<PathBuf> {
            let path = this.with_file_name(name);
            ensure!(
                path.exists(),
                "{} is missing: build it with `cargo build --release --bin {name}` \
                 (./scripts/bench does)",
                path.display()
            );
            Ok(path)
        };
        Ok(Binaries {
            worker: find("watchdog-worker")?,
            host: find("watchdog-host")?,
        })
    }
}

/// Everything the figure measures against.
struct Bench<'a> {
    sim: &'a Sim,
    bins: Binaries,
    scratch: &'a Scratch,
    /// Organization index by tenant name.
    tenants: HashMap<String, usize>,
}

/// One run alone in the worker.
struct Alone {
    /// The worker's own start: the engine, compiling the component.
    startup_ms: f64,
    wall_ms: f64,
    /// The worker's CPU a run, every thread.
    cpu_ms: f64,
    /// The run's own polls only, as the worker reports it.
    polls_cpu_ms: f64,
    records: u64,
}

#[derive(Serialize)]
struct Side {
    runs: usize,
    wall_secs: f64,
    cpu_secs: f64,
    peak_rss_mib: f64,
}

#[derive(Serialize)]
struct Data {
    tenants: usize,
    latency_ms: u64,
    cores: usize,
    records_a_run: u64,
    worker_startup_secs: f64,
    solo_wall_secs: f64,
    solo_cpu_ms: f64,
    solo_polls_cpu_ms: f64,
    /// From submitting every run to the last one's end.
    wall_secs: f64,
    worker_elapsed_secs: f64,
    worker_cpu_secs: f64,
    simulator_cpu_secs: f64,
    floor_runs_secs: f64,
    floor_simulator_secs: f64,
    floor_secs: f64,
    bound_secs: f64,
    ratio: f64,
    peak_rss_mib: f64,
    peak_rss_mib_a_run: f64,
    start_p50_ms: f64,
    start_p99_ms: f64,
    summary: Summary,
    processes: Side,
    worker: Side,
    target_ratio: f64,
    target_mib_a_run: f64,
    target_start_p99_ms: f64,
}

pub fn run(settings: &Settings, scratch: &Scratch, cores: usize) -> anyhow::Result<Figure> {
    let n = settings.tenants;
    let k = settings.process_runs;
    ensure!(
        n > 0 && k > 0,
        "--tenants and --process-runs must be at least 1"
    );
    let orgs = n.max(k).max(SOLO_RUNS + 1);
    eprintln!("figure 6: building {orgs} organizations");
    let sim = Sim::start_orgs(orgs, settings.latency)?;
    let bench = Bench {
        sim: &sim,
        bins: Binaries::beside_this_one()?,
        scratch,
        tenants: (0..orgs).map(|i| (tenant_name(i), i)).collect(),
    };

    eprintln!("figure 6: one run alone in the worker, {SOLO_RUNS} times");
    let alone = bench.alone()?;

    eprintln!("figure 6: {n} concurrent runs in one worker");
    let cpu = process_cpu()?;
    let many = bench.worker("many", n, n)?;
    let simulator_cpu = process_cpu()? - cpu;
    eprintln!("figure 6: verifying {n} bundles against their organizations");
    bench.check_worker(&many, n)?;

    eprintln!("figure 6: {k} runs as {k} concurrent collect processes");
    let processes = bench.processes(k)?;
    eprintln!("figure 6: the same {k} runs in one worker");
    let side = bench.worker("side", k, k)?;
    bench.check_worker(&side, k)?;

    let floor_runs = n as f64 * alone.cpu_ms / 1000.0 / cores as f64;
    let floor_simulator = secs(simulator_cpu) / cores as f64;
    let floor = floor_runs + floor_simulator;
    let bound = floor.max(alone.wall_ms / 1000.0);
    let wall = many.runs.iter().map(RunLine::end_ms).fold(0.0, f64::max) / 1000.0;
    let peak = peak_rss_mib(&many)?;
    let data = Data {
        tenants: n,
        latency_ms: settings.latency.as_millis() as u64,
        cores,
        records_a_run: alone.records,
        worker_startup_secs: alone.startup_ms / 1000.0,
        solo_wall_secs: alone.wall_ms / 1000.0,
        solo_cpu_ms: alone.cpu_ms,
        solo_polls_cpu_ms: alone.polls_cpu_ms,
        wall_secs: wall,
        worker_elapsed_secs: secs(many.elapsed),
        worker_cpu_secs: secs(many.usage.cpu),
        simulator_cpu_secs: secs(simulator_cpu),
        floor_runs_secs: floor_runs,
        floor_simulator_secs: floor_simulator,
        floor_secs: floor,
        bound_secs: bound,
        ratio: wall / bound,
        peak_rss_mib: peak,
        peak_rss_mib_a_run: peak / n as f64,
        start_p50_ms: many.summary.start_p50_ms.context("no run sent a request")?,
        start_p99_ms: many.summary.start_p99_ms.context("no run sent a request")?,
        summary: many.summary,
        processes,
        worker: Side {
            runs: k,
            wall_secs: secs(side.elapsed),
            cpu_secs: secs(side.usage.cpu),
            peak_rss_mib: peak_rss_mib(&side)?,
        },
        target_ratio: TARGET_RATIO,
        target_mib_a_run: TARGET_MIB_A_RUN,
        target_start_p99_ms: TARGET_START_P99_MS,
    };
    Ok(Figure {
        name: "tenants",
        rows: rows(&data),
        data: serde_json::to_value(&data)?,
    })
}

fn rows(d: &Data) -> Vec<Row> {
    let n = count(d.tenants as u64);
    vec![
        Row::target(
            &format!("6 tenants: {n} runs in one worker, memory"),
            format!(
                "{:.0} MiB peak RSS, {:.2} MiB a run",
                d.peak_rss_mib, d.peak_rss_mib_a_run
            ),
            "< 4 MiB a run",
            d.peak_rss_mib_a_run < TARGET_MIB_A_RUN,
        ),
        Row::target(
            &format!("  time ({} ms a request)", d.latency_ms),
            format!(
                "{:.2}x: {:.1} s vs max(one run alone {:.2} s, CPU floor {:.1} s)",
                d.ratio, d.wall_secs, d.solo_wall_secs, d.floor_secs
            ),
            "<= 1.2x",
            d.ratio <= TARGET_RATIO,
        ),
        Row::info(
            "  CPU floor",
            format!(
                "{n} x {:.0} ms a run alone / {} cores = {:.1} s, + simulator {:.1} s / {} = {:.1} s",
                d.solo_cpu_ms,
                d.cores,
                d.floor_runs_secs,
                d.simulator_cpu_secs,
                d.cores,
                d.floor_simulator_secs
            ),
        ),
        Row::info(
            "  the worker process",
            format!(
                "{:.1} s ({:.1} s start-up, compiling the component), {:.1} s CPU; a run alone: {:.2} s, {:.0} ms CPU ({:.0} ms in its own polls), {} records",
                d.worker_elapsed_secs,
                d.worker_startup_secs,
                d.worker_cpu_secs,
                d.solo_wall_secs,
                d.solo_cpu_ms,
                d.solo_polls_cpu_ms,
                count(d.records_a_run)
            ),
        ),
        Row::target(
            "  run start (instantiate to first request)",
            format!(
                "p99 {:.2} ms, p50 {:.2} ms ({} at once at most)",
                d.start_p99_ms,
                d.start_p50_ms,
                d.summary.peak_runs.map_or("?".into(), count)
            ),
            "p99 < 5 ms",
            d.start_p99_ms < TARGET_START_P99_MS,
        ),
        Row::info(
            &format!("  {} runs as processes / in the worker", d.processes.runs),
            format!(
                "wall {:.1} / {:.1} s, CPU {:.1} / {:.1} s, peak RSS {:.0} (summed) / {:.0} MiB",
                d.processes.wall_secs,
                d.worker.wall_secs,
                d.processes.cpu_secs,
                d.worker.cpu_secs,
                d.processes.peak_rss_mib,
                d.worker.peak_rss_mib
            ),
        ),
    ]
}

impl Bench<'_> {
    /// One run alone: [`SOLO_RUNS`] runs one after another in one worker
    /// (`--max-runs 1`). Its wall time is their median; its CPU is the
    /// worker's CPU beyond a worker of one run, a run's share, as the
    /// kernel counts it (the run's own polls, its connections, its evidence
    /// writer), without the component's compilation every worker pays once.
    fn alone(&self) -> anyhow::Result<Alone> {
        let one = self.worker("alone-1", 1, 1)?;
        self.check_worker(&one, 1)?;
        let many = self.worker("alone", SOLO_RUNS + 1, 1)?;
        self.check_worker(&many, SOLO_RUNS + 1)?;
        let median = |f: fn(&RunLine) -> f64| {
            let values: Vec<f64> = many.runs.iter().map(f).collect();
            crate::report::Spread::of(&values).median
        };
        Ok(Alone {
            startup_ms: millis(one.elapsed) - one.runs[0].end_ms(),
            wall_ms: median(|r| r.wall_ms),
            cpu_ms: millis(many.usage.cpu.saturating_sub(one.usage.cpu)) / SOLO_RUNS as f64,
            polls_cpu_ms: median(|r| r.cpu_ms),
            records: many.runs[0].records,
        })
    }

    /// Runs the worker on the first `n` tenants, `max_runs` at once, into
    /// the fresh folder `name`.
    fn worker(&self, name: &str, n: usize, max_runs: usize) -> anyhow::Result<WorkerRun> {
        let dir = self.scratch.fresh(name)?;
        let tenants = dir.join("tenants.jsonl");
        self.sim.write_tenants(&tenants, n)?;
        let stderr = dir.join("worker.stderr");
        let out = dir.join("out");
        let started = Instant::now();
        let mut child = Command::new(&self.bins.worker)
            .arg("--plugin")
            .arg(watchdog_components::ATLASSIAN_CLOUD_ADMIN)
            .arg("--tenants")
            .arg(&tenants)
            .arg("--out")
            .arg(&out)
            .arg("--max-runs")
            .arg(max_runs.to_string())
            .arg("--memory-mib")
            .arg(RUN_MEMORY_MIB.to_string())
            .arg("--max-guest-memory-mib")
            .arg((max_runs * RUN_MEMORY_MIB).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&stderr)?)
            .spawn()
            .with_context(|| format!("starting {}", self.bins.worker.display()))?;
        let stdout = child.stdout.take().context("the worker's stdout")?;
        let lines: Vec<String> = BufReader::new(stdout).lines().collect::<Result<_, _>>()?;
        let (code, usage) = children::wait(child)?;
        let elapsed = started.elapsed();
        parse_worker(&lines, out, usage, elapsed)
            .with_context(|| format!("the worker exited {code}; {}", tail(&stderr)))
    }

    /// Every run of `worker` complete, once per tenant, and its bundle sound
    /// and exactly its organization's; then the bundles are removed (a
    /// thousand take gigabytes).
    fn check_worker(&self, worker: &WorkerRun, n: usize) -> anyhow::Result<()> {
        let tenants: BTreeSet<&str> = worker.runs.iter().map(|r| r.tenant.as_str()).collect();
        ensure!(
            worker.runs.len() == n && tenants.len() == n && worker.summary.runs == n as u64,
            "{} run lines for {} tenants, summary {} runs: expected {n}",
            worker.runs.len(),
            tenants.len(),
            worker.summary.runs
        );
        let checks: Vec<(String, String, PathBuf)> = worker
            .runs
            .iter()
            .map(|run| {
                ensure!(
                    run.outcome == "complete",
                    "{}: {} ({})",
                    run.tenant,
                    run.outcome,
                    run.error
                );
                let seal = run.seal.clone().context("a complete run without a seal")?;
                Ok((run.tenant.clone(), seal, worker.out.join(&run.tenant)))
            })
            .collect::<anyhow::Result<_>>()?;
        self.check_bundles(&checks)?;
        std::fs::remove_dir_all(&worker.out)?;
        Ok(())
    }

    /// [`check_bundle`] for every `(tenant, seal, folder)`, on every core.
    fn check_bundles(&self, bundles: &[(String, String, PathBuf)]) -> anyhow::Result<()> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = bundles.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = bundles
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter().try_for_each(|(tenant, seal, dir)| {
                            let org = self.org(tenant)?;
                            check_bundle(dir, seal, org)
                                .with_context(|| format!("tenant {tenant}: {}", dir.display()))
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|h| h.join().expect("a check panicked"))
        })
    }

    fn org(&self, tenant: &str) -> anyhow::Result<&SimOrg> {
        let index = self
            .tenants
            .get(tenant)
            .with_context(|| format!("a run for an unknown tenant {tenant:?}"))?;
        Ok(&self.sim.orgs()[*index])
    }

    /// The first `k` tenants as `k` concurrent `watchdog-host collect`
    /// processes sharing a compile cache warmed beforehand: the wall time of
    /// all, and their summed CPU and summed peak RSS.
    fn processes(&self, k: usize) -> anyhow::Result<Side> {
        let dir = self.scratch.fresh("processes")?;
        // Untimed: the first load compiles the component into the cache.
        let warm_up = children::at_once(&[self.collect_job(&dir, 0, "warm-up")?])?;
        self.check_process(&dir, "warm-up", tenant_name(0), warm_up.ended[0].0)?;
        let jobs: Vec<Job> = (0..k)
            .map(|i| self.collect_job(&dir, i, &tenant_name(i)))
            .collect::<anyhow::Result<_>>()?;
        let batch = children::at_once(&jobs)?;
        let usage = batch
            .ended
            .iter()
            .fold(Usage::default(), |sum, (_, used)| sum + *used);
        let bundles = batch
            .ended
            .iter()
            .enumerate()
            .map(|(i, (code, _))| self.check_process(&dir, &tenant_name(i), tenant_name(i), *code))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.check_bundles(&bundles)?;
        std::fs::remove_dir_all(&dir)?;
        Ok(Side {
            runs: k,
            wall_secs: secs(batch.wall),
            cpu_secs: secs(usage.cpu),
            peak_rss_mib: mib(usage.peak_rss_kib * 1024),
        })
    }

    /// `watchdog-host collect` of organization `i` into `dir/name`, its
    /// output beside it.
    fn collect_job(&self, dir: &Path, i: usize, name: &str) -> anyhow::Result<Job> {
        let org = &self.sim.orgs()[i];
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, format!("org-id = \"{}\"\n", org.org_id()))?;
        let path = |p: PathBuf| p.to_string_lossy().into_owned();
        Ok(Job {
            program: self.bins.host.clone(),
            args: vec![
                "--json".into(),
                "--cache-dir".into(),
                path(dir.join("cache")),
                "collect".into(),
                watchdog_components::ATLASSIAN_CLOUD_ADMIN.into(),
                "--config".into(),
                path(config),
                "--route".into(),
                format!("{API_ORIGIN}={}", self.sim.base_url()),
                "--out".into(),
                path(dir.join(name)),
            ],
            env: vec![(KEY_VARIABLE.into(), org.api_key().into())],
            stdout: dir.join(format!("{name}.json")),
            stderr: dir.join(format!("{name}.stderr")),
        })
    }

    /// A collect process that exited 0 or 1 (findings failed, as the
    /// simulated organization's do): its `(tenant, seal, folder)`.
    fn check_process(
        &self,
        dir: &Path,
        name: &str,
        tenant: String,
        code: i32,
    ) -> anyhow::Result<(String, String, PathBuf)> {
        let stderr = dir.join(format!("{name}.stderr"));
        ensure!(
            code <= 1,
            "collect for {tenant} exited {code}: {}",
            tail(&stderr)
        );
        let printed: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json")))?)
                .with_context(|| format!("collect for {tenant} printed no JSON"))?;
        let seal = printed["head"]
            .as_str()
            .with_context(|| format!("collect for {tenant} printed no head"))?;
        Ok((tenant, seal.to_owned(), dir.join(name)))
    }
}

/// The worker's own peak RSS (`VmHWM`; see [`children`] for why not the
/// kernel's account of a child).
fn peak_rss_mib(worker: &WorkerRun) -> anyhow::Result<f64> {
    let kib = worker
        .summary
        .peak_rss_kib
        .context("the worker reported no peak RSS")?;
    Ok(kib as f64 / 1024.0)
}

/// The worker's lines: a run line per run, then the summary.
fn parse_worker(
    lines: &[String],
    out: PathBuf,
    usage: Usage,
    elapsed: Duration,
) -> anyhow::Result<WorkerRun> {
    let mut runs = Vec::new();
    let mut summary = None;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str(line).with_context(|| format!("a worker line: {line}"))? {
            Line::Run(run) => runs.push(run),
            Line::Summary { summary: s } => summary = Some(s),
        }
    }
    Ok(WorkerRun {
        out,
        runs,
        summary: summary.context("the worker printed no summary")?,
        usage,
        elapsed,
    })
}

/// A bundle that verifies against `seal`, of a complete run, whose users and
/// audit events are exactly `org`'s.
fn check_bundle(dir: &Path, seal: &str, org: &SimOrg) -> anyhow::Result<()> {
    let report = bundle::verify(dir, Some(seal))?;
    ensure!(
        report.outcome == Outcome::Complete,
        "the bundle says {:?}",
        report.outcome
    );
    let ids = ids_by_kind(dir)?;
    let pop = org.population();
    let users: BTreeSet<String> = pop.users().iter().map(|u| u.account_id.clone()).collect();
    let events: BTreeSet<String> = (0..pop.event_count())
        .map(|i| pop.event(i)["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    for (kind, truth) in [("atlassian.user", users), ("atlassian.event", events)] {
        if ids.get(kind) != Some(&truth) {
            bail!(
                "its {kind} records are not its organization's: {} read, {} expected",
                ids.get(kind).map_or(0, BTreeSet::len),
                truth.len()
            );
        }
    }
    Ok(())
}

/// Record ids per kind in the bundle's evidence.
fn ids_by_kind(dir: &Path) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let file = File::open(dir.join(bundle::EVIDENCE_FILE))?;
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in BufReader::new(file).lines() {
        let record: Record = serde_json::from_str(&line?)?;
        ids.entry(record.kind).or_default().insert(record.id);
    }
    Ok(ids)
}

/// The last lines of a child's stderr, for an error.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines[lines.len().saturating_sub(10)..].join("\n");
    format!("stderr ({}):\n{last}", path.display())
}
