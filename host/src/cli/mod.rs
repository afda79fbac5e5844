//! Command-line arguments and the commands behind them.

#[cfg(feature = "dev-tools")]
mod devtools;
mod new;
pub(crate) mod print;
mod progress;
mod report;

use print::errln;
use report::Printer;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use clap::{Args as ClapArgs, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchdog_host::cache::Cache;
use watchdog_host::egress::Reroutes;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::progress::Phase;
use watchdog_host::provenance::recheck::recheck;
use watchdog_host::run::{Collected, Failure, Interrupt, Loaded, Options, exit};
use watchdog_host::runtime::Runtime;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::Scrubber;
use watchdog_host::tape::Tape;
use watchdog_host::{bundle, checkpoint, config, conformance, export};

/// Runs WatchDog integration components in a sandbox and writes verifiable
/// evidence bundles.
///
/// An integration is a WebAssembly component implementing the
/// `watchdog:integration` contract (see wit/). The host gives it nothing but
/// HTTP to the origins, methods and paths its manifest declares; injects
/// secrets into its requests (the plugin never sees them); caps its memory,
/// CPU and time; records every exchange in a hash-chained ledger; and writes
/// what it collects into a bundle that `verify` can check.
///
/// Secrets come from the environment only: the secret field `api-key` of the
/// integration `example` is read from WATCHDOG_SECRET_EXAMPLE_API_KEY.
#[derive(Parser, Debug)]
#[command(name = "watchdog-host", version, after_help = exit::help())]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Log verbosity on stderr: -v for info, -vv for debug.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Folder for precompiled components (default: ~/.cache/watchdog-host).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the component on every run instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a new integration project that builds and passes
    /// conformance as generated: the integration on watchdog-sdk, a pinned
    /// toolchain, a mock upstream with a recording of it, and `./check`
    /// (build, conformance, collect from the recording).
    New(new::NewArgs),
    /// Print a component's manifest, contract version, SHA-256 and imports.
    ///
    /// Refuses a component that does not implement the contract. With
    /// `--against OLD`, prints instead what this version asks for beyond
    /// the old one (origins, routes, secrets, evidence kinds) and what it no
    /// longer asks for, so an upgrade is re-approved for what grew only.
    Inspect {
        /// The component (.wasm).
        plugin: PathBuf,
        /// The version currently approved, to compare capabilities with.
        #[arg(long, value_name = "OLD")]
        against: Option<PathBuf>,
    },
    /// Run the battery every integration must pass, and print a pass/fail
    /// table: the contract version it claims, a complete manifest,
    /// `configure` refusing missing required fields, `validate` and
    /// `collect` answering `unauthorized` to a loopback server that refuses
    /// every request, no request outside the declared egress, well-formed
    /// evidence of declared kinds, and no sandbox limit crossed.
    ///
    /// Nothing leaves this machine: every declared origin is rerouted to the
    /// loopback server, and secrets are dummies. Exits 0 when every check
    /// passes, 5 when any fails.
    Conformance {
        plugin: PathBuf,
        /// TOML file with the non-secret configuration fields, as for
        /// `collect` (default: a placeholder value in every required field).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Also collect from a recording made by `collect --record`, with no
        /// network, and require that collection to complete.
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
        /// Also collect live from your mock upstream: a declared origin sent
        /// to a loopback URL, as for `collect`; the collection must complete.
        /// Without this or --replay, collect and evidence are skipped.
        #[arg(long = "route", value_name = "ORIGIN=URL")]
        routes: Vec<String>,
        /// Keep the battery's bundles in DIR (default: a temporary folder,
        /// removed afterwards).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Diagnose the connection: one check per capability, with what to do.
    ///
    /// Its requests carry the secret: with `--out DIR`, their hash-chained
    /// ledger is kept in DIR/ledger.jsonl and its head printed.
    Validate {
        plugin: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// Keep the ledger of the requests sent in DIR (created; must not
        /// hold a ledger already).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Collect evidence into a new bundle folder.
    ///
    /// Prints the head: a hash that seals every byte of the bundle (ledger,
    /// evidence, log, run.json). Keep it apart from the bundle, and pass it
    /// to `verify --head` later to prove nothing was rewritten.
    Collect {
        plugin: PathBuf,
        #[command(flatten)]
        run: RunArgs,
        /// The bundle folder to create (must not hold a bundle already).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Incremental state: read from FILE if it exists, and replaced with
        /// the new checkpoint when the run completes or is partial (not
        /// when it fails or is interrupted). Its folder must exist. The file
        /// names the integration and configuration it was made for, with a
        /// checksum: one that does not match is a warning and a full read.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Keep every response the host carried in DIR (bodies as the plugin
        /// read them, secrets scrubbed), for `--replay` later.
        #[arg(long, value_name = "DIR", conflicts_with = "replay")]
        record: Option<PathBuf>,
        /// Serve responses from a recording made with `--record`, through
        /// the same egress policy, with no network. The bundle says so.
        #[arg(long, value_name = "DIR")]
        replay: Option<PathBuf>,
    },
    /// Serve the simulated Atlassian organization (or many, `--orgs`) on loopback until interrupted.
    ///
    /// Prints the organization ID and address; collect against it with
    /// `--route https://api.atlassian.com=http://127.0.0.1:PORT`.
    #[cfg(feature = "dev-tools")]
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The API key the simulated organization accepts.
        #[arg(long, value_name = "KEY")]
        api_key: String,
        #[command(flatten)]
        org: devtools::SimArgs,
        #[command(flatten)]
        orgs: devtools::OrgsArgs,
    },
    /// The whole job on the built-in simulated organization: start it, then
    /// inspect, validate and collect with the Atlassian integration in the
    /// sandbox, verify the bundle, and report.
    #[cfg(feature = "dev-tools")]
    Demo {
        /// Bundle folder to create (default: watchdog-demo/run-<time>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A component to run instead of the built-in Atlassian integration.
        #[arg(long, value_name = "PATH")]
        plugin: Option<PathBuf>,
        #[command(flatten)]
        org: devtools::SimArgs,
        #[command(flatten)]
        sandbox: SandboxArgs,
    },
    /// Turn a bundle that verifies into a report: one self-contained HTML
    /// page (the run, each finding with its failing subjects and remedy,
    /// charts of the evidence, the warnings; no script, nothing fetched), or
    /// with `--format oscal` OSCAL 1.1.2 assessment results for GRC tools.
    ///
    /// A bundle that does not verify is refused (exit 8).
    Report {
        /// The bundle folder.
        dir: PathBuf,
        /// The head printed by `collect`, kept apart from the bundle.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// What to write.
        #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
        format: ReportFormat,
        /// Where to write it (default: beside the folder, `DIR.html` or
        /// `DIR.oscal.json`).
        #[arg(long, short, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Check a bundle byte for byte: the ledger's chain, the evidence and
    /// log hashes, the counts, the citations and the seal; print the run's
    /// outcome (complete, partial or failed).
    ///
    /// Without `--head`, this proves only that the bundle is consistent with
    /// itself: whoever edits a file can reseal it. With the head `collect`
    /// printed, kept apart from the bundle, any byte changed anywhere fails,
    /// naming the file (and the line, or run.json's field, where it can).
    /// Exits 0 when the bundle verifies, whatever the run's outcome, and 8
    /// when it does not.
    Verify {
        /// The bundle folder.
        dir: PathBuf,
        /// The head printed by `collect` (the seal), kept apart from the bundle.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// The recording `collect --record` made of the same run: also
        /// re-check that every record's data is an object or array value of
        /// the body it cites.
        #[arg(long, value_name = "DIR")]
        tape: Option<PathBuf>,
    },
}

/// What every run needs: configuration, reroutes and sandbox limits.
#[derive(ClapArgs, Debug)]
struct RunArgs {
    /// TOML file with the non-secret configuration fields (needed only when
    /// the manifest has a required one).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Send a declared origin to a loopback server instead, for tests and the
    /// simulator: ORIGIN=URL, e.g. https://api.atlassian.com=http://127.0.0.1:8080.
    /// Never widens the egress policy. Repeatable.
    #[arg(long = "route", value_name = "ORIGIN=URL")]
    routes: Vec<String>,
    /// PEM file of certificate authorities HTTPS trusts beside the public
    /// web PKI, such as a TLS-inspecting proxy's. Repeatable.
    #[arg(long = "ca-file", value_name = "PEM")]
    ca_files: Vec<PathBuf>,
    #[command(flatten)]
    sandbox: SandboxArgs,
}

/// Sandbox limits; the defaults suit a large organization.
#[derive(ClapArgs, Debug, Clone)]
pub struct SandboxArgs {
    /// Plugin memory cap, MiB: all its linear memories and tables together,
    /// and the header fields the host holds for it.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mib: u64,
    /// Plugin CPU per call, seconds: the CPU time of the thread running it,
    /// the host's work for it included (time blocked on the network uses none).
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().cpu_per_call.as_secs())]
    cpu_secs: u64,
    /// Wall-clock time per call, seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().wall_per_call.as_secs())]
    wall_secs: u64,
    /// Largest response body delivered to the plugin, MiB.
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().response_bytes >> 20)]
    response_mib: u64,
    /// Requests waiting for a response at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().requests_in_flight)]
    in_flight: usize,
    /// Connect timeout per request, seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().connect_timeout.as_secs())]
    connect_timeout_secs: u64,
    /// Time to first byte and between bytes of a response, seconds.
    #[arg(long, value_name = "SECS", default_value_t = Limits::default().read_timeout.as_secs())]
    read_timeout_secs: u64,
}

