//! `watchdog-host new`: the generated project builds with its pinned
//! toolchain and passes conformance as generated, with collect exercised
//! against its recording, through its own `./check` script.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOST: &str = env!("CARGO_BIN_EXE_watchdog-host");
/// The version of the SDK, the same as the host's.
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A command in `dir` with none of this build's cargo settings, so the
/// project's own `rust-toolchain.toml` decides, as on an author's machine.
fn clean(program: &str, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("CARGO") || name.starts_with("RUSTUP_TOOLCHAIN") || name == "RUSTFLAGS"
        {
            command.env_remove(name);
        }
    }
    command
}

/// Generates `acme-directory` in `lang` into a scratch folder of its own.
fn generate(lang: &str) -> (PathBuf, PathBuf) {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("new-{lang}"));
    let project = generate_with(Path::new(HOST), lang, &scratch);
    (scratch, project)
}

/// Generates `acme-directory` in `lang` under `scratch` with `host`.
fn generate_with(host: &Path, lang: &str, scratch: &Path) -> PathBuf {
    let project = scratch.join("acme-directory");
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(scratch).unwrap();
    run(Command::new(host).current_dir(scratch).args([
        "new",
        "acme-directory",
        "--lang",
        lang,
        "--name",
        "Acme Directory",
        "--origin",
        "https://api.example.com",
        "--secret-field",
        "api-token",
    ]));
    project
}

/// `conformance --replay recording --json` on the built component: every
/// check passes, none skipped, and the recording's three users are the
/// evidence.
fn assert_conforms_with_collect_exercised(project: &Path, wasm: &Path) {
    let output = run(Command::new(HOST).current_dir(project).args([
        "conformance",
        wasm.to_str().unwrap(),
        "--replay",
        "recording",
        "--json",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    let checks = report["checks"].as_array().unwrap();
    for check in checks {
        assert_eq!(check["verdict"], "pass", "{check}");
    }
    let evidence = checks.iter().find(|c| c["check"] == "evidence").unwrap();
    assert_eq!(evidence["detail"], "3 record(s) emitted, none refused");
    assert!(project.join("bundle/run.json").is_file());
}

#[test]
fn a_new_rust_project_passes_conformance_with_collect_exercised() {
    let (scratch, project) = generate("rust");
    // A target directory of its own, kept between runs so the
    // dependencies build once.
    let target = scratch.join("target");
    run(clean("./check", &project)
        .env("WATCHDOG_HOST", HOST)
        .env("CARGO_TARGET_DIR", &target));
    let wasm = target.join("wasm32-wasip2/release/acme_directory.wasm");
    assert_conforms_with_collect_exercised(&project, &wasm);
}

/// Needs componentize-py on the PATH (`scripts/test` installs it).
#[test]
fn a_new_python_project_passes_conformance_with_collect_exercised() {
    let (_, project) = generate("python");
    run(clean("./check", &project).env("WATCHDOG_HOST", HOST));
    let wasm = project.join("build/acme-directory.wasm");
    assert_conforms_with_collect_exercised(&project, &wasm);
}

/// Needs Node.js and npm on the PATH (`scripts/test` installs them); the
/// project's `./check` installs its pinned tools with `npm ci`. `tsc`
/// type-checks the TypeScript bindings `jco` writes from the vendored
/// contract, so a doc comment that breaks them fails here.
#[test]
fn a_new_js_project_passes_conformance_with_collect_exercised() {
    let (_, project) = generate("js");
    run(clean("./check", &project).env("WATCHDOG_HOST", HOST));
    let wasm = project.join("build/acme-directory.wasm");
    assert_conforms_with_collect_exercised(&project, &wasm);
}

/// A release's `dist/` as `scripts/release` lays it out: the host binary
/// with the SDK, packaged by `cargo package` and unpacked, beside it.
/// Returns the host in it.
fn release(scratch: &Path) -> PathBuf {
    let dist = scratch.join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).unwrap();
    let packaged = scratch.join("package-target");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    run(Command::new(env!("CARGO"))
        .current_dir(workspace)
        .args([
            "package",
            "-p",
            "watchdog-sdk",
            "--no-verify",
            "--allow-dirty",
        ])
        .arg("--target-dir")
        .arg(&packaged));
    let crate_file = packaged.join(format!("package/watchdog-sdk-{VERSION}.crate"));
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&dist));
    let host = dist.join("watchdog-host");
    std::fs::hard_link(HOST, &host).unwrap();
    host
}

#[test]
fn a_new_rust_project_outside_the_checkout_builds_on_the_sdk_beside_the_host() {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-rust-dist");
    let host = release(&scratch);
    let project = generate_with(&host, "rust", &scratch);
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    let sdk = scratch.join(format!("dist/watchdog-sdk-{VERSION}"));
    assert!(
        manifest.contains(&format!(
            "watchdog-sdk = {{ version = \"{VERSION}\", path = {:?} }}",
            sdk.display().to_string()
        )),
        "{manifest}"
    );
    // The Rust test's target directory: the dependencies are built once.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-rust/target");
    run(clean("./check", &project)
        .env("WATCHDOG_HOST", &host)
        .env("CARGO_TARGET_DIR", &target));
    let wasm = target.join("wasm32-wasip2/release/acme_directory.wasm");
    assert_conforms_with_collect_exercised(&project, &wasm);
}

#[test]
fn new_builds_on_the_sdk_given_with_sdk_and_refuses_a_folder_that_is_not_one() {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("new-sdk-flag");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    run(Command::new(HOST)
        .current_dir(&scratch)
        .args(["new", "acme-directory", "--sdk"])
        .arg(&sdk));
    let manifest = std::fs::read_to_string(scratch.join("acme-directory/Cargo.toml")).unwrap();
    let absolute = std::path::absolute(&sdk).unwrap();
    assert!(
        manifest.contains(&format!("path = {:?}", absolute.display().to_string())),
        "{manifest}"
    );

    let refused = Command::new(HOST)
        .current_dir(&scratch)
        .args(["new", "other", "--sdk", "."])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr)
            .contains("--sdk `.`: not an unpacked watchdog-sdk crate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!scratch.join("other").exists());
}
