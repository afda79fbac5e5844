//! Figure 1, sandbox overhead: the same collection natively and in the
//! sandbox, in pairs, alternating which goes first so that neither always
//! runs on a warmer machine. One untimed run of each side comes first
//! (page cache, simulator, allocator). Target: sandboxed wall time at most
//! 1.5 times native, as the median ratio of the pairs.

use crate::report::{Figure, Row, Spread, count, secs};
use crate::runs::{Runs, same_records};
use serde::Serialize;

const TARGET: f64 = 1.5;

#[derive(Serialize)]
struct Data {
    users: usize,
    events: usize,
    records: u64,
    native_secs: Vec<f64>,
    sandboxed_secs: Vec<f64>,
    ratio: Spread,
    native: Spread,
    sandboxed: Spread,
    /// CPU seconds of the whole process per collection (the simulator's
    /// included), each side.
    native_cpu: Spread,
    sandboxed_cpu: Spread,
    target_ratio: f64,
}

pub fn run(runs: &Runs, users: usize, events: usize, pairs: usize) -> anyhow::Result<Figure> {
    eprintln!("figure 1: warming up");
    let warm = runs.native()?;
    same_records(&warm, &runs.sandboxed()?.0)?;
    let (mut native, mut sandboxed, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut native_cpu, mut sandboxed_cpu) = (Vec::new(), Vec::new());
    for pair in 0..pairs {
        let (n, s) = if pair % 2 == 0 {
            let n = runs.native()?;
            (n, runs.sandboxed()?.0)
        } else {
            let s = runs.sandboxed()?.0;
            (runs.native()?, s)
        };
        same_records(&n, &s)?;
        let ratio = secs(s.elapsed) / secs(n.elapsed);
        eprintln!(
            "figure 1: pair {}/{pairs}: native {:.2} s ({:.2} s CPU), sandboxed {:.2} s ({:.2} s CPU), ratio {ratio:.2}",
            pair + 1,
            secs(n.elapsed),
            secs(n.cpu),
            secs(s.elapsed),
            secs(s.cpu)
        );
        native.push(secs(n.elapsed));
        sandboxed.push(secs(s.elapsed));
        native_cpu.push(secs(n.cpu));
        sandboxed_cpu.push(secs(s.cpu));
        ratios.push(ratio);
    }
    let data = Data {
        users,
        events,
        records: warm.records,
        ratio: Spread::of(&ratios),
        native: Spread::of(&native),
        sandboxed: Spread::of(&sandboxed),
        native_cpu: Spread::of(&native_cpu),
        sandboxed_cpu: Spread::of(&sandboxed_cpu),
        native_secs: native,
        sandboxed_secs: sandboxed,
        target_ratio: TARGET,
    };
    let rows = vec![
        Row::target(
            "1 sandbox overhead (sandboxed / native)",
            format!(
                "{:.2}x median, {:.2}-{:.2}x over {} pairs",
                data.ratio.median, data.ratio.min, data.ratio.max, data.ratio.n
            ),
            "<= 1.5x",
            data.ratio.median <= TARGET,
        ),
        Row::info(
            "  native / sandboxed wall time",
            format!(
                "{:.2} s / {:.2} s median ({} users, {} events, {} records)",
                data.native.median,
                data.sandboxed.median,
                count(users as u64),
                count(events as u64),
                count(data.records)
            ),
        ),
        Row::info(
            "  native / sandboxed CPU time",
            format!(
                "{:.2} s / {:.2} s median, every thread with the simulator's ({:.2}x)",
                data.native_cpu.median,
                data.sandboxed_cpu.median,
                data.sandboxed_cpu.median / data.native_cpu.median
            ),
        ),
    ];
    Ok(Figure {
        name: "overhead",
        rows,
        data: serde_json::to_value(&data)?,
    })
}