impl SandboxArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.memory_mib << 20,
            cpu_per_call: Duration::from_secs(self.cpu_secs),
            wall_per_call: Duration::from_secs(self.wall_secs),
            response_bytes: self.response_mib << 20,
            requests_in_flight: self.in_flight,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            read_timeout: Duration::from_secs(self.read_timeout_secs),
        }
    }
}

/// Runs a command; returns the exit code.
pub async fn run(args: Args) -> u8 {
    let (context, command) = Context::of(args);
    match dispatch(context, command).await {
        Ok(code) | Err(code) => code,
    }
}

/// Turns a failure into its exit code, reporting it on stderr on the way.
trait OrExit<T> {
    fn or_exit(self) -> Result<T, u8>;
}

impl<T> OrExit<T> for Result<T, Failure> {
    fn or_exit(self) -> Result<T, u8> {
        self.map_err(|failure| fail(&failure))
    }
}

/// What the global flags give every command.
struct Context {
    log: RunLog,
    cache: Option<Cache>,
    out: Printer,
}

impl Context {
    fn of(args: Args) -> (Context, Command) {
        let echo = match args.verbose {
            0 => Level::Warn,
            1 => Level::Info,
            _ => Level::Debug,
        };
        let cache = (!args.no_cache)
            .then(|| args.cache_dir.clone().or_else(Cache::default_dir))
            .flatten()
            .map(Cache::new);
        let context = Context {
            log: RunLog::new(Some(echo), Scrubber::default()),
            cache,
            out: Printer { json: args.json },
        };
        (context, args.command)
    }
}

