//! What a plugin asks for, checked, and what the operator grants it.
//!
//! The manifest is the plugin's request: origins, routes, secrets, evidence
//! kinds. [`check_manifest`] refuses one that is malformed or asks for writes.
//! A [`Grant`] is the host's decision for one run: the egress policy, the
//! secret headers with their values, the developer reroutes. Nothing reaches
//! the sandbox that is not in the grant, and an empty grant denies everything.

use crate::contract::{HOST_CONTRACT, Manifest, is_accepted};
use crate::egress::{EgressError, EgressPolicy, Origin, Reroutes, Route};
use crate::secrets::{Scrubber, Secret};
use http::HeaderName;
use std::collections::{BTreeMap, BTreeSet};

/// A manifest that cannot be granted.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The id is empty or not kebab-case; it names the secret environment variables.
    #[error("manifest id `{0}` must be lower-case kebab-case (a-z, 0-9, -)")]
    BadId(String),
    /// The manifest claims a contract version outside the series this host speaks.
    #[error(
        "the manifest claims contract-version `{0}`; this host implements {HOST_CONTRACT} \
         and accepts 0.1.x only"
    )]
    UnknownContract(String),
    /// Two config fields share a name, so a value could not say which it sets.
    #[error("manifest declares config field `{0}` twice")]
    DuplicateField(String),
    /// An origin or route that does not parse, or asks for a write.
    #[error("manifest egress: {0}")]
    Egress(#[from] EgressError),
    /// An origin declared twice, whose routes would be ambiguous.
    #[error("manifest declares origin {0} twice")]
    DuplicateOrigin(Origin),
    /// A secret header that could leak or not be rendered: an unknown or
    /// non-secret field, an undeclared origin, a bad header name or template.
    #[error("secret header for `{field}`: {why}")]
    BadSecret {
        /// The secret field the header declaration names.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// An evidence kind that is empty or declared twice.
    #[error("evidence kind `{0}` is declared twice or is empty")]
    BadKind(String),
}

/// Checks a manifest and builds the egress policy it asks for.
pub fn check_manifest(manifest: &Manifest) -> Result<EgressPolicy, ManifestError> {
    let id_ok = !manifest.id.is_empty()
        && manifest
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(ManifestError::BadId(manifest.id.clone()));
    }
    if !is_accepted(&manifest.contract_version) {
        return Err(ManifestError::UnknownContract(
            manifest.contract_version.clone(),
        ));
    }
    let mut fields = BTreeSet::new();
    for field in &manifest.config {
        if !fields.insert(field.name.as_str()) {
            return Err(ManifestError::DuplicateField(field.name.clone()));
        }
    }
    let mut policy = EgressPolicy::deny_all();
    let mut origins = BTreeSet::new();
    for rule in &manifest.egress {
        let origin = Origin::parse(&rule.origin)?;
        if !origins.insert(origin.clone()) {
            return Err(ManifestError::DuplicateOrigin(origin));
        }
        let routes = rule
            .routes
            .iter()
            .map(|r| Route::parse(&r.method, &r.path))
            .collect::<Result<Vec<_>, _>>()?;
        policy.allow(origin, routes);
    }
    for secret in &manifest.secrets {
        let bad = |why: &str| ManifestError::BadSecret {
            field: secret.field.clone(),
            why: why.to_string(),
        };
        let declared = manifest
            .config
            .iter()
            .find(|f| f.name == secret.field)
            .ok_or_else(|| bad("no such config field"))?;
        if !declared.secret {
            return Err(bad("the config field is not marked secret"));
        }
        if !origins.contains(&Origin::parse(&secret.origin)?) {
            return Err(bad("its origin is not declared in egress"));
        }
        HeaderName::from_bytes(secret.header.as_bytes()).map_err(|_| bad("invalid header name"))?;
        let wanted = placeholder(&secret.field);
        if !secret.template.contains(&wanted) {
            return Err(bad(&format!(
                "the template `{}` does not contain the placeholder `{wanted}`",
                secret.template
            )));
        }
    }
    let mut kinds = BTreeSet::new();
    for kind in &manifest.evidence_kinds {
        if kind.name.is_empty() || !kinds.insert(kind.name.as_str()) {
            return Err(ManifestError::BadKind(kind.name.clone()));
        }
    }
    Ok(policy)
}

fn placeholder(field: &str) -> String {
    format!("{{{field}}}")
}

