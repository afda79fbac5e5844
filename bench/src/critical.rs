//! The critical path the API imposes on a collection: the longest chain of
//! requests each of which needs an answer to the one before. No client can
//! finish sooner than its length times the latency of a request.
//!
//! It is read from a sandboxed run's bundle: the ledger lists every request
//! in order, the evidence says which request each record came from. A request
//! waits for the previous page of its own list (same method and path). The
//! first page of a list waits for the page holding the record it is about:
//! the rightmost segment of its path that is a record's id (a directory for
//! its users and groups, a user or group for its role assignments). A list
//! about no record waits for the org, the first request of every collection.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use watchdog_host::bundle::{EVIDENCE_FILE, LEDGER_FILE};
use watchdog_host::ledger::Entry;

/// The org's own id is in every path; it names no list's parent.
const KIND_ORG: &str = "atlassian.org";

/// The fields of an evidence line this needs.
#[derive(Deserialize)]
struct Cited {
    kind: String,
    id: String,
    source: CitedSource,
}

#[derive(Deserialize)]
struct CitedSource {
    ledger_seq: u64,
}

/// The number of requests on the critical path of the run in `bundle`.
pub fn requests_on_critical_path(bundle: &Path) -> anyhow::Result<u64> {
    let mut entries: Vec<Entry> = lines(&bundle.join(LEDGER_FILE))?;
    entries.sort_by_key(|e| e.exchange.seq);
    let mut cited_by: HashMap<String, u64> = HashMap::new();
    for cited in lines::<Cited>(&bundle.join(EVIDENCE_FILE))? {
        if cited.kind != KIND_ORG {
            cited_by.entry(cited.id).or_insert(cited.source.ledger_seq);
        }
    }
    let Some(root) = entries.first().map(|e| e.exchange.seq) else {
        bail!("the run made no request");
    };
    let mut depth: HashMap<u64, u64> = HashMap::new();
    let mut last_page: HashMap<(String, String), u64> = HashMap::new();
    for entry in &entries {
        let path = entry
            .exchange
            .url
            .parse::<http::Uri>()
            .with_context(|| format!("ledger URL {}", entry.exchange.url))?
            .path()
            .to_owned();
        let list = (entry.exchange.method.clone(), path);
        let waits_for = match last_page.get(&list) {
            Some(&previous) => Some(previous),
            None if entry.exchange.seq == root => None,
            None => Some(
                list.1
                    .rsplit('/')
                    .find_map(|segment| cited_by.get(segment).copied())
                    .unwrap_or(root),
            ),
        };
        let own = waits_for.map_or(1, |seq| depth.get(&seq).copied().unwrap_or(0) + 1);
        depth.insert(entry.exchange.seq, own);
        last_page.insert(list, entry.exchange.seq);
    }
    Ok(depth.values().copied().max().unwrap_or(0))
}

/// Every line of a JSON-lines file.
fn lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&line).with_context(|| format!("a line of {}", path.display()))
        })
        .collect()
}
