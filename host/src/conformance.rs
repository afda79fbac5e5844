//! The conformance battery: what every integration must pass before it ships,
//! whoever wrote it and in whatever language (`watchdog-host conformance`).
//!
//! It drives the plugin through the same [`Loaded`] runs as `validate` and
//! `collect`, in the same sandbox, and judges what the host saw:
//!
//! - [`CheckId::Contract`]: the component exports the contract version its
//!   manifest claims, and this host accepts it.
//! - [`CheckId::Manifest`]: the manifest is valid and complete (labels and
//!   help for every field, a header for every secret, routes on every
//!   origin, described evidence kinds).
//! - [`CheckId::Configure`]: `configure` accepts the conformance values and
//!   refuses each required non-secret field's absence with `invalid-config`
//!   naming it.
//! - [`CheckId::ValidateUnauthorized`] and [`CheckId::CollectUnauthorized`]:
//!   against a loopback server that answers 401 to everything (every
//!   declared origin rerouted to it, dummy secrets), both return
//!   `unauthorized`, not a crash, a hang or an empty success.
//! - [`CheckId::Collect`]: a collection served from a recording
//!   (`--replay DIR`) or by the author's mock upstream (`--route
//!   ORIGIN=URL`) completes. Without either it is skipped, and so is
//!   [`CheckId::Evidence`]: a check that exercised nothing never passes.
//! - [`CheckId::Egress`]: no request in any of these runs left the declared
//!   egress.
//! - [`CheckId::Evidence`]: in a completed collection, every record emitted
//!   was well formed, of a declared kind, and a value of the 2xx body of an
//!   exchange the host carried, or of a kind declared derived (the host's
//!   evidence writer refuses anything else); the counts the plugin reported
//!   name only declared kinds and match what the host received (an honest
//!   `kind: 0` for a kind with no record matches).
//! - [`CheckId::Limits`]: no call crossed a sandbox limit.
//!
//! The operator may pass the configuration values (the plugin may need a
//! particular format); otherwise every non-secret field gets
//! [`PLACEHOLDER`]. Secrets are always [`DUMMY_SECRET`]: no real credential
//! is needed, and none could reach anything but the loopback server.

use crate::config::{self, RunConfig};
use crate::contract::{Manifest, PluginError};
use crate::egress::Reroutes;
use crate::grant::check_manifest;
use crate::ledger;
use crate::log::RunLog;
use crate::run::{Collected, Failure, Loaded, Options, describe};
use crate::runtime::{CallError, Runtime};
use crate::sandbox::Limits;
use crate::secrets::Secret;
use crate::tape::Tape;
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// The value every non-secret field gets when the operator gives none.
pub const PLACEHOLDER: &str = "conformance-placeholder";
/// The value of every secret: the loopback server refuses it anyway.
pub const DUMMY_SECRET: &str = "conformance-dummy-secret";

/// [`DUMMY_SECRET`] as a secret.
fn dummy_secret() -> Secret {
    Secret::new(DUMMY_SECRET).expect("the dummy is a valid secret")
}

/// The checks, in the order they run and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    /// The component exports the contract version it claims, and this host accepts it.
    Contract,
    /// The manifest is valid and complete ([`manifest_gaps`] finds nothing).
    Manifest,
    /// `configure` accepts the values and names each missing required field.
    Configure,
    /// `validate` answers a 401 upstream with `unauthorized`.
    ValidateUnauthorized,
    /// `collect` answers a 401 upstream with `unauthorized`.
    CollectUnauthorized,
    /// A collection from a recording or a mock upstream completes.
    Collect,
    /// No request of any run left the declared egress.
    Egress,
    /// Every record of a completed collection is well formed, declared and proven.
    Evidence,
    /// No call crossed a sandbox limit.
    Limits,
}

impl CheckId {
    /// Every check, in the order they run and print.
    pub const ALL: [CheckId; 9] = [
        CheckId::Contract,
        CheckId::Manifest,
        CheckId::Configure,
        CheckId::ValidateUnauthorized,
        CheckId::CollectUnauthorized,
        CheckId::Collect,
        CheckId::Egress,
        CheckId::Evidence,
        CheckId::Limits,
    ];

