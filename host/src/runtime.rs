//! Loading an integration component and calling it inside the sandbox.
//!
//! One [`Runtime`] per process holds the engine (async, epoch interruption),
//! the linker and the epoch ticker. [`Runtime::load`] reads a component,
//! compiles it or takes it from the [`Cache`], checks it implements the
//! contract and pre-instantiates it. [`Plugin::instantiate`] makes a fresh
//! store per run with the run's [`Grant`] and [`Limits`]: no filesystem, no
//! environment, no arguments, no sockets, stdio captured into the log, HTTP
//! only through [`crate::outbound`]. Every export call goes through
//! `Session::guarded`, which resets the CPU budget, bounds the wall-clock
//! time and turns traps into typed [`CallError`]s.

use crate::bundle::EvidenceWriter;
use crate::cache::{self, Cache};
use crate::contract::{self, Check, ConfigEntry, Manifest, PluginError, PluginPre, Summary};
use crate::grant::Grant;
use crate::log::{Level, RunLog, Source};
use crate::outbound::{Hooks, Outbound};
use crate::pooling::Allocation;
use crate::sandbox::{CpuSample, EpochTicker, Limits, Meter, Violation};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The evidence writer, shared by the store (which feeds it) and the run
/// (which finishes it whatever the plugin did).
pub type SharedEvidence = Arc<Mutex<EvidenceWriter>>;
use std::time::Instant;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{CallHook, Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{FieldMap, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Captured guest stdout or stderr, per call.
const STDIO_CAPACITY: usize = 1 << 20;

/// Host resources (header fields, requests, bodies, streams, pollables) a
/// plugin may hold at once: a collection with every request in flight uses
/// a few dozen.
pub const MAX_RESOURCES: usize = 1024;

/// The largest header fields object a plugin may build, in wasmtime's
/// accounting of its in-memory size: servers refuse request headers beyond
/// 8 to 16 KiB. With [`MAX_RESOURCES`], it bounds what the plugin can make
/// the host hold before the next count charges it.
pub const FIELD_BYTES: usize = 32 << 10;

/// What a plugin may write to the run log (its `log` calls and what it
/// prints) in one run; beyond it, one line says the rest was dropped.
pub const LOG_BYTES: usize = 4 << 20;

/// The engine and linker shared by every run in this process.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunState>,
    cache: Option<Cache>,
    _ticker: EpochTicker,
}

/// A component that implements the contract, ready to instantiate.
pub struct Plugin {
    pre: PluginPre<RunState>,
    /// SHA-256 of the component's bytes, lower-case hex: which build ran,
    /// as `run.json` records it.
    pub component_sha256: String,
    /// The contract version the component implements, one the host accepts.
    pub contract_version: String,
    /// The interfaces the component imports, as reported to its author.
    pub imports: Vec<String>,
    /// Whether it was compiled now or taken from the cache.
    pub origin: cache::Compilation,
    /// How long reading, compiling and checking it took.
    pub load_time: std::time::Duration,
}

/// Why a component cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The component's path, as given.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// wasmtime would not compile it (or deserialize its cached build).
    #[error("{path} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The component's path, as given.
        path: String,
        /// wasmtime's account of why, with its causes.
        message: String,
    },
    #[error(
        "{path} is a core WebAssembly module, not a component: build with \
         --target wasm32-wasip2 and crate-type = [\"cdylib\"]"
    )]
    /// A core module where a component was expected: built for the wrong
    /// target.
    CoreModule {
        /// The file's path, as given.
        path: String,
    },
    #[error(
        "{path} is a Rust library (rlib), not a component: cargo wrote only an rlib; \
         add crate-type = [\"cdylib\"] under [lib] and build with --target wasm32-wasip2"
    )]
    /// An rlib where a component was expected: the crate has no `cdylib`.
    Rlib {
        /// The file's path, as given.
        path: String,
    },
    /// The component does not export a contract version the host accepts.
    #[error(transparent)]
    Contract(#[from] contract::ContractError),
    /// The component imports what the sandbox does not provide (a socket, a
    /// file system), so it cannot be instantiated; wasmtime's message.
    #[error("the component imports something this host does not provide: {0}")]
    Link(String),
}

