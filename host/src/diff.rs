//! What a new version of a plugin asks for beyond the old one, so that an
//! operator upgrading re-approves only what grew (`inspect NEW --against OLD`).
//!
//! A pure function over two manifests. Capabilities are compared as
//! declared: origins (normalised, so `https://x:443` is `https://x`), routes
//! as (origin, method, path pattern), secret headers as (field, origin,
//! header, template), evidence kinds by name. A route whose pattern text
//! changed counts as one removed and one added, even when the new pattern
//! matches a subset: the operator reads the new pattern rather than trusting
//! a proof of inclusion.

use crate::contract::Manifest;
use crate::egress::Origin;
use serde::Serialize;
use std::collections::BTreeSet;

/// A declared route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteGrant {
    /// The origin the route is declared under, normalised (default port dropped).
    pub origin: String,
    /// The read method as declared (`GET`, `HEAD`).
    pub method: String,
    /// The path pattern's text, compared as written, not by what it matches.
    pub path: String,
}

/// A declared secret header: which secret goes where, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretGrant {
    /// The secret configuration field whose value is sent.
    pub field: String,
    /// The only origin that receives it, normalised.
    pub origin: String,
    /// The header carrying it, lowercased (header names are case-insensitive).
    pub header: String,
    /// The header value with `{field}` where the secret goes (`Bearer {api-key}`).
    pub template: String,
}

/// One kind of capability, old against new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change<T> {
    /// In the new manifest only: what the operator must approve.
    pub added: Vec<T>,
    /// In the old manifest only: no longer asked for.
    pub removed: Vec<T>,
}

impl<T: Ord + Clone> Change<T> {
    fn between(old: &BTreeSet<T>, new: &BTreeSet<T>) -> Change<T> {
        Change {
            added: new.difference(old).cloned().collect(),
            removed: old.difference(new).cloned().collect(),
        }
    }
}

/// Everything that changed between two manifests' capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityDiff {
    /// Declared origins, normalised.
    pub origins: Change<String>,
    /// Declared routes: a changed pattern is one removed and one added.
    pub routes: Change<RouteGrant>,
    /// Secret headers: where each secret may be sent.
    pub secrets: Change<SecretGrant>,
    /// Evidence kinds by name.
    pub evidence_kinds: Change<String>,
}

impl CapabilityDiff {
    /// True when the new version asks for anything the old one did not.
    pub fn grew(&self) -> bool {
        !(self.origins.added.is_empty()
            && self.routes.added.is_empty()
            && self.secrets.added.is_empty()
            && self.evidence_kinds.added.is_empty())
    }

    /// True when nothing changed either way.
    pub fn is_empty(&self) -> bool {
        !self.grew()
            && self.origins.removed.is_empty()
            && self.routes.removed.is_empty()
            && self.secrets.removed.is_empty()
            && self.evidence_kinds.removed.is_empty()
    }
}

/// What `new` asks for beyond `old`, and what it no longer asks for.
pub fn capabilities(old: &Manifest, new: &Manifest) -> CapabilityDiff {
    let origins = |m: &Manifest| -> BTreeSet<String> {
        m.egress.iter().map(|r| normalise(&r.origin)).collect()
    };
    let routes = |m: &Manifest| -> BTreeSet<RouteGrant> {
        m.egress
            .iter()
            .flat_map(|rule| {
                rule.routes.iter().map(|route| RouteGrant {
                    origin: normalise(&rule.origin),
                    method: route.method.clone(),
                    path: route.path.clone(),
                })
            })
            .collect()
    };
    let secrets = |m: &Manifest| -> BTreeSet<SecretGrant> {
        m.secrets
            .iter()
            .map(|s| SecretGrant {
                field: s.field.clone(),
                origin: normalise(&s.origin),
                header: s.header.to_ascii_lowercase(),
                template: s.template.clone(),
            })
            .collect()
    };
    let kinds = |m: &Manifest| -> BTreeSet<String> {
        m.evidence_kinds.iter().map(|k| k.name.clone()).collect()
    };
    CapabilityDiff {
        origins: Change::between(&origins(old), &origins(new)),
        routes: Change::between(&routes(old), &routes(new)),
        secrets: Change::between(&secrets(old), &secrets(new)),
        evidence_kinds: Change::between(&kinds(old), &kinds(new)),
    }
}