    /// The check's stable name, as in the JSON report and the table.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::Contract => "contract",
            CheckId::Manifest => "manifest",
            CheckId::Configure => "configure",
            CheckId::ValidateUnauthorized => "validate-unauthorized",
            CheckId::CollectUnauthorized => "collect-unauthorized",
            CheckId::Collect => "collect",
            CheckId::Egress => "egress",
            CheckId::Evidence => "evidence",
            CheckId::Limits => "limits",
        }
    }

    /// What passing means, for the table.
    pub fn title(self) -> &'static str {
        match self {
            CheckId::Contract => "implements the contract version it claims",
            CheckId::Manifest => "manifest complete and consistent",
            CheckId::Configure => "configure refuses missing required fields",
            CheckId::ValidateUnauthorized => "validate on HTTP 401 is `unauthorized`",
            CheckId::CollectUnauthorized => "collect on HTTP 401 is `unauthorized`",
            CheckId::Collect => "collect from a recording or a mock completes",
            CheckId::Egress => "no request outside the declared egress",
            CheckId::Evidence => "evidence well formed and of declared kinds",
            CheckId::Limits => "within the sandbox limits",
        }
    }
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Exercised, and the plugin did what the check asks.
    Pass,
    /// Exercised, and the plugin did not: the integration must not ship.
    Fail,
    /// Not exercised: an earlier check made it meaningless, or no
    /// collection completed to judge (neither a recording nor a mock was
    /// given). Neither a pass nor a failure; the report says which.
    Skip,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutcome {
    /// Which check this is.
    pub check: CheckId,
    /// How it came out.
    pub verdict: Verdict,
    /// What was observed; for a failure, what to fix.
    pub detail: String,
}

/// The battery's results, one per [`CheckId`], in order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `id version` of the plugin, when its manifest could be read.
    pub plugin: Option<String>,
    /// One outcome per check, in the order of [`CheckId::ALL`].
    pub outcomes: Vec<CheckOutcome>,
}

impl Report {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.failed().is_empty()
    }

    /// The checks that failed, in order.
    pub fn failed(&self) -> Vec<CheckId> {
        self.outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Fail)
            .map(|o| o.check)
            .collect()
    }

    /// The checks that exercised nothing, in order: neither passed nor failed.
    pub fn skipped(&self) -> Vec<CheckId> {
        self.outcomes
            .iter()
            .filter(|o| o.verdict == Verdict::Skip)
            .map(|o| o.check)
            .collect()
    }

    /// The outcome of one check; every check has one.
    pub fn outcome(&self, check: CheckId) -> &CheckOutcome {
        self.outcomes
            .iter()
            .find(|o| o.check == check)
            .expect("every check has an outcome")
    }

    /// 0 when every check passed, else 5 (plugin error).
    pub fn exit_code(&self) -> u8 {
        if self.passed() {
            crate::run::exit::OK
        } else {
            crate::run::exit::PLUGIN
        }
    }
}

/// What the battery runs with.
pub struct Setup {
    /// A TOML file of non-secret values, as for `collect`; without one every
    /// non-secret field gets [`PLACEHOLDER`].
    pub config: Option<PathBuf>,
    /// The limits judged by [`CheckId::Limits`]; the defaults unless a test
    /// needs a misbehaviour caught sooner.
    pub limits: Limits,
    /// A recording (`collect --record`) to collect from, for [`CheckId::Collect`].
    pub replay: Option<PathBuf>,
    /// Declared origins sent to the author's mock upstream, to collect
    /// from live for [`CheckId::Collect`]; empty for none.
    pub mock: Reroutes,
    /// Where the battery's bundles go (one folder per collection).
    pub work_dir: PathBuf,
    /// The run log every run of the battery writes to.
    pub log: RunLog,
}

