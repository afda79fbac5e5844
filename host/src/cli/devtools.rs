//! Developer tools: `sim` serves the simulated Atlassian organization, and
//! `demo` runs the real Atlassian integration against it in the sandbox,
//! start to finish, the way an operator would.

use super::print::{errln, outln};
use super::{Printer, SandboxArgs, collect_with_progress, fail};
use atlassian_sim::{Fault, Paging, SimConfig, SimHandle, guide_scopes};
use clap::Args as ClapArgs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchdog_host::config::RunConfig;
use watchdog_host::contract::CheckStatus;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::RunLog;
use watchdog_host::run::{Loaded, Options, exit};
use watchdog_host::runtime::Runtime;
use watchdog_host::secrets::Secret;
use watchdog_host::{bundle, export};

/// The public origin the simulator stands in for.
const ATLASSIAN_ORIGIN: &str = "https://api.atlassian.com";

/// What the simulated organization looks like and how it misbehaves.
#[derive(ClapArgs, Debug)]
pub struct SimArgs {
    /// Seed: the same seed builds the same organization.
    #[arg(long, default_value_t = SimConfig::default().seed)]
    seed: u64,
    /// Members of the organization.
    #[arg(long, default_value_t = SimConfig::default().users)]
    users: usize,
    /// Audit events in the log.
    #[arg(long, default_value_t = SimConfig::default().events)]
    events: usize,
    /// Delay before every response, milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    latency_ms: u64,
    /// Inject a fault, e.g. `429:every=7,burst=3`, `503:path=/users,count=1`,
    /// `reset:every=9`, `malformed:path=/domains`, `repeat-cursor:path=/users`.
    /// Repeatable; the full grammar is in the simulator's `Fault` docs.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Comma-separated scopes of the simulated key, e.g.
    /// read:orgs:admin,read:directories:admin (default: every read scope, the key
    /// WatchDog's setup guide asks customers to create).
    #[arg(long, value_delimiter = ',', conflicts_with = "unscoped_key")]
    scopes: Option<Vec<String>>,
    /// The simulated key is an API key without scopes, which reads everything.
    #[arg(long)]
    unscoped_key: bool,
    /// Endpoints for which Atlassian documents no scope (users and groups
    /// searches, v1 policies) refuse scoped keys, as they may.
    #[arg(long)]
    strict_scopes: bool,
    /// The key has expired: every request gets 401.
    #[arg(long)]
    expired_key: bool,
    /// Serve at most N records a page whatever `limit` the client asked,
    /// as a server is free to.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    page_size: Option<u64>,
    /// Put `links` and `meta` before `data` in list pages.
    #[arg(long)]
    links_first: bool,
}

