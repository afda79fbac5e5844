//! `watchdog-host new`: a new integration project that builds and passes
//! conformance as generated, with collect exercised.
//!
//! The project holds the integration (on `watchdog-sdk`), a pinned
//! toolchain, the mock upstream's pages (`mock/`), a recording of them in
//! the format `--replay` reads (written with [`watchdog_host::tape`], so it
//! is the host's own format), and `./check`, which builds, runs conformance
//! and collects against the recording.
//!
//! A Python project vendors the contract (`wit/`, embedded in this host
//! at build time) and pins componentize-py in `requirements.txt`. A
//! JavaScript project vendors it too, and pins its tools (jco,
//! componentize-js, TypeScript) in `package.json` and, with every package
//! they pull in, in `package-lock.json`, so `npm ci` installs the set this
//! host is tested with.
//!
//! The SDK dependency is by version, and also by path to an unpacked copy
//! of the crate when there is one, since the SDK is not on crates.io yet:
//! `--sdk DIR`, else the `watchdog-sdk-VERSION/` a release puts beside the
//! host binary (`dist/`, see `scripts/release`), else the `sdk/` of the
//! checkout this host was built from when it is still on this machine.
//! Without any, cargo looks for the version on crates.io.

use clap::{Args as ClapArgs, ValueEnum};
use std::path::{Path, PathBuf};
use watchdog_host::ledger;
use watchdog_host::tape::{Recorded, Recorder, Recording, TapeError};

/// The toolchain generated projects pin: the one this host is tested with.
const RUST_TOOLCHAIN: &str = "1.95.0";
/// The componentize-py Python projects pin: the one this host is tested with.
const COMPONENTIZE_PY: &str = "0.25.1";
/// The contract, for projects in languages without an SDK to carry it.
const WIT: [(&str, &str); 8] = [
    (
        "integration.wit",
        include_str!("../../../wit/integration.wit"),
    ),
    (
        "deps/cli/cli.wit",
        include_str!("../../../wit/deps/cli/cli.wit"),
    ),
    (
        "deps/clocks/clocks.wit",
        include_str!("../../../wit/deps/clocks/clocks.wit"),
    ),
    (
        "deps/filesystem/filesystem.wit",
        include_str!("../../../wit/deps/filesystem/filesystem.wit"),
    ),
    (
        "deps/http/http.wit",
        include_str!("../../../wit/deps/http/http.wit"),
    ),
    (
        "deps/io/io.wit",
        include_str!("../../../wit/deps/io/io.wit"),
    ),
    (
        "deps/random/random.wit",
        include_str!("../../../wit/deps/random/random.wit"),
    ),
    (
        "deps/sockets/sockets.wit",
        include_str!("../../../wit/deps/sockets/sockets.wit"),
    ),
];
/// The SDK version generated projects ask for when not by path.
const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The languages `new` generates projects in.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    /// TypeScript, built with componentize-js.
    Js,
}

/// The answers a project is generated from.
#[derive(ClapArgs, Debug)]
pub struct NewArgs {
    /// The integration's id: lower-case letters, digits and `-`, starting
    /// with a letter. Also the project folder and crate name.
    id: String,
    #[arg(long, value_enum, default_value = "rust")]
    lang: Lang,
    /// The integration's name, for operators (default: the id).
    #[arg(long)]
    name: Option<String>,
    /// The API's origin, `https://host[:port]`.
    #[arg(long, default_value = "https://api.example.com")]
    origin: String,
    /// The secret config field the host sends as `authorization: Bearer ...`.
    #[arg(long, default_value = "api-token")]
    secret_field: String,
    /// Where to create the project (default: ./ID). Must not exist.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Rust: the unpacked `watchdog-sdk` crate to build on, such as a
    /// release's `dist/watchdog-sdk-VERSION` (default: the one beside this
    /// host, else the checkout's `sdk/`, else crates.io).
    #[arg(long, value_name = "DIR")]
    sdk: Option<PathBuf>,
}