/// Runs one command. `Err` is the exit code of a failure already reported.
async fn dispatch(cx: Context, command: Command) -> Result<u8, u8> {
    match command {
        Command::Verify { dir, head, tape } => {
            Ok(verify(&cx.out, &dir, head.as_deref(), tape.as_deref()))
        }
        Command::New(args) => Ok(create_project(&args)),
        Command::Report {
            dir,
            head,
            format,
            out: file,
        } => Ok(report(&dir, head.as_deref(), format, file)),
        #[cfg(feature = "dev-tools")]
        Command::Sim {
            port,
            api_key,
            org,
            orgs,
        } => Ok(devtools::sim(port, api_key, &org, &orgs).await),
        #[cfg(feature = "dev-tools")]
        Command::Demo {
            out: dir,
            plugin,
            org,
            sandbox,
        } => demo(cx, dir, plugin, &org, &sandbox).await,
        Command::Inspect { plugin, against } => inspect(cx, &plugin, against.as_deref()).await,
        Command::Conformance {
            plugin,
            config,
            replay,
            routes,
            out: keep,
            sandbox,
        } => run_conformance(cx, &plugin, config, replay, &routes, &sandbox, keep).await,
        Command::Validate {
            plugin,
            run,
            out: keep,
        } => validate(cx, &plugin, &run, keep.as_deref()).await,
        Command::Collect {
            plugin,
            run,
            out: dir,
            checkpoint,
            record,
            replay,
        } => {
            let tape = match (record, replay) {
                (Some(dir), _) => Tape::Record(dir),
                (None, Some(dir)) => Tape::Replay(dir),
                (None, None) => Tape::Live,
            };
            collect(cx, &plugin, &run, &dir, checkpoint.as_deref(), tape).await
        }
    }
}

