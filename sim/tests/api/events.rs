//! The audit log APIs: bulk walks, bounds, ordering, polling and the `/events` rate limit.

use crate::common::{Client, PUBLIC_ORIGIN, start, target_of};
use atlassian_sim::{Endpoint, Population, SimConfig};
use serde_json::Value;

fn small() -> SimConfig {
    SimConfig {
        users: 50,
        events: 1_234,
        ..SimConfig::default()
    }
}

/// Walks `first` to the end by `links.next`; returns the events and the last page.
async fn walk(client: &Client, first: &str) -> (Vec<Value>, Value) {
    let mut events = Vec::new();
    let mut target = first.to_owned();
    loop {
        let page = client.ok(&target).await;
        events.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["links"]["next"].as_str() {
            Some(next) => {
                assert_eq!(page["meta"]["next"].as_str(), next.split("cursor=").nth(1));
                target = target_of(next);
            }
            None => return (events, page),
        }
    }
}

fn expected(pop: &Population, indices: impl Iterator<Item = usize>) -> Vec<Value> {
    indices.map(|i| pop.event(i)).collect()
}

#[tokio::test]
async fn stream_walks_every_event_in_processed_order() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let (events, last) = walk(&client, &client.v1("/events-stream?limit=500")).await;
    let pop = sim.population();
    assert_eq!(events, expected(pop, 0..pop.event_count()));
    let processed: Vec<&str> = events
        .iter()
        .map(|e| e["attributes"]["processedAt"].as_str().unwrap())
        .collect();
    assert!(processed.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(last["meta"]["page_size"], 500);
    assert!(last["links"]["next"].is_null());
    assert!(
        last["meta"]["next"].is_string(),
        "an ascending stream ends with a poll cursor"
    );
    assert_eq!(sim.requests_to(Endpoint::EventsStream), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn stream_defaults_to_200_and_refuses_more_than_its_maximum() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let first = client.ok(&client.v1("/events-stream")).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 200);
    let next = first["links"]["next"].as_str().unwrap();
    assert!(next.starts_with(&format!(
        "{PUBLIC_ORIGIN}/admin/v1/orgs/{}/events-stream?cursor=",
        sim.org_id()
    )));
    let big = client.ok(&client.v1("/events-stream?limit=500")).await;
    assert_eq!(big["data"].as_array().unwrap().len(), 500);
    let refused = client.get(&client.v1("/events-stream?limit=501")).await;
    assert_eq!(refused.status, 400);
    sim.shutdown().await;
    let strict = start(SimConfig {
        events_max_limit: 100,
        ..small()
    })
    .await;
    let client = Client::new(&strict);
    assert_eq!(client.get(&client.v1("/events-stream")).await.status, 200);
    assert_eq!(
        client
            .get(&client.v1("/events-stream?limit=200"))
            .await
            .status,
        400
    );
    strict.shutdown().await;
}

#[tokio::test]
async fn append_events_visible_from_poll_cursor() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let (_, last) = walk(&client, &client.v1("/events-stream?limit=500")).await;
    let poll = last["meta"]["next"].as_str().unwrap().to_owned();
    let target = client.v1(&format!("/events-stream?cursor={poll}"));

    let nothing_yet = client.ok(&target).await;
    assert_eq!(nothing_yet["data"], Value::Array(vec![]));
    assert_eq!(nothing_yet["meta"]["next"].as_str(), Some(poll.as_str()));

    let before = sim.population().event_count();
    sim.append_events(7);
    let fresh = client.ok(&target).await;
    let pop = sim.population();
    assert_eq!(
        fresh["data"],
        Value::Array(expected(pop, before..before + 7))
    );
    let first_new = pop.event_processed_ms(before);
    assert!((0..before).all(|i| pop.event_processed_ms(i) < first_new));
    let poll_again = fresh["meta"]["next"].as_str().unwrap();
    let nothing = client
        .ok(&client.v1(&format!("/events-stream?cursor={poll_again}")))
        .await;
    assert_eq!(nothing["data"], Value::Array(vec![]));
    sim.shutdown().await;
}

