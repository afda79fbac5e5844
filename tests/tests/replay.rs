//! Record and replay through the host's HTTP hook: a recording of a real
//! collection serves the same evidence back with no network, through the
//! same egress policy, and a request it does not hold fails typed.

use atlassian_sim::{SimConfig, SimHandle};
use std::collections::BTreeSet;
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_components::fixtures::PROBE;
use watchdog_e2e::{Harness, PROBE_TOKEN, ProbeServer, bundle_text, config, ledger_entries};
use watchdog_host::bundle::{self, Record};
use watchdog_host::egress::Reroutes;
use watchdog_host::ledger;
use watchdog_host::run::{Collected, Failure, exit};
use watchdog_host::sandbox::Limits;
use watchdog_host::tape::{self, Tape, TapeError};

const KEY: &str = "replay-key-4e71d2b9";

/// Evidence as (kind, id, source method, source URL, data): everything but
/// when it was collected and which ledger entry it cites.
fn evidence(collected: &Collected) -> BTreeSet<(String, String, String, String, String)> {
    std::fs::read_to_string(collected.dir.join(bundle::EVIDENCE_FILE))
        .unwrap()
        .lines()
        .map(|line| {
            let r: Record = serde_json::from_str(line).unwrap();
            (
                r.kind,
                r.id,
                r.source.method,
                r.source.url,
                r.data.to_string(),
            )
        })
        .collect()
}

/// Every file of a recording, concatenated.
fn recording_text(dir: &std::path::Path) -> String {
    let mut text = std::fs::read_to_string(dir.join(tape::INDEX_FILE)).unwrap();
    for entry in std::fs::read_dir(dir.join(tape::BODIES_DIR)).unwrap() {
        text.push_str(&String::from_utf8_lossy(
            &std::fs::read(entry.unwrap().path()).unwrap(),
        ));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_collection_yields_the_recorded_evidence_with_the_simulator_shut_down() {
    let sim = SimHandle::start(SimConfig {
        api_key: KEY.into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let harness = Harness::new("replay-atlassian");
    let recording = harness.scratch.join("recording");
    let run_config = config(&[("org-id", sim.org_id())], &[("api-key", KEY)]);

    let reroutes =
        Reroutes::parse([format!("https://api.atlassian.com={}", sim.base_url()).as_str()])
            .unwrap();
    let mut live = harness.options(Limits::default(), reroutes);
    live.tape = Tape::Record(recording.clone());
    let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &live).await;
    let recorded = harness
        .collect(&loaded, &run_config, &live, "live", None)
        .await
        .unwrap();
    assert!(recorded.failure.is_none(), "{:?}", recorded.failure);
    assert_eq!(recorded.run.tape, Tape::Record(recording.clone()));
    sim.shutdown().await;
    assert!(
        !recording_text(&recording).contains(KEY),
        "the key was recorded"
    );

    let mut replaying = harness.options(Limits::default(), Reroutes::default());
    replaying.tape = Tape::Replay(recording.clone());
    let replayed = harness
        .collect(&loaded, &run_config, &replaying, "replayed", None)
        .await
        .unwrap();
    assert!(replayed.failure.is_none(), "{:?}", replayed.failure);
    assert_eq!(evidence(&replayed), evidence(&recorded));
    assert_eq!(replayed.run.counts, recorded.run.counts);
    assert_eq!(
        serde_json::to_value(&replayed.run.findings).unwrap(),
        serde_json::to_value(&recorded.run.findings).unwrap()
    );
    assert_eq!(replayed.exit_code(), recorded.exit_code());

    // Replayed evidence is never mistaken for live: run.json and every
    // ledger entry say where it came from.
    assert_eq!(replayed.run.tape, Tape::Replay(recording.clone()));
    let label = format!("replay:{}", recording.display());
    let entries = ledger_entries(&replayed.dir);
    assert_eq!(entries.len() as u64, recorded.run.ledger_entries);
    assert!(
        entries
            .iter()
            .all(|e| e.exchange.routed_to.as_deref() == Some(&*label))
    );
    bundle::verify(&replayed.dir, Some(&replayed.run.seal.hash)).unwrap();
    assert!(!bundle_text(&replayed.dir).contains(KEY));
}

/// Records a well-behaved probe collection against the probe server.
async fn probe_recording(harness: &Harness) -> std::path::PathBuf {
    let server = ProbeServer::start(1024).await;
    let recording = harness
        .record_well_behaved_probe(PROBE, server.reroutes())
        .await;
    // The echo endpoint returned the injected header; the recording has it scrubbed.
    let text = recording_text(&recording);
    assert!(!text.contains(PROBE_TOKEN));
    assert!(text.contains("Bearer [REDACTED]"), "{text}");
    recording
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_the_recording_does_not_hold_fails_typed() {
    let harness = Harness::new("replay-unrecorded");
    let recording = probe_recording(&harness).await;
    let mut options = harness.options(Limits::default(), Reroutes::default());
    options.tape = Tape::Replay(recording);
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(
            &loaded,
            &config(&[("behaviour", "huge-response")], &[("token", PROBE_TOKEN)]),
            &options,
            "replayed",
            None,
        )
        .await
        .unwrap();
    let Some(Failure::Tape(TapeError::Unrecorded { method, url, .. })) = &collected.failure else {
        panic!(
            "expected an unrecorded request, got {:?}",
            collected.failure
        )
    };
    assert_eq!(
        (method.as_str(), url.as_str()),
        ("GET", "https://api.example.com/huge")
    );
    assert_eq!(collected.exit_code(), exit::USAGE);
    assert_eq!(collected.run.traffic.failed, 1);
    assert_eq!(
        ledger_entries(&collected.dir)[0].exchange.outcome,
        ledger::Outcome::Failed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replay_is_held_to_the_egress_policy() {
    let harness = Harness::new("replay-egress");
    let recording = probe_recording(&harness).await;
    let mut options = harness.options(Limits::default(), Reroutes::default());
    options.tape = Tape::Replay(recording);
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(
            &loaded,
            &config(
                &[("behaviour", "undeclared-origin")],
                &[("token", PROBE_TOKEN)],
            ),
            &options,
            "replayed",
            None,
        )
        .await
        .unwrap();
    assert_eq!(collected.run.traffic.denied, 1);
    assert_eq!(collected.exit_code(), exit::SANDBOX);
    assert_eq!(
        ledger_entries(&collected.dir)[0].exchange.outcome,
        ledger::Outcome::Denied
    );
}