/// Why a project was not generated.
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("{what} `{value}`: {why}")]
    Answer {
        what: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{0} exists already; pick another --dir")]
    Exists(PathBuf),
    #[error(transparent)]
    Recording(#[from] TapeError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Generates the project; returns its folder.
pub fn run(args: &NewArgs) -> Result<PathBuf, NewError> {
    check_kebab("id", &args.id)?;
    check_kebab("--secret-field", &args.secret_field)?;
    let origin = check_origin(&args.origin)?;
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.id));
    if dir.exists() {
        return Err(NewError::Exists(dir));
    }
    let sdk = match &args.sdk {
        Some(path) => Some(check_sdk(path)?),
        None => sdk_beside_host().or_else(checkout_sdk),
    };
    let project = Project {
        id: &args.id,
        name: args.name.as_deref().unwrap_or(&args.id),
        origin: &origin,
        secret: &args.secret_field,
        sdk,
    };
    match args.lang {
        Lang::Rust => project.write_rust(&dir)?,
        Lang::Python => project.write_python(&dir)?,
        Lang::Js => project.write_js(&dir)?,
    }
    Ok(dir)
}

fn check_kebab(what: &'static str, value: &str) -> Result<(), NewError> {
    let ok = value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(NewError::Answer {
            what,
            value: value.to_owned(),
            why: "use lower-case letters, digits and `-`, starting with a letter",
        })
    }
}

/// The origin as the manifest spells it: scheme, host and port only.
fn check_origin(value: &str) -> Result<String, NewError> {
    let refuse = |why| NewError::Answer {
        what: "--origin",
        value: value.to_owned(),
        why,
    };
    let url = url::Url::parse(value).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("the API must be reached over https"));
    }
    if url.path() != "/" || url.query().is_some() || url.host_str().is_none() {
        return Err(refuse("give the origin only: https://host[:port]"));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// The SDK at `path`, absolute, if it is an unpacked crate.
fn check_sdk(path: &Path) -> Result<PathBuf, NewError> {
    let refuse = |why| NewError::Answer {
        what: "--sdk",
        value: path.display().to_string(),
        why,
    };
    if !path.join("Cargo.toml").is_file() {
        return Err(refuse(
            "not an unpacked watchdog-sdk crate: it has no Cargo.toml",
        ));
    }
    std::path::absolute(path).map_err(|_| refuse("cannot be made absolute"))
}

/// The mock upstream: the pages of `GET /v1/users`, as (query, body).
const MOCK_PAGES: [(&str, &str); 2] = [
    (
        "limit=100",
        r#"{"users":[{"id":"u-1","email":"ada@example.com","mfa":true},{"id":"u-2","email":"grace@example.com","mfa":false}],"next":"page-2"}"#,
    ),
    (
        "limit=100&cursor=page-2",
        r#"{"users":[{"id":"u-3","email":"alan@example.com","mfa":true}],"next":null}"#,
    ),
];

struct Project<'a> {
    id: &'a str,
    name: &'a str,
    origin: &'a str,
    secret: &'a str,
    /// An unpacked `watchdog-sdk` to build on instead of crates.io's.
    sdk: Option<PathBuf>,
}

