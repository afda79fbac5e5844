//! `watchdog-host new`: the generated project builds with its pinned
//! toolchain and passes conformance as generated, with collect exercised
//! against its recording, through its own `./check` script.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOST: &str = env!("CARGO_BIN_EXE_watchdog-host");

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
    let project = scratch.join("acme-directory");
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(&scratch).unwrap();
    run(Command::new(HOST).current_dir(&scratch).args([
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
    (scratch, project)
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
