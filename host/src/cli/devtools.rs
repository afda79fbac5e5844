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
    /// The gateway's limiter: requests a wall-clock minute on every endpoint;
    /// beyond it, 429 with only X-RateLimit-Reset (minute precision).
    #[arg(long, value_name = "N")]
    rate_limit: Option<u64>,
    /// The largest audit-log page size served; a larger one is a 400.
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().events_max_limit)]
    events_max_limit: usize,
    /// The organization has no Atlassian Guard: the audit log answers 403.
    #[arg(long)]
    no_guard: bool,
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
            rate_limit: self.rate_limit,
            events_max_limit: self.events_max_limit,
            guard: !self.no_guard,
        })
    }
}

/// How many organizations `sim` serves on its one listener, and how they differ.
#[derive(ClapArgs, Debug)]
pub struct OrgsArgs {
    /// Organizations to serve on the one listener, each reached by the org id
    /// in the path and only with its own key. Organization 0 is the one the
    /// other flags describe; organization I has seed SEED+I and key KEY-I,
    /// and the same size, faults and everything else unless told below.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    orgs: u64,
    /// A fault for organization I only (from 0), e.g. `3:429:every=7`.
    /// Repeatable; `--fault` applies to every organization.
    #[arg(long = "org-fault", value_name = "I:SPEC")]
    org_faults: Vec<String>,
    /// Another size for organization I: users and audit events, e.g. `2:5000x50000`.
    #[arg(long = "org-size", value_name = "I:USERSxEVENTS")]
    org_sizes: Vec<String>,
    /// Write the tenants file `watchdog-worker --tenants` reads: a JSON line
    /// per organization with its id, key and the route to this listener.
    #[arg(long, value_name = "FILE")]
    tenants_out: Option<PathBuf>,
}

impl OrgsArgs {
    /// Every organization's configuration, `base` being the first's.
    fn configs(&self, base: &SimConfig) -> Result<Vec<SimConfig>, String> {
        let mut configs = base.orgs(self.orgs as usize);
        for spec in &self.org_faults {
            let (i, fault) = self.indexed("--org-fault", spec)?;
            let fault = fault
                .parse::<Fault>()
                .map_err(|e| format!("--org-fault {spec}: {e}"))?;
            configs[i].faults.push(fault);
        }
        for spec in &self.org_sizes {
            let (i, size) = self.indexed("--org-size", spec)?;
            let (users, events) = size
                .split_once('x')
                .and_then(|(u, e)| Some((u.parse().ok()?, e.parse().ok()?)))
                .ok_or_else(|| format!("--org-size {spec}: expected I:USERSxEVENTS"))?;
            (configs[i].users, configs[i].events) = (users, events);
        }
        Ok(configs)
    }

    /// `I:REST` with I an organization's index.
    fn indexed<'a>(&self, flag: &str, spec: &'a str) -> Result<(usize, &'a str), String> {
        spec.split_once(':')
            .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest)))
            .filter(|(i, _)| (*i as u64) < self.orgs)
            .ok_or_else(|| {
                format!(
                    "{flag} {spec}: expected I:… with I an organization below {}",
                    self.orgs
                )
            })
    }
}

/// `watchdog-host sim`: serves until interrupted.
pub async fn sim(port: u16, api_key: String, args: &SimArgs, orgs: &OrgsArgs) -> u8 {
    let configs = match args
        .config(api_key, port)
        .and_then(|base| orgs.configs(&base))
    {
        Ok(configs) => configs,
        Err(e) => {
            errln!("error: {e}");
            return exit::USAGE;
        }
    };
    let started = if configs.len() == 1 {
        SimHandle::start(configs.into_iter().next().expect("one")).await
    } else {
        SimHandle::start_orgs(configs).await
    };
    let sim = match started {
        Ok(sim) => sim,
        Err(e) => {
            errln!("error: cannot start the simulator: {e}");
            return exit::HOST;
        }
    };
    if let Some(path) = &orgs.tenants_out
        && let Err(e) = std::fs::File::create(path).and_then(|f| sim.write_tenants(f))
    {
        errln!("error: cannot write {}: {e}", path.display());
        return exit::HOST;
    }
    announce(&sim);
    let _ = tokio::signal::ctrl_c().await;
    outln!("served {} requests", sim.requests_served());
    sim.shutdown().await;
    exit::OK
}

/// What `sim` serves and how to reach it.
fn announce(sim: &SimHandle) {
    match sim.orgs() {
        [_] => outln!("simulated organization {}", sim.org_id()),
        orgs => outln!(
            "{} simulated organizations, the first {}",
            orgs.len(),
            sim.org_id()
        ),
    }
    outln!("listening on {}", sim.base_url());
    outln!(
        "collect with: --route {ATLASSIAN_ORIGIN}={} and org-id = \"{}\"",
        sim.base_url(),
        sim.org_id()
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        org: SimArgs,
        #[command(flatten)]
        orgs: OrgsArgs,
    }

    fn configs(args: &[&str]) -> Result<Vec<SimConfig>, String> {
        let flags = Flags::try_parse_from(["sim"].iter().chain(args)).expect("flags parse");
        let base = flags.org.config("k".into(), 0)?;
        flags.orgs.configs(&base)
    }

    #[test]
    fn org_flags_vary_one_organization_and_the_rest_are_like_the_first() {
        let configs = configs(&[
            "--orgs=3",
            "--users=40",
            "--fault=503:path=/users,count=1",
            "--org-size=1:5x7",
            "--org-fault=2:reset:every=9",
        ])
        .unwrap();
        let sizes: Vec<_> = configs.iter().map(|c| (c.users, c.events)).collect();
        assert_eq!(sizes, [(40, 3_000), (5, 7), (40, 3_000)]);
        let keys: Vec<_> = configs.iter().map(|c| c.api_key.as_str()).collect();
        assert_eq!(keys, ["k", "k-1", "k-2"]);
        let faults: Vec<_> = configs.iter().map(|c| c.faults.len()).collect();
        assert_eq!(faults, [1, 1, 2]);
    }

    #[test]
    fn an_org_flag_naming_no_served_organization_is_a_usage_error() {
        for flag in ["--org-size=3:5x7", "--org-fault=x:reset", "--org-size=1:5"] {
            let error = configs(&["--orgs=3", flag]).unwrap_err();
            assert!(
                error.starts_with(flag.split('=').next().unwrap()),
                "{error}"
            );
        }
    }
}
