//! The command line as an operator uses it: configuration from a file,
//! secrets from the environment only, exit codes per kind of outcome, the
//! ledger head printed for safekeeping, `verify` failing loudly on edits.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_components::fixtures::{NOT_A_PLUGIN, PROBE, SPINNING_MANIFEST, WILDCARD_POST};
use watchdog_e2e::{PROBE_TOKEN, ProbeServer};
use watchdog_host::checkpoint::Envelope;

fn scratch(name: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("watchdog-cli-{name}-"))
        .tempdir()
        .unwrap()
        .keep()
}

fn host(args: &[&str], token: Option<&str>, cache: &Path) -> Output {
    host_with_secret(args, "WATCHDOG_SECRET_PROBE_TOKEN", token, cache)
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

/// Runs the host with stdout a pipe whose reader is already gone.
fn closed_stdout(args: &[&str], cache: &Path) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_watchdog-host"))
        .args(args)
        .env("WATCHDOG_CACHE_DIR", cache)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
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

/// A checkpoint file as collect writes it for the probe with `behaviour`.
fn write_checkpoint(path: &Path, behaviour: &str, checkpoint: &str) {
    let config = [("behaviour".to_owned(), behaviour.to_owned())].into();
    let envelope = Envelope::new("probe", &config, checkpoint);
    std::fs::write(path, serde_json::to_string(&envelope).unwrap()).unwrap();
}

fn read_checkpoint(path: &Path) -> String {
    let envelope: Envelope = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    envelope.checkpoint
}

fn write_config(dir: &Path, body: &str) -> String {
    let path = dir.join("config.toml");
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

/// Runs `collect` on the probe doing `behaviour`, its API routed to
/// `server`, into `dir/bundle`, with `extra` flags and the probe's token if
/// `token` is given.
fn collect_probe(
    dir: &Path,
    behaviour: &str,
    server: &ProbeServer,
    extra: &[&str],
    token: Option<&str>,
) -> Output {
    let config = write_config(dir, &format!("behaviour = \"{behaviour}\"\n"));
    let route = format!("https://api.example.com=http://{}", server.addr);
    let out = dir.join("bundle");
    let mut args = vec![
        "collect",
        PROBE,
        "--config",
        &config,
        "--route",
        &route,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    host(&args, token, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn collect_prints_the_head_and_verify_checks_it() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("collect");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let out = dir.join("bundle");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let checkpoint = dir.join("checkpoint");
    write_checkpoint(&checkpoint, "well-behaved", "before");
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
    let head = report["head"].as_str().unwrap().to_string();
    assert_eq!(report["run"]["seal"]["hash"], head);
    assert_eq!(report["run"]["checkpoint_in"], "before");
    assert_eq!(read_checkpoint(&checkpoint), "after-3");

    let verified = host(
        &["verify", out.to_str().unwrap(), "--head", &head],
        None,
        &dir,
    );
    assert_eq!(code(&verified), 0, "{}", text(&verified));
    let said = text(&verified);
    assert!(
        said.contains("verified") && said.contains("outcome      complete"),
        "{said}"
    );
    let unsealed = host(&["verify", out.to_str().unwrap()], None, &dir);
    assert_eq!(code(&unsealed), 0, "{}", text(&unsealed));
    assert!(
        text(&unsealed).contains("without --head this proves only that the bundle is consistent"),
        "{}",
        text(&unsealed)
    );
    // A reader that went away (`verify DIR | head -1`) ends the output,
    // not the command: no panic, the command's own exit code.
    let closed = closed_stdout(&["verify", out.to_str().unwrap(), "--head", &head], &dir);
    assert_eq!(closed.status.code(), Some(0), "{}", text(&closed));
    assert!(closed.stderr.is_empty(), "{}", text(&closed));

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
        text(&output).contains("WATCHDOG_SECRET_PROBE_TOKEN"),
        "{}",
        text(&output)
    );
    assert!(!text(&output).contains("leaked-4242"));
    assert!(!out.exists(), "nothing ran");
}

#[test]
fn without_config_only_the_fields_that_need_a_value_are_asked_for() {
    let dir = scratch("no-config");
    let output = host(&["validate", PROBE], Some(PROBE_TOKEN), &dir);
    assert_eq!(code(&output), 2);
    assert_eq!(
        text(&output),
        "error: configuration problems:\n  - `behaviour` (Behaviour) is required: \
         what collect does\\u{1b}[8m\\u{9b}8m\\u{202e}\n"
    );
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
    let output = collect_probe(&dir, "loop", &server, &["--cpu-secs", "1"], None);
    assert_eq!(code(&output), 4, "{}", text(&output));
    assert!(
        text(&output).contains(
            "sandbox violation: guest used more than 1s of CPU in one call; \
             --cpu-secs sets this limit"
        ),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_panic_prints_its_own_message_and_location() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("panic");
    let output = collect_probe(&dir, "panic", &server, &[], None);
    assert_eq!(code(&output), 5, "{}", text(&output));
    let printed = text(&output);
    let error = printed
        .lines()
        .find_map(|line| line.strip_prefix("error"))
        .unwrap_or_else(|| panic!("no error line: {printed}"));
    let (location, message) = error
        .trim_start()
        .strip_prefix("the plugin crashed: panicked at ")
        .and_then(|rest| rest.split_once(": "))
        .unwrap_or_else(|| panic!("not the plugin's panic: {error}"));
    assert!(location.starts_with("probe/src/lib.rs:"), "{error}");
    assert_eq!(message, "the probe panics on purpose");
    assert!(!printed.contains("RUST_BACKTRACE"), "{printed}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_cut_at_the_cap_names_the_flag_that_raises_it() {
    let server = ProbeServer::start(2 << 20).await;
    let dir = scratch("response-cap");
    let output = collect_probe(
        &dir,
        "huge-response",
        &server,
        &["--response-mib", "1"],
        None,
    );
    assert!(
        text(&output).contains("truncated    1 of them at the size cap; --response-mib sets it"),
        "{}",
        text(&output)
    );
}

#[test]
fn a_core_module_or_an_rlib_passed_as_a_plugin_gets_the_build_fix() {
    let dir = scratch("not-a-component");
    let module = dir.join("plugin.wasm");
    std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
    let rlib = dir.join("libplugin.rlib");
    std::fs::write(&rlib, b"!<arch>\n").unwrap();
    let refusal = |path: &Path| {
        let output = host(&["inspect", path.to_str().unwrap()], None, &dir);
        assert_eq!(code(&output), 5, "{}", text(&output));
        text(&output)
    };
    assert_eq!(
        refusal(&module),
        format!(
            "error: {} is a core WebAssembly module, not a component: build with \
             --target wasm32-wasip2 and crate-type = [\"cdylib\"]\n",
            module.display()
        )
    );
    assert_eq!(
        refusal(&rlib),
        format!(
            "error: {} is a Rust library (rlib), not a component: cargo wrote only an rlib; \
             add crate-type = [\"cdylib\"] under [lib] and build with --target wasm32-wasip2\n",
            rlib.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tls_handshake_with_a_plain_http_server_is_logged_with_its_target_and_cause() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("tls-to-plain");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let target = format!("https://{}", server.addr);
    let route = format!("https://api.example.com={target}");
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
            "-v",
        ],
        Some(PROBE_TOKEN),
        &dir,
    );
    let logged = format!(
        "[Info Host] request failed: GET https://api.example.com/items (routed to {target}): \
         client error (Connect): the TLS handshake with {target} failed: "
    );
    assert!(text(&output).contains(&logged), "{}", text(&output));
}

#[test]
fn inspect_refuses_a_component_that_is_not_an_integration() {
    let dir = scratch("inspect");
    let output = host(&["inspect", NOT_A_PLUGIN], None, &dir);
    assert_eq!(code(&output), 5);
    assert!(text(&output).contains("not a WatchDog integration"));
    let shown = host(&["inspect", PROBE], None, &dir);
    assert!(
        text(&shown).contains(
            "secrets\n  token                authorization: Bearer {token}  \
             (to https://api.example.com)\n"
        ),
        "{}",
        text(&shown)
    );
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
    assert!(
        diff["origins"]["removed"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("https://api.example.com"))
    );
    assert_eq!(diff["secrets"]["added"][0]["field"], "api-key");
    assert_eq!(
        diff["evidence_kinds"]["removed"],
        serde_json::json!(["test.item", "test.summary.derived"])
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

    // The recording proves every record's span again, after the run.
    let rechecked = host(
        &[
            "verify",
            live_out.to_str().unwrap(),
            "--tape",
            recording.to_str().unwrap(),
        ],
        None,
        &dir,
    );
    assert_eq!(code(&rechecked), 0, "{}", text(&rechecked));
    assert!(
        text(&rechecked).contains("spans        4 records found in the recorded bodies"),
        "{}",
        text(&rechecked)
    );

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
    // Every code, with the start of its meaning (help text wraps).
    let help = text(&output);
    for exit in watchdog_host::run::exit::Exit::ALL {
        let start: String = exit.meaning().chars().take(30).collect();
        let line = format!("{:>3}  {start}", *exit as u8);
        assert!(help.contains(&line), "{line}");
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
    let run = |args: &[&str]| {
        host_with_secret(
            args,
            "WATCHDOG_SECRET_ATLASSIAN_CLOUD_ADMIN_API_KEY",
            Some(key),
            &dir,
        )
    };
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

#[tokio::test(flavor = "multi_thread")]
async fn a_checkpoint_of_another_configuration_is_a_warning_and_a_full_read() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("checkpoint-other");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let checkpoint = dir.join("checkpoint");
    // Made by a run with another configuration (another organization).
    write_checkpoint(&checkpoint, "capabilities", "after-999");
    let out = dir.join("bundle");
    let collect = [
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
    let output = host(&collect, Some(PROBE_TOKEN), &dir.join("cache"));
    assert_eq!(code(&output), 0, "{}", text(&output));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("not used: it was made with another configuration"),
        "{said}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["run"]["checkpoint_in"], serde_json::Value::Null);
    assert_eq!(read_checkpoint(&checkpoint), "after-3");
}

#[test]
fn a_checkpoint_in_a_missing_folder_is_a_usage_error_before_any_work() {
    let dir = scratch("checkpoint-folder");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let out = dir.join("bundle");
    let checkpoint = dir.join("no-such-folder/checkpoint");
    let output = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--out",
            out.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ],
        Some(PROBE_TOKEN),
        &dir.join("cache"),
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert!(
        text(&output).contains("no-such-folder"),
        "{}",
        text(&output)
    );
    assert!(!out.exists(), "nothing was collected");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_bundle_as_interrupted_and_leaves_the_checkpoint() {
    let key = "cli-signal-key-5c20a8";
    let sim = atlassian_sim::SimHandle::start(atlassian_sim::SimConfig {
        api_key: key.into(),
        users: 200,
        events: 20_000,
        latency: std::time::Duration::from_millis(200),
        ..atlassian_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("signal");
    let config = write_config(&dir, &format!("org-id = \"{}\"\n", sim.org_id()));
    let route = format!("https://api.atlassian.com={}", sim.base_url());
    let out = dir.join("bundle");
    let checkpoint = dir.join("checkpoint");
    std::fs::write(&checkpoint, "left as it was\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_watchdog-host"))
        .args([
            "collect",
            ATLASSIAN_CLOUD_ADMIN,
            "--config",
            &config,
            "--route",
            &route,
            "--out",
            out.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ])
        .env("WATCHDOG_CACHE_DIR", &dir)
        .env("WATCHDOG_SECRET_ATLASSIAN_CLOUD_ADMIN_API_KEY", key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Signalled once the collection has carried an exchange: well before
    // the audit log's pages, each 200 ms apart, are all read.
    let ledger = out.join("ledger.jsonl");
    while std::fs::metadata(&ledger).map_or(0, |m| m.len()) == 0 {
        if child.try_wait().unwrap().is_some() {
            let output = child.wait_with_output().unwrap();
            panic!("collect ended before it was signalled: {}", text(&output));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();

    assert_eq!(code(&output), 7, "{}", text(&output));
    assert!(
        text(&output).contains(out.to_str().unwrap()),
        "says where the bundle is"
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["outcome"], "partial");
    let warning = run["warnings"][0]["message"].as_str().unwrap();
    assert!(warning.starts_with("interrupted (SIGTERM)"), "{warning}");
    assert_eq!(run["checkpoint"], serde_json::Value::Null);
    assert_eq!(
        std::fs::read_to_string(&checkpoint).unwrap(),
        "left as it was\n"
    );
    let head = run["seal"]["hash"].as_str().unwrap();
    let verified = host(
        &["verify", out.to_str().unwrap(), "--head", head],
        None,
        &dir,
    );
    assert_eq!(code(&verified), 0, "{}", text(&verified));
    assert!(text(&verified).contains("PARTIAL"), "{}", text(&verified));
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_keeps_the_ledger_of_the_requests_it_sent_with_the_secret() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("validate-ledger");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let route = format!("https://api.example.com=http://{}", server.addr);
    let out = dir.join("validation");
    let output = host(
        &[
            "validate",
            PROBE,
            "--config",
            &config,
            "--route",
            &route,
            "--out",
            out.to_str().unwrap(),
        ],
        Some(PROBE_TOKEN),
        &dir.join("cache"),
    );
    assert_eq!(code(&output), 0, "{}", text(&output));
    let ledger = std::fs::read(out.join("ledger.jsonl")).unwrap();
    let verified = watchdog_host::ledger::verify(&ledger[..]).unwrap();
    assert_eq!(verified.entries.len(), 1);
    assert_eq!(
        verified.entries[0].exchange.url,
        "https://api.example.com/items"
    );
    assert!(text(&output).contains(&verified.head), "{}", text(&output));
    assert!(!String::from_utf8_lossy(&ledger).contains(PROBE_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bundle_file_that_cannot_be_written_fails_the_run_naming_it() {
    let key = "cli-full-disk-key-9e31b7";
    let sim = atlassian_sim::SimHandle::start(atlassian_sim::SimConfig {
        api_key: key.into(),
        ..atlassian_sim::SimConfig::default()
    })
    .await
    .unwrap();
    let dir = scratch("full-disk");
    let config = write_config(&dir, &format!("org-id = \"{}\"\n", sim.org_id()));
    let route = format!("https://api.atlassian.com={}", sim.base_url());
    let out = dir.join("bundle");
    let checkpoint = dir.join("checkpoint");
    std::fs::write(&checkpoint, "left as it was\n").unwrap();
    // No file may grow past 512 KiB, as on a disk that fills: the evidence
    // file (megabytes) cannot be written whole, the rest can.
    let output = Command::new("sh")
        .args([
            "-c",
            "trap '' XFSZ; ulimit -f 1024; exec \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_watchdog-host"),
            "collect",
            ATLASSIAN_CLOUD_ADMIN,
            "--config",
            &config,
            "--route",
            &route,
            "--out",
            out.to_str().unwrap(),
            "--checkpoint",
            checkpoint.to_str().unwrap(),
        ])
        .env("WATCHDOG_CACHE_DIR", dir.join("cache"))
        .env("WATCHDOG_SECRET_ATLASSIAN_CLOUD_ADMIN_API_KEY", key)
        .output()
        .unwrap();

    assert_eq!(code(&output), 6, "{}", text(&output));
    let evidence = out.join("evidence.jsonl");
    assert!(
        text(&output).contains(&format!(
            "cannot write {}: File too large",
            evidence.display()
        )),
        "{}",
        text(&output)
    );
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["outcome"], "failed");
    assert_eq!(
        std::fs::read_to_string(&checkpoint).unwrap(),
        "left as it was\n"
    );
    let verified = host(&["verify", out.to_str().unwrap()], None, &dir);
    assert_eq!(code(&verified), 8, "{}", text(&verified));
}

/// Characters a terminal would act on, in output meant for people (where
/// line breaks are the CLI's own).
fn terminal_hazards(output: &Output) -> Vec<char> {
    text(output)
        .chars()
        .filter(|&c| c != '\n' && watchdog_host::terminal::is_hazard(c))
        .collect()
}

#[test]
fn inspect_shows_terminal_escapes_in_a_manifest_instead_of_obeying_them() {
    let dir = scratch("inspect-escapes");
    let shown = host(&["inspect", PROBE], None, &dir);
    assert_eq!(code(&shown), 0, "{}", text(&shown));
    assert_eq!(
        terminal_hazards(&shown),
        Vec::<char>::new(),
        "{}",
        text(&shown)
    );
    assert!(
        text(&shown).contains("Exercises the sandbox.\\u{1b}[8m\\u{9b}8m\\u{202e}"),
        "{}",
        text(&shown)
    );
    // Every route after the hidden text is listed.
    assert!(
        text(&shown).contains("https://198.18.0.1\n    GET   /**\nsecrets"),
        "{}",
        text(&shown)
    );

    let json = host(&["inspect", PROBE, "--json"], None, &dir);
    assert_eq!(
        terminal_hazards(&json),
        Vec::<char>::new(),
        "{}",
        text(&json)
    );
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        report["manifest"]["description"], "Exercises the sandbox.\u{1b}[8m\u{9b}8m\u{202e}",
        "the JSON still holds the exact text"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plugin_logs_warnings_and_findings_are_printed_escaped() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("collect-escapes");
    let output = collect_probe(
        &dir,
        "terminal-escapes",
        &server,
        &["-v"],
        Some(PROBE_TOKEN),
    );
    assert_eq!(
        code(&output),
        1,
        "the probe's finding fails: {}",
        text(&output)
    );
    assert_eq!(
        terminal_hazards(&output),
        Vec::<char>::new(),
        "{}",
        text(&output)
    );
    for line in [
        "log line\\u{1b}[8m\\u{9b}8m\\u{202e}hidden",
        "stdout line\\u{1b}[8m",
        "warning\\u{1b}[8m",
        "finding\\u{1b}[8m",
        "account\\u{1b}[8m",
    ] {
        assert!(text(&output).contains(line), "{line}: {}", text(&output));
    }
}

#[test]
fn an_error_quoting_the_plugin_is_printed_escaped() {
    let dir = scratch("error-escapes");
    let config = write_config(&dir, "behaviour = \"x\\u001b[8m\"\n");
    let out = dir.join("bundle");
    let args = [
        "collect",
        PROBE,
        "--config",
        &config,
        "--out",
        out.to_str().unwrap(),
    ];
    let output = host(&args, Some(PROBE_TOKEN), &dir);
    assert_eq!(code(&output), 2, "{}", text(&output));
    assert_eq!(
        terminal_hazards(&output),
        Vec::<char>::new(),
        "{}",
        text(&output)
    );
    assert!(
        text(&output).contains("unknown behaviour `x\\u{1b}[8m`"),
        "{}",
        text(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_for_an_undeclared_origin_exits_2_naming_the_declared_ones() {
    let server = ProbeServer::start(0).await;
    let dir = scratch("undeclared-route");
    let config = write_config(&dir, "behaviour = \"well-behaved\"\n");
    let typo = format!("https://api.exmaple.com=http://{}", server.addr);
    let out = dir.join("bundle");
    let output = host(
        &[
            "collect",
            PROBE,
            "--config",
            &config,
            "--route",
            &typo,
            "--out",
            out.to_str().unwrap(),
        ],
        Some(PROBE_TOKEN),
        &dir,
    );
    assert_eq!(code(&output), 2, "{}", text(&output));
    let said = text(&output);
    assert!(
        said.contains(
            "--route names https://api.exmaple.com, which the manifest does not declare (declared: "
        ) && said.contains(" https://api.example.com,"),
        "{said}"
    );
    assert!(!out.exists(), "nothing ran");
    assert!(server.authorizations.lock().unwrap().is_empty());
}

#[test]
fn inspect_refuses_hostile_manifests_with_their_own_exit_codes() {
    let dir = scratch("inspect-hostile");
    let wildcard = host(&["inspect", WILDCARD_POST], None, &dir);
    assert_eq!(code(&wildcard), 5, "{}", text(&wildcard));
    assert!(
        text(&wildcard).contains("POST route `/**` is not one endpoint"),
        "{}",
        text(&wildcard)
    );
    // An endless manifest() is stopped by the manifest's own limits, not
    // after the run's 300 s of CPU.
    let spinning = host(&["inspect", SPINNING_MANIFEST], None, &dir);
    assert_eq!(code(&spinning), 4, "{}", text(&spinning));
}
