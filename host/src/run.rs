//! A run from start to end: what the CLI does, and what WatchDog embeds.
//!
//! [`Loaded::open`] loads a component and reads its manifest from an instance
//! with an empty grant. [`Loaded::validate`] and [`Loaded::collect`] grant what
//! the manifest asks, with the operator's configuration and secrets, in a
//! fresh instance; `collect` writes the bundle as evidence arrives and always
//! finishes it, also when the plugin fails, so a partial run is reported as
//! partial and never as an empty result. [`Options::tape`] records the
//! responses of a run, or replays a recording with no network.

use crate::bundle::{self, EvidenceWriter, HostInfo, Outcome, PluginInfo, Refused, RunRecord};
use crate::config::RunConfig;
use crate::contract::{Check, ConfigEntry, Manifest, PluginError};
use crate::egress::Reroutes;
use crate::grant::{Grant, ManifestError, check_manifest};
use crate::log::{Level, RunLog};
use crate::outbound::{Outbound, Progress};
use crate::runtime::{CallError, LoadError, Plugin, Runtime, Session, SharedEvidence};
use crate::sandbox::Limits;
use crate::tape::{OpenTape, Tape, TapeError};
use rustls::pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why a run ended badly. Each maps to its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("invalid manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("{}", describe(.0))]
    Plugin(PluginError),
    #[error(
        "the plugin emitted {rejected} invalid evidence record(s); they were refused, the first as: {first}"
    )]
    Evidence { rejected: u64, first: Refused },
    #[error(transparent)]
    Tape(#[from] TapeError),
    #[error("host I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The exit codes, one per kind of outcome. Documented in `--help` and README.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FINDINGS_FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const AUTH: u8 = 3;
    pub const SANDBOX: u8 = 4;
    pub const PLUGIN: u8 = 5;
    pub const HOST: u8 = 6;
    pub const PARTIAL: u8 = 7;
    pub const VERIFY: u8 = 8;
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) => exit::USAGE,
            Failure::Call(CallError::Sandbox(_)) => exit::SANDBOX,
            Failure::Plugin(error) => match error {
                PluginError::InvalidConfig(_) | PluginError::NotFound(_) => exit::USAGE,
                PluginError::Unauthorized(_) | PluginError::Forbidden(_) => exit::AUTH,
                _ => exit::PLUGIN,
            },
            Failure::Load(_)
            | Failure::Manifest(_)
            | Failure::Call(_)
            | Failure::Evidence { .. } => exit::PLUGIN,
            Failure::Tape(TapeError::Io { .. } | TapeError::Exists { .. }) | Failure::Io(_) => {
                exit::HOST
            }
            Failure::Tape(TapeError::Index { .. } | TapeError::Unrecorded { .. }) => exit::USAGE,
            Failure::Tape(TapeError::Tampered { .. }) => exit::VERIFY,
        }
    }

    /// The failure as JSON for `run.json` and `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            Failure::Load(_) => "load",
            Failure::Manifest(_) => "manifest",
            Failure::Config(_) => "config",
            Failure::Call(CallError::Sandbox(_)) => "sandbox",
            Failure::Call(CallError::Trap(_)) => "trap",
            Failure::Plugin(_) => "plugin",
            Failure::Evidence { .. } => "evidence",
            Failure::Tape(_) => "tape",
            Failure::Io(_) => "host",
        };
        let mut value = serde_json::json!({ "kind": kind, "message": self.to_string() });
        match self {
            Failure::Plugin(error) => {
                value["error"] = serde_json::to_value(error).unwrap_or_default();
            }
            Failure::Evidence { first, .. } => {
                value["refused"] = serde_json::to_value(first).unwrap_or_default();
            }
            _ => {}
        }
        value
    }
}