/// `new`: writes a project and says what to do next.
fn create_project(args: &new::NewArgs) -> u8 {
    match new::run(args) {
        Ok(dir) => {
            print::outln!(
                "created {0}; next: cd {0} && WATCHDOG_HOST={1} ./check",
                dir.display(),
                std::env::current_exe()
                    .map_or_else(|_| "watchdog-host".into(), |p| p.display().to_string())
            );
            exit::OK
        }
        Err(e) => {
            errln!("error: {e}");
            exit::USAGE
        }
    }
}

/// `demo`: the whole job on the simulated organization.
#[cfg(feature = "dev-tools")]
async fn demo(
    cx: Context,
    dir: Option<PathBuf>,
    plugin: Option<PathBuf>,
    org: &devtools::SimArgs,
    sandbox: &SandboxArgs,
) -> Result<u8, u8> {
    let runtime = start_runtime(cx.cache)?;
    let dir = dir.unwrap_or_else(|| {
        let stamp = watchdog_host::now_rfc3339().replace([':', '-'], "");
        PathBuf::from("watchdog-demo").join(format!("run-{stamp}"))
    });
    Ok(devtools::demo(&runtime, &dir, plugin, org, sandbox, cx.log, &cx.out).await)
}

/// `inspect`: a component's manifest, or what changed since `against`.
async fn inspect(cx: Context, plugin: &Path, against: Option<&Path>) -> Result<u8, u8> {
    let runtime = start_runtime(cx.cache)?;
    let options = Options::new(Limits::default(), Reroutes::default(), cx.log);
    let loaded = Loaded::open(&runtime, plugin, &options).await.or_exit()?;
    match against {
        None => cx.out.inspect(&loaded),
        Some(old) => {
            let old = Loaded::open(&runtime, old, &options).await.or_exit()?;
            cx.out.capability_diff(&old, &loaded);
        }
    }
    Ok(exit::OK)
}

