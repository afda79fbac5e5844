//! The audit log across runs: resuming from the checkpoint, overlaps,
//! rejected and unreadable checkpoints.

mod support;

use atlassian_cloud_admin::{Error, FindingStatus, Method};
use serde_json::Value;
use support::*;

fn decode(checkpoint: &Option<String>) -> Value {
    serde_json::from_str(checkpoint.as_deref().expect("a checkpoint")).unwrap()
}

#[test]
fn the_checkpoint_points_after_the_last_event() {
    let mut fake = standard_org();
    let summary = collect(&mut fake, None).0.unwrap();
    let checkpoint = decode(&summary.checkpoint);
    assert_eq!(checkpoint["v"], 1);
    // The empty tail page announced where to poll next.
    assert_eq!(
        checkpoint["next"],
        serde_json::json!({"url": format!("https://api.atlassian.com/admin/v1/orgs/{ORG}/events-stream?cursor=Yy0z")})
    );
    // evt-0003 processedAt 2025-06-03T12:00:02Z
    assert_eq!(checkpoint["lastProcessedMs"], 1_748_952_002_000i64);
    assert_eq!(checkpoint["recentIds"], serde_json::json!(["evt-0003"]));
}

#[test]
fn checkpoint_resumes_without_duplicates() {
    let mut first = standard_org();
    let checkpoint = collect(&mut first, None).0.unwrap().checkpoint;

    // The stream, asked again at its tail, answers the last event again and a
    // new one, and announces nothing further.
    let overlap = format!(
        r#"{{"data":[{},{{"id":"evt-0004","type":"events","attributes":{{"time":"2025-06-04T00:00:00Z","processedAt":"2025-06-04T00:00:01Z","action":"user_removed"}}}}],"meta":{{"next":null}},"links":{{"next":null}}}}"#,
        fixture_items("events-page2")[0]
    );
    let mut second = standard_org();
    second.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=Yy0z".into()),
        vec![json(200, &overlap)],
    );
    let (summary, sink) = collect(&mut second, checkpoint);
    let summary = summary.unwrap();
    let sends = second.sent_to(&v1("/events-stream"));
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].1.url,
        format!(
            "https://api.atlassian.com/admin/v1/orgs/{ORG}/events-stream?cursor=Yy0z&limit=200"
        )
    );
    assert_eq!(sink.ids("atlassian.event"), ["evt-0004"]);
    assert_eq!(status(&summary, "audit-log-available"), FindingStatus::Pass);

    // No successor announced: the next run reads the same page again, and
    // emits nothing from it.
    let checkpoint = summary.checkpoint;
    assert_eq!(
        decode(&checkpoint)["recentIds"],
        serde_json::json!(["evt-0003", "evt-0004"])
    );
    let mut third = standard_org();
    third.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=Yy0z".into()),
        vec![json(200, &overlap)],
    );
    let (summary, sink) = collect(&mut third, checkpoint.clone());
    let summary = summary.unwrap();
    assert!(sink.ids("atlassian.event").is_empty());
    assert_eq!(count(&summary, "atlassian.event"), 0);
    let f = finding(&summary, "audit-log-available");
    assert_eq!(
        f.status,
        FindingStatus::Pass,
        "nothing new is not 'no audit log'"
    );
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    assert_eq!(summary.checkpoint, checkpoint, "the position holds");
}

#[test]
fn rejected_checkpoint_reports_gap_then_reads_full_window() {
    let stale = r#"{"v":1,"next":{"cursor":"ZXhwaXJlZA=="},"lastProcessedMs":1735689600000,"recentIds":["evt-0001"]}"#;
    let mut fake = standard_org();
    fake.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=ZXhwaXJlZA%3D%3D".into()),
        vec![json(400, &fixture("error-400-cursor"))],
    );
    let (summary, sink) = collect(&mut fake, Some(stale.to_owned()));
    let summary = summary.unwrap();
    let w = warning(&summary, "audit log");
    assert!(w.incomplete);
    assert!(w.message.starts_with("audit-log gap"), "{}", w.message);
    assert!(
        w.message.contains("after 2025-01-01T00:00:00Z"),
        "names from when: {}",
        w.message
    );
    assert!(
        matches!(&w.cause, Some(Error::Upstream { status: 400, detail }) if detail.contains("page cursor is not valid"))
    );
    let sends = fake.sent_to(&v1("/events-stream"));
    assert_eq!(
        sends.len(),
        4,
        "the rejected cursor, then the three pages of the window"
    );
    assert!(
        sends[1].1.url.ends_with("/events-stream?limit=200"),
        "the whole retained log, with no time bound: {}",
        sends[1].1.url
    );
    // evt-0001 was emitted by the run that wrote the checkpoint.
    assert_eq!(sink.ids("atlassian.event"), ["evt-0002", "evt-0003"]);
    assert_eq!(status(&summary, "audit-log-available"), FindingStatus::Pass);
}

#[test]
fn a_checkpoint_without_a_position_resumes_by_time() {
    let checkpoint =
        r#"{"v":1,"next":null,"lastProcessedMs":1748779203000,"recentIds":["evt-0001"]}"#;
    let mut fake = standard_org();
    let (summary, sink) = collect(&mut fake, Some(checkpoint.to_owned()));
    summary.unwrap();
    let sends = fake.sent_to(&v1("/events-stream"));
    let from = format!("from={}", 1_748_779_203_000i64 - 5 * 60 * 1000);
    assert!(sends[0].1.url.ends_with(&from), "{}", sends[0].1.url);
    // The page-1 link was `…/events-stream?cursor=Yy0y`, without the time
    // bound (ACCESS-1603): it is put back.
    assert!(
        sends[1]
            .1
            .url
            .ends_with(&format!("?cursor=Yy0y&limit=200&{from}")),
        "{}",
        sends[1].1.url
    );
    assert_eq!(sink.ids("atlassian.event"), ["evt-0002", "evt-0003"]);
}

#[test]
fn an_unreadable_checkpoint_is_a_gap_not_a_failure() {
    let mut fake = standard_org();
    let (summary, sink) = collect(&mut fake, Some("not ours".into()));
    let summary = summary.unwrap();
    let w = warning(&summary, "audit log");
    assert!(w.incomplete && w.message.starts_with("audit-log gap"));
    assert_eq!(sink.ids("atlassian.event").len(), 3);
}

#[test]
fn a_failed_audit_read_keeps_the_previous_position() {
    let checkpoint = r#"{"v":1,"next":{"cursor":"Yy0z"},"lastProcessedMs":1748952002000,"recentIds":["evt-0003"]}"#;
    let mut fake = standard_org();
    fake.get(&v1("/events-stream"), json(503, ""));
    let summary = collect(&mut fake, Some(checkpoint.to_owned())).0.unwrap();
    assert_eq!(summary.checkpoint.as_deref(), Some(checkpoint));
    assert_eq!(
        status(&summary, "audit-log-available"),
        FindingStatus::Unknown
    );
}
