//! The operator's configuration for a run: non-secret values from a TOML file,
//! secrets from the environment, both checked against the manifest before
//! anything runs.
//!
//! Secrets are never read from the command line (it shows in `ps` and shell
//! history) nor from the config file (it gets committed). They come from a
//! [`SecretSource`]: the CLI's is the environment, where the secret field
//! `api-key` of the integration `example` is `WATCHDOG_SECRET_EXAMPLE_API_KEY`.
//! The integration's id is part of the name so that a plugin declaring a
//! field named like another integration's does not receive its secret from
//! a shared environment.

use crate::contract::Manifest;
use crate::secrets::{Secret, SecretSource, SourceError};
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
    /// The config file named could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The config file, as given.
        path: String,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// The config text is not TOML.
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax {
        /// The config file, as given; empty for text parsed without one.
        path: String,
        /// The TOML parser's message, without the text it quotes.
        message: String,
    },
    /// Values that do not fit the manifest: each problem, with its remedy.
    #[error("configuration problems:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

/// The largest configuration value, bytes. Values are identifiers and
/// URLs: one larger is a mistake (a file pasted in), and every value is
/// copied into the plugin and into `run.json`. Secrets have their own
/// bound ([`crate::secrets::MAX_SECRET_BYTES`]).
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// The environment variable the secret `field` of the integration
/// `integration` is read from: `WATCHDOG_SECRET_<INTEGRATION>_<FIELD>`, both
/// upper-cased, every character but a letter or digit as `_`.
pub fn secret_env_var(integration: &str, field: &str) -> String {
    let part = |s: &str| -> String {
        s.chars()
            .map(|c| match c.is_ascii_alphanumeric() {
                true => c.to_ascii_uppercase(),
                false => '_',
            })
            .collect()
    };
    format!("WATCHDOG_SECRET_{}_{}", part(integration), part(field))
}

/// Secrets from environment variables named by [`secret_env_var`], read
/// through a lookup function (`std::env::var` in the CLI). Surrounding
/// whitespace, such as the newline of a file read with `$(cat …)`, is
/// trimmed.
pub struct EnvSecrets<F>(pub F);

impl<F: Fn(&str) -> Option<String>> SecretSource for EnvSecrets<F> {
    fn secret(&self, integration: &str, field: &str) -> Option<Result<Secret, SourceError>> {
        let place = secret_env_var(integration, field);
        let value = (self.0)(&place)?;
        Some(Secret::new(value.trim()).map_err(|why| SourceError { place, why }))
    }

    fn remedy(&self, integration: &str, field: &str) -> String {
        format!("set {}", secret_env_var(integration, field))
    }
}

/// Reads the config file and the secrets the manifest declares. Without a
/// file every non-secret field is unset: enough for a manifest whose fields
/// are all secret or optional, and otherwise refused naming each required
/// field.
pub fn load(
    path: Option<&Path>,
    manifest: &Manifest,
    secrets: &dyn SecretSource,
) -> Result<RunConfig, ConfigError> {
    let Some(path) = path else {
        return parse("", manifest, secrets);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, manifest, secrets).map_err(|e| match e {
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
    secrets: &dyn SecretSource,
) -> Result<RunConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: String::new(),
            message: e.message().to_string(),
        })?;
    check(&table, manifest, secrets)
}

/// Values an embedder holds as strings (a tenant's record), checked as a
/// config file's are; see [`load`].
pub fn from_values(
    values: &BTreeMap<String, String>,
    manifest: &Manifest,
    secrets: &dyn SecretSource,
) -> Result<RunConfig, ConfigError> {
    let table: toml::Table = values
        .iter()
        .map(|(key, value)| (key.clone(), toml::Value::String(value.clone())))
        .collect();
    check(&table, manifest, secrets)
}

