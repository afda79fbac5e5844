//! Figure 2, latency bound: with a fixed latency on every request, a
//! collection can take no less than its critical path (see [`crate::critical`])
//! times that latency; independent lists must be fetched in parallel to come
//! close. Target: the sandboxed collection within 1.2 times the bound. The
//! native collection is shown beside it, to tell the sandbox's share from the
//! schedule's.

use crate::critical::requests_on_critical_path;
use crate::report::{Figure, Row, count, secs};
use crate::runs::{Runs, same_records};
use serde::Serialize;
use std::time::Duration;

const TARGET: f64 = 1.2;

#[derive(Serialize)]
struct Data {
    users: usize,
    events: usize,
    latency_ms: u64,
    requests: u64,
    critical_path_requests: u64,
    bound_secs: f64,
    sandboxed_secs: f64,
    native_secs: f64,
    sandboxed_ratio: f64,
    native_ratio: f64,
    target_ratio: f64,
}

pub fn run(runs: &Runs, users: usize, events: usize, latency: Duration) -> anyhow::Result<Figure> {
    eprintln!(
        "figure 2: sandboxed with {} ms latency",
        latency.as_millis()
    );
    let (sandboxed, collected) = runs.sandboxed()?;
    let depth = requests_on_critical_path(&collected.dir)?;
    eprintln!("figure 2: native with {} ms latency", latency.as_millis());
    let native = runs.native()?;
    same_records(&native, &sandboxed)?;
    let bound = secs(latency) * depth as f64;
    let data = Data {
        users,
        events,
        latency_ms: latency.as_millis() as u64,
        requests: collected.run.traffic.requests,
        critical_path_requests: depth,
        bound_secs: bound,
        sandboxed_secs: secs(sandboxed.elapsed),
        native_secs: secs(native.elapsed),
        sandboxed_ratio: secs(sandboxed.elapsed) / bound,
        native_ratio: secs(native.elapsed) / bound,
        target_ratio: TARGET,
    };
    let rows = vec![
        Row::target(
            &format!("2 latency bound ({} ms a request)", data.latency_ms),
            format!(
                "{:.2}x: {:.2} s sandboxed vs bound {:.2} s",
                data.sandboxed_ratio, data.sandboxed_secs, bound
            ),
            "<= 1.2x",
            data.sandboxed_ratio <= TARGET,
        ),
        Row::info(
            "  critical path; native",
            format!(
                "{depth} of {} requests; native {:.2} s ({:.2}x)",
                count(data.requests),
                data.native_secs,
                data.native_ratio
            ),
        ),
    ];
    Ok(Figure {
        name: "latency",
        rows,
        data: serde_json::to_value(&data)?,
    })
}
