//! Many organizations on one listener: each reached by the org id in the path, with its own
//! key, population, faults and rate-limit windows.

use std::io;

use crate::common::Client;
use atlassian_sim::{Fault, OrgsError, SimConfig, SimHandle};
use serde_json::Value;

fn small() -> SimConfig {
    SimConfig {
        users: 20,
        events: 50,
        ..SimConfig::default()
    }
}

async fn start_orgs(configs: Vec<SimConfig>) -> SimHandle {
    SimHandle::start_orgs(configs)
        .await
        .expect("simulator starts")
}

/// A client of organization `index` of `sim` with `key`.
fn client(sim: &SimHandle, index: usize, key: &str) -> Client {
    Client {
        addr: sim.addr(),
        key: Some(key.to_owned()),
        org: sim.orgs()[index].org_id().to_owned(),
    }
}

#[tokio::test]
async fn each_organization_serves_its_own_population_to_its_own_key() {
    let sim = start_orgs(small().orgs(3)).await;
    for (index, org) in sim.orgs().iter().enumerate() {
        let client = client(&sim, index, org.api_key());
        let body = client.ok(&client.v1("")).await;
        assert_eq!(body["data"]["id"], org.org_id());
        assert_eq!(
            body["data"]["attributes"]["name"],
            org.population().org_name()
        );
    }
    let ids: std::collections::BTreeSet<&str> = sim.orgs().iter().map(|o| o.org_id()).collect();
    assert_eq!(ids.len(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_cannot_read_another_organization() {
    let sim = start_orgs(small().orgs(3)).await;
    for (a, _) in sim.orgs().iter().enumerate() {
        for (b, other) in sim.orgs().iter().enumerate().filter(|(b, _)| *b != a) {
            let client = client(&sim, a, other.api_key());
            for target in [
                client.v1(""),
                client.v1("/users"),
                client.v1("/events-stream"),
            ] {
                let reply = client.get(&target).await;
                assert_eq!(reply.status, 401, "org {a} with org {b}'s key: {target}");
                assert_eq!(reply.json()["errors"][0]["code"], "unauthenticated");
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_path_naming_no_served_organization_is_refused() {
    let sim = start_orgs(small().orgs(2)).await;
    let known = client(&sim, 1, sim.orgs()[1].api_key());
    let unknown_org = Client {
        org: "00000000-0000-4000-8000-000000000000".to_owned(),
        ..known
    };
    let reply = unknown_org.get(&unknown_org.v1("")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["errors"][0]["code"], "org_not_found");
    let stranger = unknown_org.with_key(Some("not-any-org-key"));
    assert_eq!(stranger.get(&stranger.v1("")).await.status, 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_apply_to_their_organization_only() {
    let mut configs = small().orgs(2);
    configs[1].faults = vec!["503:path=/domains".parse::<Fault>().unwrap()];
    let sim = start_orgs(configs).await;
    let first = client(&sim, 0, sim.orgs()[0].api_key());
    let second = client(&sim, 1, sim.orgs()[1].api_key());
    assert_eq!(first.get(&first.v1("/domains")).await.status, 200);
    assert_eq!(second.get(&second.v1("/domains")).await.status, 503);
    assert_eq!(sim.orgs()[1].requests_served(), 1);
    assert_eq!(sim.requests_served(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn one_organizations_rate_limit_leaves_the_others_alone() {
    let sim = start_orgs(small().orgs(2)).await;
    let first = client(&sim, 0, sim.orgs()[0].api_key());
    let second = client(&sim, 1, sim.orgs()[1].api_key());
    for n in 1..=10 {
        let reply = first.get(&first.v1("/events?limit=5")).await;
        assert_eq!(reply.status, 200, "request {n}");
    }
    assert_eq!(first.get(&first.v1("/events?limit=5")).await.status, 429);
    let other = second.get(&second.v1("/events?limit=5")).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-remaining"), Some("9"));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_tenants_file_names_each_organization_its_key_and_the_listener() {
    let sim = start_orgs(small().orgs(2)).await;
    let mut out = Vec::new();
    sim.write_tenants(&mut out).unwrap();
    let lines: Vec<Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (i, (line, org)) in lines.iter().zip(sim.orgs()).enumerate() {
        assert_eq!(line["tenant"], format!("t000{}", i + 1));
        assert_eq!(line["config"]["org-id"], org.org_id());
        assert_eq!(line["secrets"]["api-key"], org.api_key());
        assert_eq!(line["routes"]["https://api.atlassian.com"], sim.base_url());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn organizations_with_the_same_seed_or_key_are_refused() {
    let refusal = |e: io::Error| {
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        e.into_inner().unwrap().downcast::<OrgsError>().unwrap()
    };
    let same_seed = vec![
        small(),
        SimConfig {
            api_key: "other".into(),
            ..small()
        },
    ];
    let e = SimHandle::start_orgs(same_seed).await.err().unwrap();
    assert!(matches!(*refusal(e), OrgsError::DuplicateId(_)));
    let same_key = vec![small(), SimConfig { seed: 8, ..small() }];
    let e = SimHandle::start_orgs(same_key).await.err().unwrap();
    assert!(matches!(*refusal(e), OrgsError::DuplicateKey(0, 1)));
    let e = SimHandle::start_orgs(Vec::new()).await.err().unwrap();
    assert!(matches!(*refusal(e), OrgsError::None));
}
