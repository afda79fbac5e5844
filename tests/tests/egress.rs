//! Egress is exact, end to end: the real probe component in the real host
//! over loopback HTTP tries to reach past its declared routes (paths a
//! server reads as another path, framing headers and bodies that smuggle a
//! second request, names that resolve to reserved addresses, a reroute of
//! an origin it never declared), and hostile manifests are refused while
//! loading. Nothing reaches the upstream and every refusal is in the ledger.

use watchdog_components::fixtures::{PROBE, SPINNING_MANIFEST, WILDCARD_POST};
use watchdog_e2e::{Harness, PROBE_TOKEN, ProbeServer, config, ledger_entries};
use watchdog_host::bundle::{self, Outcome};
use watchdog_host::egress::{EgressError, Origin, Reroutes};
use watchdog_host::grant::ManifestError;
use watchdog_host::ledger::{Outcome as Exchange, Refusal};
use watchdog_host::run::{Collected, Failure, Loaded, exit};
use watchdog_host::runtime::CallError;
use watchdog_host::sandbox::{Limits, MANIFEST_CPU, MANIFEST_WALL, Violation};

/// Runs a probe behaviour that reports each attempt as a warning and
/// completes; the bundle still verifies.
async fn attempt(behaviour: &str, server: &ProbeServer) -> Collected {
    let harness = Harness::new(behaviour);
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness.open(PROBE, &options).await;
    let probe = config(&[("behaviour", behaviour)], &[("token", PROBE_TOKEN)]);
    let collected = harness
        .collect(&loaded, &probe, &options, "bundle", None)
        .await
        .unwrap();
    assert_eq!(
        collected.run.outcome,
        Outcome::Complete,
        "{:?}",
        collected.failure
    );
    bundle::verify(&collected.dir, None).unwrap();
    collected
}

/// The warnings the probe wrote, one per attempt.
fn attempts(collected: &Collected) -> Vec<String> {
    collected
        .run
        .warnings
        .iter()
        .map(|w| w.message.clone())
        .collect()
}

/// Every ledger entry is a denial of kind `refusal` whose detail contains
/// `why`, one for each attempt the runtime let the plugin make.
fn assert_all_denied(collected: &Collected, refusal: Refusal, why: &[&str]) {
    let entries = ledger_entries(&collected.dir);
    assert_eq!(entries.len(), why.len(), "{entries:#?}");
    let mut entries = entries;
    entries.sort_by_key(|e| e.exchange.seq);
    for (entry, why) in entries.iter().zip(why) {
        assert_eq!(entry.exchange.outcome, Exchange::Denied, "{entry:?}");
        assert_eq!(entry.exchange.refusal, Some(refusal), "{entry:?}");
        let detail = entry.exchange.detail.as_deref().unwrap_or("");
        assert!(
            detail.contains(why),
            "{} {}: {detail}",
            entry.exchange.method,
            entry.exchange.url
        );
    }
    assert_eq!(collected.run.traffic.denied, why.len() as u64);
}