/// Runs the battery. `Err` is kept for problems of the host or the
/// operator's input (an unreadable config file, I/O); everything the plugin
/// did is in the report.
pub async fn run(runtime: &Runtime, component: &Path, setup: &Setup) -> Result<Report, Failure> {
    let mut judge = Judge::default();
    let options = Options::new(setup.limits, Reroutes::default(), setup.log.clone());
    let loaded = match Loaded::open(runtime, component, &options).await {
        Ok(loaded) => loaded,
        Err(failure) => return judge.unopened(failure),
    };
    judge.plugin = Some(format!(
        "{} {}",
        loaded.manifest.id, loaded.manifest.version
    ));
    judge.contract(&loaded);
    judge.manifest(&loaded.manifest);

    let config = conformance_config(setup.config.as_deref(), &loaded.manifest)?;
    judge.configure(&loaded, &config, &options).await;

    let server = RefusingServer::start().await?;
    let refused = Options::new(
        setup.limits,
        server.reroutes(&loaded.manifest)?,
        setup.log.clone(),
    );
    judge.validate(&loaded, &config, &refused).await;
    judge.denied += refused.progress.denied.load(Ordering::Relaxed);
    let collected = loaded
        .collect(
            &config,
            &refused,
            &setup.work_dir.join("unauthorized"),
            None,
        )
        .await;
    judge.collect_unauthorized(collected)?;

    if let Some(dir) = &setup.replay {
        let mut replaying = Options::new(setup.limits, Reroutes::default(), setup.log.clone());
        replaying.tape = Tape::Replay(dir.clone());
        let collected = loaded
            .collect(&config, &replaying, &setup.work_dir.join("replay"), None)
            .await;
        judge.collect("the recording", collected)?;
    }
    if !setup.mock.is_empty() {
        let mocked = Options::new(setup.limits, setup.mock.clone(), setup.log.clone());
        let collected = loaded
            .collect(&config, &mocked, &setup.work_dir.join("mock"), None)
            .await;
        judge.collect("the mock", collected)?;
    }
    Ok(judge.finish(setup.limits, &loaded.manifest))
}

/// The configuration the battery runs with: the operator's values or
/// placeholders, and a dummy for every secret.
fn conformance_config(path: Option<&Path>, manifest: &Manifest) -> Result<RunConfig, Failure> {
    let dummy = config::EnvSecrets(|_: &str| Some(DUMMY_SECRET.to_string()));
    match path {
        Some(path) => Ok(config::load(Some(path), manifest, &dummy)?),
        None => Ok(RunConfig {
            values: manifest
                .config
                .iter()
                .filter(|f| !f.secret && f.required)
                .map(|f| (f.name.clone(), PLACEHOLDER.to_string()))
                .collect(),
            secrets: manifest
                .config
                .iter()
                .filter(|f| f.secret)
                .map(|f| (f.name.clone(), dummy_secret()))
                .collect(),
        }),
    }
}

/// What is wrong with a manifest that loads but is not complete: fields an
/// operator cannot fill in, secrets never sent, origins with nothing allowed.
pub fn manifest_gaps(manifest: &Manifest) -> Vec<String> {
    let mut gaps = Vec::new();
    for (what, value) in [
        ("name", &manifest.name),
        ("version", &manifest.version),
        ("description", &manifest.description),
    ] {
        if value.trim().is_empty() {
            gaps.push(format!("the manifest has no {what}"));
        }
    }
    if semver::Version::parse(&manifest.version).is_err() {
        gaps.push(format!(
            "version `{}` is not MAJOR.MINOR.PATCH",
            manifest.version
        ));
    }
    for field in &manifest.config {
        if field.label.trim().is_empty() || field.help.trim().is_empty() {
            gaps.push(format!(
                "config field `{}` needs a label and help for the operator",
                field.name
            ));
        }
        if field.secret && !manifest.secrets.iter().any(|s| s.field == field.name) {
            gaps.push(format!(
                "secret field `{}` has no secret header, so the host never sends it",
                field.name
            ));
        }
    }
    if manifest.egress.is_empty() {
        gaps.push("the manifest declares no egress: the plugin cannot read anything".into());
    }
    for rule in &manifest.egress {
        if rule.routes.is_empty() {
            gaps.push(format!(
                "origin {} is declared with no route: nothing on it is reachable",
                rule.origin
            ));
        }
    }
    if manifest.evidence_kinds.is_empty() {
        gaps.push("the manifest declares no evidence kind".into());
    }
    for kind in &manifest.evidence_kinds {
        if kind.description.trim().is_empty() {
            gaps.push(format!("evidence kind `{}` has no description", kind.name));
        }
    }
    gaps
}