/// `conformance`: the battery with `config`, the recording `replay` and
/// the mock upstream's `routes`, its bundles kept in `keep` or else in a
/// temporary folder removed afterwards.
async fn run_conformance(
    cx: Context,
    plugin: &Path,
    config: Option<PathBuf>,
    replay: Option<PathBuf>,
    routes: &[String],
    sandbox: &SandboxArgs,
    keep: Option<PathBuf>,
) -> Result<u8, u8> {
    let mock = Reroutes::parse(routes.iter().map(String::as_str))
        .map_err(|e| Failure::Config(config::ConfigError::Invalid(vec![format!("--route: {e}")])))
        .or_exit()?;
    let runtime = start_runtime(cx.cache)?;
    let (work_dir, _temporary) = match keep {
        Some(dir) => (dir, None),
        None => {
            let temporary = tempfile::Builder::new()
                .prefix("watchdog-conformance-")
                .tempdir()
                .map_err(|e| report_error(&e, exit::HOST))?;
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };
    let setup = conformance::Setup {
        config,
        limits: sandbox.limits(),
        replay,
        mock,
        work_dir,
        log: cx.log,
    };
    let report = conformance::run(&runtime, plugin, &setup).await.or_exit()?;
    cx.out.conformance(&report);
    Ok(report.exit_code())
}

/// `validate`: one check per capability; with `keep`, the ledger of its
/// requests is kept there and its head printed.
async fn validate(
    cx: Context,
    plugin: &Path,
    run: &RunArgs,
    keep: Option<&Path>,
) -> Result<u8, u8> {
    let runtime = start_runtime(cx.cache)?;
    let (loaded, config, options) = prepare(&runtime, plugin, run, cx.log, Tape::Live)
        .await
        .or_exit()?;
    let mode = progress::Mode::choose(cx.out.json);
    let checks = match keep {
        None => {
            let work = loaded.validate(&config, &options);
            progress::shown(&options.progress, Phase::Validating, mode, work)
                .await
                .or_exit()?
        }
        Some(dir) => {
            let work = loaded.validate_ledgered(&config, &options, dir);
            let (checks, (head, entries)) =
                progress::shown(&options.progress, Phase::Validating, mode, work)
                    .await
                    .or_exit()?;
            errln!(
                "ledger {} ({entries} exchanges, head {head})",
                dir.join(bundle::LEDGER_FILE).display()
            );
            checks
        }
    };
    cx.out.checks(&checks);
    Ok(report::checks_exit_code(&checks))
}

/// `collect`: a bundle in `dir`, from the checkpoint when there is one,
/// which is replaced when the run completes or is partial.
async fn collect(
    cx: Context,
    plugin: &Path,
    run: &RunArgs,
    dir: &Path,
    checkpoint: Option<&Path>,
    tape: Tape,
) -> Result<u8, u8> {
    if let Some(path) = checkpoint {
        checkpoint::check_place(path).map_err(|e| report_error(&e, exit::USAGE))?;
    }
    let runtime = start_runtime(cx.cache)?;
    let (loaded, config, options) = prepare(&runtime, plugin, run, cx.log, tape)
        .await
        .or_exit()?;
    let previous = match checkpoint {
        Some(path) => previous_checkpoint(path, &loaded, &config, &options.log)?,
        None => None,
    };
    let signals = stop_on_signals(options.interrupt.clone());
    let collected = collect_with_progress(&loaded, &config, &options, dir, previous, cx.out.json)
        .await
        .or_exit();
    signals.abort();
    let collected = collected?;
    if let Some(path) = checkpoint {
        save_checkpoint(path, &loaded, &config, &collected)
            .map_err(|e| report_error(&e, exit::HOST))?;
    }
    cx.out.collected(&collected);
    Ok(collected.exit_code())
}

fn start_runtime(cache: Option<Cache>) -> Result<Runtime, u8> {
    Runtime::new(cache).map_err(|e| {
        errln!("error: cannot start the WebAssembly runtime: {e:#}");
        exit::HOST
    })
}

/// Loads the component, reads its manifest, loads the configuration. A
/// replay reaches no upstream, so a secret missing from the environment
/// gets a dummy value there instead of stopping the run.
async fn prepare(
    runtime: &Runtime,
    plugin: &Path,
    run: &RunArgs,
    log: RunLog,
    tape: Tape,
) -> Result<(Loaded, config::RunConfig, Options), Failure> {
    let reroutes = Reroutes::parse(run.routes.iter().map(String::as_str)).map_err(|e| {
        Failure::Config(config::ConfigError::Invalid(vec![format!("--route: {e}")]))
    })?;
    let mut options = Options::new(run.sandbox.limits(), reroutes, log);
    for file in &run.ca_files {
        options.trusted_roots.extend(trusted_roots(file)?);
    }
    let replaying = matches!(tape, Tape::Replay(_));
    options.tape = tape;
    let loaded = Loaded::open(runtime, plugin, &options).await?;
    let env = config::EnvSecrets(|var: &str| {
        std::env::var(var)
            .ok()
            .or_else(|| replaying.then(|| conformance::DUMMY_SECRET.to_string()))
    });
    let config = config::load(run.config.as_deref(), &loaded.manifest, &env)?;
    Ok((loaded, config, options))
}

/// The certificates of a `--ca-file`.
fn trusted_roots(file: &Path) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let invalid = |why: String| {
        Failure::Config(config::ConfigError::Invalid(vec![format!(
            "--ca-file {}: {why}",
            file.display()
        )]))
    };
    let roots = CertificateDer::pem_file_iter(file)
        .map_err(|e| invalid(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if roots.is_empty() {
        return Err(invalid("no certificate in it".to_owned()));
    }
    Ok(roots)
}

/// Collects while its progress is shown on stderr ([`progress`]).
pub async fn collect_with_progress(
    loaded: &Loaded,
    config: &config::RunConfig,
    options: &Options,
    dir: &Path,
    checkpoint: Option<String>,
    json: bool,
) -> Result<Collected, Failure> {
    let work = loaded.collect(config, options, dir, checkpoint);
    progress::shown(
        &options.progress,
        Phase::Collecting,
        progress::Mode::choose(json),
        work,
    )
    .await
}

/// The plugin's checkpoint from the file at `path`; a file made for another
/// integration or configuration, of a later format or edited, is a warning
/// and a full read.
fn previous_checkpoint(
    path: &Path,
    loaded: &Loaded,
    config: &config::RunConfig,
    log: &RunLog,
) -> Result<Option<String>, u8> {
    let read = checkpoint::load(path, &loaded.manifest.id, &config.values)
        .map_err(|e| report_error(&e, exit::HOST))?;
    Ok(match read {
        checkpoint::Loaded::None => None,
        checkpoint::Loaded::Checkpoint(checkpoint) => Some(checkpoint),
        checkpoint::Loaded::Refused(why) => {
            log.host(
                Level::Warn,
                &format!(
                    "checkpoint {} not used: {why}; reading everything again",
                    path.display()
                ),
            );
            None
        }
    })
}

/// Replaces the checkpoint file when the run produced a new checkpoint; a
/// failed run leaves the old one, so the next run reads from the same point.
/// The bundle is durable by then (`run.json` is synced before it returns).
fn save_checkpoint(
    path: &Path,
    loaded: &Loaded,
    config: &config::RunConfig,
    collected: &Collected,
) -> Result<(), checkpoint::CheckpointError> {
    let Some(new) = collected.run.checkpoint.as_ref() else {
        return Ok(());
    };
    if collected.failure.is_some() {
        return Ok(());
    }
    let envelope = checkpoint::Envelope::new(&loaded.manifest.id, &config.values, new);
    checkpoint::save(path, &envelope)
}

/// On the first SIGINT, SIGTERM or SIGHUP, asks the collection to stop and
/// finish its bundle as interrupted; on a second, ends the process at once.
fn stop_on_signals(interrupt: Interrupt) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let mut streams = Vec::new();
        for (kind, name) in [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
        ] {
            match signal(kind) {
                Ok(stream) => streams.push((stream, name)),
                Err(e) => errln!("warning: cannot handle {name}: {e}"),
            }
        }
        let first = next_signal(&mut streams).await;
        errln!("{first}: finishing the bundle as interrupted (a second signal stops at once)");
        interrupt.request(first);
        let second = next_signal(&mut streams).await;
        errln!("{second}: stopped at once; the bundle is unfinished");
        std::process::exit(exit::STOPPED.into());
    })
}

