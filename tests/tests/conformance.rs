//! The conformance battery on real components: the Atlassian integration and
//! the well-behaved probe pass it; each misbehaviour of the probe fails it,
//! named by the check that caught it.

use atlassian_sim::{SimConfig, SimHandle};
use std::path::{Path, PathBuf};
use std::time::Duration;
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_components::fixtures::PROBE;
use watchdog_e2e::{Harness, ProbeServer, config};
use watchdog_host::conformance::{self, CheckId, Report, Setup, Verdict};
use watchdog_host::egress::Reroutes;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::run::exit;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::Scrubber;
use watchdog_host::tape::Tape;

/// Runs the battery with an optional config file body and recording.
async fn battery(
    harness: &Harness,
    component: &str,
    config: Option<&str>,
    limits: Limits,
    replay: Option<PathBuf>,
) -> Report {
    battery_mocked(
        harness,
        component,
        config,
        limits,
        replay,
        Reroutes::default(),
    )
    .await
}

/// The battery, also collecting from a mock upstream when `mock` routes to one.
async fn battery_mocked(
    harness: &Harness,
    component: &str,
    config: Option<&str>,
    limits: Limits,
    replay: Option<PathBuf>,
    mock: Reroutes,
) -> Report {
    let config = config.map(|body| {
        let path = harness.scratch.join("config.toml");
        std::fs::write(&path, body).unwrap();
        path
    });
    let setup = Setup {
        config,
        limits,
        replay,
        mock,
        work_dir: harness.scratch.join("conformance"),
        log: RunLog::new(Some(Level::Error), Scrubber::default()),
    };
    conformance::run(&harness.runtime, Path::new(component), &setup)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_atlassian_integration_passes_with_placeholders() {
    let harness = Harness::new("conformance-atlassian");
    let report = battery(
        &harness,
        ATLASSIAN_CLOUD_ADMIN,
        None,
        Limits::default(),
        None,
    )
    .await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.exit_code(), exit::OK);
    assert_eq!(
        report.plugin.as_deref().map(|p| p.split(' ').next()),
        Some(Some("atlassian-cloud-admin"))
    );
    assert_eq!(report.skipped(), [CheckId::Collect, CheckId::Evidence]);
    assert!(
        report.outcome(CheckId::Configure).detail.contains("org-id"),
        "{:?}",
        report.outcome(CheckId::Configure)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_atlassian_integration_passes_on_a_recording_of_the_simulator() {
    const KEY: &str = "conformance-key-61c0a9";
    let sim = SimHandle::start(SimConfig {
        api_key: KEY.into(),
        users: 40,
        events: 200,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let harness = Harness::new("conformance-recorded");
    let recording = harness.scratch.join("recording");
    let reroutes = watchdog_host::egress::Reroutes::parse([format!(
        "https://api.atlassian.com={}",
        sim.base_url()
    )
    .as_str()])
    .unwrap();
    let mut options = harness.options(Limits::default(), reroutes);
    options.tape = Tape::Record(recording.clone());
    let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &options).await;
    let org = sim.org_id().to_string();
    let recorded = harness
        .collect(
            &loaded,
            &config(&[("org-id", &org)], &[("api-key", KEY)]),
            &options,
            "live",
            None,
        )
        .await
        .unwrap();
    assert!(recorded.failure.is_none(), "{:?}", recorded.failure);
    sim.shutdown().await;

    let report = battery(
        &harness,
        ATLASSIAN_CLOUD_ADMIN,
        Some(&format!("org-id = \"{org}\"\n")),
        Limits::default(),
        Some(recording),
    )
    .await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.outcome(CheckId::Collect).verdict, Verdict::Pass);
    assert!(
        report
            .outcome(CheckId::Evidence)
            .detail
            .starts_with(&format!("{} record(s)", recorded.run.evidence_records)),
        "{:?}",
        report.outcome(CheckId::Evidence)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_recording_or_a_mock_collect_and_evidence_are_skipped_not_passed() {
    let harness = Harness::new("conformance-probe");
    let report = battery(
        &harness,
        PROBE,
        Some("behaviour = \"well-behaved\"\n"),
        Limits::default(),
        None,
    )
    .await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.skipped(), [CheckId::Collect, CheckId::Evidence]);
    assert!(
        report
            .outcome(CheckId::Evidence)
            .detail
            .contains("not exercised"),
        "{:?}",
        report.outcome(CheckId::Evidence)
    );
}

/// The battery on the probe with `behaviour`, collecting from its mock.
async fn against_the_mock(behaviour: &str) -> Report {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new(&format!("conformance-mock-{behaviour}"));
    battery_mocked(
        &harness,
        PROBE,
        Some(&format!("behaviour = \"{behaviour}\"\n")),
        Limits::default(),
        None,
        server.reroutes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_well_behaved_probe_passes_with_collect_exercised_against_its_mock() {
    let report = against_the_mock("well-behaved").await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.skipped(), []);
    assert_eq!(report.outcome(CheckId::Collect).verdict, Verdict::Pass);
    assert_eq!(
        report.outcome(CheckId::Evidence).detail,
        "4 record(s) emitted, none refused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_recording_and_a_mock_collect_is_one_row_naming_both() {
    let server = ProbeServer::start(0).await;
    let harness = Harness::new("conformance-both");
    let recording = harness
        .record_well_behaved_probe(PROBE, server.reroutes())
        .await;
    let report = battery_mocked(
        &harness,
        PROBE,
        Some("behaviour = \"well-behaved\"\n"),
        Limits::default(),
        Some(recording),
        server.reroutes(),
    )
    .await;
    assert!(report.passed(), "{report:#?}");
    let rows = report
        .outcomes
        .iter()
        .filter(|o| o.check == CheckId::Collect);
    assert_eq!(rows.count(), 1, "{report:#?}");
    assert_eq!(
        report.outcome(CheckId::Collect).detail,
        "the collection from the recording and from the mock completed"
    );
    assert_eq!(report.outcomes.len(), CheckId::ALL.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_honest_zero_count_passes() {
    let report = against_the_mock("honest-zero").await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.outcome(CheckId::Evidence).verdict, Verdict::Pass);
}

#[tokio::test(flavor = "multi_thread")]
async fn undeclared_kinds_fail_evidence() {
    let emitted = against_the_mock("undeclared-kind").await;
    assert_eq!(emitted.failed(), [CheckId::Collect, CheckId::Evidence]);
    assert_eq!(emitted.exit_code(), exit::PLUGIN);
    let counted = against_the_mock("undeclared-count").await;
    assert_eq!(counted.failed(), [CheckId::Evidence]);
    assert!(
        counted
            .outcome(CheckId::Evidence)
            .detail
            .contains("test.other"),
        "{:?}",
        counted.outcome(CheckId::Evidence)
    );
}

/// The checks a probe behaviour fails. Every misbehaviour also fails
/// `collect-unauthorized`: it does its mischief instead of reporting the
/// rejected credential.
async fn failed_checks(behaviour: &str, limits: Limits) -> Vec<CheckId> {
    let harness = Harness::new(&format!("conformance-{behaviour}"));
    let report = battery(
        &harness,
        PROBE,
        Some(&format!("behaviour = \"{behaviour}\"\n")),
        limits,
        None,
    )
    .await;
    assert_eq!(report.exit_code(), exit::PLUGIN, "{behaviour}");
    report.failed()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_fails_the_limits() {
    let limits = Limits {
        cpu_per_call: Duration::from_secs(1),
        ..Limits::default()
    };
    assert_eq!(
        failed_checks("loop", limits).await,
        [CheckId::CollectUnauthorized, CheckId::Limits]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_memory_bomb_fails_the_limits_at_the_default_cap() {
    assert_eq!(
        failed_checks("memory-bomb", Limits::default()).await,
        [CheckId::CollectUnauthorized, CheckId::Limits]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_outside_the_declared_egress_fail_egress() {
    for behaviour in ["undeclared-origin", "write-method"] {
        assert_eq!(
            failed_checks(behaviour, Limits::default()).await,
            [CheckId::CollectUnauthorized, CheckId::Egress],
            "{behaviour}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_evidence_fails_evidence() {
    for behaviour in ["garbage-json", "missing-id", "uncited"] {
        assert_eq!(
            failed_checks(behaviour, Limits::default()).await,
            [CheckId::CollectUnauthorized, CheckId::Evidence],
            "{behaviour}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_that_is_not_an_integration_fails_the_contract_and_skips_the_rest() {
    let harness = Harness::new("conformance-not-a-plugin");
    let report = battery(
        &harness,
        watchdog_components::fixtures::NOT_A_PLUGIN,
        None,
        Limits::default(),
        None,
    )
    .await;
    assert_eq!(report.failed(), [CheckId::Contract]);
    assert!(
        report.outcomes[1..]
            .iter()
            .all(|o| o.verdict == Verdict::Skip),
        "{report:#?}"
    );
}
