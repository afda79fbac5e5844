//! `watchdog-bench`: what the sandbox costs, measured side by side in one run
//! and printed as one table (or `--json`). Run it with `./scripts/bench`.
//!
//! 1. [`overhead`]: the same collection natively and in the sandbox.
//! 2. [`latency`]: a collection with latency against its critical path.
//! 3. [`startup`]: first compile, and cached load + instantiate + manifest.
//! 4. [`memory`]: host peak RSS and guest memory at growing sizes.
//! 5. [`headroom`]: the simulator against a plain HTTP client.
//! 6. [`tenants`]: a thousand concurrent runs in one worker, and a
//!    hundreds-of-runs load as processes beside it.
//!
//! Everything runs on loopback against the simulated organization
//! ([`sim`]). Figures are never asserted in tests: timings belong here.

mod children;
mod critical;
mod headroom;
mod latency;
mod memory;
mod native;
mod overhead;
mod report;
mod runs;
mod sandboxed;
mod scratch;
mod sim;
mod startup;
mod tenants;

use clap::{Parser, Subcommand, ValueEnum};
use memory::Size;
use report::{Figure, Machine};
use runs::Runs;
use scratch::Scratch;
use sim::Sim;
use std::process::ExitCode;
use std::time::Duration;

/// Benchmarks the WatchDog sandbox: overhead against native, the latency
/// bound, start-up, memory, and the simulator's headroom. Prints one table.
///
/// Sizes default to the published figures (README.md, "Performance"); pass
/// smaller ones for a quick run, e.g. `--users 2000 --events 20000 --pairs 2
/// --memory-sizes 1000x10000,2000x20000 --startup-runs 10`.
#[derive(Parser, Debug)]
#[command(name = "watchdog-bench", args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    probe: Option<Probe>,
    /// The figures to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Measure>,
    /// Users of the organization in figures 1, 2 and 5.
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    /// Audit events of the organization in figures 1, 2 and 5.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Native/sandboxed pairs in figure 1 (at least 5 for a published
    /// figure; more make the median steadier on a shared machine).
    #[arg(long, default_value_t = 7)]
    pairs: usize,
    /// Simulated latency per request in figure 2, milliseconds.
    #[arg(long, default_value_t = 50)]
    latency_ms: u64,
    /// Organization sizes of figure 4, USERSxEVENTS, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "5000x100000,50000x1000000"
    )]
    memory_sizes: Vec<Size>,
    /// Cached starts timed in figure 3.
    #[arg(long, default_value_t = 50)]
    startup_runs: usize,
    /// Concurrent runs (tenants, each its own organization) in one worker in
    /// figure 6.
    #[arg(long, default_value_t = 1_000)]
    tenants: usize,
    /// Runs of figure 6's comparison: as separate processes and in the worker.
    #[arg(long, default_value_t = 200)]
    process_runs: usize,
    /// Simulated latency per request in figure 6, milliseconds.
    #[arg(long, default_value_t = 100)]
    tenants_latency_ms: u64,
    /// Print the raw figures as JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    Overhead,
    Latency,
    Startup,
    Memory,
    Headroom,
    Tenants,
}

#[derive(Subcommand, Debug)]
enum Probe {
    /// One sandboxed collection in this fresh process, for figure 4.
    #[command(hide = true)]
    MemoryProbe(memory::ProbeArgs),
    /// Runs the commands on stdin at once from this small process, for figure 6.
    #[command(hide = true)]
    SpawnProbe,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.probe {
        Some(Probe::MemoryProbe(probe)) => memory::probe(probe),
        Some(Probe::SpawnProbe) => children::probe(),
        None => bench(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> anyhow::Result<()> {
    let wants = |m: Measure| args.only.is_empty() || args.only.contains(&m);
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    anyhow::ensure!(args.startup_runs > 0, "--startup-runs must be at least 1");
    let machine = Machine::detect();
    let host = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let scratch = Scratch::new("run")?;
    let wasm = sandboxed::runtime(&scratch.fresh("cache")?)?;
    let mut figures: Vec<Figure> = Vec::new();

    // Figures 1 and 5 read the same organization, served without latency.
    let still = (wants(Measure::Overhead) || wants(Measure::Headroom))
        .then(|| Sim::start(args.users, args.events, Duration::ZERO))
        .transpose()?;
    let still_runs = still
        .as_ref()
        .map(|sim| Runs::new(sim, &host, &wasm, &scratch))
        .transpose()?;
    if let Some(runs) = &still_runs
        && wants(Measure::Overhead)
    {
        figures.push(overhead::run(runs, args.users, args.events, args.pairs)?);
    }
    if wants(Measure::Latency) {
        let latency = Duration::from_millis(args.latency_ms);
        let sim = Sim::start(args.users, args.events, latency)?;
        let runs = Runs::new(&sim, &host, &wasm, &scratch)?;
        figures.push(latency::run(&runs, args.users, args.events, latency)?);
    }
    if wants(Measure::Startup) {
        figures.push(startup::run(&host, &scratch, args.startup_runs)?);
    }
    if wants(Measure::Memory) {
        figures.push(memory::run(&host, &scratch, &args.memory_sizes)?);
    }
    if let Some(runs) = &still_runs
        && wants(Measure::Headroom)
    {
        figures.push(headroom::run(runs)?);
    }
    drop(still_runs);
    drop(still);
    if wants(Measure::Tenants) {
        let settings = tenants::Settings {
            tenants: args.tenants,
            process_runs: args.process_runs,
            latency: Duration::from_millis(args.tenants_latency_ms),
        };
        figures.push(tenants::run(&settings, &scratch, machine.cores)?);
    }

    if args.json {
        report::print_json(&machine, &figures);
    } else {
        report::print_table(&machine, &figures);
    }
    Ok(())
}
