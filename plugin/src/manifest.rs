//! The manifest: what the integration is, what the operator provides, and
//! exactly which requests it may make. The routes come from [`api::ROUTES`],
//! the list the endpoint builders are tested against, so the declared egress
//! cannot drift from the requests made.

use crate::api::{self, ROUTES};
use crate::config::{API_KEY, DEFAULT_MAX_ORG_ADMINS, MAX_ORG_ADMINS, ORG_ID};
use crate::contract::{ConfigField, EgressRule, EvidenceKind, Manifest, Route, SecretHeader};
use crate::urls::API_ORIGIN;

pub const ID: &str = "atlassian-cloud-admin";
/// The `watchdog:integration` version this crate mirrors.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// Every evidence kind, in the order the summary counts them.
pub const EVIDENCE_KINDS: &[(&str, &str)] = &[
    (
        api::KIND_ORG,
        "The Atlassian organization the API key belongs to.",
    ),
    (api::KIND_DIRECTORY, "A user directory of the organization."),
    (
        api::KIND_USER,
        "An account in a directory: status, two-step verification, platform roles, product access and groups.",
    ),
    (api::KIND_GROUP, "A group in a directory."),
    (
        api::KIND_ROLE_ASSIGNMENT,
        "The roles a user or group holds on one resource (the organization, a site or a product).",
    ),
    (
        api::KIND_DOMAIN,
        "A domain claimed by the organization, with its verification status.",
    ),
    (
        api::KIND_POLICY,
        "An organization policy, such as an IP allowlist, with its status.",
    ),
    (api::KIND_EVENT, "An organization audit-log event."),
    (
        api::KIND_WORKSPACE,
        "A product workspace (site) of the organization.",
    ),
    (
        api::KIND_API_TOKEN,
        "A user API token of a managed account: owner, status, creation, expiry and last use.",
    ),
    (
        api::KIND_USER_COUNT,
        "How many accounts the organization holds, as Atlassian counts them: the listings are checked against it.",
    ),
    (
        api::KIND_AUTH_POLICY,
        "The authentication policy a managed account is under: single sign-on, two-step verification.",
    ),
    (
        api::KIND_API_KEY,
        "An organization admin API key: its label and expiry date (the key WatchDog uses is one of them).",
    ),
];

pub fn manifest() -> Manifest {
    let field = |name: &str, label: &str, help: &str, required: bool, secret: bool| ConfigField {
        name: name.into(),
        label: label.into(),
        help: help.into(),
        required,
        secret,
    };
    Manifest {
        id: ID.into(),
        name: "Atlassian Cloud Admin".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        contract_version: CONTRACT_VERSION.into(),
        description: "Reads, without changing anything, the accounts, two-step verification, org admins, groups, role assignments, domains, policies, audit log, workspaces and user API tokens of one Atlassian Cloud organization through the Atlassian Admin APIs, and checks them against access-control controls (SOC 2 CC6.1-CC6.3, ISO 27001:2022 A.5.15-A.5.18, A.8.5).".into(),
        config: vec![
            field(
                ORG_ID,
                "Organization ID",
                "In admin.atlassian.com, open Settings → API keys: the Organization ID is shown above the list of keys.",
                true,
                false,
            ),
            field(
                API_KEY,
                "Admin API key",
                "An organization API key from admin.atlassian.com → Settings → API keys. A key without scopes reads everything; a key with scopes needs read:orgs:admin, read:directories:admin, read:groups:admin, read:domains:admin, read:events:admin, read:workspaces:admin and read:tokens:admin, and may be refused by the user and group searches (product access and group membership are then unknown). Keys expire within a year.",
                true,
                true,
            ),
            field(
                MAX_ORG_ADMINS,
                "Maximum org admins",
                &format!("The most organization admins the org-admin-count check accepts (at least 2; default {DEFAULT_MAX_ORG_ADMINS})."),
                false,
                false,
            ),
        ],
        egress: vec![EgressRule {
            origin: API_ORIGIN.into(),
            routes: ROUTES
                .iter()
                .map(|(method, path)| Route {
                    method: method.as_str().into(),
                    path: (*path).into(),
                })
                .collect(),
        }],
        secrets: vec![SecretHeader {
            field: API_KEY.into(),
            origin: API_ORIGIN.into(),
            header: "authorization".into(),
            template: format!("Bearer {{{API_KEY}}}"),
        }],
        evidence_kinds: EVIDENCE_KINDS
            .iter()
            .map(|(name, description)| EvidenceKind {
                name: (*name).into(),
                description: (*description).into(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_read_only_and_sends_the_key_only_to_atlassian() {
        let m = manifest();
        assert_eq!(m.id, "atlassian-cloud-admin");
        assert_eq!(m.contract_version, "0.1.0");
        assert_eq!(m.egress.len(), 1);
        for route in &m.egress[0].routes {
            match route.method.as_str() {
                "GET" => assert!(route.path.starts_with("/admin/")),
                "POST" => assert!(
                    route.path.ends_with("/search")
                        || route.path.ends_with("/workspaces")
                        || route.path.ends_with("/bulk-fetch"),
                    "{route:?}"
                ),
                other => panic!("write method {other}"),
            }
            assert!(!route.path.contains("**"), "{route:?} is wider than needed");
        }
        assert_eq!(
            m.secrets,
            vec![SecretHeader {
                field: "api-key".into(),
                origin: "https://api.atlassian.com".into(),
                header: "authorization".into(),
                template: "Bearer {api-key}".into(),
            }]
        );
        let secret: Vec<_> = m
            .config
            .iter()
            .filter(|f| f.secret)
            .map(|f| &f.name)
            .collect();
        assert_eq!(secret, ["api-key"]);
        assert_eq!(m.evidence_kinds.len(), 13);
    }
}
