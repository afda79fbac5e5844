//! A run from start to end: what the CLI does, and what WatchDog embeds.
//!
//! [`Loaded::open`] loads a component and reads its manifest from an instance
//! with an empty grant. [`Loaded::validate`] and [`Loaded::collect`] grant what
//! the manifest asks, with the operator's configuration and secrets, in a
//! fresh instance; `collect` writes the bundle as evidence arrives and always
//! finishes it, also when the plugin fails, so a partial run is reported as
//! partial and never as an empty result. [`Options::tape`] records the
//! responses of a run, or replays a recording with no network.

use crate::bundle::{
    self, EvidenceTotals, EvidenceWriter, HostInfo, Outcome, PluginInfo, Refused, RunRecord,
    WriteError,
};
use crate::config::RunConfig;
use crate::contract::{Check, ConfigEntry, Manifest, PluginError};
use crate::egress::{EgressError, Reroutes};
use crate::grant::{Grant, ManifestError, check_manifest};
use crate::log::{Level, RunLog};
use crate::outbound::Outbound;
use crate::progress::Progress;
use crate::runtime::{CallError, LoadError, Plugin, Runtime, Session, SharedEvidence};
use crate::sandbox::Limits;
use crate::seal::FileHashes;
use crate::sink::{BundleSink, FolderSink, blocking};
use crate::tape::{OpenTape, Tape, TapeError};
use rustls::pki_types::CertificateDer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Why a run ended badly. Each maps to its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The component could not be loaded as an integration.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The plugin's manifest asks for something the host does not grant.
    #[error("invalid manifest: {0}")]
    Manifest(#[from] ManifestError),
    /// The operator's configuration or secrets cannot be used.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A `--route` the manifest gives no meaning to.
    #[error(transparent)]
    Reroute(EgressError),
    /// A call into the plugin broke a sandbox limit or trapped.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The plugin returned an error of the contract's.
    #[error("{}", describe(.0))]
    Plugin(PluginError),
    /// The plugin emitted records the host refused to write.
    #[error(
        "the plugin emitted {rejected} invalid evidence record(s); they were refused, the first as: {first}"
    )]
    Evidence {
        /// How many records were refused.
        rejected: u64,
        /// Why the first was, as the operator can act on it.
        first: Refused,
    },
    /// The recording could not be written, or a replay could not serve the run.
    #[error(transparent)]
    Tape(#[from] TapeError),
    /// The host's own I/O failed.
    #[error("host I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The bundle could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The exit codes, one per kind of outcome. Documented in `--help` and README.
pub mod exit {
    /// Declares [`Exit`] once: each code's doc comment is its meaning, which
    /// `--help` prints, so the codes and their description cannot drift.
    macro_rules! codes {
        ($($(#[doc = $doc:literal])+ $variant:ident = $code:literal as $constant:ident,)+) => {
            /// How a run ended, as the process's exit code.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            #[repr(u8)]
            pub enum Exit {
                $($(#[doc = $doc])+ $variant = $code,)+
            }

            impl Exit {
                /// Every code, in order.
                pub const ALL: &[Exit] = &[$(Exit::$variant,)+];

                /// What the code means, as its doc comment says.
                pub fn meaning(self) -> String {
                    let lines: &[&str] = match self {
                        $(Exit::$variant => &[$($doc),+],)+
                    };
                    lines.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ")
                }
            }

            $(
                #[doc = concat!("The code of [`Exit::", stringify!($variant), "`].")]
                pub const $constant: u8 = Exit::$variant as u8;
            )+
        };
    }

    codes! {
        /// success: the run completed and no finding failed
        Ok = 0 as OK,
        /// the run completed and at least one finding failed
        FindingsFailed = 1 as FINDINGS_FAILED,
        /// invalid configuration or usage (also: the configured object was
        /// not found, or a replayed recording lacks a request)
        Usage = 2 as USAGE,
        /// unauthorized or forbidden: the credential was rejected or lacks
        /// a permission
        Auth = 3 as AUTH,
        /// sandbox violation: memory, CPU or time limit, or a request the
        /// egress policy refused
        Sandbox = 4 as SANDBOX,
        /// plugin error: not an integration, bad manifest, crash, upstream
        /// failure, invalid evidence
        Plugin = 5 as PLUGIN,
        /// host error: I/O or the runtime itself
        Host = 6 as HOST,
        /// partial: the run finished but some resources could not be read
        /// (see warnings), or it was interrupted (SIGINT, SIGTERM, SIGHUP):
        /// the bundle is finished and says so, the checkpoint is left as it
        /// was
        Partial = 7 as PARTIAL,
        /// verification failed: the bundle (or a replayed recording) was
        /// edited or is incomplete
        Verify = 8 as VERIFY,
        /// stopped at once by a second signal: the bundle is unfinished (no
        /// run.json)
        Stopped = 130 as STOPPED,
    }

    impl From<Exit> for u8 {
        fn from(exit: Exit) -> u8 {
            exit as u8
        }
    }

    /// The exit codes as `--help` lists them.
    pub fn help() -> String {
        let mut text = String::from("Exit codes:");
        for exit in Exit::ALL {
            text.push_str(&format!("\n{:>3}  {}", *exit as u8, exit.meaning()));
        }
        text
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_codes_are_the_documented_numbers() {
            let codes: Vec<u8> = Exit::ALL.iter().map(|e| *e as u8).collect();
            assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 130]);
            assert_eq!(
                Exit::Partial.meaning(),
                "partial: the run finished but some resources could not be read (see warnings), or it was interrupted (SIGINT, SIGTERM, SIGHUP): the bundle is finished and says so, the checkpoint is left as it was"
            );
        }
    }
}

impl Failure {
    /// The process exit code for this failure ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) | Failure::Reroute(_) => exit::USAGE,
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
            Failure::Tape(TapeError::Io { .. } | TapeError::Exists { .. })
            | Failure::Io(_)
            | Failure::Write(_) => exit::HOST,
            Failure::Tape(TapeError::Index { .. } | TapeError::Unrecorded { .. }) => exit::USAGE,
            Failure::Tape(TapeError::Tampered { .. }) => exit::VERIFY,
        }
    }

    /// The failure as JSON for `run.json` and `--json`.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = match self {
            Failure::Load(_) => "load",
            Failure::Manifest(_) => "manifest",
            Failure::Config(_) | Failure::Reroute(_) => "config",
            Failure::Call(CallError::Sandbox(_)) => "sandbox",
            Failure::Call(CallError::Trap(_)) => "trap",
            Failure::Plugin(_) => "plugin",
            Failure::Evidence { .. } => "evidence",
            Failure::Tape(_) => "tape",
            Failure::Io(_) | Failure::Write(_) => "host",
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
    /// The sandbox's limits for `validate` and `collect`.
    pub limits: Limits,
    /// Developer `--route`s: origins sent to a loopback server instead.
    pub reroutes: Reroutes,
    /// Where the host's and plugin's lines go, scrubbed.
    pub log: RunLog,
    /// Live counts of the run in progress.
    pub progress: Arc<Progress>,
    /// Whether `validate` and `collect` record their responses or replay a
    /// recording (default: neither).
    pub tape: Tape,
    /// Certificate authorities HTTPS trusts beside the web PKI's, such as
    /// the one of an operator's TLS-inspecting proxy (default: none).
    pub trusted_roots: Vec<CertificateDer<'static>>,
    /// Stops a collection early, its bundle finished as interrupted.
    pub interrupt: Interrupt,
}

/// A request to stop a collection early (the CLI's signals, an embedder's
/// cancel): the plugin's call is abandoned, and the bundle is finished with
/// what was collected until then, as partial, with a warning saying why, and
/// no new checkpoint.
#[derive(Clone, Default)]
pub struct Interrupt(Arc<InterruptState>);

#[derive(Default)]
struct InterruptState {
    why: Mutex<Option<String>>,
    notify: tokio::sync::Notify,
}

impl Interrupt {
    /// Asks the run to stop; `why` goes into the bundle's warning.
    pub fn request(&self, why: &str) {
        self.0
            .why
            .lock()
            .expect("interrupt lock")
            .get_or_insert_with(|| why.to_owned());
        self.0.notify.notify_one();
    }

    /// Why the run was asked to stop, once it was.
    async fn requested(&self) -> String {
        loop {
            if let Some(why) = self.0.why.lock().expect("interrupt lock").clone() {
                return why;
            }
            self.0.notify.notified().await;
        }
    }
}

impl Options {
    /// Options for live runs with no recording, no extra trusted roots and
    /// no interrupt requested.
    pub fn new(limits: Limits, reroutes: Reroutes, log: RunLog) -> Options {
        Options {
            limits,
            reroutes,
            log,
            progress: Arc::default(),
            tape: Tape::Live,
            trusted_roots: Vec::new(),
            interrupt: Interrupt::default(),
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
    /// The compiled component, instantiated afresh for each of `validate`
    /// and `collect`.
    pub plugin: Plugin,
    /// The manifest, checked against what the host grants.
    pub manifest: Manifest,
    /// Where the component was loaded from.
    pub path: PathBuf,
}

impl Loaded {
    /// Loads a component and reads its manifest with nothing granted, under
    /// limits of its own ([`Limits::for_manifest`]).
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
        let limits = options.limits.for_manifest();
        let mut session = plugin
            .instantiate(grant, limits, options.log.clone(), outbound, None)
            .await?;
        let manifest = session.manifest().await?;
        check_manifest(&manifest)?;
        Ok(Loaded {
            plugin,
            manifest,
            path: path.to_path_buf(),
        })
    }

    /// What the operator grants this manifest for a run. A reroute of an
    /// origin the manifest does not declare is refused.
    fn grant(&self, config: &RunConfig, options: &Options) -> Result<Arc<Grant>, Failure> {
        let grant =
            Grant::from_manifest(&self.manifest, &config.secrets, options.reroutes.clone())?;
        options
            .reroutes
            .check_declared(&grant.egress)
            .map_err(Failure::Reroute)?;
        Ok(Arc::new(grant))
    }

    /// A fresh instance with the grant, configured, logging to `log`.
    async fn configured(
        &self,
        grant: Arc<Grant>,
        config: &RunConfig,
        options: &Options,
        log: &RunLog,
        outbound: Arc<Outbound>,
        evidence: Option<SharedEvidence>,
    ) -> Result<Session, Failure> {
        let mut session = self
            .plugin
            .instantiate(grant, options.limits, log.clone(), outbound, evidence)
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

    /// The grant and an outbound whose exchanges go to `ledger`.
    fn outbound(
        &self,
        config: &RunConfig,
        options: &Options,
        ledger: Box<dyn std::io::Write + Send>,
        tape: OpenTape,
    ) -> Result<(Arc<Grant>, Arc<Outbound>), Failure> {
        let grant = self.grant(config, options)?;
        let log = options.log.with_scrubber(grant.scrubber.clone());
        let outbound = options.outbound(grant.clone(), log, ledger, tape);
        Ok((grant, outbound))
    }

    /// Configures a fresh instance and drops it: whether the plugin accepts
    /// these values, with no request made.
    pub async fn configure(&self, config: &RunConfig, options: &Options) -> Result<(), Failure> {
        let (grant, outbound) =
            self.outbound(config, options, Box::new(std::io::sink()), OpenTape::Live)?;
        let log = options.log.with_scrubber(grant.scrubber.clone());
        self.configured(grant, config, options, &log, outbound, None)
            .await
            .map(drop)
    }

    /// Diagnoses the connection, keeping no ledger of its requests.
    pub async fn validate(
        &self,
        config: &RunConfig,
        options: &Options,
    ) -> Result<Vec<Check>, Failure> {
        let (grant, outbound) = self.outbound(
            config,
            options,
            Box::new(std::io::sink()),
            options.tape.open()?,
        )?;
        self.diagnose(grant, config, options, &outbound).await
    }

    /// Diagnoses the connection, keeping the hash-chained ledger of the
    /// requests it sent (with the secret) in `dir/ledger.jsonl`, created
    /// new: the checks, and the ledger's head and entry count.
    pub async fn validate_ledgered(
        &self,
        config: &RunConfig,
        options: &Options,
        dir: &Path,
    ) -> Result<(Vec<Check>, (String, u64)), Failure> {
        let path = dir.join(bundle::LEDGER_FILE);
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| {
                std::fs::File::options()
                    .write(true)
                    .create_new(true)
                    .open(&path)
            })
            .map_err(WriteError::at(&path))?;
        let ledger = Box::new(std::io::BufWriter::new(file));
        let (grant, outbound) = self.outbound(config, options, ledger, options.tape.open()?)?;
        let checks = self.diagnose(grant, config, options, &outbound).await;
        let head = outbound.ledger_head().map_err(WriteError::at(&path))?;
        bundle::sync_files_named(dir, &[bundle::LEDGER_FILE])?;
        Ok((checks?, head))
    }

    async fn diagnose(
        &self,
        grant: Arc<Grant>,
        config: &RunConfig,
        options: &Options,
        outbound: &Arc<Outbound>,
    ) -> Result<Vec<Check>, Failure> {
        let log = options.log.with_scrubber(grant.scrubber.clone());
        let mut session = self
            .configured(grant, config, options, &log, outbound.clone(), None)
            .await?;
        let checks = session.validate().await?.map_err(Failure::Plugin);
        drop(session);
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
        self.collect_into(config, options, &FolderSink::new(out), checkpoint)
            .await
    }

    /// [`Loaded::collect`] into the bundle `sink` opens.
    pub async fn collect_into(
        &self,
        config: &RunConfig,
        options: &Options,
        sink: &dyn BundleSink,
        checkpoint: Option<String>,
    ) -> Result<Collected, Failure> {
        let grant = self.grant(config, options)?;
        let tape = options.tape.open()?;
        let streams = blocking(|| sink.open())?;
        let dir = sink.location();
        let started_at = crate::now_rfc3339();
        let log = options.log.keeping(
            grant.scrubber.clone(),
            Box::new(std::io::BufWriter::new(streams.log)),
        );
        let outbound = options.outbound(
            grant.clone(),
            log.clone(),
            Box::new(std::io::BufWriter::new(streams.ledger)),
            tape,
        );
        let writer = Arc::new(Mutex::new(
            EvidenceWriter::create(
                streams.evidence,
                grant.evidence_kinds.clone(),
                outbound.citation_index(),
                grant.scrubber.clone(),
            )
            .map_err(WriteError::at(&dir.join(bundle::EVIDENCE_FILE)))?,
        ));

        let Ran {
            result,
            peak_memory,
            stopped,
        } = self
            .run_collect(
                &grant,
                config,
                options,
                (&log, &outbound),
                &writer,
                checkpoint.as_deref(),
            )
            .await;
        let evidence = writer
            .lock()
            .expect("evidence lock")
            .finish()
            .map_err(WriteError::at(&dir.join(bundle::EVIDENCE_FILE)));
        let ledger = outbound
            .ledger_head()
            .map_err(WriteError::at(&dir.join(bundle::LEDGER_FILE)));
        let totals = evidence.as_ref().cloned().unwrap_or_default();
        let (ledger_head, ledger_entries) = ledger.as_ref().cloned().unwrap_or_default();
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
        let plugin_counts: BTreeMap<String, u64> = summary
            .as_ref()
            .map(|s| s.counts.iter().map(|c| (c.kind.clone(), c.count)).collect())
            .unwrap_or_default();
        // An interrupted plugin reported nothing to compare.
        if summary.is_some() && !stopped && !counts_agree(&plugin_counts, &totals.counts) {
            log.host(
                Level::Warn,
                &format!(
                    "the plugin reported counts {plugin_counts:?} but the host received {:?}; run.json keeps the host's",
                    totals.counts
                ),
            );
        }
        let log_sha256 = log
            .release()
            .map_err(WriteError::at(&dir.join(bundle::LOG_FILE)));
        // Any file that could not be written fails the run, whatever the
        // plugin said: the bundle is not what the run saw.
        let (hashes, failure) = match durable(sink, evidence, ledger, log_sha256) {
            Ok(hashes) => (hashes, failure),
            Err(error) => {
                let hashes = FileHashes {
                    ledger_head: ledger_head.clone(),
                    evidence_sha256: totals.sha256.clone(),
                    log_sha256: String::new(),
                };
                (hashes, Some(Failure::Write(error)))
            }
        };
        let incomplete = summary
            .as_ref()
            .is_some_and(|s| s.warnings.iter().any(|w| w.incomplete));
        let outcome = match (&failure, incomplete) {
            (Some(_), _) => Outcome::Failed,
            (None, true) => Outcome::Partial,
            (None, false) => Outcome::Complete,
        };
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
            seal: Default::default(),
        };
        let run = bundle::seal_run(run, &hashes, &grant.scrubber)
            .map_err(|e| WriteError::at(&dir.join(bundle::RUN_FILE))(e.into()))?;
        blocking(|| sink.finish(bundle::render_run(&run).as_bytes()))?;
        Ok(Collected { dir, run, failure })
    }
}

impl Loaded {
    /// Runs the plugin's `collect` in a fresh, configured instance, until it
    /// returns or the run is interrupted.
    async fn run_collect(
        &self,
        grant: &Arc<Grant>,
        config: &RunConfig,
        options: &Options,
        (log, outbound): (&RunLog, &Arc<Outbound>),
        writer: &SharedEvidence,
        checkpoint: Option<&str>,
    ) -> Ran {
        options.progress.instantiating.get_or_init(Instant::now);
        let configured = self
            .configured(
                grant.clone(),
                config,
                options,
                log,
                outbound.clone(),
                Some(writer.clone()),
            )
            .await;
        let mut session = match configured {
            Ok(session) => session,
            Err(failure) => {
                return Ran {
                    result: Err(failure),
                    peak_memory: 0,
                    stopped: false,
                };
            }
        };
        let (result, stopped) = tokio::select! {
            result = session.collect(checkpoint) => match result {
                Ok(Ok(summary)) => (Ok(summary), false),
                Ok(Err(error)) => (Err(Failure::Plugin(error)), false),
                Err(error) => (Err(Failure::Call(error)), false),
            },
            why = options.interrupt.requested() => (Ok(interrupted(&why)), true),
        };
        Ran {
            result,
            peak_memory: session.finish(),
            stopped,
        }
    }
}

/// What a plugin's collection came to.
struct Ran {
    result: Result<crate::contract::Summary, Failure>,
    peak_memory: u64,
    /// Whether it was interrupted ([`Interrupt`]) before it returned.
    stopped: bool,
}

/// The files' hashes once each was written whole and made durable, or the
/// first that was not.
fn durable(
    sink: &dyn BundleSink,
    evidence: Result<EvidenceTotals, WriteError>,
    ledger: Result<(String, u64), WriteError>,
    log_sha256: Result<String, WriteError>,
) -> Result<FileHashes, WriteError> {
    let hashes = FileHashes {
        evidence_sha256: evidence?.sha256,
        ledger_head: ledger?.0,
        log_sha256: log_sha256?,
    };
    blocking(|| sink.durable())?;
    Ok(hashes)
}

/// What an interrupted collection reports in place of the plugin's summary:
/// nothing but that it was interrupted, which makes it partial.
fn interrupted(why: &str) -> crate::contract::Summary {
    crate::contract::Summary {
        counts: Vec::new(),
        findings: Vec::new(),
        warnings: vec![crate::contract::Warning {
            resource: "run".to_owned(),
            message: format!(
                "interrupted ({why}): the records collected until then are kept, the rest was not read"
            ),
            cause: None,
            incomplete: true,
        }],
        checkpoint: None,
    }
}

/// Whether the plugin's counts are the host's: a kind the plugin reports
/// with 0 records is one the host received none of, not a difference.
fn counts_agree(plugin: &BTreeMap<String, u64>, host: &BTreeMap<String, u64>) -> bool {
    let reported = plugin.iter().filter(|(_, count)| **count > 0);
    reported.eq(host.iter())
}

/// A finished collection: the bundle folder, its `run.json`, and the failure
/// if the run did not complete.
pub struct Collected {
    /// The bundle's folder.
    pub dir: PathBuf,
    /// The bundle's `run.json`, as written.
    pub run: RunRecord,
    /// Why the run did not complete; the bundle is finished either way.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    }

    #[test]
    fn a_kind_honestly_reported_with_no_records_agrees_with_the_host() {
        // An incremental run with no new events, a kind with nothing in it.
        assert!(counts_agree(
            &counts(&[("e", 0), ("u", 2)]),
            &counts(&[("u", 2)])
        ));
        assert!(counts_agree(&counts(&[("e", 0)]), &counts(&[])));
        assert!(!counts_agree(&counts(&[("u", 2)]), &counts(&[("u", 3)])));
        assert!(!counts_agree(&counts(&[]), &counts(&[("u", 1)])));
        assert!(!counts_agree(&counts(&[("e", 1)]), &counts(&[])));
    }

    #[test]
    fn the_first_file_that_could_not_be_written_fails_the_bundle() {
        let dir = std::env::temp_dir().join(format!("watchdog-durable-{}", std::process::id()));
        let full = |name: &str| WriteError {
            path: dir.join(name),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        let evidence = Ok(EvidenceTotals::default());
        let sink = FolderSink::new(&dir);
        let error = durable(
            &sink,
            evidence,
            Err(full(bundle::LEDGER_FILE)),
            Ok(String::new()),
        )
        .unwrap_err();
        assert_eq!(error.path, dir.join(bundle::LEDGER_FILE));
        assert!(error.to_string().contains("ledger.jsonl"), "{error}");
        let error = durable(
            &sink,
            Ok(EvidenceTotals::default()),
            Ok((String::new(), 0)),
            Err(full(bundle::LOG_FILE)),
        )
        .unwrap_err();
        assert_eq!(error.path, dir.join(bundle::LOG_FILE));
    }
}
