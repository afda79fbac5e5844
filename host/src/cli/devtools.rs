//! Developer tools: `sim` serves the simulated Atlassian organization, and
//! `demo` runs the real Atlassian integration against it in the sandbox,
//! start to finish, the way an operator would.

use super::{Printer, SandboxArgs, collect_with_progress, fail};
use atlassian_sim::{Fault, SimConfig, SimHandle};
use clap::Args as ClapArgs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchdog_host::bundle;
use watchdog_host::config::RunConfig;
use watchdog_host::contract::CheckStatus;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::RunLog;
use watchdog_host::run::{Loaded, Options, exit};
use watchdog_host::runtime::Runtime;
use watchdog_host::secrets::Secret;

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
    /// Comma-separated scopes of the simulated key (default: a key without
    /// scopes, which reads everything), e.g. read:orgs:admin,read:directories:admin.
    #[arg(long, value_delimiter = ',')]
    scopes: Option<Vec<String>>,
    /// The key has expired: every request gets 401.
    #[arg(long)]
    expired_key: bool,
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
            scopes: self
                .scopes
                .as_ref()
                .map(|s| s.iter().cloned().collect::<BTreeSet<_>>()),
            latency: Duration::from_millis(self.latency_ms),
            faults,
            port,
        })
    }
}

/// `watchdog-host sim`: serves until interrupted.
pub async fn sim(port: u16, api_key: String, args: &SimArgs) -> u8 {
    let config = match args.config(api_key, port) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let sim = match SimHandle::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot start the simulator: {e}");
            return exit::HOST;
        }
    };
    println!("simulated organization {}", sim.org_id());
    println!("listening on {}", sim.base_url());
    println!(
        "collect with: --route {ATLASSIAN_ORIGIN}={} and org-id = \"{}\"",
        sim.base_url(),
        sim.org_id()
    );
    let _ = tokio::signal::ctrl_c().await;
    println!("served {} requests", sim.requests_served());
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
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };

    step(1, "starting the simulated Atlassian organization");
    let sim = match SimHandle::start(config).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: cannot start the simulator: {e}");
            return exit::HOST;
        }
    };
    println!(
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
    println!(
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
        secrets: [(
            "api-key".to_string(),
            Secret::new(api_key).expect("a generated key is printable"),
        )]
        .into(),
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
                println!("      {status:<4}  {}", check.title);
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
    let code = match bundle::verify(&collected.dir, Some(&collected.run.ledger_head)) {
        Ok(report) => {
            println!(
                "      chain, evidence hash and counts verified: {} records, {} exchanges",
                report.evidence_records, report.ledger_entries
            );
            println!();
            println!("The bundle is in {}", collected.dir.display());
            println!(
                "Re-check it any time: watchdog-host verify {} --head {}",
                collected.dir.display(),
                collected.run.ledger_head
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
            eprintln!("VERIFICATION FAILED: {e}");
            exit::VERIFY
        }
    };
    sim.shutdown().await;
    code
}

fn step(n: u8, what: &str) {
    println!();
    println!("[{n}/5] {what}");
}

/// A per-run demo key, so no fixed credential exists even in the demo.
fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}
