//! The sandbox, end to end: the real probe component in the real host over
//! loopback HTTP. Each misbehaviour is contained with a typed error, and the
//! host stays healthy for the next run.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use watchdog_components::fixtures::{FUTURE_CONTRACT, NOT_A_PLUGIN, PROBE};
use watchdog_e2e::{Harness, PROBE_TOKEN, ProbeServer, bundle_text, config, ledger_entries};
use watchdog_host::bundle::{self, Outcome, Refused, VerifyError};
use watchdog_host::contract::{ConfigEntry, PluginError};
use watchdog_host::egress::Reroutes;
use watchdog_host::grant::Grant;
use watchdog_host::ledger::{self, Outcome as Exchange};
use watchdog_host::run::{Failure, Loaded, exit};
use watchdog_host::runtime::{CallError, LoadError};
use watchdog_host::sandbox::{Limits, Violation};
use watchdog_host::seal::Change;

fn probe(behaviour: &str) -> watchdog_host::config::RunConfig {
    config(&[("behaviour", behaviour)], &[("token", PROBE_TOKEN)])
}

#[tokio::test]
async fn well_behaved_run_injects_the_secret_and_verifies() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("well-behaved");
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(
            &loaded,
            &probe("well-behaved"),
            &options,
            "bundle",
            Some("before".into()),
        )
        .await
        .unwrap();

    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    assert_eq!(collected.run.outcome, Outcome::Complete);
    assert_eq!(collected.run.counts["test.item"], 4);
    assert_eq!(collected.run.checkpoint.as_deref(), Some("after-3"));
    assert_eq!(collected.run.checkpoint_in.as_deref(), Some("before"));
    assert_eq!(collected.exit_code(), exit::OK);

    // The host sent the secret upstream on every request, over one
    // kept-alive connection...
    let sent = server.authorizations.lock().unwrap().clone();
    assert_eq!(sent, vec![format!("Bearer {PROBE_TOKEN}"); 2]);
    assert_eq!(server.connections.load(Ordering::Relaxed), 1);
    // ...but the echo the plugin read had it scrubbed, and nothing written has it.
    let text = bundle_text(&collected.dir);
    assert!(!text.contains(PROBE_TOKEN));
    assert!(
        text.contains("authorization: Bearer [REDACTED]"),
        "echo was scrubbed"
    );
    assert_eq!(collected.run.secrets, vec!["token".to_string()]);

    // The ledger holds both exchanges, complete, marked as rerouted.
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries.len(), 2);
    assert!(
        entries
            .iter()
            .all(|e| e.exchange.outcome == Exchange::Complete
                && e.exchange.status == Some(200)
                && e.exchange.routed_to.as_deref() == Some(&*format!("http://{}", server.addr)))
    );
    // Guest stdout was captured into the run's log.
    let log = std::fs::read_to_string(collected.dir.join(bundle::LOG_FILE)).unwrap();
    assert!(log.contains("probe: starting"), "{log}");

    let report = bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
    assert_eq!(report.evidence_records, 4);
}

#[tokio::test]
async fn https_goes_over_tls_to_a_server_the_operator_trusts() {
    let server = ProbeServer::start_tls(0).await;
    let harness = Harness::new("tls-trusted");
    let mut options = harness.options(Limits::default(), server.reroutes());
    options.trusted_roots = vec![server.certificate.clone().unwrap()];
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(&loaded, &probe("well-behaved"), &options, "bundle", None)
        .await
        .unwrap();
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    assert_eq!(collected.run.outcome, Outcome::Complete);
    let sent = server.authorizations.lock().unwrap().clone();
    assert_eq!(sent, vec![format!("Bearer {PROBE_TOKEN}"); 2]);
    assert_eq!(
        server.connections.load(Ordering::Relaxed),
        1,
        "one handshake"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_fails_the_request_before_the_secret_leaves() {
    let server = ProbeServer::start_tls(0).await;
    let harness = Harness::new("tls-untrusted");
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(&loaded, &probe("well-behaved"), &options, "bundle", None)
        .await
        .unwrap();
    assert!(
        matches!(collected.failure, Some(Failure::Plugin(_))),
        "{:?}",
        collected.failure
    );
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries[0].exchange.outcome, Exchange::Failed);
    let detail = entries[0].exchange.detail.as_deref().unwrap_or_default();
    assert!(detail.contains("certificate"), "{detail}");
    assert!(server.authorizations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_edited_bundle_fails_verify() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("edited");
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let run = |name: &'static str| {
        let (harness, loaded, options) = (&harness, &loaded, &options);
        async move {
            harness
                .collect(loaded, &probe("well-behaved"), options, name, None)
                .await
                .unwrap()
        }
    };

    let evidence_edit = run("evidence").await;
    let path = evidence_edit.dir.join(bundle::EVIDENCE_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("item-2", "item-9", 1)).unwrap();
    assert!(matches!(
        bundle::verify(&evidence_edit.dir, None),
        Err(VerifyError::Changed(changes)) if changes == [Change::File(bundle::EVIDENCE_FILE.into())]
    ));

    let ledger_edit = run("ledger").await;
    let path = ledger_edit.dir.join(bundle::LEDGER_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"status\":200", "\"status\":203", 1)).unwrap();
    assert!(matches!(
        bundle::verify(&ledger_edit.dir, None),
        Err(VerifyError::Chain(ledger::ChainError::Tampered { .. }))
    ));

    let run_edit = run("run").await;
    let path = run_edit.dir.join(bundle::RUN_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("\"test.item\": 4", "\"test.item\": 5", 1),
    )
    .unwrap();
    assert!(matches!(
        bundle::verify(&run_edit.dir, None),
        Err(VerifyError::Changed(changes)) if changes == [Change::RunField("counts".into())]
    ));

    let head_swap = run("head").await;
    assert!(matches!(
        bundle::verify(&head_swap.dir, Some(&run_edit.run.seal.hash)),
        Err(VerifyError::NotSealedBy { .. })
    ));
}