/// How an `ar` archive, as an rlib is, begins.
const ARCHIVE_MAGIC: &[u8] = b"!<arch>\n";

impl LoadError {
    /// The build mistakes that leave something other than a component where
    /// the author expected one, named with the step that fixes them.
    fn not_a_component(path: &str, bytes: &[u8]) -> Option<LoadError> {
        let path = path.to_owned();
        if wasmparser::Parser::is_core_wasm(bytes) {
            Some(LoadError::CoreModule { path })
        } else if bytes.starts_with(ARCHIVE_MAGIC) {
            Some(LoadError::Rlib { path })
        } else {
            None
        }
    }
}

/// Why a call into the plugin did not return normally.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin broke a memory, CPU or time limit and was stopped.
    #[error("sandbox violation: {0}")]
    Sandbox(#[from] Violation),
    /// The plugin trapped (a panic, an unreachable, an out-of-bounds access).
    #[error("the plugin crashed: {0}")]
    Trap(Crash),
}

/// How a plugin crashed, in the words most useful to its author.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Crash {
    /// The plugin's own panic message and location, as Rust's panic hook
    /// wrote them to the guest's stderr (which the host captures).
    #[error("{0}")]
    Panic(String),
    /// A trap with no panic message: wasmtime's account of it, with the
    /// wasm backtrace.
    #[error("{0}")]
    Trap(String),
}

impl Crash {
    /// The panic a Rust guest reported on `stderr` before trapping, without
    /// the `RUST_BACKTRACE` hint (a guest has no environment to set it in):
    /// `panicked at src/lib.rs:5:9: the message`.
    fn panic_in(stderr: &str) -> Option<Crash> {
        let report = &stderr[stderr.rfind("panicked at ")?..];
        let lines: Vec<&str> = report
            .lines()
            .take_while(|line| !line.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        Some(Crash::Panic(lines.join(" ")))
    }
}

impl CallError {
    /// The trap named by the plugin's own panic, when `stderr` has one.
    fn with_panic_from(self, stderr: &str) -> CallError {
        match (self, Crash::panic_in(stderr)) {
            (CallError::Trap(_), Some(panic)) => CallError::Trap(panic),
            (other, _) => other,
        }
    }
}

impl Runtime {
    /// An engine configured for sandboxed, async plugins.
    pub fn new(cache: Option<Cache>) -> wasmtime::Result<Runtime> {
        Runtime::with_allocation(cache, Allocation::OnDemand)
    }

    /// [`Runtime::new`] with instances allocated as `allocation` says: a
    /// worker running many plugins at once pools them.
    pub fn with_allocation(
        cache: Option<Cache>,
        allocation: Allocation,
    ) -> wasmtime::Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        allocation.configure(&mut config);
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        contract::watchdog::integration::host::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |state: &mut RunState| state,
        )?;
        Ok(Runtime {
            _ticker: EpochTicker::start(&engine),
            engine,
            linker,
            cache,
        })
    }

    /// Reads, compiles (or loads from the cache) and checks a component.
    pub fn load(&self, path: &Path) -> Result<Plugin, LoadError> {
        let started = Instant::now();
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: display.clone(),
            source,
        })?;
        if let Some(wrong) = LoadError::not_a_component(&display, &bytes) {
            return Err(wrong);
        }
        let sha = cache::sha256_hex(&bytes);
        let (component, origin) = match &self.cache {
            Some(cache) => cache.load(&self.engine, &bytes, &sha),
            None => Component::new(&self.engine, &bytes).map(|c| (c, cache::Compilation::Compiled)),
        }
        .map_err(|e| LoadError::Invalid {
            path: display,
            message: format!("{e:#}"),
        })?;
        let contract_version = contract::contract_version(&component, &self.engine)?;
        let imports = contract::imports(&component, &self.engine);
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PluginPre::new)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        Ok(Plugin {
            pre,
            component_sha256: sha,
            contract_version,
            imports,
            origin,
            load_time: started.elapsed(),
        })
    }
}

