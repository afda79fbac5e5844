//! The simulated organization every measurement runs against, on loopback.
//!
//! It is served from a tokio runtime of its own: the measured side (the
//! host's runtime, or the native transport's) never shares a task queue with
//! it, and the memory probe, a separate process, measures the host alone.

use anyhow::Context;
use atlassian_sim::{SimConfig, SimHandle, SimOrg};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The origin the integration's manifest names; the simulator stands in for it.
pub const API_ORIGIN: &str = "https://api.atlassian.com";

/// The simulator's key. Synthetic, like everything the simulator serves.
pub const API_KEY: &str = "bench-api-key";

/// A running simulator; dropping it stops the server.
pub struct Sim {
    handle: Option<SimHandle>,
    runtime: tokio::runtime::Runtime,
}

impl Sim {
    /// Generates the organization (default seed, default size of every kind
    /// but users and events) and serves it with `latency` before each response.
    pub fn start(users: usize, events: usize, latency: Duration) -> anyhow::Result<Sim> {
        let config = SimConfig {
            users,
            events,
            latency,
            api_key: API_KEY.to_owned(),
            ..SimConfig::default()
        };
        Sim::serve(SimHandle::start(config))
    }

    /// `n` organizations of the default size on one listener (seeds from the
    /// default one, keys `bench-api-key-I`), each built before this returns so
    /// no run pays for it, with `latency` before each response.
    pub fn start_orgs(n: usize, latency: Duration) -> anyhow::Result<Sim> {
        let base = SimConfig {
            latency,
            api_key: API_KEY.to_owned(),
            ..SimConfig::default()
        };
        let sim = Sim::serve(SimHandle::start_orgs(base.orgs(n)))?;
        for org in sim.orgs() {
            org.population();
        }
        Ok(sim)
    }

    /// Serves what `start` starts from a runtime of its own.
    fn serve(start: impl Future<Output = std::io::Result<SimHandle>>) -> anyhow::Result<Sim> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("sim")
            .enable_all()
            .build()
            .context("starting the simulator's runtime")?;
        let handle = runtime.block_on(start).context("starting the simulator")?;
        Ok(Sim {
            handle: Some(handle),
            runtime,
        })
    }

    /// Every organization served.
    pub fn orgs(&self) -> &[SimOrg] {
        self.handle().orgs()
    }

    /// Writes the worker's tenants file for the first `n` organizations.
    pub fn write_tenants(&self, path: &Path, n: usize) -> anyhow::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for tenant in self.handle().tenants().take(n) {
            serde_json::to_writer(&mut out, &tenant)?;
            out.write_all(b"\n")?;
        }
        out.flush()
            .with_context(|| format!("writing {}", path.display()))
    }

    fn handle(&self) -> &SimHandle {
        self.handle.as_ref().expect("present until dropped")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.handle().base_url()
    }

    pub fn org_id(&self) -> String {
        self.handle().org_id().to_owned()
    }

    /// The reroute `watchdog-host --route` takes: `ORIGIN=URL`.
    pub fn route(&self) -> String {
        format!("{API_ORIGIN}={}", self.base_url())
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.runtime.block_on(handle.shutdown());
        }
    }
}