impl Project<'_> {
    fn write_rust(&self, dir: &Path) -> Result<(), NewError> {
        let crate_name = self.id.replace('-', "_");
        write(&dir.join("Cargo.toml"), &self.cargo_toml())?;
        write(
            &dir.join("rust-toolchain.toml"),
            &format!(
                "[toolchain]\nchannel = \"{RUST_TOOLCHAIN}\"\ntargets = [\"wasm32-wasip2\"]\n"
            ),
        )?;
        let lib = self.fill(include_str!("new/lib.rs.tmpl"), |s| format!("{s:?}"));
        write(&dir.join("src/lib.rs"), &lib)?;
        let check = include_str!("new/check.tmpl").replace("{{crate}}", &crate_name);
        let wasm = format!("target/wasm32-wasip2/release/{crate_name}.wasm");
        self.write_common(dir, &check, "/target\n/bundle\n", &wasm)
    }

    fn write_python(&self, dir: &Path) -> Result<(), NewError> {
        // A JSON string is a Python string literal.
        let literal = |s: &str| serde_json::Value::from(s).to_string();
        write(
            &dir.join("app.py"),
            &self.fill(include_str!("new/app.py.tmpl"), literal),
        )?;
        write(
            &dir.join("requirements.txt"),
            &format!("componentize-py=={COMPONENTIZE_PY}\n"),
        )?;
        write_wit(dir)?;
        let check = include_str!("new/check-python.tmpl").replace("{{id}}", self.id);
        let wasm = format!("build/{}.wasm", self.id);
        self.write_common(
            dir,
            &check,
            "/build\n/bundle\n/wit_world\n/componentize_py_*\n",
            &wasm,
        )
    }

    fn write_js(&self, dir: &Path) -> Result<(), NewError> {
        // A JSON string is a JavaScript string literal.
        let literal = |s: &str| serde_json::Value::from(s).to_string();
        write(
            &dir.join("src/index.ts"),
            &self.fill(include_str!("new/index.ts.tmpl"), literal),
        )?;
        for (name, text) in [
            ("package.json", include_str!("new/package.json.tmpl")),
            (
                "package-lock.json",
                include_str!("new/package-lock.json.tmpl"),
            ),
            ("tsconfig.json", include_str!("new/tsconfig.json")),
        ] {
            write(&dir.join(name), &text.replace("{{id}}", self.id))?;
        }
        write_wit(dir)?;
        let check = include_str!("new/check-js.tmpl").replace("{{id}}", self.id);
        let wasm = format!("build/{}.wasm", self.id);
        self.write_common(
            dir,
            &check,
            "/build\n/bundle\n/bindings\n/node_modules\n",
            &wasm,
        )
    }

    /// What every language's project has: `./check`, the configuration,
    /// the mock with its recording, and a README.
    fn write_common(
        &self,
        dir: &Path,
        check: &str,
        ignored: &str,
        wasm: &str,
    ) -> Result<(), NewError> {
        write(&dir.join("check"), check)?;
        executable(&dir.join("check"))?;
        write(
            &dir.join("config.toml"),
            "# Non-secret configuration; this integration has none.\n",
        )?;
        write(&dir.join(".gitignore"), ignored)?;
        self.write_mock(dir)?;
        write(&dir.join("README.md"), &self.readme(wasm))
    }

    fn cargo_toml(&self) -> String {
        let sdk = match &self.sdk {
            Some(path) => format!(
                "{{ version = \"{SDK_VERSION}\", path = {:?} }}",
                path.display().to_string()
            ),
            None => format!("\"{SDK_VERSION}\""),
        };
        format!(
            r#"[package]
name = "{id}"
version = "0.1.0"
edition = "2024"
publish = false

# A component is a dynamic library: without cdylib, cargo writes only an
# rlib and no .wasm.
[lib]
crate-type = ["cdylib"]

[dependencies]
watchdog-sdk = {sdk}
serde = {{ version = "1", features = ["derive"] }}
serde_json = {{ version = "1", features = ["raw_value"] }}

[profile.release]
strip = true

# A project of its own, even inside another workspace.
[workspace]
"#,
            id = self.id,
        )
    }

    /// The template with the answers filled in; `literal` writes a string
    /// literal of the template's language.
    fn fill(&self, template: &str, literal: impl Fn(&str) -> String) -> String {
        let kind = format!("{}.user", self.id);
        let env = watchdog_host::config::secret_env_var(self.id, self.secret);
        template
            .replace("{{id}}", self.id)
            .replace("{{name}}", self.name)
            .replace("{{origin}}", self.origin)
            .replace("{{kind}}", &kind)
            .replace("{{origin_literal}}", &literal(self.origin))
            .replace("{{kind_literal}}", &literal(&kind))
            .replace("{{id_literal}}", &literal(self.id))
            .replace("{{name_literal}}", &literal(self.name))
            .replace(
                "{{description_literal}}",
                &literal(&format!("Reads the users of {}.", self.origin)),
            )
            .replace("{{secret_literal}}", &literal(self.secret))
            .replace(
                "{{secret_help_literal}}",
                &literal(&format!("An API token with read access; set {env}.")),
            )
            .replace(
                "{{template_literal}}",
                &literal(&format!("Bearer {{{}}}", self.secret)),
            )
    }

    /// The mock's pages in `mock/`, and a recording of them in `recording/`
    /// as `collect --record` would have made it.
    fn write_mock(&self, dir: &Path) -> Result<(), NewError> {
        let recording = dir.join("recording");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| NewError::Io { path, source }
        };
        let recorder = Recorder::create(&recording)?;
        for (seq, (query, body)) in MOCK_PAGES.iter().enumerate() {
            write(&dir.join(format!("mock/users-{}.json", seq + 1)), body)?;
            let (file, name) = recorder.body_file(seq as u64).map_err(io(&recording))?;
            let mut tape = Recording::new(
                file,
                Recorded {
                    seq: seq as u64,
                    method: "GET".into(),
                    url: format!("{}/v1/users?{query}", self.origin),
                    request_sha256: None,
                    request_body: None,
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: name,
                    body_sha256: String::new(),
                },
            );
            tape.write(body.as_bytes()).map_err(io(&recording))?;
            tape.finish(&recorder, ledger::Outcome::Complete)
                .map_err(io(&recording))?;
        }
        Ok(())
    }

    fn readme(&self, wasm: &str) -> String {
        format!(
            "# {name}\n\n\
             A WatchDog integration (generated by `watchdog-host new`).\n\n\
             - `mock/`: the pages the mock upstream serves for `GET {origin}/v1/users`.\n\
             - `recording/`: those pages as a recording (`collect --record` format) that\n  \
               `--replay` serves with no network.\n\
             - `./check`: builds `{wasm}`, runs\n  \
               `watchdog-host conformance --replay recording`, then collects from the\n  \
               recording into `bundle/`.\n\n\
             Against the real API: `{env}=... watchdog-host collect\n\
             {wasm} --config config.toml --out bundle`;\n\
             add `--record DIR` to keep a new recording.\n",
            name = self.name,
            origin = self.origin,
            env = watchdog_host::config::secret_env_var(self.id, self.secret),
        )
    }
}

