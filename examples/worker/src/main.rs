//! `watchdog-worker`: every tenant of a tenants file collected at once in
//! one process. See the library's documentation for the file and output.

use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use watchdog_host::embed::{Host, HostConfig};
use watchdog_host::sandbox::Limits;
use watchdog_worker::{Summary, SummaryLine, read_tenants, run_all};

/// Collects every tenant of TENANTS at once, bundles under OUT/<tenant>/;
/// one JSON line a finished run on stdout, then a summary line. Exits 0
/// when every run completed, 1 when any did not, 2 when nothing ran.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The integration component.
    #[arg(long, value_name = "COMPONENT.wasm")]
    plugin: PathBuf,
    /// One JSON object a line: tenant, config, secrets, routes.
    #[arg(long, value_name = "TENANTS.jsonl")]
    tenants: PathBuf,
    /// Where each tenant's bundle folder goes.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Runs at once; more wait.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    max_runs: u32,
    /// Guest memory at once, MiB: each run reserves its memory limit.
    #[arg(long, default_value_t = 16384)]
    max_guest_memory_mib: u64,
    /// Each run's memory limit, MiB (also the pool's slot size).
    #[arg(long, value_name = "PER_RUN", default_value_t = 64)]
    memory_mib: u64,
    /// Admitted runs starting at once (instance to first request); more
    /// wait their turn (default: the machine's cores).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_starting: Option<u32>,
    /// Allocate instances on demand instead of from the pool.
    #[arg(long)]
    no_pooling: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(work(args)) {
        Ok(summary) if summary.complete == summary.runs => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(message) => {
            eprintln!("watchdog-worker: {message}");
            ExitCode::from(2)
        }
    }
}

async fn work(args: Args) -> Result<Summary, String> {
    let started = Instant::now();
    let tenants = read_tenants(&args.tenants).map_err(|e| e.to_string())?;
    let config = HostConfig {
        max_runs: args.max_runs as usize,
        max_guest_memory_mib: args.max_guest_memory_mib,
        limits: Limits {
            memory_bytes: args.memory_mib << 20,
            ..Limits::default()
        },
        pooling: !args.no_pooling,
        max_starting: args
            .max_starting
            .map_or(HostConfig::default().max_starting, |n| n as usize),
        cache: None,
    };
    let host = Arc::new(Host::new(config).map_err(|e| format!("engine: {e:#}"))?);
    let component = (host.component(&args.plugin).await).map_err(|e| e.to_string())?;
    let lines = run_all(host.clone(), component, tenants, &args.out, print).await;
    let summary = Summary::of(&lines, started.elapsed(), host.peak_runs());
    print(&SummaryLine {
        summary: summary.clone(),
    });
    Ok(summary)
}

/// Prints one JSON line and flushes it, so a reader sees each run as it ends.
fn print(line: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(line).expect("lines serialize")
    );
    let _ = out.flush();
}
