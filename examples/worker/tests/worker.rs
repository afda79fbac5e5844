//! The example worker end to end: the real binary, the real Atlassian
//! component, simulated organizations over loopback. Every tenant's bundle
//! verifies and holds exactly its own organization's records.

use atlassian_sim::{SimConfig, SimHandle};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_host::bundle::{self, Outcome, Record};
use watchdog_worker::{RunLine, SummaryLine};

async fn sim(seed: u64, key: &str) -> SimHandle {
    SimHandle::start(SimConfig {
        seed,
        users: 30,
        events: 100,
        api_key: key.into(),
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

fn tenant_line(tenant: &str, sim: &SimHandle, key: &str) -> String {
    serde_json::json!({
        "tenant": tenant,
        "config": {"org-id": sim.org_id()},
        "secrets": {"api-key": key},
        "routes": {"https://api.atlassian.com": sim.base_url()},
    })
    .to_string()
}

/// What the worker printed and how it exited.
struct Worked {
    lines: Vec<RunLine>,
    summary: watchdog_worker::Summary,
    success: bool,
}

/// Runs the worker binary on `tenants` (in a blocking thread, so that the
/// simulators keep serving), bundles under `out`.
async fn work(tenants: Vec<String>, out: &Path, extra: &[&str]) -> Worked {
    let file = out.with_extension("jsonl");
    std::fs::write(&file, tenants.join("\n")).unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_watchdog-worker"));
    command
        .args(["--plugin", ATLASSIAN_CLOUD_ADMIN, "--tenants"])
        .arg(&file)
        .arg("--out")
        .arg(out)
        .args(extra);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines: Vec<&str> = stdout.lines().collect();
    let summary: SummaryLine = serde_json::from_str(lines.pop().unwrap()).unwrap();
    Worked {
        lines: lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        summary: summary.summary,
        success: output.status.success(),
    }
}

/// The user ids in a bundle's evidence.
fn user_ids(dir: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(dir.join(bundle::EVIDENCE_FILE)).unwrap();
    text.lines()
        .map(|line| serde_json::from_str::<Record>(line).unwrap())
        .filter(|record| record.kind == "atlassian.user")
        .map(|record| record.id)
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("watchdog-worker-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

const KEY_A: &str = "worker-key-a-51c0e2";
const KEY_B: &str = "worker-key-b-9e7d3a";

#[tokio::test(flavor = "multi_thread")]
async fn every_tenants_bundle_verifies_and_holds_exactly_its_organizations_records() {
    let (a, b) = (sim(11, KEY_A).await, sim(12, KEY_B).await);
    let out = scratch("tenants");
    let tenants = vec![
        tenant_line("t0001", &a, KEY_A),
        tenant_line("t0002", &b, KEY_B),
        tenant_line("t0003", &a, KEY_A),
    ];
    let worked = work(tenants, &out, &["--max-runs", "2"]).await;

    assert!(worked.success);
    assert_eq!(worked.lines.len(), 3);
    assert_eq!((worked.summary.runs, worked.summary.complete), (3, 3));
    assert!(worked.summary.peak_runs <= 2);
    for line in &worked.lines {
        assert_eq!(line.outcome, Outcome::Complete, "{:?}", line.error);
        let dir = out.join(&line.tenant);
        let seal = line.seal.as_deref().unwrap();
        let verified = bundle::verify(&dir, Some(seal)).expect("the bundle verifies");
        assert_eq!(verified.evidence_records, line.records);
        let org = if line.tenant == "t0002" { &b } else { &a };
        let want: BTreeSet<String> = (org.population().users().iter())
            .map(|u| u.account_id.clone())
            .collect();
        assert_eq!(user_ids(&dir), want, "{}", line.tenant);
        let text = std::fs::read_to_string(dir.join(bundle::LEDGER_FILE)).unwrap();
        assert!(
            !text.contains(KEY_A) && !text.contains(KEY_B),
            "a key leaked"
        );
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_with_a_wrong_key_fails_alone_and_the_worker_exits_non_zero() {
    let a = sim(13, KEY_A).await;
    let out = scratch("wrong-key");
    let tenants = vec![
        tenant_line("good", &a, KEY_A),
        tenant_line("bad", &a, KEY_B),
    ];
    let worked = work(tenants, &out, &["--no-pooling"]).await;

    assert!(!worked.success);
    assert_eq!((worked.summary.complete, worked.summary.failed), (1, 1));
    let bad = worked.lines.iter().find(|l| l.tenant == "bad").unwrap();
    assert_eq!(bad.outcome, Outcome::Failed);
    assert!(
        bad.error.as_deref().unwrap().contains("unauthorized"),
        "{bad:?}"
    );
    let good = worked.lines.iter().find(|l| l.tenant == "good").unwrap();
    bundle::verify(&out.join("good"), good.seal.as_deref()).expect("the good bundle verifies");
    std::fs::remove_dir_all(&out).unwrap();
}