/// A plugin error in words an operator can act on.
pub fn describe(error: &PluginError) -> String {
    match error {
        PluginError::InvalidConfig(problems) => format!(
            "invalid configuration: {}",
            problems
                .iter()
                .map(|p| format!("`{}`: {}", p.field, p.problem))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        PluginError::Unauthorized(why) => format!("unauthorized: {why}"),
        PluginError::Forbidden(f) => match &f.missing {
            Some(missing) => format!(
                "forbidden: cannot read {} (grant `{missing}`): {}",
                f.resource, f.detail
            ),
            None => format!("forbidden: cannot read {}: {}", f.resource, f.detail),
        },
        PluginError::NotFound(what) => format!("not found: {what}"),
        PluginError::RateLimited(r) => match r.retry_after_ms {
            Some(ms) => format!("rate limited (retry after {ms} ms): {}", r.detail),
            None => format!("rate limited: {}", r.detail),
        },
        PluginError::Upstream(u) => format!("upstream error (HTTP {}): {}", u.status, u.detail),
        PluginError::Network(why) => format!("network: {why}"),
        PluginError::Timeout(why) => format!("timeout: {why}"),
        PluginError::Internal(why) => format!("plugin internal error: {why}"),
    }
}

/// How the host runs plugins: limits, reroutes, logging, recording.
#[derive(Clone)]
pub struct Options {
    pub limits: Limits,
    pub reroutes: Reroutes,
    pub log: RunLog,
    /// Live counts of the run in progress.
    pub progress: Arc<Progress>,
    /// Whether `validate` and `collect` record their responses or replay a
    /// recording (default: neither).
    pub tape: Tape,
    /// Certificate authorities HTTPS trusts beside the web PKI's, such as
    /// the one of an operator's TLS-inspecting proxy (default: none).
    pub trusted_roots: Vec<CertificateDer<'static>>,
}

impl Options {
    pub fn new(limits: Limits, reroutes: Reroutes, log: RunLog) -> Options {
        Options {
            limits,
            reroutes,
            log,
            progress: Arc::default(),
            tape: Tape::Live,
            trusted_roots: Vec::new(),
        }
    }

    fn outbound(
        &self,
        grant: Arc<Grant>,
        log: RunLog,
        ledger: Box<dyn std::io::Write + Send>,
        tape: OpenTape,
    ) -> Arc<Outbound> {
        Outbound::new(
            grant,
            self.limits,
            log,
            ledger,
            self.progress.clone(),
            tape,
            &self.trusted_roots,
        )
    }
}

/// A loaded component and its checked manifest.
pub struct Loaded {
    pub plugin: Plugin,
    pub manifest: Manifest,
    pub path: PathBuf,
}

impl Loaded {
    /// Loads a component and reads its manifest with nothing granted.
    pub async fn open(
        runtime: &Runtime,
        path: &Path,
        options: &Options,
    ) -> Result<Loaded, Failure> {
        let plugin = runtime.load(path)?;
        let grant = Arc::new(Grant::empty());
        let outbound = options.outbound(
            grant.clone(),
            options.log.clone(),
            Box::new(std::io::sink()),
            OpenTape::Live,
        );
        let mut session = plugin
            .instantiate(grant, options.limits, options.log.clone(), outbound, None)
            .await?;
        let manifest = session.manifest().await?;
        check_manifest(&manifest)?;
        Ok(Loaded {
            plugin,
            manifest,
            path: path.to_path_buf(),
        })
    }

    /// What the operator grants this manifest for a run.
    fn grant(&self, config: &RunConfig, options: &Options) -> Result<Arc<Grant>, Failure> {
        Ok(Arc::new(Grant::from_manifest(
            &self.manifest,
            &config.secrets,
            options.reroutes.clone(),
        )?))
    }

    /// A fresh instance with the grant, configured.
    async fn configured(
        &self,
        grant: Arc<Grant>,
        config: &RunConfig,
        options: &Options,
        outbound: Arc<Outbound>,
        evidence: Option<SharedEvidence>,
    ) -> Result<Session, Failure> {
        let log = options.log.with_scrubber(grant.scrubber.clone());
        let mut session = self
            .plugin
            .instantiate(grant, options.limits, log, outbound, evidence)
            .await?;
        let entries: Vec<ConfigEntry> = config
            .values
            .iter()
            .map(|(name, value)| ConfigEntry {
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        session
            .configure(&entries)
            .await?
            .map_err(Failure::Plugin)?;
        Ok(session)
    }

    /// The grant and an outbound whose exchanges are not kept: for runs that
    /// write no bundle (`configure`, `validate`).
    fn unledgered(
        &self,
        config: &RunConfig,
        options: &Options,
        tape: OpenTape,
    ) -> Result<(Arc<Grant>, Arc<Outbound>), Failure> {
        let grant = self.grant(config, options)?;
        let log = options.log.with_scrubber(grant.scrubber.clone());
        let outbound = options.outbound(grant.clone(), log, Box::new(std::io::sink()), tape);
        Ok((grant, outbound))
    }

    /// Configures a fresh instance and drops it: whether the plugin accepts
    /// these values, with no request made.
    pub async fn configure(&self, config: &RunConfig, options: &Options) -> Result<(), Failure> {
        let (grant, outbound) = self.unledgered(config, options, OpenTape::Live)?;
        self.configured(grant, config, options, outbound, None)
            .await
            .map(drop)
    }

    /// Diagnoses the connection.
    pub async fn validate(
        &self,
        config: &RunConfig,
        options: &Options,
    ) -> Result<Vec<Check>, Failure> {
        let (grant, outbound) = self.unledgered(config, options, options.tape.open()?)?;
        let mut session = self
            .configured(grant, config, options, outbound.clone(), None)
            .await?;
        let checks = session.validate().await?.map_err(Failure::Plugin);
        match outbound.take_replay_miss() {
            Some(miss) => Err(miss.into()),
            None => checks,
        }
    }

    /// Collects into a new bundle folder. Problems found before the bundle
    /// exists (configuration, manifest) are returned as errors; anything later
    /// is recorded in the bundle, which is always finished.
    pub async fn collect(
        &self,
        config: &RunConfig,
        options: &Options,
        out: &Path,
        checkpoint: Option<String>,
    ) -> Result<Collected, Failure> {
        let grant = self.grant(config, options)?;
        let tape = options.tape.open()?;
        let dir = bundle::create_dir(out)?;
        let started_at = crate::now_rfc3339();
        let log = options.log.with_scrubber(grant.scrubber.clone());
        log.keep_in(Box::new(std::fs::File::create(dir.join(bundle::LOG_FILE))?));
        let ledger = std::fs::File::create(dir.join(bundle::LEDGER_FILE))?;
        let outbound = options.outbound(
            grant.clone(),
            log.clone(),
            Box::new(std::io::BufWriter::new(ledger)),
            tape,
        );
        let writer = Arc::new(Mutex::new(EvidenceWriter::create(
            &dir,
            grant.evidence_kinds.clone(),
            outbound.clone(),
            grant.scrubber.clone(),
        )?));

        let mut peak_memory = 0;
        let result = match self
            .configured(
                grant.clone(),
                config,
                options,
                outbound.clone(),
                Some(writer.clone()),
            )
            .await
        {
            Err(failure) => Err(failure),
            Ok(mut session) => {
                let result = session.collect(checkpoint.as_deref()).await;
                peak_memory = session.finish();
                match result {
                    Ok(Ok(summary)) => Ok(summary),
                    Ok(Err(error)) => Err(Failure::Plugin(error)),
                    Err(error) => Err(Failure::Call(error)),
                }
            }
        };
        let totals = writer.lock().expect("evidence lock").finish()?;
        // A replay that missed a request did not see what the recorded run
        // saw, whatever the plugin made of the error.
        let result = match (outbound.take_replay_miss(), result) {
            (Some(miss), Ok(_)) | (Some(miss), Err(Failure::Plugin(_))) => Err(miss.into()),
            (_, result) => result,
        };
        // A refused record fails the run, whatever the plugin made of the
        // refusal.
        let refused = totals.first_refusal.clone().map(|first| Failure::Evidence {
            rejected: totals.rejected,
            first,
        });
        let (summary, failure) = match (result, refused) {
            (Ok(summary), refused) => (Some(summary), refused),
            (Err(Failure::Plugin(_)), Some(refused)) => (None, Some(refused)),
            (Err(failure), _) => (None, Some(failure)),
        };
        let (ledger_head, ledger_entries) = outbound.ledger_head();
        let incomplete = summary
            .as_ref()
            .is_some_and(|s| s.warnings.iter().any(|w| w.incomplete));
        let outcome = match (&failure, incomplete) {
            (Some(_), _) => Outcome::Failed,
            (None, true) => Outcome::Partial,
            (None, false) => Outcome::Complete,
        };
        let plugin_counts: BTreeMap<String, u64> = summary
            .as_ref()
            .map(|s| s.counts.iter().map(|c| (c.kind.clone(), c.count)).collect())
            .unwrap_or_default();
        if summary.is_some() && plugin_counts != totals.counts {
            log.host(
                Level::Warn,
                &format!(
                    "the plugin reported counts {plugin_counts:?} but the host received {:?}; run.json keeps the host's",
                    totals.counts
                ),
            );
        }
        let run = RunRecord {
            format: bundle::FORMAT.into(),
            plugin: PluginInfo {
                id: self.manifest.id.clone(),
                name: self.manifest.name.clone(),
                version: self.manifest.version.clone(),
                contract_version: self.plugin.contract_version.clone(),
                component_sha256: self.plugin.component_sha256.clone(),
            },
            host: HostInfo::current(),
            started_at,
            finished_at: crate::now_rfc3339(),
            config: config.values.clone(),
            secrets: config.secrets.keys().cloned().collect(),
            routes: options
                .reroutes
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string()))
                .collect(),
            tape: options.tape.clone(),
            limits: options.limits,
            outcome,
            error: failure.as_ref().map(Failure::to_json),
            evidence_records: totals.counts.values().sum(),
            counts: totals.counts,
            plugin_counts,
            evidence_sha256: totals.sha256,
            evidence_rejected: totals.rejected,
            findings: summary
                .as_ref()
                .map(|s| s.findings.clone())
                .unwrap_or_default(),
            warnings: summary
                .as_ref()
                .map(|s| s.warnings.clone())
                .unwrap_or_default(),
            checkpoint_in: checkpoint,
            checkpoint: summary.and_then(|s| s.checkpoint),
            traffic: outbound.traffic(),
            ledger_head,
            ledger_entries,
            guest_peak_memory: peak_memory,
        };
        let run = bundle::write_run(&dir, run, &grant.scrubber)?;
        log.flush();
        Ok(Collected { dir, run, failure })
    }
}

/// A finished collection: the bundle folder, its `run.json`, and the failure
/// if the run did not complete.
pub struct Collected {
    pub dir: PathBuf,
    pub run: RunRecord,
    pub failure: Option<Failure>,
}

impl Collected {
    /// The exit code for this run: a failure's own code, else partial, else
    /// whether any finding failed.
    pub fn exit_code(&self) -> u8 {
        if let Some(failure) = &self.failure {
            // A run that failed after the egress policy refused requests
            // failed because of the sandbox, whatever the plugin made of it.
            if self.run.traffic.denied > 0 {
                return exit::SANDBOX;
            }
            return failure.exit_code();
        }
        if self.run.outcome == Outcome::Partial {
            exit::PARTIAL
        } else if self
            .run
            .findings
            .iter()
            .any(|f| f.status == crate::contract::FindingStatus::Fail)
        {
            exit::FINDINGS_FAILED
        } else {
            exit::OK
        }
    }
}