/// Everything a run's store holds.
pub struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    meter: Meter,
    log: RunLog,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// Bytes of stdout and stderr already moved to the log.
    stdio_logged: [usize; 2],
    /// What the plugin may still write to the log, bytes.
    log_left: usize,
    evidence: Option<SharedEvidence>,
}

impl RunState {
    /// Writes a plugin's line to the log within [`LOG_BYTES`].
    fn plugin_line(&mut self, level: Level, source: Source, line: &str) {
        if self.log_left == 0 {
            return;
        }
        if line.len() >= self.log_left {
            self.log_left = 0;
            self.log.host(
                Level::Warn,
                &format!(
                    "the plugin wrote more than {LOG_BYTES} bytes of log; the rest is dropped"
                ),
            );
            return;
        }
        self.log_left -= line.len();
        self.log.write(level, source, line);
    }

    /// Bytes of the header fields the host holds for the plugin: counted
    /// from the resource table itself, so nothing can be left out.
    fn host_bytes(&mut self) -> u64 {
        self.table
            .iter_mut()
            .filter_map(|entry| entry.downcast_ref::<FieldMap>())
            .flat_map(|fields| fields.iter())
            .map(|(name, value)| (name.as_str().len() + value.len()) as u64)
            .sum()
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl contract::watchdog::integration::types::Host for RunState {}

impl contract::watchdog::integration::host::Host for RunState {
    fn log(&mut self, level: contract::LogLevel, message: String) {
        self.plugin_line(level.into(), Source::Plugin, &message);
    }

    fn emit(&mut self, batch: Vec<contract::Evidence>) -> Result<(), PluginError> {
        let Some(writer) = self.evidence.as_ref() else {
            return Err(PluginError::Internal(
                "evidence is accepted only during collect".into(),
            ));
        };
        let accepted = writer.lock().expect("evidence lock").accept(batch);
        accepted.map(|_| ()).inspect_err(|e| {
            self.log
                .host(Level::Error, &format!("refused an evidence batch: {e:?}"));
        })
    }
}

/// One instance of a plugin, in its own store, for one run.
pub struct Session {
    store: Store<RunState>,
    bindings: contract::Plugin,
    limits: Limits,
    outbound: Arc<Outbound>,
}

impl Plugin {
    /// A fresh instance with the run's grant and limits. `evidence` is the
    /// writer `emit` feeds, for `collect` only.
    pub async fn instantiate(
        &self,
        grant: Arc<Grant>,
        limits: Limits,
        log: RunLog,
        outbound: Arc<Outbound>,
        evidence: Option<SharedEvidence>,
    ) -> Result<Session, CallError> {
        let stdout = MemoryOutputPipe::new(STDIO_CAPACITY);
        let stderr = MemoryOutputPipe::new(STDIO_CAPACITY);
        // Nothing but captured stdio: no env, args, preopens, sockets or DNS.
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let engine = self.pre.engine();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(FIELD_BYTES);
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut store = Store::new(
            engine,
            RunState {
                wasi,
                http,
                table,
                hooks: Hooks {
                    outbound: outbound.clone(),
                },
                meter: Meter::new(limits),
                log: log.with_scrubber(grant.scrubber.clone()),
                stdout,
                stderr,
                stdio_logged: [0, 0],
                log_left: LOG_BYTES,
                evidence,
            },
        );
        store.limiter(|state| &mut state.meter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let meter = &mut ctx.data_mut().meter;
            let sample = CpuSample::now();
            meter.tick(sample)?;
            Ok(match meter.slice_spent(sample) {
                true => UpdateDeadline::Yield(1),
                false => UpdateDeadline::Continue(1),
            })
        });
        // Each return from the host recounts what it holds for the plugin,
        // so a plugin cannot pile up header fields between two ticks.
        store.call_hook(|mut ctx, hook| {
            if let CallHook::ReturningFromHost = hook {
                let state = ctx.data_mut();
                let bytes = state.host_bytes();
                state.meter.charge_host(bytes)?;
            }
            Ok(())
        });
        let bindings = guard(limits, self.pre.instantiate_async(&mut store)).await?;
        Ok(Session {
            store,
            bindings,
            limits,
            outbound,
        })
    }
}

/// Runs a call with the wall-clock limit, turning traps into [`CallError`]s.
async fn guard<R>(
    limits: Limits,
    call: impl Future<Output = wasmtime::Result<R>>,
) -> Result<R, CallError> {
    match tokio::time::timeout(limits.wall_per_call, call).await {
        Err(_) => Err(Violation::WallClock {
            limit: limits.wall_per_call,
        }
        .into()),
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => match error.downcast_ref::<Violation>() {
            Some(violation) => Err(violation.clone().into()),
            None => Err(CallError::Trap(Crash::Trap(format!("{error:#}")))),
        },
    }
}

impl Session {
    fn begin(&mut self) {
        self.store.data_mut().meter.start_call();
        self.outbound
            .set_deadline(Instant::now() + self.limits.wall_per_call);
        self.store.set_epoch_deadline(1);
    }

