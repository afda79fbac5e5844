//! The operator's configuration for a run: non-secret values from a TOML file,
//! secrets from the environment, both checked against the manifest before
//! anything runs.
//!
//! Secrets are never read from the command line (it shows in `ps` and shell
//! history) nor from the config file (it gets committed): a secret field
//! `api-key` comes from `WATCHDOG_SECRET_API_KEY`.

use crate::contract::Manifest;
use crate::secrets::Secret;
use std::collections::BTreeMap;
use std::path::Path;

/// Values for one run.
#[derive(Debug, Clone, Default)]
pub struct RunConfig {
    /// Non-secret values, passed to `configure` and recorded in `run.json`.
    pub values: BTreeMap<String, String>,
    /// Secret values by field name. Never passed to the plugin.
    pub secrets: BTreeMap<String, Secret>,
}

/// A configuration that cannot be used; every problem is listed at once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("configuration problems:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// The largest configuration or secret value, bytes. Values are identifiers,
/// URLs and keys: one larger is a mistake (a file pasted in), and every
/// value is copied into the plugin and, for non-secrets, into `run.json`.
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// The environment variable a secret field is read from.
pub fn secret_env_var(field: &str) -> String {
    format!(
        "WATCHDOG_SECRET_{}",
        field.to_ascii_uppercase().replace('-', "_")
    )
}

/// Reads the config file and the secrets the manifest declares.
pub fn load(
    path: &Path,
    manifest: &Manifest,
    env: impl Fn(&str) -> Option<String>,
) -> Result<RunConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, manifest, env).map_err(|e| match e {
        ConfigError::Syntax { message, .. } => ConfigError::Syntax {
            path: path.display().to_string(),
            message,
        },
        other => other,
    })
}

/// Parses config text; see [`load`].
pub fn parse(
    text: &str,
    manifest: &Manifest,
    env: impl Fn(&str) -> Option<String>,
) -> Result<RunConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: String::new(),
            message: e.message().to_string(),
        })?;
    let mut problems = Vec::new();
    let mut config = RunConfig::default();
    for (key, value) in &table {
        let Some(field) = manifest.config.iter().find(|f| &f.name == key) else {
            let known: Vec<&str> = manifest.config.iter().map(|f| f.name.as_str()).collect();
            problems.push(format!(
                "`{key}` is not a field of {} (fields: {})",
                manifest.id,
                known.join(", ")
            ));
            continue;
        };
        if field.secret {
            problems.push(format!(
                "`{key}` is secret and must not be in the config file: set {} instead",
                secret_env_var(key)
            ));
            continue;
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                problems.push(format!(
                    "`{key}` must be a string, number or boolean, not {}",
                    other.type_str()
                ));
                continue;
            }
        };
        if text.len() > MAX_VALUE_BYTES {
            problems.push(format!(
                "`{key}` is {} bytes long; values are at most {MAX_VALUE_BYTES} bytes",
                text.len()
            ));
            continue;
        }
        config.values.insert(key.clone(), text);
    }
    for field in &manifest.config {
        if field.secret {
            let var = secret_env_var(&field.name);
            match env(&var) {
                Some(value) => match secret_problem(&var, value.trim()) {
                    Some(problem) => problems.push(problem),
                    None => {
                        config
                            .secrets
                            .insert(field.name.clone(), Secret::new(value.trim()));
                    }
                },
                None if field.required => problems.push(format!(
                    "secret `{}` ({}) is required: set {var}",
                    field.name, field.label
                )),
                None => {}
            }
        } else if field.required && !config.values.contains_key(&field.name) {
            problems.push(format!(
                "`{}` ({}) is required: {}",
                field.name, field.label, field.help
            ));
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// Why a secret's value (trimmed) cannot be used, naming its variable and
/// never the value: a line break or another control character cannot go in
/// a header (it would be dropped, and the run end as unauthorized).
fn secret_problem(var: &str, value: &str) -> Option<String> {
    if value.len() < 4 {
        Some(format!(
            "{var} is too short to be a real secret (fewer than 4 characters)"
        ))
    } else if value.chars().any(char::is_control) {
        Some(format!(
            "{var} holds a line break or another control character, which a header cannot carry"
        ))
    } else if value.len() > MAX_VALUE_BYTES {
        Some(format!(
            "{var} is {} bytes long; values are at most {MAX_VALUE_BYTES} bytes",
            value.len()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::watchdog::integration::types::ConfigField;

    fn manifest() -> Manifest {
        let field = |name: &str, secret: bool| ConfigField {
            name: name.into(),
            label: name.into(),
            help: format!("the {name}"),
            required: true,
            secret,
        };
        Manifest {
            id: "example".into(),
            name: "Example".into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            description: String::new(),
            config: vec![field("org-id", false), field("api-key", true)],
            egress: vec![],
            secrets: vec![],
            evidence_kinds: vec![],
        }
    }

    fn env_with_key(var: &str) -> Option<String> {
        (var == "WATCHDOG_SECRET_API_KEY").then(|| "k-1234567".to_string())
    }

    #[test]
    fn secret_comes_from_its_environment_variable() {
        let config = parse("org-id = \"o-1\"", &manifest(), env_with_key).unwrap();
        assert_eq!(config.values["org-id"], "o-1");
        assert_eq!(config.secrets["api-key"].expose(), "k-1234567");
    }

    #[test]
    fn secret_in_the_file_is_refused_without_echoing_it() {
        let err = parse(
            "org-id = \"o\"\napi-key = \"leaked-value\"",
            &manifest(),
            env_with_key,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("WATCHDOG_SECRET_API_KEY"), "{message}");
        assert!(!message.contains("leaked-value"), "{message}");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let err = parse("unknown = 1", &manifest(), |_| None).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn malformed_toml_is_a_syntax_error() {
        assert!(matches!(
            parse("org-id = ", &manifest(), env_with_key),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn env_var_names_follow_the_field() {
        assert_eq!(secret_env_var("api-key"), "WATCHDOG_SECRET_API_KEY");
    }

    #[test]
    fn a_secret_with_a_line_break_is_a_usage_error_naming_its_variable() {
        let with = |value: &'static str| {
            move |var: &str| (var == "WATCHDOG_SECRET_API_KEY").then(|| value.to_string())
        };
        for value in ["k-1234\n567", "k-1234\r567", "k-12\u{7f}34567"] {
            let err = parse("org-id = \"o\"", &manifest(), with(value)).unwrap_err();
            let message = err.to_string();
            assert!(
                message.contains("WATCHDOG_SECRET_API_KEY holds a line break"),
                "{message}"
            );
            assert!(!message.contains("k-12"), "{message}");
        }
        // A line feed at the end, as `$(cat key-file)` leaves none but an
        // editor might, is trimmed.
        let config = parse("org-id = \"o\"", &manifest(), with("k-1234567\n")).unwrap();
        assert_eq!(config.secrets["api-key"].expose(), "k-1234567");
    }

    #[test]
    fn an_absurdly_large_value_is_a_usage_error() {
        let huge = format!("org-id = \"{}\"", "o".repeat(MAX_VALUE_BYTES + 1));
        let err = parse(&huge, &manifest(), env_with_key).unwrap_err();
        assert!(
            err.to_string().contains("`org-id` is 65537 bytes long"),
            "{err}"
        );
        let largest = format!("org-id = \"{}\"", "o".repeat(MAX_VALUE_BYTES));
        parse(&largest, &manifest(), env_with_key).unwrap();
    }
}
