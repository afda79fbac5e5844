//! The generated organization: determinism, coverage, scale and synthetic-only data.

use std::collections::BTreeMap;

use crate::common::{Client, start};
use atlassian_sim::{AuthPolicy, ClaimStatus, DAY_MS, Population, SimConfig, UserStatus};
use serde_json::{Value, json};

fn fingerprint(pop: &Population) -> String {
    let users: Vec<String> = pop.users().iter().map(|u| format!("{u:?}")).collect();
    let events: Vec<Value> = (0..pop.event_count())
        .step_by(97)
        .map(|i| pop.event(i))
        .collect();
    format!(
        "{} {:?} {:?} {:?} {:?} {users:?} {events:?}",
        pop.org_id(),
        pop.groups(),
        pop.domains(),
        pop.policies(),
        pop.api_tokens()
    )
}

#[test]
fn population_is_deterministic_for_a_seed() {
    let a = Population::generate(7, 300, 3_000);
    let b = Population::generate(7, 300, 3_000);
    assert_eq!(fingerprint(&a), fingerprint(&b));
    let c = Population::generate(8, 300, 3_000);
    assert_ne!(a.org_id(), c.org_id());
    assert_ne!(fingerprint(&a), fingerprint(&c));
}

#[test]
fn an_organizations_id_is_known_without_building_it() {
    for seed in [7, 8, 1_000] {
        let pop = Population::generate(seed, 10, 0);
        assert_eq!(Population::org_id_for(seed), pop.org_id());
    }
}

#[test]
fn default_population_covers_every_case_a_collector_checks() {
    let config = SimConfig::default();
    let pop = Population::generate(config.seed, config.users, config.events);
    let users = pop.users();
    assert_eq!(users.len(), 300);

    let mut by_status = BTreeMap::new();
    for user in users {
        *by_status.entry(user.status).or_insert(0) += 1;
    }
    for status in UserStatus::ALL {
        assert!(
            by_status.get(&status).copied().unwrap_or(0) >= 5,
            "{status:?}: {by_status:?}"
        );
    }
    let unmanaged = users
        .iter()
        .filter(|u| u.claim_status == ClaimStatus::Unmanaged)
        .count();
    assert!((30..=60).contains(&unmanaged), "{unmanaged}");
    // 70% report 2SV, except under single sign-on, where none does.
    let outside_sso: Vec<_> = users
        .iter()
        .filter(|u| u.auth_policy != AuthPolicy::Sso)
        .collect();
    let mfa = outside_sso.iter().filter(|u| u.mfa_enabled).count();
    assert!(
        (60..=80).contains(&(mfa * 100 / outside_sso.len())),
        "{mfa} of {}",
        outside_sso.len()
    );

    let admins = pop.org_admins();
    assert!((3..=6).contains(&admins.len()));
    assert!(admins.iter().all(|u| u.status == UserStatus::Active));
    assert!(!pop.org_admins_without_mfa().is_empty());
    assert!(admins.iter().any(|u| u.mfa_enabled));
    assert!(users.iter().filter(|u| u.site_admin).count() >= 2);
    assert!(!pop.active_managed_without_mfa().is_empty());
    // Single sign-on: such accounts report no 2SV, which says nothing.
    let sso = pop.sso_delegated();
    assert!(!sso.is_empty() && sso.iter().all(|u| !u.mfa_enabled));
    assert!(!pop.neither_sso_nor_2sv().is_empty());
    assert_eq!(pop.org_admins_in_no_directory().len(), 1);
    assert_eq!(pop.org_admins_in_several_directories().len(), 1);

    let inactive = pop.inactive_with_product_access(90);
    assert!(
        inactive.iter().any(|u| u.last_active_ms().is_some()),
        "stale users"
    );
    assert!(
        inactive.iter().any(|u| u.last_active_ms().is_none()),
        "never active users"
    );
    assert_eq!(inactive.len(), pop.inactive_with_product_access(15).len());
    assert_eq!(inactive.len(), pop.inactive_with_product_access(200).len());
    assert!(users.iter().filter(|u| u.email_hidden).count() >= 2);

    assert!((14..=18).contains(&pop.groups().len()));
    assert!(pop.groups().iter().any(|g| g.name == "org-admins"));
    assert_eq!(pop.domains().len(), 5);
    assert_eq!(pop.unverified_domains().len(), 2);
    assert_eq!(pop.claimed_domains().len(), 4);
    assert!(pop.policies().len() >= 5);
    assert_eq!(pop.event_count(), 3_000);
    assert_eq!(pop.api_tokens().len(), 40);
    assert!(!pop.non_expiring_api_tokens().is_empty());
    let stale = pop.stale_api_tokens(90);
    assert!(!stale.is_empty() && stale.len() < 40);
    assert_eq!(stale.len(), pop.stale_api_tokens(200).len());
}

#[test]
fn dated_activity_keeps_clear_of_the_inactivity_threshold() {
    let pop = Population::generate(3, 2_000, 0);
    let now = Population::now_ms();
    let gaps = pop
        .users()
        .iter()
        .flat_map(|u| &u.product_access)
        .filter_map(|p| p.last_active_ms)
        .chain(pop.api_tokens().iter().filter_map(|t| t.last_active_ms));
    for at in gaps {
        let days = (now - at) / DAY_MS;
        assert!(days <= 14 || days > 200, "{days} days");
    }
    for user in pop
        .users()
        .iter()
        .filter(|u| u.last_active_ms().is_none() && !u.product_access.is_empty())
    {
        assert!(now - user.added_to_org_ms > 400 * DAY_MS);
    }
}

