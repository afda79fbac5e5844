//! Sandbox limits and how they are enforced: memory through a
//! [`wasmtime::ResourceLimiter`] and the host's own count of what it holds for
//! the plugin, CPU through epoch ticks, wall-clock time per call, response
//! size and requests in flight (enforced in [`crate::outbound`]).
//!
//! Memory is one budget for the whole plugin: every linear memory and table
//! of every core instance, plus the header fields the host holds for it
//! (see [`Meter::charge_host`]). A component cannot multiply the cap by
//! declaring more memories, tables or modules, and their numbers are capped
//! too.
//!
//! CPU is the CPU time of the thread that runs the plugin, read at each
//! epoch tick ([`TICK`]) while the guest runs: between two ticks on the same
//! thread, everything that thread did is charged, the guest's own code and
//! the host's work for it (scrubbing, header fields, evidence). Time the
//! thread spent blocked, waiting on the network, uses no CPU and is not
//! charged. When the plugin resumed on another thread of the runtime, one
//! tick is charged. On a runtime shared with other work, that work may be
//! charged to the plugin whose thread ran it: the count errs high, never low.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::ThreadId;
use std::time::Duration;
use wasmtime::{Engine, ResourceLimiter};

/// How often the engine's epoch advances.
pub const TICK: Duration = Duration::from_millis(10);

/// The CPU a plugin runs before it yields its thread to the other runs'
/// work. A guest yields when it has used a slice, not at every tick:
/// yielding at a tick that merely falls inside a short call (an instance's
/// start-up, a page's processing) sends that call to the back of a queue
/// of a thousand runs, for nothing; a guest that keeps running still
/// yields within two ticks.
pub const SLICE: Duration = TICK;

/// The limits of one run. Each is a CLI flag; these defaults suit a
/// collection of a large organization. `run.json` keeps them, durations in
/// milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// The plugin's memory, bytes: every linear memory and table, and the
    /// header fields the host holds for it.
    pub memory_bytes: u64,
    /// Guest CPU per call.
    #[serde(rename = "cpu_per_call_ms", with = "millis")]
    pub cpu_per_call: Duration,
    /// Wall-clock time per call.
    #[serde(rename = "wall_per_call_ms", with = "millis")]
    pub wall_per_call: Duration,
    /// Largest response body delivered to the guest, bytes.
    pub response_bytes: u64,
    /// Requests waiting for a response at once.
    pub requests_in_flight: usize,
    /// Connect timeout per request (also bounded by the call's remaining time).
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// Time to the first response byte and between bytes.
    #[serde(rename = "read_timeout_ms", with = "millis")]
    pub read_timeout: Duration,
}

/// A duration as whole milliseconds, as `run.json` writes limits.
mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        <u64 as serde::Deserialize>::deserialize(d).map(Duration::from_millis)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            cpu_per_call: Duration::from_secs(300),
            wall_per_call: Duration::from_secs(1800),
            response_bytes: 16 << 20,
            requests_in_flight: 8,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// The limits of the `manifest` call, which runs before the operator has
    /// granted anything, and is all `inspect` runs on a component nobody
    /// approved yet: a manifest is a constant to build, so it gets
    /// [`MANIFEST_CPU`], [`MANIFEST_WALL`] and [`MANIFEST_MEMORY`] (or the
    /// run's own limits, if tighter), not a collection's.
    pub fn for_manifest(self) -> Limits {
        Limits {
            memory_bytes: self.memory_bytes.min(MANIFEST_MEMORY),
            cpu_per_call: self.cpu_per_call.min(MANIFEST_CPU),
            wall_per_call: self.wall_per_call.min(MANIFEST_WALL),
            ..self
        }
    }
}

/// CPU for instantiating a plugin and building its manifest: a Python
/// component needs well under a second.
pub const MANIFEST_CPU: Duration = Duration::from_secs(2);
/// Wall-clock time for the same, on a loaded machine.
pub const MANIFEST_WALL: Duration = Duration::from_secs(10);
/// Memory for the same: a Python component's interpreter fits.
pub const MANIFEST_MEMORY: u64 = 64 << 20;