/// The name of the next signal any of `streams` receives.
async fn next_signal(streams: &mut [(tokio::signal::unix::Signal, &'static str)]) -> &'static str {
    std::future::poll_fn(|cx| {
        for (stream, name) in streams.iter_mut() {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(*name);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Reports an error on stderr; its exit code.
fn report_error(error: &dyn std::fmt::Display, code: u8) -> u8 {
    errln!("error: {error}");
    code
}

/// What `report` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReportFormat {
    /// One self-contained HTML page.
    Html,
    /// OSCAL assessment results, JSON.
    Oscal,
}

fn report(dir: &Path, head: Option<&str>, format: ReportFormat, file: Option<PathBuf>) -> u8 {
    let bundle = match export::load(dir, head) {
        Ok(bundle) => bundle,
        Err(e @ export::ExportError::Unverified(_)) => {
            eprintln!("REPORT REFUSED for {}: {e}", dir.display());
            return exit::VERIFY;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::HOST;
        }
    };
    let (extension, text) = match format {
        ReportFormat::Html => ("html", export::html::render(&bundle)),
        ReportFormat::Oscal => (
            "oscal.json",
            serde_json::to_string_pretty(&export::oscal::render(&bundle))
                .expect("a JSON value serializes"),
        ),
    };
    let file = file.unwrap_or_else(|| export::beside(dir, extension));
    match std::fs::write(&file, text) {
        Ok(()) => {
            println!("{}", file.display());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            exit::HOST
        }
    }
}

fn verify(out: &Printer, dir: &Path, head: Option<&str>, tape: Option<&Path>) -> u8 {
    let rechecked = |report| match tape {
        None => Ok((report, None)),
        Some(tape) => recheck(dir, tape)
            .map(|spans| (report, Some(spans)))
            .map_err(|e| e.to_string()),
    };
    match bundle::verify(dir, head)
        .map_err(|e| e.to_string())
        .and_then(rechecked)
    {
        Ok((report, spans)) => {
            out.verified(dir, &report, spans.as_ref());
            exit::OK
        }
        Err(e) => {
            errln!("VERIFICATION FAILED for {}: {e}", dir.display());
            exit::VERIFY
        }
    }
}

fn fail(failure: &Failure) -> u8 {
    errln!("error: {failure}");
    failure.exit_code()
}
