//! The example integration written in Python (`examples/python-hello`,
//! built with componentize-py against the same `wit/`) in the real host: it
//! passes conformance and collects from its API served on loopback.
//!
//! The component is 18 MB of CPython: it is compiled once into a cache
//! shared by these tests, and loaded from there in milliseconds after.

use std::path::PathBuf;
use tokio::sync::Mutex;
use watchdog_e2e::{
    HELLO_TEAM, HELLO_TOKEN, Harness, HelloServer, bundle_text, config, python_hello,
};
use watchdog_host::bundle::{self, Outcome};
use watchdog_host::conformance::{self, Setup};
use watchdog_host::contract::FindingStatus;
use watchdog_host::log::{Level, RunLog};
use watchdog_host::run::exit;
use watchdog_host::sandbox::Limits;
use watchdog_host::secrets::Scrubber;

/// A harness whose cache holds the compiled component; the first caller
/// compiles it while the others wait, so it is compiled once.
async fn harness(name: &str) -> Harness {
    static WARM: Mutex<bool> = Mutex::const_new(false);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    let harness = Harness::cached(name, &cache);
    let mut warm = WARM.lock().await;
    if !*warm {
        harness.runtime.load(&python_hello()).unwrap();
        *warm = true;
    }
    harness
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_passes_conformance() {
    let harness = harness("python-conformance").await;
    let setup = Setup {
        config: None,
        limits: Limits::default(),
        replay: None,
        mock: Default::default(),
        work_dir: harness.scratch.join("conformance"),
        log: RunLog::new(Some(Level::Error), Scrubber::default()),
    };
    let report = conformance::run(&harness.runtime, &python_hello(), &setup)
        .await
        .unwrap();
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.plugin.as_deref(), Some("python-hello 0.1.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_python_example_collects_its_team_from_the_api() {
    let server = HelloServer::start().await;
    let harness = harness("python-collect").await;
    let options = harness.options(Limits::default(), server.reroutes());
    let loaded = harness
        .open(python_hello().to_str().unwrap(), &options)
        .await;
    let run_config = config(&[("team", HELLO_TEAM)], &[("api-token", HELLO_TOKEN)]);

    let checks = loaded.validate(&run_config, &options).await.unwrap();
    assert_eq!(checks.len(), 1);

    let collected = harness
        .collect(&loaded, &run_config, &options, "bundle", None)
        .await
        .unwrap();
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    assert_eq!(collected.run.outcome, Outcome::Complete);
    assert_eq!(collected.run.counts["hello.team"], 1);
    assert_eq!(
        collected.run.counts["hello.member"],
        HelloServer::MEMBERS.len() as u64
    );
    assert_eq!(collected.run.plugin_counts, collected.run.counts);
    // Three pages of members after the team: four exchanges.
    assert_eq!(collected.run.ledger_entries, 4);
    let mfa = &collected.run.findings[0];
    assert_eq!(mfa.id, "mfa-all-members");
    assert_eq!(mfa.status, FindingStatus::Fail);
    assert_eq!(mfa.failing, ["m-2", "m-5"]);
    assert_eq!(collected.exit_code(), exit::FINDINGS_FAILED);
    bundle::verify(&collected.dir, Some(&collected.run.seal.hash)).unwrap();
    assert!(!bundle_text(&collected.dir).contains(HELLO_TOKEN));
}