/// Collects the outcomes, and what the runs saw for the checks judged at
/// the end (egress, evidence, limits).
#[derive(Default)]
struct Judge {
    plugin: Option<String>,
    outcomes: Vec<CheckOutcome>,
    /// Requests the grant's policy refused, over every run.
    denied: u64,
    /// The first refusal the ledgers explain.
    denial: Option<String>,
    evidence_problems: Vec<String>,
    records: u64,
    /// Collections that completed ([`CheckId::Collect`]).
    collected: u32,
    /// Every collection run for [`CheckId::Collect`]: where it collected
    /// from, and why it failed if it did. One row judges them all.
    collections: Vec<(&'static str, Option<String>)>,
    /// The kinds completed collections reported counts for.
    reported: std::collections::BTreeSet<String>,
    violations: Vec<String>,
}

impl Judge {
    fn record(&mut self, check: CheckId, verdict: Verdict, detail: impl Into<String>) {
        self.outcomes.push(CheckOutcome {
            check,
            verdict,
            detail: detail.into(),
        });
    }

    /// The component could not be opened: say why under the check it fails,
    /// and skip what cannot run without a manifest.
    fn unopened(mut self, failure: Failure) -> Result<Report, Failure> {
        let (check, detail) = match &failure {
            Failure::Load(e) => (CheckId::Contract, e.to_string()),
            Failure::Manifest(e) => (CheckId::Manifest, e.to_string()),
            Failure::Call(CallError::Sandbox(v)) => {
                self.violations.push(format!("manifest(): {v}"));
                (CheckId::Manifest, format!("manifest() did not return: {v}"))
            }
            Failure::Call(CallError::Trap(why)) => {
                (CheckId::Manifest, format!("manifest() crashed: {why}"))
            }
            _ => return Err(failure),
        };
        for id in CheckId::ALL {
            if id == check {
                self.record(id, Verdict::Fail, detail.clone());
            } else if id < check {
                let detail = "the component exports a contract version this host accepts";
                self.record(id, Verdict::Pass, detail);
            } else if id == CheckId::Limits && !self.violations.is_empty() {
                let detail = self.violations.join("; ");
                self.record(id, Verdict::Fail, detail);
            } else {
                self.record(id, Verdict::Skip, "not run: see the failure above");
            }
        }
        Ok(Report {
            plugin: None,
            outcomes: self.outcomes,
        })
    }

    fn contract(&mut self, loaded: &Loaded) {
        let exported = &loaded.plugin.contract_version;
        let claimed = &loaded.manifest.contract_version;
        if exported == claimed {
            self.record(
                CheckId::Contract,
                Verdict::Pass,
                format!("exports watchdog:integration@{exported}, as the manifest claims"),
            );
        } else {
            self.record(
                CheckId::Contract,
                Verdict::Fail,
                format!(
                    "exports watchdog:integration@{exported} but the manifest claims contract-version {claimed}"
                ),
            );
        }
    }

    fn manifest(&mut self, manifest: &Manifest) {
        let mut gaps = manifest_gaps(manifest);
        if let Err(e) = check_manifest(manifest) {
            gaps.insert(0, e.to_string());
        }
        if gaps.is_empty() {
            self.record(
                CheckId::Manifest,
                Verdict::Pass,
                format!(
                    "{} origin(s), {} secret header(s), {} evidence kind(s)",
                    manifest.egress.len(),
                    manifest.secrets.len(),
                    manifest.evidence_kinds.len()
                ),
            );
        } else {
            self.record(CheckId::Manifest, Verdict::Fail, gaps.join("; "));
        }
    }