/// A header the host adds to requests for one origin.
#[derive(Debug, Clone)]
pub struct SecretHeader {
    /// The only origin whose requests carry it.
    pub origin: Origin,
    /// The header's name, which the plugin may not set itself.
    pub header: HeaderName,
    /// The rendered header value, such as `Bearer <key>`.
    pub value: Secret,
}

/// The host's decision for one run.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// Which requests the plugin may make; deny by default.
    pub egress: EgressPolicy,
    /// The secret headers the host injects, each for its one origin.
    pub secret_headers: Vec<SecretHeader>,
    /// Developer reroutes of declared origins (to a mock upstream).
    pub reroutes: Reroutes,
    /// The evidence kinds the manifest declares; records of any other are refused.
    pub evidence_kinds: BTreeSet<String>,
    /// The integration's id and version, which requests name in their
    /// `user-agent`.
    pub integration: Option<(String, String)>,
    /// Every secret value, for scrubbing.
    pub scrubber: Scrubber,
}

impl Grant {
    /// Allows nothing: no origin, no secret, no evidence.
    pub fn empty() -> Grant {
        Grant::default()
    }

    /// Grants what the manifest asks, with the operator's secret values.
    /// Secrets are sent only to the origin their header names.
    pub fn from_manifest(
        manifest: &Manifest,
        secrets: &BTreeMap<String, Secret>,
        reroutes: Reroutes,
    ) -> Result<Grant, ManifestError> {
        let egress = check_manifest(manifest)?;
        let mut secret_headers = Vec::new();
        for declared in &manifest.secrets {
            let Some(secret) = secrets.get(&declared.field) else {
                continue;
            };
            let value = declared
                .template
                .replace(&placeholder(&declared.field), secret.expose());
            secret_headers.push(SecretHeader {
                origin: Origin::parse(&declared.origin)?,
                header: HeaderName::from_bytes(declared.header.as_bytes()).map_err(|_| {
                    ManifestError::BadSecret {
                        field: declared.field.clone(),
                        why: "invalid header name".into(),
                    }
                })?,
                value: Secret::new(value).map_err(|why| ManifestError::BadSecret {
                    field: declared.field.clone(),
                    why: format!("the rendered header {why}"),
                })?,
            });
        }
        Ok(Grant {
            egress,
            secret_headers,
            reroutes,
            evidence_kinds: manifest
                .evidence_kinds
                .iter()
                .map(|k| k.name.clone())
                .collect(),
            integration: Some((manifest.id.clone(), manifest.version.clone())),
            scrubber: Scrubber::new(secrets.values()),
        })
    }

    /// Header names the plugin may not set itself, because the host owns them.
    pub fn reserved_headers(&self) -> Vec<HeaderName> {
        self.secret_headers
            .iter()
            .map(|s| s.header.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::watchdog::integration::types::{
        ConfigField, EgressRule, Route, SecretHeader,
    };

    /// A manifest sending the secret `api-key` to https://api.example.com.
    fn manifest(contract_version: &str, template: &str) -> Manifest {
        Manifest {
            id: "example".into(),
            name: "Example".into(),
            version: "1.0.0".into(),
            contract_version: contract_version.into(),
            description: String::new(),
            config: vec![ConfigField {
                name: "api-key".into(),
                label: "API key".into(),
                help: String::new(),
                required: true,
                secret: true,
            }],
            egress: vec![EgressRule {
                origin: "https://api.example.com".into(),
                routes: vec![Route {
                    method: "GET".into(),
                    path: "/**".into(),
                }],
            }],
            secrets: vec![SecretHeader {
                field: "api-key".into(),
                origin: "https://api.example.com".into(),
                header: "authorization".into(),
                template: template.into(),
            }],
            evidence_kinds: vec![],
        }
    }

    #[test]
    fn a_manifest_claiming_an_unknown_contract_version_is_refused() {
        assert!(check_manifest(&manifest("0.1.3", "Bearer {api-key}")).is_ok());
        let refused = check_manifest(&manifest("0.2.0", "Bearer {api-key}")).unwrap_err();
        assert!(matches!(&refused, ManifestError::UnknownContract(v) if v == "0.2.0"));
        assert_eq!(
            refused.to_string(),
            "the manifest claims contract-version `0.2.0`; this host implements 0.1.0 \
             and accepts 0.1.x only"
        );
    }

    #[test]
    fn a_template_without_its_placeholder_names_the_placeholder() {
        let refused = check_manifest(&manifest("0.1.0", "Bearer {apikey}")).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "secret header for `api-key`: the template `Bearer {apikey}` does not contain \
             the placeholder `{api-key}`"
        );
    }
}