#[test]
fn large_population_generates_compactly_with_lazy_events() {
    let pop = Population::generate(11, 50_000, 1_000_000);
    assert_eq!(pop.users().len(), 50_000);
    assert_eq!(pop.event_count(), 1_000_000);
    let last = pop.event(999_999);
    assert!(last["attributes"]["processedAt"].as_str().unwrap() < "2026-11-24T00:00:00.000Z");
    assert!(pop.event_processed_ms(999_998) < pop.event_processed_ms(999_999));
    let emails: std::collections::HashSet<&str> =
        pop.users().iter().map(|u| u.email.as_str()).collect();
    assert_eq!(emails.len(), 50_000, "emails are unique");
}

/// A word that looks like a host name: dot-separated labels ending in an alphabetic TLD.
fn as_host(word: &str) -> Option<&str> {
    let word = word.trim_end_matches(['.', ')']);
    let (_, tld) = word.rsplit_once('.')?;
    let labels_ok = word
        .split('.')
        .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    (labels_ok && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_lowercase())).then_some(word)
}

/// Every host named anywhere in a JSON value: URL hosts, email domains and bare host names
/// inside any string (messages, `hostUrl`, …).
fn hosts_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => {
            for word in s.split(|c: char| c.is_whitespace() || c == ',') {
                let host = if let Some((_, rest)) = word.split_once("://") {
                    rest.split(['/', '?', ':']).next()
                } else if let Some((_, domain)) = word.split_once('@') {
                    Some(domain)
                } else {
                    as_host(word)
                };
                out.extend(host.map(str::to_owned));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| hosts_in(v, out)),
        Value::Object(map) => map.values().for_each(|v| hosts_in(v, out)),
        _ => {}
    }
}

fn is_allowed_host(host: &str) -> bool {
    host == "api.atlassian.com"
        || ["example.com", "example.org", "example.net"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

#[tokio::test]
async fn only_rfc2606_domains_appear() {
    let sim = start(SimConfig::default()).await;
    let client = Client::new(&sim);
    let pop = sim.population();
    let mut bodies = vec![
        client.ok(&client.v1("")).await,
        client.ok(&client.v1("/domains")).await,
        client.ok(&client.v1("/policies")).await,
        client.ok(&client.v2("/directories")).await,
        client
            .ok(&format!(
                "/admin/api-access/v1/orgs/{}/api-tokens",
                sim.org_id()
            ))
            .await,
        client
            .post(&client.v2("/workspaces"), &json!({}))
            .await
            .json(),
        client
            .post(&client.v2("/directories/-/groups/search"), &json!({}))
            .await
            .json(),
    ];
    for page in 0..3 {
        let body = json!({"limit": 100, "expand": ["productAccess", "groups"]});
        let mut first = client
            .post(&client.v2("/directories/-/users/search"), &body)
            .await
            .json();
        for _ in 0..page {
            let next = first["links"]["next"].as_str().unwrap().to_owned();
            first = client
                .post(
                    &client.v2("/directories/-/users/search"),
                    &json!({"cursor": next}),
                )
                .await
                .json();
        }
        bodies.push(first);
    }
    bodies.push(client.ok(&client.v1("/users")).await);
    bodies.extend((0..pop.event_count()).map(|i| pop.event(i)));
    let mut hosts = Vec::new();
    for body in &bodies {
        hosts_in(body, &mut hosts);
    }
    assert!(hosts.len() > 1_000);
    assert!(
        hosts
            .iter()
            .any(|h| h.ends_with(".example.com") && !h.contains('@'))
    );
    assert_eq!(as_host("2026-11-24T00:00:00.000Z"), None);
    assert_eq!(as_host("198.51.100.7"), None);
    let bad: Vec<&String> = hosts.iter().filter(|h| !is_allowed_host(h)).collect();
    assert!(bad.is_empty(), "non-RFC 2606 hosts: {bad:?}");
    for user in pop.users() {
        assert!(
            is_allowed_host(user.email.split('@').nth(1).unwrap()),
            "{}",
            user.email
        );
    }
    for i in 0..pop.event_count() {
        let ip = pop.event(i)["attributes"]["location"]["ip"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            ["192.0.2.", "198.51.100.", "203.0.113."]
                .iter()
                .any(|n| ip.starts_with(n)),
            "{ip} is not a documentation address"
        );
    }
    sim.shutdown().await;
}

#[test]
fn tiny_populations_are_consistent() {
    for users in [0, 1, 2, 5, 12] {
        let pop = Population::generate(5, users, 50);
        assert_eq!(pop.users().len(), users);
        assert_eq!(pop.event_count(), if users == 0 { 0 } else { 50 });
        for i in 0..pop.event_count() {
            pop.event(i);
        }
        for user in pop.users() {
            assert_eq!(
                pop.user(&user.account_id).map(|u| &u.email),
                Some(&user.email)
            );
            pop.role_assignments(user);
        }
        assert!(pop.org_admins().len() <= users);
    }
}