    /// `configure` accepts the whole configuration, and refuses it without
    /// each required non-secret field, naming the field.
    async fn configure(&mut self, loaded: &Loaded, config: &RunConfig, options: &Options) {
        if let Err(failure) = loaded.configure(config, options).await {
            let detail = format!(
                "configure refused the conformance configuration ({}); pass --config with values it accepts",
                self.call_failure("configure", &failure)
            );
            return self.record(CheckId::Configure, Verdict::Fail, detail);
        }
        let required: Vec<&str> = loaded
            .manifest
            .config
            .iter()
            .filter(|f| f.required && !f.secret)
            .map(|f| f.name.as_str())
            .collect();
        let mut problems = Vec::new();
        for field in &required {
            let mut without = config.clone();
            without.values.remove(*field);
            match loaded.configure(&without, options).await {
                Err(Failure::Plugin(PluginError::InvalidConfig(fields)))
                    if fields.iter().any(|p| p.field == *field) => {}
                Ok(()) => problems.push(format!("accepted a configuration without `{field}`")),
                Err(failure) => problems.push(format!(
                    "without `{field}`: {} instead of invalid-config naming `{field}`",
                    self.call_failure("configure", &failure)
                )),
            }
        }
        if problems.is_empty() {
            let detail = if required.is_empty() {
                "accepts the configuration; no required non-secret field".to_string()
            } else {
                format!("refuses the absence of {}", required.join(", "))
            };
            self.record(CheckId::Configure, Verdict::Pass, detail);
        } else {
            self.record(CheckId::Configure, Verdict::Fail, problems.join("; "));
        }
    }

    async fn validate(&mut self, loaded: &Loaded, config: &RunConfig, options: &Options) {
        let (verdict, detail) = match loaded.validate(config, options).await {
            Err(Failure::Plugin(PluginError::Unauthorized(why))) => {
                (Verdict::Pass, format!("unauthorized: {why}"))
            }
            Ok(checks) => (
                Verdict::Fail,
                format!(
                    "returned {} check(s) instead of the unauthorized error, though every request was refused",
                    checks.len()
                ),
            ),
            Err(failure) => (
                Verdict::Fail,
                format!(
                    "{} instead of unauthorized",
                    self.call_failure("validate", &failure)
                ),
            ),
        };
        self.record(CheckId::ValidateUnauthorized, verdict, detail);
    }

    fn collect_unauthorized(
        &mut self,
        collected: Result<Collected, Failure>,
    ) -> Result<(), Failure> {
        let (verdict, detail) = match self.observe(collected)? {
            Some(Failure::Plugin(PluginError::Unauthorized(why))) => {
                (Verdict::Pass, format!("unauthorized: {why}"))
            }
            None => (
                Verdict::Fail,
                "completed, though every request was refused: a rejected credential must be an error, not an empty result".to_string(),
            ),
            Some(failure) => (
                Verdict::Fail,
                format!(
                    "{} instead of unauthorized",
                    self.call_failure("collect", &failure)
                ),
            ),
        };
        self.record(CheckId::CollectUnauthorized, verdict, detail);
        Ok(())
    }

    /// A collection that must complete, from `from` (the recording or the
    /// mock). Its evidence is what [`CheckId::Evidence`] judges.
    fn collect(
        &mut self,
        from: &'static str,
        collected: Result<Collected, Failure>,
    ) -> Result<(), Failure> {
        let failure = match self.observe(collected)? {
            None => {
                self.collected += 1;
                None
            }
            Some(failure) => Some(self.call_failure("collect", &failure)),
        };
        self.collections.push((from, failure));
        Ok(())
    }