/// Checks a table of values against the manifest and reads its secrets.
fn check(
    table: &toml::Table,
    manifest: &Manifest,
    secrets: &dyn SecretSource,
) -> Result<RunConfig, ConfigError> {
    let mut problems = Vec::new();
    let mut config = RunConfig::default();
    for (key, value) in table {
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
                secret_env_var(&manifest.id, key)
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
            match secrets.secret(&manifest.id, &field.name) {
                Some(Ok(secret)) => {
                    config.secrets.insert(field.name.clone(), secret);
                }
                Some(Err(bad)) => problems.push(bad.to_string()),
                None if field.required => problems.push(format!(
                    "secret `{}` ({}) is required: {}",
                    field.name,
                    field.label,
                    secrets.remedy(&manifest.id, &field.name)
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

    const ENV_WITH_KEY: EnvSecrets<fn(&str) -> Option<String>> = EnvSecrets(|var| {
        (var == "WATCHDOG_SECRET_EXAMPLE_API_KEY").then(|| "k-1234567".to_string())
    });
    const EMPTY_ENV: EnvSecrets<fn(&str) -> Option<String>> = EnvSecrets(|_| None);

    #[test]
    fn no_config_file_is_needed_when_no_field_needs_a_value() {
        let mut optional = manifest();
        optional.config[0].required = false;
        let config = load(None, &optional, &ENV_WITH_KEY).unwrap();
        assert!(config.values.is_empty());
        assert_eq!(config.secrets["api-key"].expose(), "k-1234567");
        let Err(ConfigError::Invalid(problems)) = load(None, &manifest(), &ENV_WITH_KEY) else {
            panic!("a required field without a config file was accepted");
        };
        assert_eq!(problems, ["`org-id` (org-id) is required: the org-id"]);
    }

    #[test]
    fn secret_comes_from_its_environment_variable() {
        let config = parse("org-id = \"o-1\"", &manifest(), &ENV_WITH_KEY).unwrap();
        assert_eq!(config.values["org-id"], "o-1");
        assert_eq!(config.secrets["api-key"].expose(), "k-1234567");
    }

    #[test]
    fn secret_in_the_file_is_refused_without_echoing_it() {
        let err = parse(
            "org-id = \"o\"\napi-key = \"leaked-value\"",
            &manifest(),
            &ENV_WITH_KEY,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("WATCHDOG_SECRET_EXAMPLE_API_KEY"),
            "{message}"
        );
        assert!(!message.contains("leaked-value"), "{message}");
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let err = parse("unknown = 1", &manifest(), &EMPTY_ENV).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn malformed_toml_is_a_syntax_error() {
        assert!(matches!(
            parse("org-id = ", &manifest(), &ENV_WITH_KEY),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn env_var_names_hold_the_integration_and_the_field() {
        assert_eq!(
            secret_env_var("atlassian-admin", "api-key"),
            "WATCHDOG_SECRET_ATLASSIAN_ADMIN_API_KEY"
        );
    }

    #[test]
    fn a_secret_missing_from_a_vault_is_asked_of_the_vault_not_the_environment() {
        let vault = crate::embed::SecretMap::new("tenant t0042", BTreeMap::new());
        let values = BTreeMap::from([("org-id".to_owned(), "o-1".to_owned())]);
        let Err(ConfigError::Invalid(problems)) = from_values(&values, &manifest(), &vault) else {
            panic!("a required secret the vault lacks was accepted");
        };
        assert_eq!(
            problems,
            ["secret `api-key` (api-key) is required: tenant t0042's secrets hold no `api-key`"]
        );
    }

    #[test]
    fn another_integrations_secret_and_the_unscoped_name_are_not_read() {
        let env = EnvSecrets(|var: &str| {
            matches!(
                var,
                "WATCHDOG_SECRET_OTHER_API_KEY" | "WATCHDOG_SECRET_API_KEY"
            )
            .then(|| "k-1234567".to_string())
        });
        let err = parse("org-id = \"o-1\"", &manifest(), &env).unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid")
        };
        assert_eq!(
            problems,
            ["secret `api-key` (api-key) is required: set WATCHDOG_SECRET_EXAMPLE_API_KEY"]
        );
    }

    #[test]
    fn a_secret_with_a_newline_inside_is_refused_naming_the_variable() {
        let env = EnvSecrets(|_: &str| Some("k-123\n4567\n".to_string()));
        let message = parse("org-id = \"o-1\"", &manifest(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("WATCHDOG_SECRET_EXAMPLE_API_KEY holds a control character"),
            "{message}"
        );
        assert!(!message.contains("4567"), "{message}");
    }

    #[test]
    fn a_line_feed_around_a_secret_is_trimmed() {
        // As `$(cat key-file)` leaves none but an editor might.
        let env = EnvSecrets(|_: &str| Some("k-1234567\n".to_string()));
        let config = parse("org-id = \"o\"", &manifest(), &env).unwrap();
        assert_eq!(config.secrets["api-key"].expose(), "k-1234567");
    }

    #[test]
    fn an_absurdly_large_value_is_a_usage_error() {
        let huge = format!("org-id = \"{}\"", "o".repeat(MAX_VALUE_BYTES + 1));
        let err = parse(&huge, &manifest(), &ENV_WITH_KEY).unwrap_err();
        assert!(
            err.to_string().contains("`org-id` is 65537 bytes long"),
            "{err}"
        );
        let largest = format!("org-id = \"{}\"", "o".repeat(MAX_VALUE_BYTES));
        parse(&largest, &manifest(), &ENV_WITH_KEY).unwrap();
    }
}
