//! The command line as an operator uses it: configuration from a file,
//! secrets from the environment only, exit codes per kind of outcome, the
//! ledger head printed for safekeeping, `verify` failing loudly on edits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_components::fixtures::{NOT_A_PLUGIN, PROBE};
use watchdog_e2e::{PROBE_TOKEN, ProbeServer};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("watchdog-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn host(args: &[&str], token: Option<&str>, cache: &Path) -> Output {
    host_with_secret(args, "WATCHDOG_SECRET_TOKEN", token, cache)
}

fn host_with_secret(args: &[&str], var: &str, secret: Option<&str>, cache: &Path) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_watchdog-host"));
    command
        .args(args)
        .env("WATCHDOG_CACHE_DIR", cache)
        .env_remove(var);
    if let Some(secret) = secret {
        command.env(var, secret);
    }
    command.output().unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_prints_the_head_and_verify_checks_it() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("collect");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let out = dir.join("bundle");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let checkpoint = dir.join("checkpoint");
    std::fs::write(&checkpoint, "before").unwrap();
    let args = [
        "collect",
        PROBE,
        "--config",
        &config,
        "--route",
        &route,
        "--out",
        out.to_str().unwrap(),
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--json",
    ];
    let output = host(&args, Some(PROBE_TOKEN), &dir.join("cache"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    assert!(!text(&output).contains(PROBE_TOKEN));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let head = report["run"]["ledger_head"].as_str().unwrap().to_string();
    assert_eq!(report["run"]["checkpoint_in"], "before");
    assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), "after-3");

    let verified = host(
        &["verify", out.to_str().unwrap(), "--head", &head],
        None,
        &dir,
    );
    assert_eq!(code(&verified), 0, "{}", text(&verified));

    let wrong_head = "0".repeat(64);
    let refused = host(
        &["verify", out.to_str().unwrap(), "--head", &wrong_head],
        None,
        &dir,
    );
    assert_eq!(code(&refused), 8);
    assert!(text(&refused).contains("VERIFICATION FAILED"));

    // A second collection into the same folder is refused: bundles never mix.
    let again = host(&args, Some(PROBE_TOKEN), &dir.join("cache"));
    assert_eq!(code(&again), 6, "{}", text(&again));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_in_the_config_file_is_refused_without_echoing_it() {
    let dir = scratch("secret-in-file");
    let config = write_config(
        &dir,
        "behaviour = \"well-behaved\"\ntoken = \"leaked-4242\"\n",
    );
    let out = dir.join("bundle");
    let output = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--out",
            out.to_str().unwrap(),
        ],
        Some(PROBE_TOKEN),
        &dir,
    );
    assert_eq!(code(&output), 2);
    assert!(
        text(&output).contains("WATCHDOG_SECRET_TOKEN"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("leaked-4242"));
    assert!(!out.exists(), "nothing ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_required_field_is_a_usage_error_before_anything_runs() {
    let dir = scratch("missing-field");
    let config = write_config(&dir, "");
    let output = host(&["validate", PROBE, "--config", &config], None, &dir);
    assert_eq!(code(&output), 2);
    assert!(
        text(&output).contains("`behaviour` (Behaviour) is required"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_to_a_public_address_is_refused() {
    let dir = scratch("public-route");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let output = host(
        &[
            "validate",
            PROBE,
            "--config",
            &config,
            "--route",
            "https://api.example.com=http://203.0.113.5:80",
        ],
        None,
        &dir,
    );
    assert_eq!(code(&output), 2);
    assert!(
        text(&output).contains("not a loopback address"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_file_without_certificates_is_a_usage_error() {
    let dir = scratch("ca-file");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let pem = dir.join("not-a-ca.pem");
    std::fs::write(&pem, "no certificate here\n").unwrap();
    let output = host(
        &[
            "validate",
            PROBE,
            "--config",
            &config,
            "--ca-file",
            pem.to_str().unwrap(),
        ],
        None,
        &dir,
    );
    assert_eq!(code(&output), 2);
    assert!(
        text(&output).contains("no certificate in it"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sandbox_violation_exits_4() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("violation");
    let config = write_config(&dir, "behaviour = \"loop\"\n");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let out = dir.join("bundle");
    let output = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--route",
            &route,
            "--out",
            out.to_str().unwrap(),
            "--cpu-secs",
            "1",
        ],
        None,
        &dir,
    );
    assert_eq!(code(&output), 4, "{}", text(&output));
    assert!(text(&output).contains("CPU"), "{}", text(&output));
}

#[test]
fn inspect_refuses_a_component_that_is_not_an_integration() {
    let dir = scratch("inspect");
    let output = host(&["inspect", NOT_A_PLUGIN], None, &dir);
    assert_eq!(code(&output), 5);
    assert!(text(&output).contains("not a WatchDog integration"));
    let probe = host(&["inspect", PROBE, "--json"], None, &dir);
    assert_eq!(code(&probe), 0);
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert_eq!(report["contract_version"], "0.1.0");
    assert_eq!(report["manifest"]["id"], "probe");
}

#[test]
fn a_second_load_comes_from_the_cache() {
    let dir = scratch("cache");
    let first = host(&["inspect", PROBE, "--json"], None, &dir);
    let second = host(&["inspect", PROBE, "--json"], None, &dir);
    let origin = |o: &Output| {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["compiled"].clone()
    };
    assert_eq!(origin(&first), "compiled");
    assert_eq!(origin(&second), "cached");
}

#[test]
fn conformance_names_the_failing_check_and_exits_5() {
    let dir = scratch("conformance");
    let garbage = write_config(&dir, "behaviour = \"garbage-json\"\n");
    let failed = host(&["conformance", PROBE, "--config", &garbage], None, &dir);
    assert_eq!(code(&failed), 5, "{}", text(&failed));
    let table = text(&failed);
    assert!(table.contains("FAIL    evidence"), "{table}");
    assert!(
        table.contains("FAILED: collect-unauthorized, evidence"),
        "{table}"
    );

    let behaved = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let passed = host(
        &["conformance", PROBE, "--config", &behaved, "--json"],
        None,
        &dir,
    );
    assert_eq!(code(&passed), 0, "{}", text(&passed));
    let report: serde_json::Value = serde_json::from_slice(&passed.stdout).unwrap();
    assert_eq!(report["passed"], true);
    assert_eq!(report["checks"].as_array().unwrap().len(), 9);
    let evidence = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "evidence")
        .unwrap();
    assert_eq!(evidence["verdict"], "skip", "{evidence}");
    let table = text(&host(
        &["conformance", PROBE, "--config", &behaved],
        None,
        &dir,
    ));
    assert!(table.contains("SKIPPED evidence"), "{table}");
    assert!(
        table.contains("no check failed; SKIPPED, as they exercised nothing: collect, evidence"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance_with_a_mock_route_exercises_collect_and_evidence() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("conformance-route");
    let behaved = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let args = [
        "conformance",
        PROBE,
        "--config",
        &behaved,
        "--route",
        &route,
    ];
    let output = host(&args, None, &dir);
    assert_eq!(code(&output), 0, "{}", text(&output));
    let table = text(&output);
    assert!(table.contains("pass    collect "), "{table}");
    assert!(table.contains("pass    evidence "), "{table}");
    assert!(table.contains("every check passed"), "{table}");
}

#[test]
fn inspect_against_lists_only_what_the_new_version_asks_for_beyond_the_old() {
    let dir = scratch("inspect-against");
    let same = host(&["inspect", PROBE, "--against", PROBE], None, &dir);
    assert_eq!(code(&same), 0);
    assert!(
        text(&same).contains("capabilities unchanged"),
        "{}",
        text(&same)
    );

    let grown = host(
        &[
            "inspect",
            ATLASSIAN_CLOUD_ADMIN,
            "--against",
            PROBE,
            "--json",
        ],
        None,
        &dir,
    );
    assert_eq!(code(&grown), 0, "{}", text(&grown));
    let report: serde_json::Value = serde_json::from_slice(&grown.stdout).unwrap();
    assert_eq!(report["grew"], true);
    let diff = &report["diff"];
    assert_eq!(
        diff["origins"]["added"],
        serde_json::json!(["https://api.atlassian.com"])
    );
    assert_eq!(
        diff["origins"]["removed"],
        serde_json::json!(["https://api.example.com"])
    );
    assert_eq!(diff["secrets"]["added"][0]["field"], "api-key");
    assert_eq!(
        diff["evidence_kinds"]["removed"],
        serde_json::json!(["test.item"])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_records_and_replays_without_the_network_or_the_secret() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("record-replay");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let recording = dir.join("recording");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let live_out = dir.join("live");
    let recorded = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--route",
            &route,
            "--out",
            live_out.to_str().unwrap(),
            "--record",
            recording.to_str().unwrap(),
        ],
        Some(PROBE_TOKEN),
        &dir,
    );
    assert_eq!(code(&recorded), 0, "{}", text(&recorded));
    assert!(text(&recorded).contains("responses kept in"));

    let replay_out = dir.join("replayed");
    let replayed = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--out",
            replay_out.to_str().unwrap(),
            "--replay",
            recording.to_str().unwrap(),
            "--json",
        ],
        None,
        &dir,
    );
    assert_eq!(code(&replayed), 0, "{}", text(&replayed));
    let report: serde_json::Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!(report["run"]["tape"]["mode"], "replay");
    assert_eq!(report["run"]["counts"]["test.item"], 4);
    assert_eq!(
        server.authorizations.lock().unwrap().len(),
        2,
        "the replay sent nothing"
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let output = host(&["--help"], None, &scratch("help"));
    let help = text(&output);
    for line in [
        "0  success",
        "3  unauthorized or forbidden",
        "4  sandbox violation",
        "8  verification failed",
    ] {
        assert!(help.contains(line), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_key_never_appears_in_the_output_or_the_bundle() {
    let key = "cli-secret-key-7d41e9";
    let sim = atlassian_sim::SimHandle::start(atlassian_sim::SimConfig {
        api_key: key.into(),
        ..atlassian_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("atlassian");
    let config = write_config(&dir, &format!("org-id = \"{}\"\n", sim.org_id()));
    let route = format!("https://api.atlassian.com={}", sim.base_url());
    let out = dir.join("bundle");
    let run = |args: &[&str]| host_with_secret(args, "WATCHDOG_SECRET_API_KEY", Some(key), &dir);
    let validate = run(&[
        "validate",
        ATLASSIAN_CLOUD_ADMIN,
        "--config",
        &config,
        "--route",
        &route,
        "-vv",
    ]);
    assert_eq!(code(&validate), 0, "{}", text(&validate));
    let collect = run(&[
        "collect",
        ATLASSIAN_CLOUD_ADMIN,
        "--config",
        &config,
        "--route",
        &route,
        "--out",
        out.to_str().unwrap(),
        "-vv",
    ]);
    assert_eq!(
        code(&collect),
        1,
        "the simulated org fails findings: {}",
        text(&collect)
    );
    for output in [&validate, &collect] {
        assert!(!text(output).contains(key));
    }
    for file in ["run.json", "evidence.jsonl", "ledger.jsonl", "log.jsonl"] {
        let content = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(!content.contains(key), "{file}");
    }
}