#[tokio::test]
async fn two_runs_with_the_same_options_at_once_each_keep_and_seal_their_own_log() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("concurrent");
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let config = probe("well-behaved");
    let (a, b) = tokio::join!(
        harness.collect(&loaded, &config, &options, "a", None),
        harness.collect(&loaded, &config, &options, "b", None),
    );
    for collected in [a.unwrap(), b.unwrap()] {
        assert!(collected.failure.is_none(), "{:?}", collected.failure);
        bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
        let log = std::fs::read_to_string(collected.dir.join(bundle::LOG_FILE)).unwrap();
        assert_eq!(log.matches("probe: starting").count(), 1, "{log}");
    }
}

/// Runs the probe with a behaviour and limits; returns the collection.
async fn misbehave(
    behaviour: &str,
    limits: Limits,
    server: &ProbeServer,
) -> (Harness, watchdog_host::run::Collected) {
    let harness = Harness::new(behaviour);
    let options = harness.options(limits, server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(&loaded, &probe(behaviour), &options, "bundle", None)
        .await
        .unwrap();
    assert_eq!(collected.run.outcome, Outcome::Failed);
    bundle::verify(&collected.dir, None).expect("even a failed run leaves a sound bundle");
    (harness, collected)
}

/// The same host runs a well-behaved collection right after a violation.
async fn still_healthy(harness: &Harness, server: &ProbeServer) {
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let collected = harness
        .collect(&loaded, &probe("well-behaved"), &options, "after", None)
        .await
        .unwrap();
    assert_eq!(collected.run.outcome, Outcome::Complete);
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_cpu_limit() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        cpu_per_call: Duration::from_millis(500),
        ..Limits::default()
    };
    let (harness, collected) = misbehave("loop", limits, &server).await;
    assert!(
        matches!(
            collected.failure,
            Some(Failure::Call(CallError::Sandbox(Violation::Cpu { .. })))
        ),
        "{:?}",
        collected.failure
    );
    assert_eq!(collected.exit_code(), exit::SANDBOX);
    still_healthy(&harness, &server).await;
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_wall_clock_limit() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        wall_per_call: Duration::from_millis(700),
        ..Limits::default()
    };
    let (_, collected) = misbehave("loop", limits, &server).await;
    assert!(matches!(
        collected.failure,
        Some(Failure::Call(CallError::Sandbox(
            Violation::WallClock { .. }
        )))
    ));
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_cap() {
    let server = ProbeServer::start(0).await;
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let (harness, collected) = misbehave("memory-bomb", limits, &server).await;
    assert!(
        matches!(
            collected.failure,
            Some(Failure::Call(CallError::Sandbox(Violation::Memory { limit, .. }))) if limit == 32 << 20
        ),
        "{:?}",
        collected.failure
    );
    assert_eq!(collected.exit_code(), exit::SANDBOX);
    still_healthy(&harness, &server).await;
}

#[tokio::test]
async fn a_request_to_an_undeclared_origin_is_denied_and_counted() {
    let server = ProbeServer::start(0).await;
    let (_, collected) = misbehave("undeclared-origin", Limits::default(), &server).await;
    let Some(Failure::Plugin(PluginError::Network(message))) = &collected.failure else {
        panic!("expected a network error, got {:?}", collected.failure)
    };
    assert!(message.contains("HttpRequestDenied"), "{message}");
    assert_eq!(collected.run.traffic.denied, 1);
    assert_eq!(collected.exit_code(), exit::SANDBOX);
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries[0].exchange.outcome, Exchange::Denied);
    assert!(
        entries[0]
            .exchange
            .detail
            .as_ref()
            .unwrap()
            .contains("evil.example.net")
    );
}

