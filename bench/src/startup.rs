//! Figure 3, start-up: [`Loaded::open`] (read the component, load it, check
//! the contract, instantiate it with an empty grant and call `manifest()`),
//! first with an empty cache (it compiles and stores the artifact), then
//! many times from the cache, as every later CLI run does. Target: the cached
//! start under 20 ms, as a median.

use crate::report::{Figure, Row, Spread, millis, secs};
use crate::sandboxed::{component, options, runtime};
use crate::scratch::Scratch;
use anyhow::ensure;
use serde::Serialize;
use std::time::Instant;
use watchdog_host::cache::Compilation;
use watchdog_host::run::Loaded;

const TARGET_MS: f64 = 20.0;

#[derive(Serialize)]
struct Data {
    engine_ms: f64,
    first_start_secs: f64,
    cached_start_ms: Spread,
    cached_load_ms: Spread,
    instantiate_manifest_ms: Spread,
    target_ms: f64,
}

pub fn run(host: &tokio::runtime::Runtime, scratch: &Scratch, n: usize) -> anyhow::Result<Figure> {
    eprintln!("figure 3: first start, then {n} cached starts");
    let cache_dir = scratch.fresh("startup-cache")?;
    let started = Instant::now();
    let wasm = runtime(&cache_dir)?;
    let engine = started.elapsed();
    let options = options(None)?;
    let open = || {
        let started = Instant::now();
        let loaded = host.block_on(Loaded::open(&wasm, component(), &options))?;
        anyhow::Ok((started.elapsed(), loaded))
    };
    let (first, loaded) = open()?;
    ensure!(
        loaded.plugin.origin == Compilation::Compiled,
        "the first start did not compile"
    );
    let (mut total, mut load, mut instantiate) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let (elapsed, loaded) = open()?;
        ensure!(
            loaded.plugin.origin == Compilation::Cached,
            "a later start missed the cache"
        );
        total.push(millis(elapsed));
        load.push(millis(loaded.plugin.load_time));
        instantiate.push(millis(elapsed.saturating_sub(loaded.plugin.load_time)));
    }
    let data = Data {
        engine_ms: millis(engine),
        first_start_secs: secs(first),
        cached_start_ms: Spread::of(&total),
        cached_load_ms: Spread::of(&load),
        instantiate_manifest_ms: Spread::of(&instantiate),
        target_ms: TARGET_MS,
    };
    let rows = vec![
        Row::target(
            "3 start-up, cached: load + instantiate + manifest()",
            format!(
                "{:.1} ms median of {} ({:.1}-{:.1})",
                data.cached_start_ms.median,
                data.cached_start_ms.n,
                data.cached_start_ms.min,
                data.cached_start_ms.max
            ),
            "< 20 ms",
            data.cached_start_ms.median < TARGET_MS,
        ),
        Row::info(
            "  cached load; instantiate + manifest()",
            format!(
                "{:.1} ms; {:.1} ms (medians)",
                data.cached_load_ms.median, data.instantiate_manifest_ms.median
            ),
        ),
        Row::info(
            "  first start (compile, store in cache)",
            format!(
                "{:.2} s; engine and linker once per process {:.1} ms",
                data.first_start_secs, data.engine_ms
            ),
        ),
    ];
    Ok(Figure {
        name: "startup",
        rows,
        data: serde_json::to_value(&data)?,
    })
}