    /// The one [`CheckId::Collect`] row: skipped with no collection, failed
    /// naming each source whose collection failed, else passed naming them
    /// all.
    fn judge_collections(&mut self) {
        if self.collections.is_empty() {
            let detail = "no collection to judge: give a recording (--replay DIR of a `collect --record`) or a mock upstream (--route ORIGIN=URL)";
            self.record(CheckId::Collect, Verdict::Skip, detail);
            return;
        }
        let failures: Vec<String> = self
            .collections
            .iter()
            .filter_map(|(from, failure)| Some(format!("from {from}: {}", failure.as_ref()?)))
            .collect();
        if failures.is_empty() {
            let sources: Vec<&str> = self.collections.iter().map(|(from, _)| *from).collect();
            let detail = format!(
                "the collection from {} completed",
                sources.join(" and from ")
            );
            self.record(CheckId::Collect, Verdict::Pass, detail);
        } else {
            self.record(CheckId::Collect, Verdict::Fail, failures.join("; "));
        }
    }

    /// Takes in what a collection saw for the final checks; returns its
    /// failure. A failure before the bundle existed is the host's or the
    /// operator's, not the plugin's, and ends the battery.
    fn observe(
        &mut self,
        collected: Result<Collected, Failure>,
    ) -> Result<Option<Failure>, Failure> {
        let collected = collected?;
        let run = &collected.run;
        if run.traffic.denied > 0 {
            // A ledger that cannot be read still counts every refusal.
            let refusals = policy_refusals(&collected.dir).unwrap_or(PolicyRefusals {
                count: run.traffic.denied,
                first: None,
            });
            self.denied += refusals.count;
            self.denial = self.denial.take().or(refusals.first);
        }
        self.records += run.evidence_records;
        if run.evidence_rejected > 0 {
            let why = collected
                .failure
                .as_ref()
                .map_or_else(String::new, |f| format!(": {f}"));
            self.evidence_problems
                .push(format!("{} record(s) refused{why}", run.evidence_rejected));
        }
        if collected.failure.is_none() {
            self.reported.extend(run.plugin_counts.keys().cloned());
            if !counts_agree(&run.plugin_counts, &run.counts) {
                self.evidence_problems.push(format!(
                    "the plugin reported counts {:?} but emitted {:?}",
                    run.plugin_counts, run.counts
                ));
            }
        }
        Ok(collected.failure)
    }

    /// A failed call in words; a sandbox violation is also noted for
    /// [`CheckId::Limits`].
    fn call_failure(&mut self, call: &str, failure: &Failure) -> String {
        match failure {
            Failure::Call(CallError::Sandbox(v)) => {
                self.violations.push(format!("{call}: {v}"));
                format!("a sandbox violation ({v})")
            }
            Failure::Call(CallError::Trap(why)) => format!("a crash ({why})"),
            Failure::Plugin(error) => describe(error),
            other => other.to_string(),
        }
    }

