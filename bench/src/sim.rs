//! The simulated organization every measurement runs against, on loopback.
//!
//! It is served from a tokio runtime of its own: the measured side (the
//! host's runtime, or the native transport's) never shares a task queue with
//! it, and the memory probe, a separate process, measures the host alone.

use anyhow::Context;
use atlassian_sim::{SimConfig, SimHandle};
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("sim")
            .enable_all()
            .build()
            .context("starting the simulator's runtime")?;
        let config = SimConfig {
            users,
            events,
            latency,
            api_key: API_KEY.to_owned(),
            ..SimConfig::default()
        };
        let handle = runtime
            .block_on(SimHandle::start(config))
            .context("starting the simulator")?;
        Ok(Sim {
            handle: Some(handle),
            runtime,
        })
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