#[tokio::test]
async fn a_write_method_is_denied() {
    let server = ProbeServer::start(0).await;
    let (_, collected) = misbehave("write-method", Limits::default(), &server).await;
    assert!(matches!(
        collected.failure,
        Some(Failure::Plugin(PluginError::Network(_)))
    ));
    assert_eq!(collected.run.traffic.denied, 1);
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries[0].exchange.method, "DELETE");
    assert!(
        entries[0]
            .exchange
            .detail
            .as_ref()
            .unwrap()
            .contains("read-only")
    );
    assert!(
        server.authorizations.lock().unwrap().is_empty(),
        "nothing left the host"
    );
}

#[tokio::test]
async fn a_huge_response_is_cut_at_the_cap() {
    let server = ProbeServer::start(4 << 20).await;
    let limits = Limits {
        response_bytes: 1 << 20,
        ..Limits::default()
    };
    let (_, collected) = misbehave("huge-response", limits, &server).await;
    assert!(matches!(
        collected.failure,
        Some(Failure::Plugin(PluginError::Network(_)))
    ));
    assert_eq!(collected.run.traffic.truncated, 1);
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries[0].exchange.outcome, Exchange::Truncated);
    assert_eq!(
        entries[0].exchange.detail.as_deref(),
        Some("response body exceeded the 1048576 byte cap; --response-mib sets this limit")
    );
    assert!(entries[0].exchange.bytes <= 1 << 20);
}

#[tokio::test]
async fn garbage_evidence_is_refused() {
    let server = ProbeServer::start(0).await;
    for behaviour in ["garbage-json", "missing-id"] {
        let (_, collected) = misbehave(behaviour, Limits::default(), &server).await;
        let refused = match &collected.failure {
            Some(Failure::Evidence { rejected: 1, first }) => first,
            other => panic!("{behaviour}: expected the refusal, got {other:?}"),
        };
        match behaviour {
            "garbage-json" => assert!(
                matches!(refused, Refused::NotJson { id, .. } if id == "bad"),
                "{refused:?}"
            ),
            _ => assert!(
                matches!(refused, Refused::EmptyId { kind } if kind == "test.item"),
                "{refused:?}"
            ),
        }
        assert_eq!(collected.exit_code(), exit::PLUGIN, "{behaviour}");
        assert_eq!(collected.run.evidence_rejected, 1, "{behaviour}");
        assert_eq!(collected.run.evidence_records, 0, "{behaviour}");
    }
}

#[tokio::test]
async fn an_empty_grant_denies_every_capability() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("empty-grant");
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let grant = Arc::new(Grant::empty());
    let outbound = watchdog_host::outbound::Outbound::new(
        grant.clone(),
        options.limits,
        options.log.clone(),
        Box::new(std::io::sink()),
        Arc::default(),
        watchdog_host::tape::OpenTape::Live,
        &[],
    );
    let mut session = loaded
        .plugin
        .instantiate(
            grant,
            options.limits,
            options.log.clone(),
            outbound.clone(),
            None,
        )
        .await
        .unwrap();
    let config = [ConfigEntry {
        name: "behaviour".into(),
        value: "capabilities".into(),
    }];
    session.configure(&config).await.unwrap().unwrap();
    let summary = session.collect(None).await.unwrap().unwrap();
    let seen: Vec<&str> = summary
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(
        seen[..5],
        [
            "env=0",
            "args=0",
            "fs-root=denied",
            "fs-passwd=denied",
            "tcp=denied"
        ]
    );
    assert!(
        seen[5].starts_with("http=") && seen[5].contains("HttpRequestDenied"),
        "{}",
        seen[5]
    );
    assert_eq!(seen[6], "emit=refused");
    assert_eq!(
        seen[7..],
        [
            "udp=denied",
            "dns=denied",
            "stdin=0",
            "clock-after-2020=true"
        ]
    );
    assert_eq!(outbound.traffic().denied, 1);
    assert!(server.authorizations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn components_that_are_not_integrations_are_refused() {
    let harness = Harness::new("refused");
    let options = harness.options(Limits::default(), Reroutes::default());
    for (component, expected) in [
        (NOT_A_PLUGIN, "not a WatchDog integration"),
        (FUTURE_CONTRACT, "implements contract 0.2.0"),
    ] {
        let Err(failure) = Loaded::open(&harness.runtime, component.as_ref(), &options).await
        else {
            panic!("{component} was accepted")
        };
        assert!(matches!(failure, Failure::Load(LoadError::Contract(_))));
        assert!(failure.to_string().contains(expected), "{failure}");
        assert_eq!(failure.exit_code(), exit::PLUGIN);
    }
}
