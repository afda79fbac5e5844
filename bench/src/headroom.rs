//! Figure 5, simulator headroom: the pages of a native collection fetched
//! again by the plain HTTP client alone, nothing parsed or written, in
//! batches as large as the collection's (the in-flight cap). If the simulator
//! serves them much faster than even the native logic consumes them, the
//! collections of figure 1 measure our code and not the simulator.

use crate::native::{NativeTransport, Recorder};
use crate::report::{Figure, Row, count, mib, secs};
use crate::runs::Runs;
use anyhow::{anyhow, ensure};
use atlassian_cloud_admin::{Limits, Transport};
use serde::Serialize;
use std::time::Instant;

#[derive(Serialize)]
struct Data {
    pages: u64,
    bytes: u64,
    plain_client_secs: f64,
    native_collection_secs: f64,
    headroom: f64,
}

pub fn run(runs: &Runs) -> anyhow::Result<Figure> {
    eprintln!("figure 5: a native collection, then its pages again with a plain client");
    let (collection, recorder) = runs.native_through(|sim| {
        Ok(Recorder {
            inner: NativeTransport::new(sim.base_url())?,
            requests: Vec::new(),
        })
    })?;
    let requests = recorder.requests;

    let started = Instant::now();
    let mut plain = NativeTransport::new(runs.sim.base_url())?;
    let mut bytes = 0;
    for batch in requests.chunks(Limits::default().max_in_flight) {
        for answer in plain.send_all(batch.to_vec(), &mut || {}) {
            let response = answer.map_err(|e| anyhow!("replaying a page: {e:?}"))?;
            ensure!(
                response.status == 200,
                "a replayed page answered {}",
                response.status
            );
            bytes += response.body.len() as u64;
        }
    }
    let replay = started.elapsed();
    let data = Data {
        pages: requests.len() as u64,
        bytes,
        plain_client_secs: secs(replay),
        native_collection_secs: secs(collection.elapsed),
        headroom: secs(collection.elapsed) / secs(replay),
    };
    let rows = vec![Row::target(
        "5 simulator headroom (plain client)",
        format!(
            "{} pages, {:.0} MiB in {:.2} s: {:.1}x faster than native collection ({:.2} s)",
            count(data.pages),
            mib(bytes),
            data.plain_client_secs,
            data.headroom,
            data.native_collection_secs
        ),
        "faster than consumed",
        data.headroom > 1.0,
    )];
    Ok(Figure {
        name: "headroom",
        rows,
        data: serde_json::to_value(&data)?,
    })
}