/// A limit the guest crossed. Returned as the trap's error so the caller can
/// tell a sandbox violation from a plugin bug. Each names the flag that sets
/// its limit, so an operator whose plugin needs more knows what to raise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error(
        "the plugin's memory would exceed {limit} bytes (asked for {requested}); \
         --memory-mib sets this limit"
    )]
    /// Memories, tables and host-held fields together would pass the limit.
    Memory {
        /// The limit, bytes.
        limit: u64,
        /// The total the plugin would have reached, bytes.
        requested: u64,
    },
    #[error("guest used more than {limit:?} of CPU in one call; --cpu-secs sets this limit")]
    /// CPU charged in one call passed the limit.
    Cpu {
        /// The limit per call.
        limit: Duration,
    },
    #[error("call took longer than the wall-clock limit of {limit:?}; --wall-secs sets this limit")]
    /// One call ran longer than the limit, waiting included.
    WallClock {
        /// The limit per call.
        limit: Duration,
    },
    #[error("guest tables would exceed {limit} elements")]
    /// A table would grow past the elements any one table may have.
    Table {
        /// The limit, elements.
        limit: usize,
    },
}

/// Core instances, memories and tables one plugin may have: generous for
/// any real component (a Python one has a few dozen instances), small
/// enough that their fixed costs stay far below the memory budget.
pub const MAX_INSTANCES: usize = 100;
/// Linear memories one plugin may have, on the same reasoning.
pub const MAX_MEMORIES: usize = 16;
/// Tables one plugin may have, on the same reasoning.
pub const MAX_TABLES: usize = 100;

/// What one table element is charged: a pointer.
const TABLE_ELEMENT_BYTES: u64 = 8;

/// A reading of the plugin thread's CPU clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuSample {
    /// The thread read: a sample on another thread is not comparable.
    pub thread: ThreadId,
    /// That thread's CPU time since it started.
    pub cpu: Duration,
}

impl CpuSample {
    /// The calling thread's CPU time so far.
    pub fn now() -> CpuSample {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        CpuSample {
            thread: std::thread::current().id(),
            cpu: Duration::new(time.tv_sec as u64, time.tv_nsec as u32),
        }
    }
}

/// Enforces the memory limit, and counts CPU.
#[derive(Debug)]
pub struct Meter {
    limits: Limits,
    cpu_used: Duration,
    last_sample: Option<CpuSample>,
    /// Where the guest's current slice of CPU began ([`Meter::slice_spent`]).
    slice_start: Option<CpuSample>,
    /// Bytes of every linear memory and table now.
    wasm_bytes: u64,
    /// Bytes the host holds for the plugin, as last counted.
    host_bytes: u64,
    /// Largest total the plugin reached, for `run.json` and benchmarks.
    pub peak_memory: u64,
}

const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl Meter {
    /// A meter with nothing counted yet, enforcing `limits`.
    pub fn new(limits: Limits) -> Meter {
        Meter {
            limits,
            cpu_used: Duration::ZERO,
            last_sample: None,
            slice_start: None,
            wasm_bytes: 0,
            host_bytes: 0,
            peak_memory: 0,
        }
    }

    /// Starts a call: the CPU budget is per call.
    pub fn start_call(&mut self) {
        self.cpu_used = Duration::ZERO;
        self.last_sample = None;
        self.slice_start = None;
    }

    /// At an epoch tick: whether the guest has used a whole [`SLICE`] of
    /// its thread's CPU since its slice began, and so yields now (a new
    /// slice then begins at the next tick). The first tick of a slice, or
    /// one on another thread, only marks where the slice began.
    pub fn slice_spent(&mut self, sample: CpuSample) -> bool {
        match self.slice_start {
            Some(start) if start.thread == sample.thread => {
                let spent = sample.cpu.saturating_sub(start.cpu) >= SLICE;
                if spent {
                    self.slice_start = None;
                }
                spent
            }
            _ => {
                self.slice_start = Some(sample);
                false
            }
        }
    }

    /// Called on each epoch tick while the guest runs, with the running
    /// thread's CPU clock.
    pub fn tick(&mut self, sample: CpuSample) -> Result<(), Violation> {
        if let Some(last) = self.last_sample {
            self.cpu_used += match last.thread == sample.thread {
                true => sample.cpu.saturating_sub(last.cpu),
                false => TICK,
            };
        }
        self.last_sample = Some(sample);
        if self.cpu_used > self.limits.cpu_per_call {
            Err(Violation::Cpu {
                limit: self.limits.cpu_per_call,
            })
        } else {
            Ok(())
        }
    }

    /// Counts what the host now holds for the plugin against the same
    /// budget as its memories.
    pub fn charge_host(&mut self, bytes: u64) -> Result<(), Violation> {
        self.host_bytes = bytes;
        self.settle(self.wasm_bytes)
    }

    /// Makes `wasm_bytes` the plugin's wasm total if the budget allows it.
    fn settle(&mut self, wasm_bytes: u64) -> Result<(), Violation> {
        let total = wasm_bytes + self.host_bytes;
        if total > self.limits.memory_bytes {
            return Err(Violation::Memory {
                limit: self.limits.memory_bytes,
                requested: total,
            });
        }
        self.wasm_bytes = wasm_bytes;
        self.peak_memory = self.peak_memory.max(total);
        Ok(())
    }

    /// The plugin's wasm total with one memory or table resized.
    fn resized(&self, current: u64, desired: u64) -> u64 {
        (self.wasm_bytes + desired).saturating_sub(current)
    }
}