    fn finish(mut self, limits: Limits, manifest: &Manifest) -> Report {
        if self.denied == 0 {
            self.record(
                CheckId::Egress,
                Verdict::Pass,
                "every request was within the declared origins, methods and paths",
            );
        } else {
            let why = self.denial.clone().unwrap_or_default();
            self.record(
                CheckId::Egress,
                Verdict::Fail,
                format!(
                    "{} request(s) refused by the egress policy: {why}",
                    self.denied
                ),
            );
        }
        self.judge_collections();
        let undeclared: Vec<&String> = self
            .reported
            .iter()
            .filter(|kind| !manifest.evidence_kinds.iter().any(|k| &k.name == *kind))
            .collect();
        if !undeclared.is_empty() {
            self.evidence_problems.push(format!(
                "the summary counts kinds the manifest does not declare: {undeclared:?}"
            ));
        }
        if !self.evidence_problems.is_empty() {
            let detail = self.evidence_problems.join("; ");
            self.record(CheckId::Evidence, Verdict::Fail, detail);
        } else if self.collected == 0 {
            let detail = "not exercised: no collection completed (see collect)";
            self.record(CheckId::Evidence, Verdict::Skip, detail);
        } else {
            let detail = format!("{} record(s) emitted, none refused", self.records);
            self.record(CheckId::Evidence, Verdict::Pass, detail);
        }
        if self.violations.is_empty() {
            self.record(
                CheckId::Limits,
                Verdict::Pass,
                format!(
                    "no limit crossed (memory {} MiB, CPU {} s and wall clock {} s per call)",
                    limits.memory_bytes >> 20,
                    limits.cpu_per_call.as_secs_f64(),
                    limits.wall_per_call.as_secs_f64()
                ),
            );
        } else {
            let detail = self.violations.join("; ");
            self.record(CheckId::Limits, Verdict::Fail, detail);
        }
        self.outcomes.sort_by_key(|o| o.check);
        Report {
            plugin: self.plugin,
            outcomes: self.outcomes,
        }
    }
}

/// Whether the plugin's counts are the host's: the same kinds with the same
/// numbers, where a kind reported as 0 and never received agrees (an honest
/// zero: the host only counts what arrives).
fn counts_agree(reported: &BTreeMap<String, u64>, received: &BTreeMap<String, u64>) -> bool {
    let nonzero = |counts: &BTreeMap<String, u64>| -> BTreeMap<String, u64> {
        counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    };
    nonzero(reported) == nonzero(received)
}

/// The requests a bundle's ledger says the host refused on the grant's
/// account ([`ledger::Refusal::is_policy`]); a name that did not resolve or
/// a request body over the cap is not the plugin reaching beyond its
/// manifest.
struct PolicyRefusals {
    count: u64,
    /// The first, in words.
    first: Option<String>,
}

/// The policy refusals in `bundle`'s ledger, if it can be read and verified.
fn policy_refusals(bundle: &Path) -> Option<PolicyRefusals> {
    let file = std::fs::File::open(bundle.join(crate::bundle::LEDGER_FILE)).ok()?;
    let chain = ledger::verify(std::io::BufReader::new(file)).ok()?;
    let mut refused = chain
        .entries
        .into_iter()
        .filter(|e| e.exchange.refusal.is_some_and(ledger::Refusal::is_policy));
    let first = refused.next().map(|e| {
        format!(
            "{} {}: {}",
            e.exchange.method,
            e.exchange.url,
            e.exchange.detail.unwrap_or_default()
        )
    });
    Some(PolicyRefusals {
        count: u64::from(first.is_some()) + refused.count() as u64,
        first,
    })
}

/// A loopback server that answers every request with 401, the way an API
/// answers a revoked key. Stops when dropped.
struct RefusingServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RefusingServer {
    async fn start() -> std::io::Result<RefusingServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let service = service_fn(|_request| async {
                        hyper::Response::builder()
                            .status(401)
                            .header("content-type", "application/json")
                            .header("www-authenticate", "Bearer realm=\"conformance\"")
                            .body(Full::new(Bytes::from_static(
                                br#"{"code":401,"message":"Unauthorized: the credential was rejected"}"#,
                            )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(RefusingServer { addr, task })
    }

    /// Every origin the manifest declares, sent here.
    fn reroutes(&self, manifest: &Manifest) -> Result<Reroutes, Failure> {
        let specs: Vec<String> = manifest
            .egress
            .iter()
            .map(|rule| format!("{}=http://{}", rule.origin, self.addr))
            .collect();
        Reroutes::parse(specs.iter().map(String::as_str))
            .map_err(|e| Failure::Config(config::ConfigError::Invalid(vec![e.to_string()])))
    }
}

impl Drop for RefusingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::watchdog::integration::types::{
        ConfigField, EgressRule, EvidenceKind, Route, SecretHeader,
    };

    fn complete() -> Manifest {
        Manifest {
            id: "example".into(),
            name: "Example".into(),
            version: "1.2.3".into(),
            contract_version: "0.1.0".into(),
            description: "Reads an example.".into(),
            config: vec![ConfigField {
                name: "token".into(),
                label: "Token".into(),
                help: "From the settings page.".into(),
                required: true,
                secret: true,
            }],
            egress: vec![EgressRule {
                origin: "https://api.example.com".into(),
                routes: vec![Route {
                    method: "GET".into(),
                    path: "/items".into(),
                }],
            }],
            secrets: vec![SecretHeader {
                field: "token".into(),
                origin: "https://api.example.com".into(),
                header: "authorization".into(),
                template: "Bearer {token}".into(),
            }],
            evidence_kinds: vec![EvidenceKind {
                name: "example.item".into(),
                description: "An item.".into(),
            }],
        }
    }

    #[test]
    fn a_complete_manifest_has_no_gaps() {
        assert_eq!(manifest_gaps(&complete()), Vec::<String>::new());
    }

    #[test]
    fn a_secret_never_sent_is_a_gap() {
        let mut m = complete();
        m.secrets.clear();
        assert_eq!(
            manifest_gaps(&m),
            ["secret field `token` has no secret header, so the host never sends it"]
        );
    }

    #[test]
    fn undescribed_kinds_unhelpful_fields_and_empty_origins_are_gaps() {
        let mut m = complete();
        m.evidence_kinds[0].description.clear();
        m.config[0].help.clear();
        m.egress[0].routes.clear();
        m.version = "1.2".into();
        assert_eq!(manifest_gaps(&m).len(), 4, "{:?}", manifest_gaps(&m));
    }

    #[test]
    fn placeholders_fill_required_fields_and_dummies_every_secret() {
        let mut m = complete();
        m.config.push(ConfigField {
            name: "org".into(),
            label: "Org".into(),
            help: "The org.".into(),
            required: true,
            secret: false,
        });
        let config = conformance_config(None, &m).unwrap();
        assert_eq!(config.values["org"], PLACEHOLDER);
        assert_eq!(config.secrets["token"].expose(), DUMMY_SECRET);
    }

    #[test]
    fn an_honest_zero_agrees_with_no_record_and_a_wrong_count_does_not() {
        let counts = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        let received = counts(&[("acme.user", 3)]);
        assert!(counts_agree(
            &counts(&[("acme.user", 3), ("acme.member", 0)]),
            &received
        ));
        assert!(!counts_agree(&counts(&[("acme.user", 2)]), &received));
        assert!(!counts_agree(
            &counts(&[("acme.user", 3), ("acme.member", 1)]),
            &received
        ));
    }

    #[test]
    fn only_policy_refusals_fail_the_egress_check() {
        let bundle = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(bundle.path().join(crate::bundle::LEDGER_FILE)).unwrap();
        let mut ledger = ledger::LedgerWriter::new(file);
        let denied = |seq, refusal, detail: &str| ledger::Exchange {
            outcome: ledger::Outcome::Denied,
            status: None,
            bytes: 0,
            body_sha256: None,
            refusal: Some(refusal),
            detail: Some(detail.into()),
            ..ledger::tests::exchange(seq, 200)
        };
        ledger
            .append(denied(0, ledger::Refusal::Dns, "DNS lookup failed"))
            .unwrap();
        ledger.append(ledger::tests::exchange(1, 200)).unwrap();
        ledger
            .append(denied(2, ledger::Refusal::Egress, "origin not declared"))
            .unwrap();
        let refused = policy_refusals(bundle.path()).unwrap();
        assert_eq!(refused.count, 1);
        assert_eq!(
            refused.first.as_deref(),
            Some("GET https://api.example.com/items?page=2: origin not declared")
        );
    }

    #[test]
    fn a_report_with_one_failure_exits_as_a_plugin_error() {
        let report = Report {
            plugin: None,
            outcomes: vec![
                CheckOutcome {
                    check: CheckId::Contract,
                    verdict: Verdict::Pass,
                    detail: String::new(),
                },
                CheckOutcome {
                    check: CheckId::Collect,
                    verdict: Verdict::Skip,
                    detail: String::new(),
                },
                CheckOutcome {
                    check: CheckId::Egress,
                    verdict: Verdict::Fail,
                    detail: String::new(),
                },
            ],
        };
        assert_eq!(report.failed(), [CheckId::Egress]);
        assert_eq!(report.exit_code(), crate::run::exit::PLUGIN);
    }
}
