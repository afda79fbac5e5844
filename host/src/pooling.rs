//! How the engine allocates plugin instances: on demand (the CLI, one run a
//! process), or from wasmtime's pooling allocator (a worker running many at
//! once), which reserves the slots of every memory, table and stack up
//! front and reuses them, so an instance costs no `mmap` to start.
//!
//! The pool is sized from the worker's cap on concurrent runs and the
//! per-run memory limit. Each run may have what the sandbox allows any
//! plugin ([`MAX_INSTANCES`], [`MAX_MEMORIES`], [`MAX_TABLES`]), so a
//! component that runs on demand also fits the pool. Each memory slot
//! reserves only the per-run memory limit of address space (not the 4 GiB
//! wasmtime reserves by default), which a plugin's whole memory is capped at
//! anyway: 1,000 runs of 16 memories at 256 MiB are 4 TiB of address space,
//! none of it resident until used. The [`crate::sandbox::Meter`] still
//! limits every run, the pool only bounds what the limit could not exceed.

use crate::sandbox::{MAX_INSTANCES, MAX_MEMORIES, MAX_TABLES};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How instances are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Allocation {
    /// Each instance maps its own memory (wasmtime's default).
    #[default]
    OnDemand,
    /// Slots reserved up front for this many runs.
    Pooling(PoolSize),
}

/// What the pool must hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// Runs at once: the worker's cap.
    pub runs: u32,
    /// The largest memory limit of any run, bytes ([`crate::sandbox::Limits::memory_bytes`]).
    pub memory_bytes: u64,
}

/// Guard pages after each memory slot: a fault in the guard is a trap,
/// bounds checks cover the rest, and a small guard keeps 1,000 slots small.
const GUARD_BYTES: u64 = 2 << 20;

/// Elements of one table: a Rust or Python plugin's function table holds a
/// few thousand.
const TABLE_ELEMENTS: usize = 20_000;

impl Allocation {
    /// Applies this strategy to an engine's configuration.
    pub fn configure(self, config: &mut Config) {
        let Allocation::Pooling(size) = self else {
            return;
        };
        // One instance more than the cap: the manifest's, read when a
        // component is first loaded, while runs of others go on.
        let instances = size.runs.saturating_add(1);
        let per_run = |n: usize| instances.saturating_mul(n as u32);
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            .total_stacks(instances)
            .total_core_instances(per_run(MAX_INSTANCES))
            .total_memories(per_run(MAX_MEMORIES))
            .total_tables(per_run(MAX_TABLES))
            .max_core_instances_per_component(MAX_INSTANCES as u32)
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_memories_per_module(MAX_MEMORIES as u32)
            .max_tables_per_module(MAX_TABLES as u32)
            .table_elements(TABLE_ELEMENTS)
            .max_memory_size(usize::try_from(size.memory_bytes).unwrap_or(usize::MAX));
        config
            .memory_reservation(size.memory_bytes)
            .memory_guard_size(GUARD_BYTES)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
}
