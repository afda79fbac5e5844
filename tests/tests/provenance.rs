//! Provenance per record, end to end: the real probe in the real host over
//! loopback HTTP. A record's data must be a value of the complete 2xx body
//! of the exchange it cites, found among the pages that share its URL;
//! computed data passes only for a kind declared derived, marked so.
//! Requests leave framed as standard clients frame them, and each request
//! body is named in the ledger.

use sha2::{Digest, Sha256};
use std::path::PathBuf;
use watchdog_components::fixtures::PROBE;
use watchdog_e2e::{
    EMPTY_OK, Harness, PROBE_TOKEN, ProbeServer, RawServer, config, ledger_entries,
};
use watchdog_host::bundle::{self, HostInfo, Outcome, Record, Refused};
use watchdog_host::egress::Reroutes;
use watchdog_host::provenance::Unproven;
use watchdog_host::provenance::recheck::{RecheckError, Rechecked, recheck};
use watchdog_host::run::{Collected, Failure, exit};
use watchdog_host::sandbox::Limits;
use watchdog_host::tape::Tape;

/// Runs the probe with `behaviour` through `reroutes`, with `tape`.
async fn run(behaviour: &str, reroutes: Reroutes, tape: Tape) -> Collected {
    let harness = Harness::new(behaviour);
    let mut options = harness.options(Limits::default(), reroutes);
    options.tape = tape;
    let loaded = harness.open(PROBE, &options).await;
    let probe = config(&[("behaviour", behaviour)], &[("token", PROBE_TOKEN)]);
    harness
        .collect(&loaded, &probe, &options, "bundle", None)
        .await
        .unwrap()
}

/// Runs a hostile behaviour: the run fails as a plugin error, nothing of
/// it is in the bundle, which still verifies; returns the refusal.
async fn refused(behaviour: &str) -> Refused {
    let server = ProbeServer::start(0).await;
    let collected = run(behaviour, server.reroutes(), Tape::Live).await;
    assert_eq!(collected.run.outcome, Outcome::Failed, "{behaviour}");
    assert_eq!(collected.exit_code(), exit::PLUGIN, "{behaviour}");
    assert_eq!(collected.run.evidence_records, 0, "{behaviour}");
    assert_eq!(collected.run.evidence_rejected, 1, "{behaviour}");
    bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
    match collected.failure {
        Some(Failure::Evidence { rejected: 1, first }) => first,
        other => panic!("{behaviour}: expected an evidence refusal, got {other:?}"),
    }
}

fn unproven(kind: &str, id: &str, path: &str, why: Unproven) -> Refused {
    Refused::Unproven {
        kind: kind.into(),
        id: id.into(),
        method: "GET".into(),
        url: format!("https://api.example.com{path}"),
        why,
    }
}

