//! One timed collection of a simulated organization, either side: natively
//! (the plugin's logic, [`NativeTransport`], [`JsonlSink`]) or in the sandbox
//! (the component in the host, a bundle). Both must read the whole
//! organization; a run that did not is an error, never a figure.

use crate::native::{JsonlSink, NativeTransport};
use crate::sandboxed::Sandboxed;
use crate::scratch::Scratch;
use crate::sim::Sim;
use anyhow::{Context, bail};
use atlassian_cloud_admin::{ConfigEntry, Integration, Transport};
use std::time::{Duration, Instant};
use watchdog_host::run::Collected;

/// What one collection took and produced.
pub struct Timed {
    pub elapsed: Duration,
    /// CPU time of the whole process meanwhile, every thread: the
    /// collection's and the simulator's, which share the machine's cores.
    pub cpu: Duration,
    pub records: u64,
}

/// CPU time this process has used so far, user and system, every thread:
/// fields 14 and 15 of `/proc/self/stat` (Linux), in ticks of 10 ms.
pub fn process_cpu() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .context("reading /proc/self/stat (Linux only)")?;
    // The command name may hold spaces; the fields after it do not.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        let field = fields.get(i).context("a short /proc/self/stat")?;
        field.parse().context("a CPU time in /proc/self/stat")
    };
    // `after_name` starts at field 3, so field n is at index n - 3.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// Collections of one simulated organization.
pub struct Runs<'a> {
    pub sim: &'a Sim,
    host: &'a tokio::runtime::Runtime,
    sandboxed: Sandboxed,
    scratch: &'a Scratch,
}

impl<'a> Runs<'a> {
    /// Loads the component for `sim` (untimed: start-up is figure 3's).
    pub fn new(
        sim: &'a Sim,
        host: &'a tokio::runtime::Runtime,
        wasm: &watchdog_host::runtime::Runtime,
        scratch: &'a Scratch,
    ) -> anyhow::Result<Runs<'a>> {
        let sandboxed = host.block_on(Sandboxed::open(wasm, &sim.route(), &sim.org_id()))?;
        Ok(Runs {
            sim,
            host,
            sandboxed,
            scratch,
        })
    }

    /// A native collection through a fresh keep-alive transport.
    pub fn native(&self) -> anyhow::Result<Timed> {
        let (timed, _) = self.native_through(|sim| NativeTransport::new(sim.base_url()))?;
        Ok(timed)
    }

    /// A native collection through the transport `connect` makes, which is
    /// timed with it.
    pub fn native_through<T: Transport>(
        &self,
        connect: impl FnOnce(&Sim) -> anyhow::Result<T>,
    ) -> anyhow::Result<(Timed, T)> {
        let dir = self.scratch.fresh("native")?;
        let cpu = process_cpu()?;
        let started = Instant::now();
        let mut transport = connect(self.sim)?;
        let mut integration = Integration::new();
        integration
            .configure(vec![ConfigEntry {
                name: "org-id".into(),
                value: self.sim.org_id(),
            }])
            .map_err(|e| anyhow::anyhow!("configure: {e:?}"))?;
        let mut sink = JsonlSink::create(&dir).context("creating the native output")?;
        let summary = integration
            .collect(&mut transport, &mut sink, None)
            .map_err(|e| anyhow::anyhow!("the native collection failed: {e:?}"))?;
        sink.finish().context("writing the native output")?;
        let elapsed = started.elapsed();
        let cpu = process_cpu()? - cpu;
        if let Some(warning) = summary.warnings.iter().find(|w| w.incomplete) {
            bail!("the native collection was incomplete: {warning:?}");
        }
        let timed = Timed {
            elapsed,
            cpu,
            records: summary.counts.iter().map(|c| c.count).sum(),
        };
        Ok((timed, transport))
    }

    /// A sandboxed collection into a fresh bundle folder, which is kept
    /// until the next sandboxed run (figure 2 reads its ledger).
    pub fn sandboxed(&self) -> anyhow::Result<(Timed, Collected)> {
        let dir = self.scratch.fresh("sandboxed")?;
        let cpu = process_cpu()?;
        let started = Instant::now();
        let collected = self.host.block_on(self.sandboxed.collect(&dir))?;
        let timed = Timed {
            elapsed: started.elapsed(),
            cpu: process_cpu()? - cpu,
            records: collected.run.evidence_records,
        };
        Ok((timed, collected))
    }
}

/// Refuses to compare collections that did not read the same records.
pub fn same_records(native: &Timed, sandboxed: &Timed) -> anyhow::Result<()> {
    if native.records != sandboxed.records {
        bail!(
            "not the same collection: {} records natively, {} in the sandbox",
            native.records,
            sandboxed.records
        );
    }
    Ok(())
}