#[tokio::test]
async fn from_and_to_bound_processed_time_inclusively() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let pop = sim.population();
    let from = pop.event_processed_ms(100);
    let to = pop.event_processed_ms(349);
    let (events, last) = walk(
        &client,
        &client.v1(&format!("/events-stream?from={from}&to={to}&limit=100")),
    )
    .await;
    assert_eq!(events, expected(pop, 100..350));
    assert!(last["meta"]["next"].is_string());
    let (after_from, _) = walk(
        &client,
        &client.v1(&format!("/events-stream?from={}", from + 1)),
    )
    .await;
    assert_eq!(after_from.len(), pop.event_count() - 101);
    let bad = client
        .get(&client.v1(&format!("/events-stream?from={to}&to={from}")))
        .await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn descending_walk_is_newest_first_and_ends_without_poll_cursor() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let (events, last) = walk(
        &client,
        &client.v1("/events-stream?sortOrder=desc&limit=300"),
    )
    .await;
    let pop = sim.population();
    assert_eq!(events, expected(pop, (0..pop.event_count()).rev()));
    assert!(last["meta"]["next"].is_null());
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_or_foreign_cursor_gets_400_invalid_cursor() {
    let sim = start(small()).await;
    let other = start(SimConfig {
        seed: 99,
        ..small()
    })
    .await;
    let client = Client::new(&sim);
    let other_client = Client::new(&other);
    let foreign = other_client
        .ok(&other_client.v1("/events-stream?limit=5"))
        .await;
    let foreign_cursor = foreign["meta"]["next"].as_str().unwrap();
    for cursor in ["bm90LWEtY3Vyc29y", foreign_cursor] {
        let reply = client
            .get(&client.v1(&format!("/events-stream?cursor={cursor}")))
            .await;
        assert_eq!(reply.status, 400);
        let body = reply.json();
        assert_eq!(body["errors"][0]["code"], "invalid_cursor");
        assert_eq!(body["errors"][0]["detail"], "invalid cursor");
    }
    sim.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn events_endpoint_serves_the_same_data_but_allows_ten_requests_a_minute() {
    let sim = start(small()).await;
    let client = Client::new(&sim);
    let first = client.ok(&client.v1("/events?limit=5")).await;
    assert_eq!(
        first["data"],
        Value::Array(expected(sim.population(), 0..5))
    );
    assert_eq!(first["meta"]["page_size"], 5);
    for n in 2..=10 {
        let reply = client.get(&client.v1("/events?limit=5")).await;
        assert_eq!(reply.status, 200, "request {n}");
        assert_eq!(reply.header("x-ratelimit-limit"), Some("10"));
        assert_eq!(
            reply.header("x-ratelimit-remaining"),
            Some(&*(10 - n).to_string())
        );
    }
    let refused = client.get(&client.v1("/events?limit=5")).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["errors"][0]["code"], "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // The stream has its own, unenforced budget.
    assert_eq!(
        client
            .get(&client.v1("/events-stream?limit=5"))
            .await
            .status,
        200
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn events_end_of_search_api_has_no_poll_cursor() {
    let sim = start(SimConfig {
        users: 10,
        events: 3,
        ..SimConfig::default()
    })
    .await;
    let client = Client::new(&sim);
    let page = client.ok(&client.v1("/events")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    assert!(page["meta"]["next"].is_null() && page["links"]["next"].is_null());
    sim.shutdown().await;
}

#[tokio::test]
async fn without_guard_the_audit_log_is_refused_naming_the_plan() {
    let sim = start(SimConfig {
        guard: false,
        ..small()
    })
    .await;
    let client = Client::new(&sim);
    let reply = client.get(&client.v1("/events-stream")).await;
    assert_eq!(reply.status, 403);
    assert!(String::from_utf8_lossy(&reply.body).contains("Atlassian Guard"));
    assert_eq!(client.get(&client.v1("/domains")).await.status, 200);
    sim.shutdown().await;
}