fn records(collected: &Collected) -> Vec<Record> {
    std::fs::read_to_string(collected.dir.join(bundle::EVIDENCE_FILE))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn fabricated_data_citing_a_real_page_is_refused() {
    assert_eq!(
        refused("fabricate").await,
        unproven("test.item", "item-1", "/items", Unproven::NotInBody)
    );
}

#[tokio::test]
async fn a_record_citing_a_404_is_refused_though_its_data_is_the_404s_body() {
    assert_eq!(
        refused("cite-404").await,
        unproven(
            "test.item",
            "missing",
            "/missing",
            Unproven::NotSuccess { status: 404 }
        )
    );
}

#[tokio::test]
async fn a_record_of_one_list_cited_as_read_from_another_is_refused() {
    assert_eq!(
        refused("cite-other-page").await,
        unproven("test.item", "group-1", "/items", Unproven::NotInBody)
    );
}

#[tokio::test]
async fn a_record_citing_a_request_never_made_is_refused() {
    assert_eq!(
        refused("uncited").await,
        unproven("test.item", "x", "/never-fetched", Unproven::NotCarried)
    );
}

#[tokio::test]
async fn computed_data_of_a_derived_kind_is_accepted_and_marked_derived() {
    let server = ProbeServer::start(0).await;
    let collected = run("derived", server.reroutes(), Tape::Live).await;
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    let text = std::fs::read_to_string(collected.dir.join(bundle::EVIDENCE_FILE)).unwrap();
    assert!(
        text.contains(r#""derived":true,"data":{"items":3}"#),
        "{text}"
    );
    let records = records(&collected);
    assert!(records[0].derived && records[0].kind == "test.summary.derived");
    bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
}

/// The pages of a POST search share a URL; each record cites the page it
/// came from, which the ledger names by its request body's SHA-256.
fn assert_each_record_cites_its_page(collected: &Collected) {
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries.len(), 3);
    let records = records(collected);
    assert_eq!(records.len(), 6);
    for record in &records {
        let page = record.id.split('-').nth(1).unwrap();
        let cited = entries
            .iter()
            .find(|e| e.exchange.seq == record.source.ledger_seq)
            .unwrap();
        assert_eq!(
            cited.exchange.request_sha256.as_deref(),
            Some(sha256(&format!("{{\"page\":{page}}}")).as_str()),
            "{} cites request {}",
            record.id,
            cited.exchange.seq
        );
        assert!(!record.derived);
    }
}

#[tokio::test]
async fn each_page_of_a_post_search_is_cited_and_named_by_its_request_body() {
    let server = ProbeServer::start(0).await;
    let collected = run("search-pages", server.reroutes(), Tape::Live).await;
    assert_each_record_cites_its_page(&collected);
    let hashes: std::collections::BTreeSet<_> = ledger_entries(&collected.dir)
        .into_iter()
        .map(|e| e.exchange.request_sha256)
        .collect();
    assert_eq!(hashes.len(), 3, "three pages, three request bodies");
    bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
}

/// A fresh folder for a recording.
fn recording(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("watchdog-e2e-tape-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn a_replayed_search_serves_each_page_for_its_request_body() {
    let server = ProbeServer::start(0).await;
    let recording = recording("search-replay");
    let live = run(
        "search-pages",
        server.reroutes(),
        Tape::Record(recording.clone()),
    )
    .await;
    assert_each_record_cites_its_page(&live);
    let replayed = run("search-pages", Reroutes::default(), Tape::Replay(recording)).await;
    assert_each_record_cites_its_page(&replayed);
}

#[tokio::test]
async fn a_request_body_goes_with_its_length_and_every_request_names_its_client() {
    let server = RawServer::start(|_| EMPTY_OK.to_vec()).await;
    let collected = run("search-pages", server.reroutes(), Tape::Live).await;
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    let agent = format!(
        "user-agent: probe/0.1.0 watchdog-host/{}\r\n",
        HostInfo::current().version
    );
    let heads = server.requests.lock().unwrap().clone();
    assert_eq!(heads.len(), 3);
    for head in heads {
        let lower = head.to_ascii_lowercase();
        assert!(lower.starts_with("post /search http/1.1\r\n"), "{head}");
        assert!(lower.contains("\r\ncontent-length: 10\r\n"), "{head}");
        assert!(!lower.contains("transfer-encoding"), "{head}");
        assert!(lower.contains(&agent), "{head}");
    }
}

#[tokio::test]
async fn verify_with_the_runs_recording_rechecks_every_span_and_refuses_another_runs() {
    let server = ProbeServer::start(0).await;
    let (tape, other_tape) = (recording("recheck"), recording("recheck-other"));
    let collected = run(
        "search-pages",
        server.reroutes(),
        Tape::Record(tape.clone()),
    )
    .await;
    assert_eq!(
        recheck(&collected.dir, &tape).unwrap(),
        Rechecked {
            spans: 6,
            derived: 0
        }
    );

    let derived = run(
        "derived",
        server.reroutes(),
        Tape::Record(other_tape.clone()),
    )
    .await;
    assert_eq!(
        recheck(&derived.dir, &other_tape).unwrap(),
        Rechecked {
            spans: 0,
            derived: 1
        }
    );
    assert!(matches!(
        recheck(&collected.dir, &other_tape),
        Err(RecheckError::NotThisRun { seq: 0 })
    ));

    // A record edited after the run (its hash rewritten too) is no span.
    let path = collected.dir.join(bundle::EVIDENCE_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(r#""data":{"id":"s-2-1"}"#, r#""data":{"id":"s-2-9"}"#, 1),
    )
    .unwrap();
    assert!(matches!(
        recheck(&collected.dir, &tape),
        Err(RecheckError::NotInBody { kind, id, .. }) if kind == "test.item" && id == "s-2-1"
    ));
}
