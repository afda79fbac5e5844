//! Organization-level APIs: the org, v1 managed accounts, domains, policies, workspaces,
//! API tokens, and the headers every response carries.

use crate::common::{Client, PUBLIC_ORIGIN, start, start_default, target_of};
use atlassian_sim::{DomainStatus, SimConfig};
use serde_json::{Value, json};

/// Follows v1 full-URL `links.next` from `first`; returns every item and the pages seen.
async fn walk_v1(client: &Client, first: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut target = first.to_owned();
    for pages in 1..1000 {
        let page = client.ok(&target).await;
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["links"]["next"].as_str() {
            Some(next) => {
                assert!(next.starts_with(PUBLIC_ORIGIN), "{next}");
                assert!(next.contains("?cursor="), "{next}");
                target = target_of(next);
            }
            None => return (items, pages),
        }
    }
    panic!("pagination did not end");
}

#[tokio::test]
async fn org_is_served_with_its_seeded_id() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let org = client.ok(&client.v1("")).await;
    assert_eq!(org["data"]["id"], sim.org_id());
    assert_eq!(org["data"]["type"], "orgs");
    assert_eq!(
        org["data"]["attributes"]["name"],
        sim.population().org_name()
    );
    assert_eq!(
        org["data"]["links"]["self"],
        format!("{PUBLIC_ORIGIN}/admin/v1/orgs/{}", sim.org_id())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn v1_users_lists_managed_accounts_through_full_url_links() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let (users, pages) = walk_v1(&client, &client.v1("/users")).await;
    let expected: Vec<&str> = sim
        .population()
        .managed_accounts()
        .iter()
        .map(|u| u.account_id.as_str())
        .collect();
    let got: Vec<&str> = users
        .iter()
        .map(|u| u["account_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(pages, expected.len().div_ceil(100));
    let first = client.ok(&client.v1("/users")).await;
    assert_eq!(first["meta"]["total"], expected.len());
    assert_eq!(
        first["links"]["self"],
        format!("{PUBLIC_ORIGIN}{}", client.v1("/users"))
    );
    assert!(users.iter().all(|u| u.get("mfaEnabled").is_none()));
    sim.shutdown().await;
}

#[tokio::test]
async fn domains_carry_every_documented_claim_status() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let (domains, _) = walk_v1(&client, &client.v1("/domains")).await;
    let seen: Vec<(&str, &str)> = domains
        .iter()
        .map(|d| {
            (
                d["attributes"]["name"].as_str().unwrap(),
                d["attributes"]["claim"]["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("example.com", "verified"),
            ("example.org", "verified"),
            ("example.net", "unverified"),
            ("old.example.com", "superseded"),
            ("lab.example.org", "missing_token"),
        ]
    );
    let unverified = sim.population().unverified_domains();
    assert_eq!(
        unverified.iter().map(|d| d.status).collect::<Vec<_>>(),
        [DomainStatus::Unverified, DomainStatus::MissingToken]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn policies_filter_by_type_and_ip_allowlist_matches_the_truth() {
    for seed in [7, 8, 9, 10] {
        let sim = start(SimConfig {
            seed,
            users: 10,
            events: 0,
            ..SimConfig::default()
        })
        .await;
        let client = Client::new(&sim);
        let all = client.ok(&client.v1("/policies")).await;
        assert!(all["data"].as_array().unwrap().len() >= 5);
        assert_eq!(all["meta"]["page_size"], 20);
        let ip = client.ok(&client.v1("/policies?type=ip-allowlist")).await;
        let ip = ip["data"].as_array().unwrap();
        assert_eq!(ip.len(), 2);
        let applied = |p: &serde_json::Value| {
            p["attributes"]["status"] == "enabled"
                && p["attributes"]["resources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["applicationStatus"] == "applied")
        };
        assert_eq!(
            ip.iter().any(applied),
            sim.population().ip_allowlist_applied()
        );
        assert!(
            ip.iter()
                .any(|p| p["attributes"]["status"] == "enabled" && !applied(p)),
            "an enabled allowlist applied to no product"
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn workspaces_are_listed_by_post_with_rfc2606_hosts() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let mut names = Vec::new();
    let mut body = json!({"limit": 3});
    loop {
        let reply = client.post(&client.v2("/workspaces"), &body).await;
        assert_eq!(reply.status, 200);
        let page = reply.json();
        for w in page["data"].as_array().unwrap() {
            let host = w["attributes"]["hostUrl"].as_str().unwrap();
            assert!(host.ends_with(".example.com"), "{host}");
            names.push(w["attributes"]["typeKey"].as_str().unwrap().to_owned());
        }
        match page["links"]["next"].as_str() {
            Some(next) => body = json!({"cursor": next}),
            None => break,
        }
    }
    assert_eq!(names.len(), sim.population().workspaces().len());
    assert!(names.contains(&"jira".to_owned()) && names.contains(&"confluence".to_owned()));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_workspaces_cursor_comes_alone_in_the_body() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let first = client
        .post(&client.v2("/workspaces"), &json!({"limit": 1}))
        .await
        .json();
    let next = first["links"]["next"].as_str().unwrap();
    let mixed = client
        .post(
            &client.v2("/workspaces"),
            &json!({"cursor": next, "limit": 1}),
        )
        .await;
    assert_eq!(mixed.status, 400);
    assert!(String::from_utf8_lossy(&mixed.body).contains("no other properties"));
    let alone = client
        .post(&client.v2("/workspaces"), &json!({"cursor": next}))
        .await;
    assert_eq!(alone.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_policies_are_bulk_fetched_for_managed_accounts() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let pop = sim.population();
    let sso = pop.sso_delegated()[0];
    let neither = pop.neither_sso_nor_2sv()[0];
    let unmanaged = pop
        .users()
        .iter()
        .find(|u| u.claim_status == atlassian_sim::ClaimStatus::Unmanaged)
        .unwrap();
    let path = format!(
        "/admin/control/v1/orgs/{}/users/auth-policies/bulk-fetch",
        client.org
    );
    let ids = [&sso.account_id, &neither.account_id, &unmanaged.account_id];
    let page = client.post(&path, &json!({"userIds": ids})).await.json();
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "unmanaged accounts are left out");
    assert_eq!(data[0]["accountId"], sso.account_id.as_str());
    assert_eq!(data[0]["policy"]["ssoEnforced"], true);
    assert_eq!(data[1]["policy"]["ssoEnforced"], false);
    assert_eq!(data[1]["policy"]["twoStepVerification"], "optional");
    let too_many: Vec<String> = (0..101).map(|i| format!("a{i}")).collect();
    let refused = client.post(&path, &json!({"userIds": too_many})).await;
    assert_eq!(refused.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn org_admin_api_keys_are_listed() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let page = client
        .ok(&format!(
            "/admin/api-access/v1/orgs/{}/api-keys",
            client.org
        ))
        .await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = sim
        .population()
        .api_keys()
        .iter()
        .map(|k| k.id.as_str())
        .collect();
    assert_eq!(ids, expected);
    sim.shutdown().await;
}

#[tokio::test]
async fn api_tokens_page_by_opaque_cursor_and_match_the_truth() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let base = format!("/admin/api-access/v1/orgs/{}/api-tokens", sim.org_id());
    let mut tokens = Vec::new();
    let mut target = base.clone();
    let mut pages = 0;
    loop {
        let page = client.ok(&target).await;
        pages += 1;
        tokens.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["links"]["next"].as_str() {
            Some(next) => {
                assert!(!next.contains('/'), "an opaque cursor, not a URL: {next}");
                target = format!("{base}?cursor={next}");
            }
            None => break,
        }
    }
    let pop = sim.population();
    assert!(pages >= 2);
    assert_eq!(tokens.len(), pop.api_tokens().len());
    let non_expiring = tokens.iter().filter(|t| t["expiresAt"].is_null()).count();
    assert_eq!(non_expiring, pop.non_expiring_api_tokens().len());
    let never_used = tokens
        .iter()
        .filter(|t| t["lastActiveAt"].is_null())
        .count();
    assert!(never_used > 0);
    for (view, token) in tokens.iter().zip(pop.api_tokens()) {
        assert_eq!(view["id"], token.id.as_str());
        assert_eq!(
            view["user"]["id"],
            pop.users()[token.owner].account_id.as_str()
        );
        assert_eq!(view["user"]["orgId"], sim.org_id());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn every_response_carries_rate_limit_headers() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let targets = [
        client.v1(""),
        client.v1("/domains"),
        client.v1("/nothing-here"),
        "/admin/v1/orgs/other/users".to_owned(),
    ];
    for target in &targets {
        let reply = client.get(target).await;
        let limit: u64 = reply.header("x-ratelimit-limit").unwrap().parse().unwrap();
        let remaining: u64 = reply
            .header("x-ratelimit-remaining")
            .unwrap()
            .parse()
            .unwrap();
        assert!(remaining < limit);
        let reset = reply.header("x-ratelimit-reset").unwrap();
        assert!(reset.ends_with('Z') && reset.contains('T'), "{reset}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    let unauthenticated = Client::new(&sim).with_key(None).get(&client.v1("")).await;
    assert!(unauthenticated.header("x-ratelimit-remaining").is_some());
    assert_eq!(sim.requests_served(), targets.len() as u64 + 1);
    sim.shutdown().await;
}