impl ResourceLimiter for Meter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.settle(self.resized(current as u64, desired as u64))?;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(Violation::Table {
                limit: MAX_TABLE_ELEMENTS,
            }
            .into());
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let bytes = |elements: usize| elements as u64 * TABLE_ELEMENT_BYTES;
        self.settle(self.resized(bytes(current), bytes(desired)))?;
        Ok(true)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}

/// Advances an engine's epoch every [`TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts a thread advancing `engine`'s epoch, which CPU and wall-clock
    /// limits need to interrupt a guest.
    pub fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("watchdog-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_written_to_run_json_in_milliseconds_and_read_back() {
        let limits = Limits::default();
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(
            json,
            r#"{"memory_bytes":268435456,"cpu_per_call_ms":300000,"wall_per_call_ms":1800000,"response_bytes":16777216,"requests_in_flight":8,"connect_timeout_ms":10000,"read_timeout_ms":60000}"#
        );
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), limits);
    }

    #[test]
    fn each_limit_error_names_the_flag_that_sets_it() {
        let second = Duration::from_secs(1);
        let said = [
            Violation::Memory {
                limit: 1 << 20,
                requested: 2 << 20,
            },
            Violation::Cpu { limit: second },
            Violation::WallClock { limit: second },
        ]
        .map(|v| v.to_string());
        assert_eq!(
            said,
            [
                "the plugin's memory would exceed 1048576 bytes (asked for 2097152); \
                 --memory-mib sets this limit",
                "guest used more than 1s of CPU in one call; --cpu-secs sets this limit",
                "call took longer than the wall-clock limit of 1s; --wall-secs sets this limit",
            ]
        );
    }

    fn meter(cpu_ms: u64) -> Meter {
        Meter::new(Limits {
            cpu_per_call: Duration::from_millis(cpu_ms),
            ..Limits::default()
        })
    }

    fn on_this_thread(cpu_ms: u64) -> CpuSample {
        CpuSample {
            thread: std::thread::current().id(),
            cpu: Duration::from_millis(cpu_ms),
        }
    }

    #[test]
    fn cpu_time_between_ticks_is_charged_however_far_apart() {
        let mut meter = meter(50);
        // Host calls of 30 ms each, as a tick apart never came: all charged.
        let mut result = Ok(());
        for i in 0..5 {
            result = meter.tick(on_this_thread(30 * i));
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(Violation::Cpu { .. })));
    }

    #[test]
    fn waiting_uses_no_cpu_and_is_not_charged() {
        let mut meter = meter(50);
        // A thread blocked on the network: its clock stands still.
        for _ in 0..100 {
            meter.tick(on_this_thread(7)).unwrap();
        }
    }

    #[test]
    fn a_guest_yields_after_a_slice_of_cpu_not_at_every_tick() {
        let mut meter = meter(1_000);
        // A short call a tick falls into: the slice begins, no yield.
        assert!(!meter.slice_spent(on_this_thread(100)));
        assert!(!meter.slice_spent(on_this_thread(103)));
        // A guest that keeps running yields once it used a slice...
        assert!(meter.slice_spent(on_this_thread(100 + SLICE.as_millis() as u64)));
        // ...and its next slice begins at the next tick.
        assert!(!meter.slice_spent(on_this_thread(200)));
        assert!(meter.slice_spent(on_this_thread(200 + SLICE.as_millis() as u64)));
        // A new call, or a move to another thread, begins a new slice.
        meter.start_call();
        assert!(!meter.slice_spent(on_this_thread(500)));
        let elsewhere = std::thread::spawn(CpuSample::now).join().unwrap();
        assert!(!meter.slice_spent(elsewhere));
    }

    #[test]
    fn a_move_to_another_thread_is_charged_one_tick() {
        let mut meter = meter(50);
        meter.tick(on_this_thread(1_000)).unwrap();
        let elsewhere = std::thread::spawn(CpuSample::now).join().unwrap();
        meter.tick(elsewhere).unwrap();
        assert_eq!(meter.cpu_used, TICK);
    }

    #[test]
    fn the_thread_clock_advances_with_work() {
        let before = CpuSample::now();
        let mut n = 0u64;
        while CpuSample::now().cpu < before.cpu + Duration::from_millis(5) {
            n = std::hint::black_box(n + 1);
        }
        assert_eq!(CpuSample::now().thread, before.thread);
    }

    #[test]
    fn memory_beyond_the_limit_is_a_violation() {
        let mut meter = Meter::new(Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        });
        assert!(meter.memory_growing(0, 1 << 19, None).unwrap());
        let err = meter.memory_growing(0, 2 << 20, None).unwrap_err();
        assert!(matches!(
            err.downcast_ref::<Violation>(),
            Some(Violation::Memory { .. })
        ));
        assert_eq!(meter.peak_memory, 1 << 19);
    }

    #[test]
    fn the_budget_is_the_total_of_every_memory_table_and_host_byte() {
        let mut meter = Meter::new(Limits {
            memory_bytes: 16 << 20,
            ..Limits::default()
        });
        // Three memories of 5 MiB fit; a fourth does not.
        for _ in 0..3 {
            assert!(meter.memory_growing(0, 5 << 20, None).unwrap());
        }
        let err = meter.memory_growing(0, 5 << 20, None).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Violation>(),
            Some(&Violation::Memory {
                limit: 16 << 20,
                requested: 20 << 20
            })
        );
        // Tables and the host's bytes count against what is left.
        assert!(meter.table_growing(0, 1 << 16, None).unwrap());
        assert_eq!(
            meter.charge_host(1 << 20),
            Err(Violation::Memory {
                limit: 16 << 20,
                requested: (15 << 20) + (1 << 19) + (1 << 20)
            })
        );
        assert_eq!(meter.peak_memory, (15 << 20) + (1 << 19));
    }

    /// A component of `instances` instances of one core module, each with
    /// a memory of `pages` 64 KiB pages (none if `pages` is `None`).
    fn component(instances: u32, pages: Option<u64>) -> Vec<u8> {
        use wasm_encoder::{
            Component, InstanceSection, MemorySection, MemoryType, Module, ModuleArg, ModuleSection,
        };
        let mut module = Module::new();
        if let Some(pages) = pages {
            let mut memories = MemorySection::new();
            memories.memory(MemoryType {
                minimum: pages,
                maximum: None,
                memory64: false,
                shared: false,
                page_size_log2: None,
            });
            module.section(&memories);
        }
        let mut component = Component::new();
        component.section(&ModuleSection(&module));
        let mut section = InstanceSection::new();
        for _ in 0..instances {
            section.instantiate(0, Vec::<(&str, ModuleArg)>::new());
        }
        component.section(&section);
        component.finish()
    }

    /// Instantiates a component under a [`Meter`], as the runtime does.
    fn instantiate(bytes: &[u8], memory_bytes: u64) -> wasmtime::Result<u64> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config)?;
        let component = wasmtime::component::Component::new(&engine, bytes)?;
        let linker = wasmtime::component::Linker::<Meter>::new(&engine);
        let mut store = wasmtime::Store::new(
            &engine,
            Meter::new(Limits {
                memory_bytes,
                ..Limits::default()
            }),
        );
        store.limiter(|meter| meter);
        linker.instantiate(&mut store, &component)?;
        Ok(store.data().peak_memory)
    }

    #[test]
    fn many_memories_share_one_budget() {
        // Four memories of 5 MiB: each under 16 MiB, together over.
        let err = instantiate(&component(4, Some(80)), 16 << 20).unwrap_err();
        assert_eq!(
            err.downcast_ref::<Violation>(),
            Some(&Violation::Memory {
                limit: 16 << 20,
                requested: 20 << 20
            })
        );
        // Three fit, and the peak reported is their total.
        assert_eq!(
            instantiate(&component(3, Some(80)), 16 << 20).unwrap(),
            15 << 20
        );
    }

    #[test]
    fn instances_and_memories_are_counted() {
        assert!(instantiate(&component(MAX_INSTANCES as u32, None), 16 << 20).is_ok());
        assert!(instantiate(&component(MAX_INSTANCES as u32 + 1, None), 16 << 20).is_err());
        let memories = MAX_MEMORIES as u32 + 1;
        let err = instantiate(&component(memories, Some(0)), 16 << 20).unwrap_err();
        assert!(format!("{err:#}").contains("memory"), "{err:#}");
    }
}