impl SimArgs {
    fn config(&self, api_key: String, port: u16) -> Result<SimConfig, String> {
        let faults = self
            .faults
            .iter()
            .map(|spec| {
                spec.parse::<Fault>()
                    .map_err(|e| format!("--fault {spec}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SimConfig {
            seed: self.seed,
            users: self.users,
            events: self.events,
            api_key,
            key_expired: self.expired_key,
            scopes: match (&self.scopes, self.unscoped_key) {
                (_, true) => None,
                (Some(scopes), false) => Some(scopes.iter().cloned().collect::<BTreeSet<_>>()),
                (None, false) => Some(guide_scopes()),
            },
            strict_scopes: self.strict_scopes,
            latency: Duration::from_millis(self.latency_ms),
            faults,
            port,
            paging: Paging {
                max_page: self.page_size.map(|n| n as usize),
                links_first: self.links_first,
            },
        })
    }
}

/// `watchdog-host sim`: serves until interrupted.
pub async fn sim(port: u16, api_key: String, args: &SimArgs) -> u8 {
    let config = match args.config(api_key, port) {
        Ok(config) => config,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    let sim = match SimHandle::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            errln!("error: cannot start the simulator: {e}");
            return exit::HOST;
        }
    };
    outln!("simulated organization {}", sim.org_id());
    outln!("listening on {}", sim.base_url());
    outln!(
        "collect with: --route {ATLASSIAN_ORIGIN}={} and org-id = \"{}\"",
        sim.base_url(),
        sim.org_id()
    );
    let _ = tokio::signal::ctrl_c().await;
    outln!("served {} requests", sim.requests_served());
    sim.shutdown().await;
    exit::OK
}

/// `watchdog-host demo`: simulator, inspect, validate, collect, verify.
pub async fn demo(
    runtime: &Runtime,
    out: &Path,
    plugin: Option<PathBuf>,
    args: &SimArgs,
    sandbox: &SandboxArgs,
    log: RunLog,
    printer: &Printer,
) -> u8 {
    let plugin =
        plugin.unwrap_or_else(|| PathBuf::from(watchdog_components::ATLASSIAN_CLOUD_ADMIN));
    let api_key = format!("demo-{:016x}", rand_seed());
    let config = match args.config(api_key.clone(), 0) {
        Ok(config) => config,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };

    step(1, "starting the simulated Atlassian organization");
    let sim = match SimHandle::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            errln!("error: cannot start the simulator: {e}");
            return exit::HOST;
        }
    };
    outln!(
        "      org {} at {} ({} users, {} events, seed {})",
        sim.org_id(),
        sim.base_url(),
        args.users,
        args.events,
        args.seed
    );
    let reroutes = Reroutes::parse([format!("{ATLASSIAN_ORIGIN}={}", sim.base_url()).as_str()])
        .expect("the simulator listens on loopback");
    let options = Options::new(sandbox.limits(), reroutes, log);

    step(2, "loading the integration into the sandbox (inspect)");
    let loaded = match Loaded::open(runtime, &plugin, &options).await {
        Ok(loaded) => loaded,
        Err(failure) => return fail(&failure),
    };
    outln!(
        "      {} {} · contract {} · {:?} in {} ms · sha256 {}",
        loaded.manifest.name,
        loaded.manifest.version,
        loaded.plugin.contract_version,
        loaded.plugin.origin,
        loaded.plugin.load_time.as_millis(),
        &loaded.plugin.component_sha256[..16]
    );
    let config = RunConfig {
        values: [("org-id".to_string(), sim.org_id().to_string())].into(),
        secrets: [("api-key".to_string(), Secret::new(api_key))].into(),
    };

    step(3, "diagnosing the connection (validate)");
    match loaded.validate(&config, &options).await {
        Ok(checks) => {
            for check in &checks {
                let status = match check.status {
                    CheckStatus::Pass => "pass",
                    CheckStatus::Warn => "warn",
                    CheckStatus::Fail => "FAIL",
                };
                outln!("      {status:<4}  {}", check.title);
            }
        }
        Err(failure) => return fail(&failure),
    }

    step(4, "collecting evidence (collect)");
    let collected =
        match collect_with_progress(&loaded, &config, &options, out, None, printer.json).await {
            Ok(collected) => collected,
            Err(failure) => return fail(&failure),
        };
    printer.collected(&collected);

    step(5, "verifying the bundle (verify)");
    let code = match bundle::verify(&collected.dir, Some(&collected.run.seal.hash)) {
        Ok(report) => {
            outln!(
                "      every file verified against the head: {} records, {} exchanges",
                report.evidence_records,
                report.ledger_entries
            );
            let page = export::beside(&collected.dir, "html");
            let written = export::load(&collected.dir, Some(&collected.run.seal.hash))
                .map(|bundle| export::html::render(&bundle))
                .and_then(|html| {
                    std::fs::write(&page, html).map_err(|source| export::ExportError::Io {
                        path: page.clone(),
                        source,
                    })
                });
            match written {
                Ok(()) => outln!("      report: {} (open it in a browser)", page.display()),
                Err(e) => errln!("      the report could not be written: {e}"),
            }
            outln!();
            outln!("The bundle is in {}", collected.dir.display());
            outln!(
                "Re-check it any time: watchdog-host verify {} --head {}",
                collected.dir.display(),
                collected.run.seal.hash
            );
            // The simulated organization fails some findings on purpose; the
            // demo succeeded if the run finished and its bundle verifies.
            if collected.failure.is_some() {
                collected.exit_code()
            } else {
                exit::OK
            }
        }
        Err(e) => {
            errln!("VERIFICATION FAILED: {e}");
            exit::VERIFY
        }
    };
    sim.shutdown().await;
    code
}

fn step(n: u8, what: &str) {
    outln!();
    outln!("[{n}/5] {what}");
}

/// A per-run demo key, so no fixed credential exists even in the demo.
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