/// One spelling per origin; a manifest that loaded has only parseable ones.
fn normalise(origin: &str) -> String {
    Origin::parse(origin).map_or_else(|_| origin.to_string(), |o| o.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::watchdog::integration::types::{
        EgressRule, EvidenceKind, Route, SecretHeader,
    };

    fn manifest(
        egress: &[(&str, &[(&str, &str)])],
        secrets: &[(&str, &str)],
        kinds: &[&str],
    ) -> Manifest {
        Manifest {
            id: "example".into(),
            name: "Example".into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            description: String::new(),
            config: vec![],
            egress: egress
                .iter()
                .map(|(origin, routes)| EgressRule {
                    origin: origin.to_string(),
                    routes: routes
                        .iter()
                        .map(|(method, path)| Route {
                            method: method.to_string(),
                            path: path.to_string(),
                        })
                        .collect(),
                })
                .collect(),
            secrets: secrets
                .iter()
                .map(|(field, origin)| SecretHeader {
                    field: field.to_string(),
                    origin: origin.to_string(),
                    header: "authorization".into(),
                    template: format!("Bearer {{{field}}}"),
                })
                .collect(),
            evidence_kinds: kinds
                .iter()
                .map(|k| EvidenceKind {
                    name: k.to_string(),
                    description: String::new(),
                })
                .collect(),
        }
    }

    const API: &str = "https://api.example.com";

    fn route(origin: &str, method: &str, path: &str) -> RouteGrant {
        RouteGrant {
            origin: origin.into(),
            method: method.into(),
            path: path.into(),
        }
    }

    #[test]
    fn the_same_manifest_changes_nothing() {
        let m = manifest(&[(API, &[("GET", "/a")])], &[("key", API)], &["x.item"]);
        let diff = capabilities(&m, &m);
        assert!(diff.is_empty());
        assert!(!diff.grew());
    }

    #[test]
    fn a_new_origin_with_its_routes_and_secret_is_what_grew() {
        let old = manifest(&[(API, &[("GET", "/a")])], &[("key", API)], &["x.item"]);
        let new = manifest(
            &[
                (API, &[("GET", "/a")]),
                ("https://files.example.com", &[("GET", "/f/*")]),
            ],
            &[("key", API), ("key", "https://files.example.com")],
            &["x.item"],
        );
        let diff = capabilities(&old, &new);
        assert!(diff.grew());
        assert_eq!(diff.origins.added, ["https://files.example.com"]);
        assert_eq!(
            diff.routes.added,
            [route("https://files.example.com", "GET", "/f/*")]
        );
        assert_eq!(diff.secrets.added.len(), 1);
        assert_eq!(diff.secrets.added[0].origin, "https://files.example.com");
        assert!(diff.routes.removed.is_empty() && diff.origins.removed.is_empty());
    }

    #[test]
    fn a_new_method_on_a_known_path_is_a_new_route() {
        let old = manifest(&[(API, &[("GET", "/search")])], &[], &[]);
        let new = manifest(
            &[(API, &[("GET", "/search"), ("POST", "/search")])],
            &[],
            &[],
        );
        let diff = capabilities(&old, &new);
        assert_eq!(diff.routes.added, [route(API, "POST", "/search")]);
        assert!(diff.origins.added.is_empty());
    }

    #[test]
    fn what_was_dropped_is_removed_and_does_not_count_as_growth() {
        let old = manifest(
            &[(API, &[("GET", "/a"), ("GET", "/b")])],
            &[("key", API)],
            &["x.item", "x.old"],
        );
        let new = manifest(&[(API, &[("GET", "/a")])], &[], &["x.item"]);
        let diff = capabilities(&old, &new);
        assert!(!diff.grew());
        assert!(!diff.is_empty());
        assert_eq!(diff.routes.removed, [route(API, "GET", "/b")]);
        assert_eq!(diff.secrets.removed.len(), 1);
        assert_eq!(diff.evidence_kinds.removed, ["x.old"]);
    }

    #[test]
    fn a_new_evidence_kind_is_listed() {
        let old = manifest(&[], &[], &["x.item"]);
        let new = manifest(&[], &[], &["x.item", "x.secret-scan"]);
        assert_eq!(
            capabilities(&old, &new).evidence_kinds.added,
            ["x.secret-scan"]
        );
    }

    #[test]
    fn origins_are_compared_normalised() {
        let old = manifest(
            &[("https://API.example.com:443", &[("GET", "/a")])],
            &[],
            &[],
        );
        let new = manifest(&[(API, &[("GET", "/a")])], &[], &[]);
        assert!(capabilities(&old, &new).is_empty());
    }

    #[test]
    fn a_secret_sent_in_another_shape_must_be_approved_again() {
        let old = manifest(&[(API, &[])], &[("key", API)], &[]);
        let mut new = old.clone();
        new.secrets[0].template = "Token {key}".into();
        let diff = capabilities(&old, &new);
        assert!(diff.grew());
        assert_eq!(diff.secrets.added[0].template, "Token {key}");
        assert_eq!(diff.secrets.removed[0].template, "Bearer {key}");
    }
}