    /// Moves what the guest printed into the log, line by line. Returns
    /// what it printed to stderr since the last drain, scrubbed of secrets.
    fn drain_stdio(&mut self) -> String {
        let state = self.store.data_mut();
        let pipes = [
            (state.stdout.clone(), Source::Stdout),
            (state.stderr.clone(), Source::Stderr),
        ];
        let mut stderr = String::new();
        for (i, (pipe, source)) in pipes.into_iter().enumerate() {
            let bytes = pipe.contents();
            let fresh = &bytes[state.stdio_logged[i].min(bytes.len())..];
            let fresh = String::from_utf8_lossy(fresh);
            for line in fresh.lines() {
                state.plugin_line(Level::Info, source, line);
            }
            state.stdio_logged[i] = bytes.len();
            if source == Source::Stderr {
                stderr = state.log.scrub(&fresh).into_owned();
            }
        }
        stderr
    }

    async fn guarded<R>(
        &mut self,
        call: impl AsyncFnOnce(
            &contract::exports::watchdog::integration::integration::Guest,
            &mut Store<RunState>,
        ) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        self.begin();
        let iface = self.bindings.watchdog_integration_integration();
        let result = guard(self.limits, call(iface, &mut self.store)).await;
        let stderr = self.drain_stdio();
        result.map_err(|error| error.with_panic_from(&stderr))
    }

    /// Calls the plugin's `manifest` export.
    pub async fn manifest(&mut self) -> Result<Manifest, CallError> {
        self.guarded(async |i, s| i.call_manifest(s).await).await
    }

    /// Calls `configure` with the operator's configuration and secrets.
    pub async fn configure(
        &mut self,
        config: &[ConfigEntry],
    ) -> Result<Result<(), PluginError>, CallError> {
        self.guarded(async |i, s| i.call_configure(s, config).await)
            .await
    }

    /// Calls `validate`: the plugin's checks of credentials and access.
    pub async fn validate(&mut self) -> Result<Result<Vec<Check>, PluginError>, CallError> {
        self.guarded(async |i, s| i.call_validate(s).await).await
    }

    /// Calls `collect`, resuming from `checkpoint` when given; its records
    /// reach the evidence writer as they are emitted.
    pub async fn collect(
        &mut self,
        checkpoint: Option<&str>,
    ) -> Result<Result<Summary, PluginError>, CallError> {
        self.guarded(async |i, s| i.call_collect(s, checkpoint).await)
            .await
    }

    /// Ends the session, dropping the instance (and with it any response the
    /// plugin left unread, which completes its ledger entry). Returns the
    /// plugin's peak memory: all its memories and tables and the header
    /// fields the host held for it.
    pub fn finish(mut self) -> u64 {
        self.drain_stdio();
        self.store.data().meter.peak_memory
    }
}