#[tokio::test]
async fn paths_a_server_would_read_as_another_path_never_leave_with_the_secret() {
    let server = ProbeServer::start(0).await;
    let collected = attempt("non-canonical-paths", &server).await;
    // Each reached the host (the runtime lets every one through) and was
    // refused for its flaw.
    assert_all_denied(
        &collected,
        Refusal::Egress,
        &[
            "`/docs/..;/admin` is not canonical: it has a `;` parameter",
            "`/docs/%2e%2e/admin` is not canonical: it escapes a letter, digit or `-._~`",
            "`/docs/%252e%252e/admin` is not canonical: it escapes `%`",
            "`/docs/%c0%ae%c0%ae/admin` is not canonical: it escapes a byte outside ASCII",
            "`/docs/%ef%bc%8e%ef%bc%8e/admin` is not canonical: it escapes a byte outside ASCII",
            "`/docs/\u{ff0e}\u{ff0e}/admin` is not canonical: it has a character outside ASCII",
            "`/docs\\..\\admin` is not canonical: it has a backslash",
            "`/docs/admin%00.json` is not canonical: it escapes a control character",
            "`/admin.` is not canonical: a segment ends in `.`",
        ],
    );
    assert!(server.authorizations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn framing_headers_bodies_on_reads_and_method_overrides_are_refused() {
    let server = ProbeServer::start(0).await;
    let collected = attempt("smuggle", &server).await;
    assert_all_denied(
        &collected,
        Refusal::Framing,
        &[
            "`content-length`",
            "GET carries no body",
            "HEAD carries no body",
            "`content-length`",
            "`x-http-method-override`",
            "`x-http-method`",
            "`x-method-override`",
            "`te`",
            "`trailer`",
        ],
    );
    assert!(
        attempts(&collected)
            .iter()
            .all(|a| a.contains("HttpRequestDenied")),
        "{:#?}",
        attempts(&collected)
    );
    assert!(
        server.authorizations.lock().unwrap().is_empty(),
        "no request, and so no second one, reached the upstream"
    );
}

#[tokio::test]
async fn names_resolving_to_reserved_addresses_are_refused_for_the_address() {
    let server = ProbeServer::start(0).await;
    let collected = attempt("forbidden-addresses", &server).await;
    assert_all_denied(
        &collected,
        Refusal::ForbiddenAddress,
        &[
            "IPv4-compatible",
            "loopback (127.0.0.0/8)",
            "local-use NAT64",
            "site-local",
            "loopback (127.0.0.0/8)",
            "Teredo",
            "documentation (192.0.2.0/24)",
            "benchmarking",
        ],
    );
}

#[tokio::test]
async fn a_route_for_an_origin_the_manifest_does_not_declare_is_a_usage_error() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("undeclared-route");
    let typo =
        Reroutes::parse([format!("https://api.exmaple.com=http://{}", server.addr).as_str()])
            .unwrap();
    let options = harness.options(Limits::default(), typo);
    let loaded = harness.open(PROBE, &options).await;
    let probe = config(&[("behaviour", "well-behaved")], &[("token", PROBE_TOKEN)]);
    let Err(failure) = harness
        .collect(&loaded, &probe, &options, "bundle", None)
        .await
    else {
        panic!("a reroute of an undeclared origin was accepted")
    };
    let Failure::Reroute(EgressError::UndeclaredReroute { origin, declared }) = &failure else {
        panic!("{failure:?}")
    };
    assert_eq!(origin, &Origin::parse("https://api.exmaple.com").unwrap());
    assert!(declared.contains(&Origin::parse("https://api.example.com").unwrap()));
    assert_eq!(failure.exit_code(), exit::USAGE);
    assert!(!harness.scratch.join("bundle").exists(), "nothing ran");
    assert!(server.authorizations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_manifest_that_posts_anywhere_is_refused_while_loading() {
    let harness = Harness::new("wildcard-post");
    let options = harness.options(Limits::default(), Reroutes::default());
    let Err(failure) = Loaded::open(&harness.runtime, WILDCARD_POST.as_ref(), &options).await
    else {
        panic!("POST /** was accepted")
    };
    assert!(
        matches!(
            &failure,
            Failure::Manifest(ManifestError::Egress(EgressError::WildcardPost { pattern })) if pattern == "/**"
        ),
        "{failure:?}"
    );
    assert_eq!(failure.exit_code(), exit::PLUGIN);
}

#[tokio::test]
async fn a_manifest_call_that_spins_is_stopped_by_the_manifest_limits_not_the_runs() {
    let harness = Harness::new("spinning-manifest");
    // The run's own limits are the defaults: 300 s of CPU, 1800 s of wall.
    let options = harness.options(Limits::default(), Reroutes::default());
    let Err(failure) = Loaded::open(&harness.runtime, SPINNING_MANIFEST.as_ref(), &options).await
    else {
        panic!("an endless manifest() returned")
    };
    // Whichever of the manifest's limits a busy machine reaches first.
    assert!(
        matches!(
            failure,
            Failure::Call(CallError::Sandbox(Violation::Cpu { limit })) if limit == MANIFEST_CPU
        ) || matches!(
            failure,
            Failure::Call(CallError::Sandbox(Violation::WallClock { limit })) if limit == MANIFEST_WALL
        ),
        "{failure:?}"
    );
    assert_eq!(failure.exit_code(), exit::SANDBOX);
}