/// The contract, in `wit/`, for languages without an SDK to carry it.
fn write_wit(dir: &Path) -> Result<(), NewError> {
    for (path, text) in WIT {
        write(&dir.join("wit").join(path), text)?;
    }
    Ok(())
}

/// The SDK a release puts beside the host binary, if this host has one.
fn sdk_beside_host() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let sdk = exe.parent()?.join(format!("watchdog-sdk-{SDK_VERSION}"));
    sdk.join("Cargo.toml").is_file().then_some(sdk)
}

/// The SDK of the checkout this host was built from, if it is still here.
fn checkout_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.join("sdk");
    sdk.join("Cargo.toml").is_file().then_some(sdk)
}

fn write(path: &Path, text: &str) -> Result<(), NewError> {
    let io = |source| NewError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

#[cfg(unix)]
fn executable(path: &Path) -> Result<(), NewError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
        NewError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(not(unix))]
fn executable(_path: &Path) -> Result<(), NewError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_that_would_not_build_a_manifest_are_refused() {
        assert!(check_kebab("id", "acme-directory").is_ok());
        for bad in ["Acme", "1acme", "acme_dir", "acme-", ""] {
            assert!(
                matches!(
                    check_kebab("id", bad),
                    Err(NewError::Answer { what: "id", .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            check_origin("https://api.example.com/").unwrap(),
            "https://api.example.com"
        );
        for bad in [
            "http://api.example.com",
            "https://api.example.com/v1",
            "api",
        ] {
            assert!(
                matches!(
                    check_origin(bad),
                    Err(NewError::Answer {
                        what: "--origin",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
