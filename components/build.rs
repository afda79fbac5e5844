//! Builds every guest crate for `wasm32-wasip2` so that `cargo test` and
//! `cargo run` alone produce the components they need: the Atlassian
//! integration (`plugin/`) and the host's test components (`tests/fixtures/`).
//!
//! As in wasmtime's own test-programs, the nested cargo gets a target
//! directory of its own (sharing the outer one would deadlock on its lock),
//! and the paths of the built components become constants of this crate.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir
        .parent()
        .expect("components/ sits in the workspace");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let target_dir = out.join("wasm");

    for watched in [
        "plugin/src",
        "plugin/Cargo.toml",
        "sdk",
        "jsontext",
        "wit",
        "tests/fixtures",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    build(&root.join("plugin/Cargo.toml"), &target_dir);
    build(&root.join("tests/fixtures/Cargo.toml"), &target_dir);

    let release = target_dir.join("wasm32-wasip2/release");
    let component = |name: &str| release.join(name).display().to_string();
    let constants = format!(
        "/// The Atlassian Cloud Admin integration.\n\
         pub const ATLASSIAN_CLOUD_ADMIN: &str = {:?};\n\
         /// Test components for the host (see `tests/fixtures/`).\n\
         pub mod fixtures {{\n\
         /// A test integration whose `behaviour` setting picks a (mis)behaviour.\n\
         pub const PROBE: &str = {:?};\n\
         /// A WASI command that is not an integration.\n\
         pub const NOT_A_PLUGIN: &str = {:?};\n\
         /// An integration for contract series 0.2, which this host does not speak.\n\
         pub const FUTURE_CONTRACT: &str = {:?};\n\
         /// A manifest that declares `POST /**`.\n\
         pub const WILDCARD_POST: &str = {:?};\n\
         /// A `manifest()` that never returns.\n\
         pub const SPINNING_MANIFEST: &str = {:?};\n\
         }}\n",
        component("atlassian_cloud_admin.wasm"),
        component("probe.wasm"),
        component("not-a-plugin.wasm"),
        component("future_contract.wasm"),
        component("wildcard_post.wasm"),
        component("spinning_manifest.wasm"),
    );
    std::fs::write(out.join("components.rs"), constants).unwrap();
}

fn build(manifest: &Path, target_dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        // The outer build's settings are for the host, not for the guests.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        // 128-bit SIMD, which every wasmtime supports by default: the JSON
        // scanner (`jsontext`) tests string content sixteen bytes at a time.
        .env(
            "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
            "-Ctarget-feature=+simd128",
        )
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true");
    let status = command
        .status()
        .expect("running cargo for the guest components");
    if !status.success() {
        panic!(
            "building {} for wasm32-wasip2 failed; if the target is missing, run \
             `rustup target add wasm32-wasip2` (the README's commands do)",
            manifest.display()
        );
    }
}
