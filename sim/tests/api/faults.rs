//! Injected faults, observed over real loopback HTTP.

use std::time::{Duration, Instant};

use crate::common::{Client, KEY, exchange, parse, request_bytes, start, target_of};
use atlassian_sim::{Fault, SimConfig, SimHandle};
use serde_json::Value;

async fn with_faults(specs: &[&str]) -> (SimHandle, Client) {
    let faults = specs
        .iter()
        .map(|s| s.parse::<Fault>().expect("valid spec"))
        .collect();
    let sim = start(SimConfig {
        users: 120,
        events: 500,
        faults,
        ..SimConfig::default()
    })
    .await;
    let client = Client::new(&sim);
    (sim, client)
}

#[tokio::test]
async fn burst_of_429s_every_nth_request_with_retry_after() {
    let (sim, client) = with_faults(&["429:every=3,burst=2,retry-after=2"]).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let reply = client.get(&client.v1("")).await;
        if reply.status == 429 {
            assert_eq!(reply.header("retry-after"), Some("2"));
            assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
            assert_eq!(reply.json()["errors"][0]["code"], "rate_limited");
        }
        statuses.push(reply.status);
    }
    assert_eq!(statuses, [200, 200, 429, 429, 200, 429, 429]);
    sim.shutdown().await;
}

#[tokio::test]
async fn no_retry_after_429_still_tells_the_reset_time() {
    let (sim, client) = with_faults(&["429:no-retry-after,retry-after=30,count=1"]).await;
    let reply = client.get(&client.v1("")).await;
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_none());
    assert!(reply.header("x-ratelimit-reset").is_some());
    assert_eq!(
        client.get(&client.v1("")).await.status,
        200,
        "count=1 fires once"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_gateway_limiter_refuses_until_the_minute_it_announces() {
    let sim = start(SimConfig {
        api_key: KEY.into(),
        rate_limit: Some(2),
        ..SimConfig::default()
    })
    .await;
    let client = Client::new(&sim);
    // Three requests in one minute, unless the minute turns while they are sent.
    let mut refused = None;
    for _ in 0..6 {
        let reply = client.get(&client.v1("")).await;
        if reply.status == 429 {
            refused = Some(reply);
            break;
        }
    }
    let reply = refused.expect("the third request of a minute is refused");
    assert!(reply.header("retry-after").is_none());
    let reset = reply.header("x-ratelimit-reset").unwrap();
    // `2026-12-01T18:05Z`: minute precision.
    assert_eq!(reset.len(), 17, "{reset}");
    assert!(
        reset.ends_with('Z') && reset.as_bytes()[13] == b':',
        "{reset}"
    );
    assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_scoped_by_path() {
    let (sim, client) = with_faults(&["503:path=/users"]).await;
    let users = client.get(&client.v1("/users")).await;
    assert_eq!(users.status, 503);
    assert_eq!(users.json()["errors"][0]["status"], "503");
    assert_eq!(client.get(&client.v1("/domains")).await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn forbid_answers_in_the_gateway_shape() {
    let (sim, client) = with_faults(&["forbid:path=/domains"]).await;
    let reply = client.get(&client.v1("/domains")).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"], "Forbidden");
    sim.shutdown().await;
}

#[tokio::test]
async fn reset_closes_the_connection_without_a_response() {
    let (sim, client) = with_faults(&["reset:every=2"]).await;
    let request = request_bytes("GET", &client.v1(""), Some(KEY), None);
    let (first, _) = exchange(sim.addr(), &request, Duration::from_secs(5)).await;
    assert_eq!(parse(&first).map(|r| r.status), Some(200));
    let (second, timed_out) = exchange(sim.addr(), &request, Duration::from_secs(5)).await;
    assert!(!timed_out);
    assert!(
        second.is_empty(),
        "got {:?}",
        String::from_utf8_lossy(&second)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stall_sends_headers_and_half_the_body_then_nothing() {
    let (sim, client) = with_faults(&["stall:path=/domains"]).await;
    let request = request_bytes("GET", &client.v1("/domains"), Some(KEY), None);
    let (raw, timed_out) = exchange(sim.addr(), &request, Duration::from_millis(1_500)).await;
    assert!(timed_out, "the body never completes");
    let reply = parse(&raw).expect("headers arrive");
    assert_eq!(reply.status, 200);
    let declared: usize = reply.header("content-length").unwrap().parse().unwrap();
    assert!(!reply.body.is_empty() && reply.body.len() < declared);
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_body_trickles_the_whole_body() {
    let (sim, client) = with_faults(&["slow-body:path=/domains,ms=100,chunks=4"]).await;
    let started = Instant::now();
    let reply = client.get(&client.v1("/domains")).await;
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 200);
    assert!(reply.json()["data"].is_array());
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_truncates_json_once() {
    let (sim, client) = with_faults(&["malformed:path=/domains,count=1"]).await;
    let broken = client.get(&client.v1("/domains")).await;
    assert_eq!(broken.status, 200);
    assert_eq!(
        broken.header("content-length").unwrap(),
        broken.body.len().to_string()
    );
    assert!(serde_json::from_slice::<Value>(&broken.body).is_err());
    let fine = client.get(&client.v1("/domains")).await;
    assert!(fine.json()["data"].is_array());
    sim.shutdown().await;
}

#[tokio::test]
async fn repeat_cursor_fault_repeats() {
    let (sim, client) = with_faults(&["repeat-cursor:path=/users"]).await;
    let first = client.ok(&client.v2("/directories/-/users?limit=10")).await;
    let cursor = first["links"]["next"].as_str().unwrap().to_owned();
    let mut target = client.v2(&format!("/directories/-/users?cursor={cursor}"));
    for _ in 0..3 {
        let page = client.ok(&target).await;
        assert_eq!(page["data"], first["data"]);
        assert_eq!(page["links"]["next"].as_str(), Some(cursor.as_str()));
        target = client.v2(&format!("/directories/-/users?cursor={cursor}"));
    }
    // v1 full-URL links repeat too.
    let v1 = client.ok(&client.v1("/users")).await;
    let next = v1["links"]["next"].as_str().unwrap();
    let again = client.ok(&target_of(next)).await;
    assert_eq!(again["links"]["next"].as_str(), Some(next));
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_delays_responses() {
    let (sim, client) = with_faults(&["latency:ms=150,path=/domains"]).await;
    let started = Instant::now();
    client.ok(&client.v1("/domains")).await;
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.shutdown().await;
}

#[tokio::test]
async fn links_fault_moves_next_links_to_the_request_host_or_another_origin() {
    let (sim, client) = with_faults(&["links:origin=request,path=/users"]).await;
    let page = client.ok(&client.v1("/users")).await;
    let next = page["links"]["next"].as_str().unwrap();
    // The test client sends `Host: api.atlassian.com` over plain HTTP.
    assert!(
        next.starts_with("http://api.atlassian.com/admin/v1/"),
        "{next}"
    );
    sim.shutdown().await;

    let (sim, client) = with_faults(&["links:origin=https://elsewhere.example.net"]).await;
    let page = client.ok(&client.v1("/events-stream?limit=10")).await;
    let next = page["links"]["next"].as_str().unwrap();
    assert!(
        next.starts_with("https://elsewhere.example.net/admin/v1/"),
        "{next}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_count_deterministically_across_runs() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let (sim, client) = with_faults(&["500:every=4", "429:every=3,count=2"]).await;
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(client.get(&client.v1("")).await.status);
        }
        sim.shutdown().await;
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert_eq!(
        runs[0],
        [200, 200, 429, 500, 200, 429, 200, 500, 200, 200, 200, 500]
    );
}
