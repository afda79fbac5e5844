//! The seal, end to end: a bundle written by the real Atlassian component in
//! the real host from the simulated organization, then rewritten the way
//! someone wanting a clean report would, with every hash and count that
//! `run.json` keeps fixed up. `verify --head` with the head `collect`
//! printed refuses each, naming what changed; so does any byte flipped
//! anywhere.

use atlassian_sim::{SimConfig, SimHandle};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_e2e::{Harness, config};
use watchdog_host::bundle::{
    self, EVIDENCE_FILE, LEDGER_FILE, LOG_FILE, RUN_FILE, Record, RunRecord, VerifyError,
};
use watchdog_host::contract::FindingStatus;
use watchdog_host::egress::Reroutes;
use watchdog_host::ledger::ChainError;
use watchdog_host::sandbox::Limits;
use watchdog_host::seal::{Change, FileHashes, Seal};

const KEY: &str = "seal-key-5d2e8a1c";
const FILES: [&str; 4] = [RUN_FILE, EVIDENCE_FILE, LEDGER_FILE, LOG_FILE];

/// A bundle of a small simulated organization, and the head `collect`
/// printed for it.
async fn sealed_bundle(harness: &Harness) -> (PathBuf, String) {
    let sim = SimHandle::start(SimConfig {
        api_key: KEY.into(),
        users: 20,
        events: 60,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let route = format!("https://api.atlassian.com={}", sim.base_url());
    let options = harness.options(
        Limits::default(),
        Reroutes::parse([route.as_str()]).unwrap(),
    );
    let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &options).await;
    let config = config(&[("org-id", sim.org_id())], &[("api-key", KEY)]);
    let collected = harness
        .collect(&loaded, &config, &options, "original", None)
        .await
        .unwrap();
    assert!(collected.failure.is_none(), "{:?}", collected.failure);
    let head = collected.run.seal.hash.clone();
    bundle::verify(&collected.dir, Some(&head)).expect("the original verifies");
    (collected.dir, head)
}

/// A copy of the bundle to tamper with.
fn copy(original: &Path, name: &str) -> PathBuf {
    let dir = original.with_file_name(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in FILES {
        std::fs::copy(original.join(file), dir.join(file)).unwrap();
    }
    dir
}

fn read_run(dir: &Path) -> RunRecord {
    serde_json::from_slice(&std::fs::read(dir.join(RUN_FILE)).unwrap()).unwrap()
}

fn sha256(dir: &Path, file: &str) -> String {
    hex::encode(Sha256::digest(std::fs::read(dir.join(file)).unwrap()))
}

/// Writes `run.json` as the host would; `reseal` also recomputes the seal
/// over the files as they now are, as a forger who read this code would.
fn write_run(dir: &Path, mut run: RunRecord, reseal: bool) {
    if reseal {
        let files = FileHashes {
            ledger_head: run.ledger_head.clone(),
            evidence_sha256: sha256(dir, EVIDENCE_FILE),
            log_sha256: sha256(dir, LOG_FILE),
        };
        run.seal = Seal::new(&files, &run);
    }
    std::fs::write(dir.join(RUN_FILE), bundle::render_run(&run)).unwrap();
}

/// Rewrites the evidence file by line, then fixes `run.json`'s evidence
/// hash, record total and counts to match.
fn rewrite_evidence(dir: &Path, edit: impl Fn(&str) -> Option<String>, reseal: bool) {
    let text = std::fs::read_to_string(dir.join(EVIDENCE_FILE)).unwrap();
    let mut out = String::new();
    let mut run = read_run(dir);
    run.counts.clear();
    for line in text.lines().filter_map(edit) {
        let record: Record = serde_json::from_str(&line).unwrap();
        *run.counts.entry(record.kind).or_default() += 1;
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(dir.join(EVIDENCE_FILE), out).unwrap();
    run.evidence_records = run.counts.values().sum();
    run.evidence_sha256 = sha256(dir, EVIDENCE_FILE);
    write_run(dir, run, reseal);
}

fn changed(result: Result<bundle::VerifyReport, VerifyError>) -> Vec<Change> {
    match result {
        Err(VerifyError::Changed(changes)) => changes,
        other => panic!("expected the parts changed since sealing, got {other:?}"),
    }
}

fn resealed(result: Result<bundle::VerifyReport, VerifyError>) {
    match result {
        Err(VerifyError::NotSealedBy { .. }) => {}
        other => panic!("expected a bundle not sealed by the head, got {other:?}"),
    }
}

fn run_field(name: &str) -> Change {
    Change::RunField(name.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn rewriting_any_part_of_a_bundle_fails_verify_against_the_head_naming_what_changed() {
    let harness = Harness::new("seal-rewrites");
    let (original, head) = sealed_bundle(&harness).await;

    // A failed finding reported as passed.
    let pass_everything = |dir: &Path, reseal| {
        let mut run = read_run(dir);
        let failed = run
            .findings
            .iter_mut()
            .find(|f| f.status == FindingStatus::Fail)
            .expect("the simulated org fails a finding");
        failed.status = FindingStatus::Pass;
        failed.failing.clear();
        write_run(dir, run, reseal);
    };
    let dir = copy(&original, "finding");
    pass_everything(&dir, false);
    assert_eq!(
        changed(bundle::verify(&dir, Some(&head))),
        [run_field("findings")]
    );
    let dir = copy(&original, "finding-resealed");
    pass_everything(&dir, true);
    resealed(bundle::verify(&dir, Some(&head)));
    // Resealed, it is consistent with itself: that is all verify without
    // the head can say, and why the head is kept apart.
    bundle::verify(&dir, None).expect("a resealed bundle is self-consistent");

    // An account without two-step verification shown with it, the evidence
    // hash and counts fixed.
    let enable_mfa =
        |line: &str| Some(line.replacen("\"mfaEnabled\":false", "\"mfaEnabled\":true", 1));
    let dir = copy(&original, "mfa");
    rewrite_evidence(&dir, enable_mfa, false);
    assert_eq!(
        changed(bundle::verify(&dir, Some(&head))),
        [
            Change::File(EVIDENCE_FILE.into()),
            run_field("evidence_sha256")
        ]
    );
    let dir = copy(&original, "mfa-resealed");
    rewrite_evidence(&dir, enable_mfa, true);
    resealed(bundle::verify(&dir, Some(&head)));

    // Every audit event deleted, the counts fixed.
    let no_events =
        |line: &str| (!line.starts_with("{\"kind\":\"atlassian.event\"")).then(|| line.to_owned());
    let dir = copy(&original, "events");
    rewrite_evidence(&dir, no_events, false);
    assert_eq!(
        changed(bundle::verify(&dir, Some(&head))),
        [
            Change::File(EVIDENCE_FILE.into()),
            run_field("counts"),
            run_field("evidence_records"),
            run_field("evidence_sha256"),
        ]
    );
    let dir = copy(&original, "events-resealed");
    rewrite_evidence(&dir, no_events, true);
    resealed(bundle::verify(&dir, Some(&head)));

    // A line of the log changed.
    let dir = copy(&original, "log");
    let log = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap();
    let first = log.lines().next().expect("the run logged");
    let edited = log.replacen(first, "{\"message\":\"all good\"}", 1);
    std::fs::write(dir.join(LOG_FILE), edited).unwrap();
    assert_eq!(
        changed(bundle::verify(&dir, Some(&head))),
        [Change::File(LOG_FILE.into())]
    );
    let dir = copy(&original, "log-resealed");
    std::fs::write(dir.join(LOG_FILE), log.replacen(first, "{}", 1)).unwrap();
    write_run(&dir, read_run(&dir), true);
    resealed(bundle::verify(&dir, Some(&head)));
}

/// A change to a file's text.
type Edit = fn(&str) -> String;

#[tokio::test(flavor = "multi_thread")]
async fn line_ends_a_missing_last_line_feed_or_a_blank_line_fail_verify_in_every_file() {
    let harness = Harness::new("seal-line-ends");
    let (original, _) = sealed_bundle(&harness).await;
    let edits: [(&str, Edit); 3] = [
        ("crlf", |text| text.replace('\n', "\r\n")),
        ("unterminated", |text| {
            text.trim_end_matches('\n').to_owned()
        }),
        ("blank-line", |text| format!("{text}\n")),
    ];
    for file in FILES {
        for (name, edit) in edits {
            let dir = copy(&original, &format!("{name}-{file}"));
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            std::fs::write(dir.join(file), edit(&text)).unwrap();
            let result = bundle::verify(&dir, None);
            let expected = match (file, &result) {
                (RUN_FILE, Err(VerifyError::RunNotCanonical { .. })) => true,
                (LEDGER_FILE, Err(VerifyError::Chain(ChainError::Line(_)))) => true,
                (EVIDENCE_FILE | LOG_FILE, Err(VerifyError::Line { file: named, .. })) => {
                    *named == file
                }
                _ => false,
            };
            assert!(expected, "{name} in {file}: {result:?}");
        }
    }
}

/// SplitMix64: positions and bytes from a fixed seed, so a failure repeats.
struct Positions(u64);

impl Positions {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Mutations tried per file.
const FLIPS_PER_FILE: u64 = 48;

#[tokio::test(flavor = "multi_thread")]
async fn one_byte_changed_anywhere_in_any_file_fails_verify_against_the_head() {
    let harness = Harness::new("seal-flips");
    let (original, head) = sealed_bundle(&harness).await;
    for (index, file) in FILES.into_iter().enumerate() {
        let bytes = std::fs::read(original.join(file)).unwrap();
        let mut positions = Positions(index as u64 + 1);
        for flip in 0..FLIPS_PER_FILE {
            let at = (positions.next() % bytes.len() as u64) as usize;
            // Any other byte value: 1 to 255 XORed in.
            let mask = (positions.next() % 255 + 1) as u8;
            let dir = copy(&original, "flip");
            let mut flipped = bytes.clone();
            flipped[at] ^= mask;
            std::fs::write(dir.join(file), &flipped).unwrap();
            let result = bundle::verify(&dir, Some(&head));
            assert!(
                result.is_err(),
                "{file} byte {at} XOR {mask:#04x} (flip {flip}) verified"
            );
        }
    }
}
