//! A hostile plugin, end to end: the real probe component in the real host
//! over loopback HTTP, trying to see a secret the upstream reflects, to make
//! the host hold memory or connections for it, or to flood the log.

use std::time::Duration;
use watchdog_components::fixtures::PROBE;
use watchdog_e2e::{
    Harness, PROBE_TOKEN, ProbeServer, RawServer, bundle_text, config, ledger_entries,
    reflecting_response, reflections,
};
use watchdog_host::bundle::{self, Outcome};
use watchdog_host::contract::PluginError;
use watchdog_host::egress::Reroutes;
use watchdog_host::ledger::Outcome as Exchange;
use watchdog_host::run::{Collected, Failure};
use watchdog_host::runtime::{CallError, LOG_BYTES};
use watchdog_host::sandbox::{Limits, Violation};
use watchdog_host::tape::Tape;

/// Runs the probe with a behaviour, limits and an upstream.
async fn run(behaviour: &str, limits: Limits, reroutes: Reroutes) -> Collected {
    run_on_tape(behaviour, limits, reroutes, Tape::Live).await
}

async fn run_on_tape(behaviour: &str, limits: Limits, reroutes: Reroutes, tape: Tape) -> Collected {
    let harness = Harness::new(behaviour);
    let mut options = harness.options(limits, reroutes);
    options.tape = tape;
    let loaded = harness.open(PROBE, &options).await;
    let config = config(&[("behaviour", behaviour)], &[("token", PROBE_TOKEN)]);
    let collected = harness
        .collect(&loaded, &config, &options, "bundle", None)
        .await
        .unwrap();
    bundle::verify(&collected.dir, None).expect("every run leaves a sound bundle");
    collected
}

#[tokio::test]
async fn a_reflected_secret_reaches_the_plugin_in_no_spelling_and_no_part_of_the_response() {
    let server = RawServer::start(|_| reflecting_response(PROBE_TOKEN)).await;
    let collected = run("reflected", Limits::default(), server.reroutes()).await;
    // A body of one byte per chunk is read to its end.
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    assert_eq!(collected.run.outcome, Outcome::Complete);

    let text = bundle_text(&collected.dir);
    assert!(
        text.contains("[REDACTED]"),
        "the plugin read the reflection"
    );
    assert!(!text.contains(PROBE_TOKEN));
    for spelling in reflections(PROBE_TOKEN) {
        assert!(!text.contains(&spelling), "{spelling} reached the bundle");
    }
    assert!(
        text.contains("x-echo: \u{fffd} [REDACTED]"),
        "the header value with a byte outside ASCII was scrubbed"
    );
    assert!(
        text.contains("x-trailer: [REDACTED]"),
        "the trailer was read, scrubbed"
    );
}

#[tokio::test]
async fn a_recording_holds_no_reflected_secret_and_no_encoded_body() {
    let recordings =
        std::env::temp_dir().join(format!("watchdog-hostile-tape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&recordings);
    let reflecting = RawServer::start(|path| match path {
        "/gzip" => {
            b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 8\r\n\r\ngzipped!"
                .to_vec()
        }
        _ => reflecting_response(PROBE_TOKEN),
    })
    .await;
    for behaviour in ["reflected", "forced-gzip"] {
        std::fs::create_dir_all(recordings.join(behaviour)).unwrap();
        let tape = Tape::Record(recordings.join(behaviour));
        run_on_tape(behaviour, Limits::default(), reflecting.reroutes(), tape).await;
    }
    let mut recorded = String::new();
    for behaviour in ["reflected", "forced-gzip"] {
        let dir = recordings.join(behaviour);
        recorded.push_str(&bundle_text(&dir));
        recorded.push_str(&bundle_text(&dir.join(watchdog_host::tape::BODIES_DIR)));
    }
    assert!(
        recorded.contains("[REDACTED]"),
        "the reflection was recorded"
    );
    assert!(!recorded.contains(PROBE_TOKEN));
    for spelling in reflections(PROBE_TOKEN) {
        assert!(!recorded.contains(&spelling), "{spelling} was recorded");
    }
    assert!(
        !recorded.contains("gzipped!"),
        "an encoded body was recorded"
    );
}

#[tokio::test]
async fn the_host_asks_for_identity_whatever_encoding_the_plugin_asked_for() {
    let server = RawServer::start(|_| reflecting_response(PROBE_TOKEN)).await;
    run("reflected", Limits::default(), server.reroutes()).await;
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let head = requests[0].to_ascii_lowercase();
    assert!(head.contains("accept-encoding: identity\r\n"), "{head}");
    assert!(!head.contains("gzip"), "{head}");
}

#[tokio::test]
async fn an_encoded_response_is_refused_before_the_plugin_reads_it() {
    let server = RawServer::start(|_| {
        let body = b"\x1f\x8b\x08\x00compressed";
        let mut out = format!(
            "HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    })
    .await;
    let collected = run("forced-gzip", Limits::default(), server.reroutes()).await;
    let Some(Failure::Plugin(PluginError::Network(message))) = &collected.failure else {
        panic!("expected a network error, got {:?}", collected.failure)
    };
    assert!(message.contains("HttpResponseContentCoding"), "{message}");
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries[0].exchange.outcome, Exchange::Failed);
    assert_eq!(entries[0].exchange.bytes, 0);
    let detail = entries[0].exchange.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("content coding `gzip`"), "{detail}");
}

#[tokio::test]
async fn a_response_holds_its_in_flight_slot_until_its_body_ends() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        requests_in_flight: 2,
        wall_per_call: Duration::from_secs(2),
        ..Limits::default()
    };
    let collected = run("unread-bodies", limits, server.reroutes()).await;
    assert!(
        matches!(
            collected.failure,
            Some(Failure::Call(CallError::Sandbox(
                Violation::WallClock { .. }
            )))
        ),
        "{:?}",
        collected.failure
    );
    assert_eq!(
        server.authorizations.lock().unwrap().len(),
        2,
        "the third request waited for a slot"
    );
}

#[tokio::test]
async fn header_fields_the_host_holds_count_against_the_memory_cap() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..Limits::default()
    };
    let collected = run("header-hoard", limits, server.reroutes()).await;
    assert!(
        matches!(
            collected.failure,
            Some(Failure::Call(CallError::Sandbox(Violation::Memory { limit, .. }))) if limit == 16 << 20
        ),
        "{:?}",
        collected.failure
    );
    assert!(collected.run.guest_peak_memory <= 16 << 20);
}

#[tokio::test]
async fn host_work_done_for_the_plugin_is_charged_to_its_cpu() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        cpu_per_call: Duration::from_secs(1),
        ..Limits::default()
    };
    let collected = run("host-burn", limits, server.reroutes()).await;
    assert!(
        matches!(
            collected.failure,
            Some(Failure::Call(CallError::Sandbox(Violation::Cpu { .. })))
        ),
        "{:?}",
        collected.failure
    );
}

#[tokio::test]
async fn a_flooded_log_is_cut_with_a_marker() {
    let server = ProbeServer::start(0).await;
    let collected = run("log-flood", Limits::default(), server.reroutes()).await;
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    let log = std::fs::read_to_string(collected.dir.join(bundle::LOG_FILE)).unwrap();
    assert!(log.len() < LOG_BYTES + (1 << 20), "{} bytes", log.len());
    assert!(log.contains("the rest is dropped"));
}
