//! Figure 4, memory: the host's peak resident set and the guest's peak
//! linear memory for a sandboxed collection, at several sizes of the
//! organization, to show both stay flat as it grows (the integration and the
//! host stream pages; neither buffers the organization).
//!
//! Each size runs in a fresh process (this binary's hidden `memory-probe`
//! command), so its peak (`VmHWM`) is that collection's alone; the simulator
//! stays in this process, out of the measured one. The component comes from a
//! cache warmed beforehand, as in any CLI run after the first, so compiling
//! is not part of the peak. Targets: host under 200 MiB, guest under 64 MiB.

use crate::report::{Figure, Row, count, mib};
use crate::sandboxed::{Sandboxed, component, options, runtime};
use crate::scratch::Scratch;
use crate::sim::Sim;
use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use watchdog_host::run::Loaded;

const HOST_TARGET_MIB: f64 = 200.0;
const GUEST_TARGET_MIB: f64 = 64.0;

/// An organization's size: `USERSxEVENTS`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Size {
    pub users: usize,
    pub events: usize,
}

impl FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        let (users, events) = s
            .split_once('x')
            .ok_or_else(|| format!("{s:?} is not USERSxEVENTS"))?;
        let number = |n: &str| n.parse().map_err(|e| format!("{n:?}: {e}"));
        Ok(Size {
            users: number(users)?,
            events: number(events)?,
        })
    }
}

/// What the probe process reports on stdout.
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    host_peak_rss_bytes: u64,
    host_rss_before_collect_bytes: u64,
    guest_peak_memory_bytes: u64,
    records: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct Sized {
    size: Size,
    #[serde(flatten)]
    measured: Measured,
}

/// The hidden command's arguments: where the simulator is and where to write.
#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    #[arg(long)]
    route: String,
    #[arg(long)]
    org_id: String,
    #[arg(long)]
    cache_dir: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

pub fn run(
    host: &tokio::runtime::Runtime,
    scratch: &Scratch,
    sizes: &[Size],
) -> anyhow::Result<Figure> {
    let cache_dir = scratch.fresh("memory-cache")?;
    host.block_on(Loaded::open(
        &runtime(&cache_dir)?,
        component(),
        &options(None)?,
    ))?;
    let mut results = Vec::new();
    for &size in sizes {
        eprintln!(
            "figure 4: {} users, {} events in a fresh process",
            size.users, size.events
        );
        let sim = Sim::start(size.users, size.events, Duration::ZERO)?;
        let out = scratch.fresh("memory-bundle")?;
        let output = Command::new(std::env::current_exe()?)
            .arg("memory-probe")
            .args(["--route", &sim.route(), "--org-id", &sim.org_id()])
            .arg("--cache-dir")
            .arg(&cache_dir)
            .arg("--out")
            .arg(&out)
            .stderr(Stdio::inherit())
            .output()
            .context("running the memory probe")?;
        if !output.status.success() {
            bail!("the memory probe failed ({})", output.status);
        }
        let measured: Measured =
            serde_json::from_slice(&output.stdout).context("the memory probe's report")?;
        results.push(Sized { size, measured });
    }
    ensure!(!results.is_empty(), "no memory size given");
    let mut rows: Vec<Row> = results
        .iter()
        .map(|r| {
            let host = mib(r.measured.host_peak_rss_bytes);
            let guest = mib(r.measured.guest_peak_memory_bytes);
            Row::target(
                &format!(
                    "4 memory, {} users / {} events",
                    count(r.size.users as u64),
                    count(r.size.events as u64)
                ),
                format!(
                    "host peak {host:.1} MiB ({:.1} before collect), guest {guest:.1} MiB",
                    mib(r.measured.host_rss_before_collect_bytes)
                ),
                "host < 200 MiB, guest < 64 MiB",
                host < HOST_TARGET_MIB && guest < GUEST_TARGET_MIB,
            )
        })
        .collect();
    if let [first, .., last] = results.as_slice() {
        let growth = |f: fn(&Measured) -> u64| mib(f(&last.measured)) - mib(f(&first.measured));
        rows.push(Row::info(
            "  growth, smallest to largest size",
            format!(
                "host {:+.1} MiB, guest {:+.1} MiB for {:.0}x the records",
                growth(|m| m.host_peak_rss_bytes),
                growth(|m| m.guest_peak_memory_bytes),
                last.measured.records as f64 / first.measured.records as f64
            ),
        ));
    }
    Ok(Figure {
        name: "memory",
        rows,
        data: serde_json::json!({ "sizes": results }),
    })
}

/// The hidden `memory-probe` command: one sandboxed collection, then its
/// numbers as JSON on stdout.
pub fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let host = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let wasm = runtime(&args.cache_dir)?;
    let sandboxed = host.block_on(Sandboxed::open(&wasm, &args.route, &args.org_id))?;
    let before = status_bytes("VmRSS")?;
    let started = Instant::now();
    let collected = host.block_on(sandboxed.collect(&args.out))?;
    let measured = Measured {
        host_peak_rss_bytes: status_bytes("VmHWM")?,
        host_rss_before_collect_bytes: before,
        guest_peak_memory_bytes: collected.run.guest_peak_memory,
        records: collected.run.evidence_records,
        seconds: started.elapsed().as_secs_f64(),
    };
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

/// A `kB` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("reading /proc/self/status (Linux only)")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kib| kib * 1024)
        .with_context(|| format!("no {field} in /proc/self/status"))
}
