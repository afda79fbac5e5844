//! The integration in the sandbox, run as `watchdog-host collect` runs it:
//! the built component, default limits, `--route` to the simulator, the key
//! as a secret the host injects, and [`Loaded::collect`] into a bundle folder.

use crate::sim::API_KEY;
use anyhow::{Context, bail};
use std::path::Path;
use watchdog_host::bundle::Outcome;
use watchdog_host::cache::Cache;
use watchdog_host::config::RunConfig;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::run::{Collected, Loaded, Options};
use watchdog_host::runtime::Runtime;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::{Scrubber, Secret};

/// The Atlassian integration, built by `components/`.
pub fn component() -> &'static Path {
    Path::new(watchdog_components::ATLASSIAN_CLOUD_ADMIN)
}

/// Options as the CLI builds them: default limits, warnings on stderr.
pub fn options(route: Option<&str>) -> anyhow::Result<Options> {
    let reroutes = Reroutes::parse(route).context("the simulator's route")?;
    Ok(Options::new(
        Limits::default(),
        reroutes,
        RunLog::new(Some(Level::Warn), Scrubber::default()),
    ))
}

/// A loaded integration, configured for one simulated organization.
pub struct Sandboxed {
    loaded: Loaded,
    options: Options,
    config: RunConfig,
}

impl Sandboxed {
    /// Loads the component through `runtime` (and its cache, as the CLI does).
    pub async fn open(runtime: &Runtime, route: &str, org_id: &str) -> anyhow::Result<Sandboxed> {
        let options = options(Some(route))?;
        let loaded = Loaded::open(runtime, component(), &options)
            .await
            .context("loading the integration")?;
        let config = RunConfig {
            values: [("org-id".to_owned(), org_id.to_owned())].into(),
            secrets: [(
                "api-key".to_owned(),
                Secret::new(API_KEY).expect("the benchmark key"),
            )]
            .into(),
        };
        Ok(Sandboxed {
            loaded,
            options,
            config,
        })
    }

    /// Collects into the bundle folder `out`; fails unless the run completed.
    pub async fn collect(&self, out: &Path) -> anyhow::Result<Collected> {
        let collected = self
            .loaded
            .collect(&self.config, &self.options, out, None)
            .await
            .context("collecting")?;
        if let Some(failure) = &collected.failure {
            bail!("the sandboxed collection failed: {failure}");
        }
        if collected.run.outcome != Outcome::Complete {
            bail!(
                "the sandboxed collection was {:?}: {:?}",
                collected.run.outcome,
                collected.run.warnings
            );
        }
        Ok(collected)
    }
}

/// A runtime whose precompiled components live in `cache_dir`.
pub fn runtime(cache_dir: &Path) -> anyhow::Result<Runtime> {
    Runtime::new(Some(Cache::new(cache_dir.to_path_buf())))
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("starting the WebAssembly runtime")
}
