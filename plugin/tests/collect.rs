//! `collect` against a scripted org: what is emitted, what is found, and how
//! each failure mode of the API shows up in the summary.

mod support;

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use atlassian_cloud_admin::{
    Error, Evidence, FindingStatus, Integration, Level, Limits, Method, Request, Response,
    RetryPolicy, Sink, Transport, TransportError, is_not_applicable,
};
use serde_json::Value;
use support::*;

#[test]
fn every_record_is_emitted_once_verbatim_with_its_source() {
    let mut fake = standard_org();
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);

    let counts: Vec<(String, u64)> = summary
        .counts
        .iter()
        .map(|c| (c.kind.clone(), c.count))
        .collect();
    let expected = [
        ("atlassian.org", 1),
        ("atlassian.directory", 2),
        ("atlassian.user", 7),
        ("atlassian.group", 2),
        ("atlassian.role-assignment", 4),
        ("atlassian.domain", 2),
        ("atlassian.policy", 1),
        ("atlassian.event", 3),
        ("atlassian.workspace", 2),
        ("atlassian.api-token", 3),
        ("atlassian.user-count", 1),
        ("atlassian.auth-policy", 3),
        ("atlassian.api-key", 2),
    ];
    assert_eq!(counts, expected.map(|(k, n)| (k.to_owned(), n)));
    assert_eq!(
        sink.evidence().len() as u64,
        counts.iter().map(|(_, n)| n).sum::<u64>()
    );

    // Unique per kind: Jane is in both directories but emitted once, from the first.
    let mut seen = HashSet::new();
    for e in sink.evidence() {
        assert!(
            seen.insert((e.kind.clone(), e.id.clone())),
            "duplicate {} {}",
            e.kind,
            e.id
        );
    }
    let jane = sink
        .of_kind("atlassian.user")
        .into_iter()
        .find(|e| e.id == JANE)
        .unwrap();
    // Jane, an org admin, is first read by the org-wide admin search.
    assert_eq!(jane.source.method, "POST");
    assert_eq!(
        jane.source.url,
        format!("https://api.atlassian.com/admin/v2/orgs/{ORG}/directories/-/users/search")
    );

    // Data is the API's object as sent: unknown fields, nulls and number forms kept.
    let carol = sink
        .of_kind("atlassian.user")
        .into_iter()
        .find(|e| e.id == CAROL)
        .unwrap();
    assert!(
        carol
            .data
            .contains(r#""futureField":{"nested":[1,2.50,null],"flag":true}"#)
    );
    assert!(carol.data.contains(r#""jobTitle":null"#));
    assert!(
        !carol.data.contains("email\""),
        "Carol's email is hidden upstream"
    );
    let fixture_carol = fixture_items("users-d1-page2").remove(0);
    assert_eq!(
        serde_json::from_str::<Value>(&carol.data).unwrap(),
        fixture_carol
    );

    // Role assignments are keyed by principal and resource.
    let mut roles = sink.ids("atlassian.role-assignment");
    roles.sort();
    assert_eq!(
        roles,
        [
            format!("{JANE}:ari:cloud:jira::site/a1b2c3d4-site-id"),
            format!("{JANE}:ari:cloud:platform::org/{ORG}"),
            format!("{ERIN}:ari:cloud:platform::org/{ORG}"),
            "g-123:ari:cloud:jira::site/a1b2c3d4-site-id".to_owned(),
        ]
    );
    // The second domain page came from the v1 full-URL link.
    let dom2 = sink
        .of_kind("atlassian.domain")
        .into_iter()
        .find(|e| e.id == "dom-2")
        .unwrap();
    assert_eq!(
        dom2.source.url,
        format!("https://api.atlassian.com/admin/v1/orgs/{ORG}/domains?cursor=ZG9tLTI%3D")
    );
    // v2 opaque cursors: in the query for GET, in the body for POST.
    let tok3 = sink
        .of_kind("atlassian.api-token")
        .into_iter()
        .find(|e| e.id == "tok-3")
        .unwrap();
    assert_eq!(
        tok3.source.url,
        format!(
            "https://api.atlassian.com/admin/api-access/v1/orgs/{ORG}/api-tokens?cursor=dG9rLTI%3D"
        )
    );
    assert_eq!(fake.sent_to(&v2("/workspaces")).len(), 2);
}

#[test]
fn findings_of_the_standard_org() {
    let mut fake = standard_org();
    let summary = collect(&mut fake, None).0.unwrap();
    let row = |id: &str| {
        let f = finding(&summary, id);
        (f.status, f.population, f.failing.clone())
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        row("mfa-active-managed"),
        (FindingStatus::Fail, 3, s(&[CAROL]))
    );
    assert_eq!(row("mfa-org-admins"), (FindingStatus::Pass, 2, vec![]));
    assert_eq!(row("org-admin-count"), (FindingStatus::Pass, 2, vec![]));
    assert_eq!(
        row("inactive-with-access"),
        (FindingStatus::Fail, 3, s(&[CAROL]))
    );
    assert_eq!(row("account-states"), (FindingStatus::Pass, 7, vec![]));
    assert_eq!(
        finding(&summary, "account-states").detail,
        "7 accounts by status, each kept apart: active 4, deactivated 1, for_deletion 1, suspended 1."
    );
    assert_eq!(
        row("unverified-domains"),
        (FindingStatus::Fail, 2, s(&["dom-2"]))
    );
    assert_eq!(row("ip-allowlist"), (FindingStatus::Pass, 1, vec![]));
    assert_eq!(row("audit-log-available"), (FindingStatus::Pass, 3, vec![]));
    assert_eq!(
        row("api-tokens-stale"),
        (FindingStatus::Fail, 2, s(&["tok-2"]))
    );
    assert_eq!(
        row("api-tokens-no-expiry"),
        (FindingStatus::Fail, 2, s(&["tok-2"]))
    );
    for f in &summary.findings {
        assert!(
            !f.controls.is_empty() && !f.remedy.is_empty() && !f.detail.is_empty(),
            "{f:?}"
        );
    }
}

/// Matches a manifest route pattern: `*` one segment, a final `**` the rest.
fn route_matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    if pattern.last() == Some(&"**") {
        let fixed = &pattern[..pattern.len() - 1];
        return path.len() >= fixed.len()
            && fixed
                .iter()
                .zip(&path)
                .all(|(p, s)| *p == "*" && !s.is_empty() || p == s);
    }
    pattern.len() == path.len()
        && pattern
            .iter()
            .zip(&path)
            .all(|(p, s)| *p == "*" && !s.is_empty() || p == s)
}

#[test]
fn every_request_stays_within_the_manifest_and_carries_no_credential() {
    let mut fake = standard_org();
    collect(&mut fake, None).0.unwrap();
    integration(Limits::default()).validate(&mut fake).unwrap();
    let manifest = Integration::manifest();
    let rule = &manifest.egress[0];
    for request in fake.requests() {
        let path = request.url.strip_prefix(rule.origin.as_str()).unwrap();
        let path = path.split('?').next().unwrap();
        assert!(
            rule.routes
                .iter()
                .any(|r| r.method == request.method.as_str() && route_matches(&r.path, path)),
            "{} {} is outside the manifest",
            request.method.as_str(),
            request.url
        );
        assert!(request.headers.iter().all(|(n, _)| n != "authorization"));
        assert!(
            request
                .headers
                .contains(&("accept".into(), "application/json".into()))
        );
        if request.method == Method::Post {
            assert!(
                request
                    .headers
                    .contains(&("content-type".into(), "application/json".into()))
            );
            serde_json::from_slice::<Value>(request.body.as_deref().unwrap()).unwrap();
        }
        assert!(
            !request.url.contains("/events?") && !request.url.ends_with("/events"),
            "the rate-limited /events endpoint"
        );
    }
    // Each route is exercised by these two runs, so no declared route is unused.
    for route in &rule.routes {
        assert!(
            fake.requests().iter().any(|r| {
                let path = r
                    .url
                    .strip_prefix(rule.origin.as_str())
                    .unwrap()
                    .split('?')
                    .next()
                    .unwrap();
                r.method.as_str() == route.method && route_matches(&route.path, path)
            }),
            "route {route:?} is never used"
        );
    }
}

#[test]
fn independent_lists_fetched_in_parallel() {
    let mut fake = standard_org();
    collect(&mut fake, None).0.unwrap();
    let batches: Vec<&Vec<_>> = fake.batches.iter().map(|(_, b)| b).collect();
    assert_eq!(batches[0].len(), 1, "the org is read alone first");
    let second: HashSet<&str> = batches[1]
        .iter()
        .map(|r| r.url.split('?').next().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        second,
        HashSet::from([
            "api-keys",
            "search",
            "directories",
            "domains",
            "policies",
            "workspaces",
            "api-tokens",
            "api-keys",
            "events-stream"
        ])
    );
    assert!(batches.iter().all(|b| b.len() <= 8));
    // Users and groups of both directories go out together, too.
    let third = batches[2]
        .iter()
        .filter(|r| r.url.contains("/directories/"))
        .count();
    assert_eq!(third, 4, "{:#?}", batches[2]);

    let mut narrow = standard_org();
    let mut sink = Recorder::default();
    let limits = Limits {
        max_in_flight: 3,
        ..Limits::default()
    };
    integration(limits)
        .collect(&mut narrow, &mut sink, None)
        .unwrap();
    assert!(narrow.batches.iter().all(|(_, b)| b.len() <= 3));
    assert_eq!(
        sink.evidence().len(),
        33,
        "a narrower cap changes the rounds, not the result"
    );
}

#[test]
fn v1_next_link_on_other_origin_is_refused() {
    let mut fake = standard_org();
    let page = fixture("domains-page1").replace(
        &format!("https://api.atlassian.com/admin/v1/orgs/{ORG}/domains?cursor="),
        "https://api.atlassian.com.evil.example.com/admin/v1/orgs/x/domains?cursor=",
    );
    fake.on(
        Method::Get,
        &v1("/domains"),
        When::FirstPage,
        vec![json(200, &page)],
    );
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.url.starts_with("https://api.atlassian.com/"))
    );
    assert_eq!(fake.sent_to(&v1("/domains")).len(), 1);
    let w = warning(&summary, "domains");
    assert!(w.incomplete);
    assert!(
        matches!(&w.cause, Some(Error::Upstream { status: 0, detail }) if detail.contains("next link refused") && detail.contains("evil.example.com")),
        "{w:?}"
    );
    assert_eq!(
        sink.ids("atlassian.domain"),
        ["dom-1"],
        "the page read is kept"
    );
    assert_eq!(
        status(&summary, "unverified-domains"),
        FindingStatus::Unknown
    );
    assert_eq!(
        count(&summary, "atlassian.user"),
        7,
        "the rest of the collection went on"
    );
}

#[test]
fn repeated_cursor_is_an_error_not_a_hang() {
    let mut fake = standard_org();
    // The second page announces the cursor that led to it.
    let page2 = fixture("tokens-page2").replace(r#""next":null"#, r#""next":"dG9rLTI=""#);
    fake.on(
        Method::Get,
        &tokens_path(),
        When::Query("cursor=dG9rLTI%3D".into()),
        vec![json(200, &page2)],
    );
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert_eq!(fake.sent_to(&tokens_path()).len(), 2);
    let w = warning(&summary, "user API tokens");
    assert!(w.incomplete);
    assert!(
        matches!(&w.cause, Some(Error::Upstream { detail, .. }) if detail.contains("cursor repeated")),
        "{w:?}"
    );
    assert_eq!(sink.ids("atlassian.api-token"), ["tok-1", "tok-2", "tok-3"]);
    // Known failures stand; nothing turns into a pass.
    assert_eq!(status(&summary, "api-tokens-stale"), FindingStatus::Fail);
}

#[test]
fn retry_after_is_honoured() {
    let mut fake = standard_org();
    fake.on(
        Method::Get,
        &v1("/domains"),
        When::FirstPage,
        vec![
            with_header(json(429, "{}"), "retry-after", "7"),
            ok("domains-page1"),
        ],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    let sends = fake.sent_to(&v1("/domains"));
    assert_eq!(sends.len(), 3, "429, retry, second page");
    let gap = sends[1].0 - sends[0].0;
    assert!((7_000..7_100).contains(&gap), "retried after {gap} ms");
    // The other chains did not wait for it.
    let first_user_page2 = fake.sent_to(&v2(&format!("/directories/{D1}/users/search")))[1].0;
    assert!(first_user_page2 < sends[1].0);
}

#[test]
fn rate_limit_reset_header_used_without_retry_after() {
    let mut fake = standard_org();
    // The reset is 12 s after the second round is sent (t0 + 50 ms).
    let reset = "2025-07-01T00:00:12.050Z";
    fake.on(
        Method::Get,
        &control("/policies"),
        When::Always,
        vec![
            with_header(
                json(
                    429,
                    r#"{"errors":[{"status":"429","title":"Too Many Requests"}]}"#,
                ),
                "x-ratelimit-reset",
                reset,
            ),
            ok("policies"),
        ],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    let sends = fake.sent_to(&control("/policies"));
    assert_eq!(sends.len(), 2);
    assert_eq!(
        sends[1].0,
        NOW_MS + 50 + 12_000,
        "sent exactly at the reset time"
    );
    assert_eq!(status(&summary, "ip-allowlist"), FindingStatus::Pass);
}

#[test]
fn server_errors_retried_then_reported() {
    let mut fake = standard_org();
    // The API Access endpoint has been seen answering 500 for good.
    fake.get(
        &tokens_path(),
        json(
            500,
            r#"{"errors":[{"status":"500","title":"Internal Server Error","detail":"boom"}]}"#,
        ),
    );
    // A transient 502 elsewhere is absorbed.
    fake.on(
        Method::Get,
        &control("/policies"),
        When::Always,
        vec![json(502, "<html>Bad Gateway</html>"), ok("policies")],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert_eq!(fake.sent_to(&tokens_path()).len(), 6);
    assert_eq!(fake.sent_to(&control("/policies")).len(), 2);
    assert_eq!(summary.warnings.len(), 1, "{:#?}", summary.warnings);
    let w = warning(&summary, "user API tokens");
    assert!(w.incomplete);
    assert!(
        matches!(&w.cause, Some(Error::Upstream { status: 500, detail }) if detail.contains("after 6 attempts") && detail.contains("boom")),
        "{w:?}"
    );
    assert_eq!(status(&summary, "api-tokens-stale"), FindingStatus::Unknown);
    assert_eq!(
        status(&summary, "api-tokens-no-expiry"),
        FindingStatus::Unknown
    );
    assert_eq!(count(&summary, "atlassian.api-token"), 0);
}

#[test]
fn denied_requests_are_not_retried() {
    let mut fake = standard_org();
    fake.on(
        Method::Post,
        &v2("/workspaces"),
        When::Always,
        vec![Err(TransportError::Denied("POST not declared".into()))],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert_eq!(fake.sent_to(&v2("/workspaces")).len(), 1);
    let w = warning(&summary, "workspaces");
    assert!(
        matches!(&w.cause, Some(Error::Network(m)) if m.contains("egress policy")),
        "{w:?}"
    );
}

#[test]
fn network_errors_are_retried() {
    let mut fake = standard_org();
    fake.on(
        Method::Get,
        &control("/policies"),
        When::Always,
        vec![
            Err(TransportError::Network("connection reset".into())),
            Err(TransportError::Timeout("no answer in 30 s".into())),
            ok("policies"),
        ],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    assert_eq!(fake.sent_to(&control("/policies")).len(), 3);
}

#[test]
fn forbidden_users_is_incomplete_warning_not_empty_list() {
    let mut fake = standard_org();
    let spring = fixture("error-403-spring");
    fake.post(
        &v2(&format!("/directories/{D1}/users/search")),
        json(403, &spring),
    );
    fake.get(&v2(&format!("/directories/{D1}/users")), json(403, &spring));
    let summary = collect(&mut fake, None).0.unwrap();
    let resource = format!("users of directory {D1}");
    let warnings: Vec<_> = summary
        .warnings
        .iter()
        .filter(|w| w.resource == resource)
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "the fallback, then the failure: {warnings:#?}"
    );
    assert!(!warnings[0].incomplete);
    assert!(warnings[1].incomplete);
    assert!(matches!(
        &warnings[1].cause,
        Some(Error::Forbidden { missing: Some(scope), .. }) if scope == "read:directories:admin"
    ));
    // Only the second directory's users were read; nothing reads as "all fine".
    assert_eq!(count(&summary, "atlassian.user"), 3);
    for id in [
        "mfa-active-managed",
        "mfa-org-admins",
        "org-admin-count",
        "inactive-with-access",
        "account-states",
    ] {
        assert_eq!(status(&summary, id), FindingStatus::Unknown, "{id}");
    }
}

#[test]
fn refused_user_search_falls_back_to_the_list_and_product_access_is_unknown() {
    let mut fake = standard_org();
    for d in [D1, D2] {
        fake.post(
            &v2(&format!("/directories/{d}/users/search")),
            json(403, &fixture("error-403-spring")),
        );
    }
    fake.get(&v2(&format!("/directories/{D2}/users")), ok("users-d2"));
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, &format!("users of directory {D1}"));
    assert!(!w.incomplete, "records are complete, fields are not");
    assert!(matches!(
        &w.cause,
        Some(Error::Forbidden { missing: None, .. })
    ));
    assert!(w.message.contains("product access"));
    assert_eq!(count(&summary, "atlassian.user"), 4);
    assert_eq!(
        status(&summary, "inactive-with-access"),
        FindingStatus::Unknown
    );
    // 2SV and roles are in the list's shape too.
    assert_eq!(status(&summary, "mfa-active-managed"), FindingStatus::Fail);
    assert_eq!(finding(&summary, "mfa-org-admins").population, 1);
}

#[test]
fn org_admins_come_from_role_not_group() {
    let mut fake = standard_org();
    let summary = collect(&mut fake, None).0.unwrap();
    // Carol is in the group named "org-admins" but holds no org-admin role;
    // Erin's platform roles say site-admin, her role assignments org-admin.
    let admins = finding(&summary, "mfa-org-admins");
    assert_eq!(admins.population, 2);
    assert_eq!(
        admins.status,
        FindingStatus::Pass,
        "Carol has no 2SV and must not count"
    );
    assert_eq!(
        fake.sent_to(&v2(&format!(
            "/directories/{D1}/users/{ERIN}/role-assignments"
        )))
        .len(),
        1
    );
    assert!(
        fake.sent_to(&v2(&format!(
            "/directories/{D1}/users/{CAROL}/role-assignments"
        )))
        .is_empty()
    );

    // Without Erin's org-admin assignment only Jane remains: too few.
    let mut fake = standard_org();
    fake.get(
        &v2(&format!("/directories/{D1}/users/{ERIN}/role-assignments")),
        ok("empty-v2"),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let count = finding(&summary, "org-admin-count");
    assert_eq!(
        (count.status, count.population, count.failing.clone()),
        (FindingStatus::Fail, 1, vec![ORG.to_owned()])
    );
}

#[test]
fn finding_unknown_when_users_incomplete() {
    let mut fake = standard_org();
    // The second page of the first directory (Carol, Dave, Erin) never comes.
    fake.on(
        Method::Post,
        &v2(&format!("/directories/{D1}/users/search")),
        When::BodyCursor("Y3Vyc29yLTI=".into()),
        vec![json(503, "")],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, &format!("users of directory {D1}"));
    assert!(
        w.incomplete && w.message.contains("2 records read"),
        "{w:?}"
    );
    assert_eq!(
        status(&summary, "mfa-active-managed"),
        FindingStatus::Unknown
    );
    assert_eq!(status(&summary, "mfa-org-admins"), FindingStatus::Unknown);
    assert_eq!(status(&summary, "account-states"), FindingStatus::Unknown);
    assert!(
        finding(&summary, "mfa-active-managed")
            .detail
            .contains("lower bounds")
    );
    // Findings over other evidence are unaffected.
    assert_eq!(status(&summary, "unverified-domains"), FindingStatus::Fail);
}

#[test]
fn malformed_pages_are_incomplete_warnings() {
    let mut fake = standard_org();
    fake.get(&control("/policies"), json(200, "<html>maintenance</html>"));
    fake.post(
        &v2(&format!("/directories/{D2}/groups/search")),
        json(200, r#"{"data":{"not":"a list"}}"#),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "policies");
    assert!(matches!(&w.cause, Some(Error::Upstream { status: 0, .. })) && w.incomplete);
    assert_eq!(status(&summary, "ip-allowlist"), FindingStatus::Unknown);
    assert!(warning(&summary, &format!("groups of directory {D2}")).incomplete);
}

#[test]
fn records_without_ids_are_reported() {
    let mut fake = standard_org();
    let page = fixture("domains-page2").replace(r#""id":"dom-2","#, "");
    fake.on(
        Method::Get,
        &v1("/domains"),
        When::Query("cursor=ZG9tLTI%3D".into()),
        vec![json(200, &page)],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "domains");
    assert!(w.incomplete && w.message.starts_with("1 records"), "{w:?}");
    assert_eq!(
        status(&summary, "unverified-domains"),
        FindingStatus::Unknown
    );
}

#[test]
fn spring_style_403_names_missing_scope() {
    let mut fake = standard_org();
    fake.get(
        &v1("/events-stream"),
        json(403, &fixture("error-403-spring")),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "audit log");
    assert!(w.incomplete);
    match &w.cause {
        Some(Error::Forbidden {
            resource,
            missing,
            detail,
        }) => {
            assert_eq!(resource, "audit log");
            assert_eq!(missing.as_deref(), Some("read:events:admin"));
            assert!(
                detail.contains("User has no permission to access resource."),
                "{detail}"
            );
            assert!(detail.contains("request id b4fce632-202784"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert!(w.message.contains("Add the scope read:events:admin"));
    assert_eq!(
        status(&summary, "audit-log-available"),
        FindingStatus::Unknown
    );
}

#[test]
fn unauthorized_org_ends_the_run_before_anything_else() {
    let mut fake = standard_org();
    fake.get(&v1(""), json(401, &fixture("error-401")));
    let (result, sink) = collect(&mut fake, None);
    match result {
        Err(Error::Unauthorized(m)) => {
            assert!(m.contains("create a new key in admin.atlassian.com"), "{m}");
            assert!(m.contains("The API key is not valid."), "{m}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 1);
    assert!(sink.evidence().is_empty());
}

#[test]
fn unknown_org_ends_the_run() {
    let mut fake = standard_org();
    fake.get(&v1(""), json(404, &fixture("error-404-org")));
    let (result, _) = collect(&mut fake, None);
    assert!(
        matches!(result, Err(Error::NotFound(m)) if m.contains("not reachable with this API key"))
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn a_refused_emit_ends_the_run() {
    let mut fake = standard_org();
    let refusal = Error::Internal("evidence kind not declared".into());
    let mut sink = Recorder {
        refuse_with: Some(refusal.clone()),
        ..Recorder::default()
    };
    let result = integration(Limits::default()).collect(&mut fake, &mut sink, None);
    assert_eq!(result, Err(refusal));
    assert_eq!(fake.requests().len(), 1, "stopped at the first page");
}

#[test]
fn malformed_org_id_rejected_before_any_request() {
    let mut integration = Integration::new();
    let refused = integration.configure(vec![atlassian_cloud_admin::ConfigEntry {
        name: "org-id".into(),
        value: "../../admin/v1/orgs/other?x=".into(),
    }]);
    assert!(matches!(&refused, Err(Error::InvalidConfig(p)) if p[0].field == "org-id"));
    let mut fake = standard_org();
    let mut sink = Recorder::default();
    assert!(matches!(
        integration.collect(&mut fake, &mut sink, None),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        integration.validate(&mut fake),
        Err(Error::InvalidConfig(_))
    ));
    assert!(fake.requests().is_empty());
}

#[test]
fn a_first_run_reads_the_whole_retained_audit_log() {
    let mut fake = standard_org();
    collect(&mut fake, None).0.unwrap();
    let sends = fake.sent_to(&v1("/events-stream"));
    assert_eq!(sends.len(), 3);
    assert!(
        sends[0].1.url.ends_with("/events-stream?limit=200"),
        "{}",
        sends[0].1.url
    );
    assert!(
        sends[1].1.url.ends_with("?cursor=Yy0y&limit=200"),
        "{}",
        sends[1].1.url
    );
}

#[test]
fn an_empty_audit_log_is_not_applicable_not_a_failure() {
    let mut fake = standard_org();
    fake.get(&v1("/events-stream"), ok("events-empty"));
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "audit log");
    assert!(w.message.contains("Atlassian Guard") && !w.incomplete && w.cause.is_none());
    let f = finding(&summary, "audit-log-available");
    assert!(is_not_applicable(f), "{f:?}");
    assert!(f.detail.contains("Atlassian Guard"), "{}", f.detail);
}

#[test]
fn an_audit_log_refused_for_the_plan_is_not_applicable_and_not_partial() {
    let mut fake = standard_org();
    fake.get(
        &v1("/events-stream"),
        json(
            403,
            r#"{"errors":[{"status":"403","title":"Forbidden","detail":"The organization audit log requires Atlassian Guard."}]}"#,
        ),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let f = finding(&summary, "audit-log-available");
    assert!(is_not_applicable(f), "{f:?}");
    let w = warning(&summary, "audit log");
    assert!(
        !w.incomplete,
        "a plan without Guard is no gap in the collection"
    );
    assert!(
        w.message.contains("Nothing to change in the API key"),
        "{}",
        w.message
    );
}

#[test]
fn users_and_groups_pause_while_role_assignments_pile_up() {
    let mut fake = standard_org();
    let groups = |from: usize, next: &str| {
        let items: Vec<String> = (from..from + 10)
            .map(|i| format!(r#"{{"id":"g{i}","name":"group {i}"}}"#))
            .collect();
        format!(
            r#"{{"data":[{}],"links":{{"next":{next}}}}}"#,
            items.join(",")
        )
    };
    let search = v2(&format!("/directories/{D1}/groups/search"));
    fake.on(
        Method::Post,
        &search,
        When::FirstPage,
        vec![json(200, &groups(0, r#""Z3AtMg==""#))],
    );
    fake.on(
        Method::Post,
        &search,
        When::BodyCursor("Z3AtMg==".into()),
        vec![json(200, &groups(10, "null"))],
    );
    for i in 0..20 {
        fake.get(
            &v2(&format!("/directories/{D1}/groups/g{i}/role-assignments")),
            ok("empty-v2"),
        );
    }
    let mut sink = Recorder::default();
    let limits = Limits {
        max_role_chains: 5,
        ..Limits::default()
    };
    let summary = integration(limits)
        .collect(&mut fake, &mut sink, None)
        .unwrap();
    assert_eq!(count(&summary, "atlassian.group"), 20);
    let order: Vec<String> = fake.requests().iter().map(|r| r.url.clone()).collect();
    let page2 = fake.requests().iter().position(|r| {
        r.url.ends_with("/groups/search")
            && r.body
                .as_deref()
                .is_some_and(|b| String::from_utf8_lossy(b).contains("Z3AtMg=="))
    });
    let page2 = page2.expect("second groups page");
    let roles_before = order[..page2]
        .iter()
        .filter(|u| u.contains("/groups/g") && u.contains("/role-assignments"))
        .count();
    assert!(
        roles_before >= 6,
        "the second page went out with only {roles_before} role chains done"
    );
}

#[test]
fn retries_stop_at_the_total_wait_budget() {
    let mut fake = standard_org();
    fake.get(
        &control("/policies"),
        with_header(json(429, ""), "retry-after", "30"),
    );
    let limits = Limits {
        retry: RetryPolicy {
            max_total_wait: Duration::from_secs(45),
            ..RetryPolicy::default()
        },
        ..Limits::default()
    };
    let mut sink = Recorder::default();
    let summary = integration(limits)
        .collect(&mut fake, &mut sink, None)
        .unwrap();
    assert_eq!(
        fake.sent_to(&control("/policies")).len(),
        2,
        "30 s waited once; another 30 s would pass 45 s"
    );
    let w = warning(&summary, "policies");
    assert!(
        matches!(
            &w.cause,
            Some(Error::RateLimited {
                retry_after_ms: Some(30_000),
                ..
            })
        ),
        "{w:?}"
    );
}

/// A transport that starts a round's requests before the work left from the
/// previous round, as the component's does, noting both in a journal that
/// [`JournalSink`] shares.
struct Overlapping<'a> {
    fake: &'a mut Fake,
    journal: Rc<RefCell<Vec<String>>>,
}

impl Transport for Overlapping<'_> {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        for request in &requests {
            self.journal
                .borrow_mut()
                .push(format!("sent {}", request.url));
        }
        meanwhile();
        self.fake.send_all(requests, &mut || {})
    }

    fn sleep(&mut self, duration: std::time::Duration) {
        self.fake.sleep(duration);
    }

    fn now_ms(&self) -> i64 {
        self.fake.now_ms()
    }
}

struct JournalSink {
    inner: Recorder,
    journal: Rc<RefCell<Vec<String>>>,
}

impl Sink for JournalSink {
    fn emit(&mut self, batch: Vec<Evidence<'_>>) -> Result<(), Error> {
        self.inner.emit(batch)
    }

    fn log(&mut self, level: Level, message: &str) {
        self.journal.borrow_mut().push(format!("log {message}"));
        self.inner.log(level, message);
    }
}

#[test]
fn an_audit_page_is_processed_while_the_next_one_is_on_its_way() {
    let mut fake = standard_org();
    // The first audit-log page holds a record without an id: processing
    // the page says so in the log, which shows when it was processed.
    let first =
        fixture("events-page1").replacen(r#"{"data":["#, r#"{"data":[{"type":"events"},"#, 1);
    fake.on(
        Method::Get,
        &v1("/events-stream"),
        When::FirstPage,
        vec![json(200, &first)],
    );
    let journal = Rc::new(RefCell::new(Vec::new()));
    let mut transport = Overlapping {
        fake: &mut fake,
        journal: journal.clone(),
    };
    let mut sink = JournalSink {
        inner: Recorder::default(),
        journal: journal.clone(),
    };
    let summary = integration(Limits::default())
        .collect(&mut transport, &mut sink, None)
        .unwrap();
    let warning = warning(&summary, "audit log");
    assert!(
        warning.incomplete && warning.message.contains("1 records of"),
        "{warning:?}"
    );

    let journal = journal.borrow();
    let position = |what: &dyn Fn(&String) -> bool| journal.iter().position(what).unwrap();
    let second_page_sent =
        position(&|line| line.starts_with("sent") && line.contains("events-stream?cursor=Yy0y"));
    let first_page_processed = position(&|line| line.contains("had no id"));
    assert!(
        second_page_sent < first_page_processed,
        "the second page went out only after the first was processed: {journal:#?}"
    );
    // Its events are still all emitted, once each.
    assert_eq!(
        sink.inner.of_kind("atlassian.event").len(),
        count(&summary, "atlassian.event") as usize
    );
}

#[test]
fn a_wrong_guess_at_the_next_page_is_dropped_and_the_right_page_read() {
    let mut fake = standard_org();
    // The envelope's links come first, so the last `"links"` in the page is
    // a record's: the guess taken from the page's end is wrong.
    let stream = format!("https://api.atlassian.com{}", v1("/events-stream"));
    let first = format!(
        r#"{{"links":{{"next":"{stream}?cursor=Yy0y"}},"data":[{{"id":"evt-0000","type":"events","attributes":{{"time":"2025-06-01T11:00:00.000Z"}},"links":{{"next":"{stream}?cursor=d3Jvbmc"}}}}]}}"#
    );
    fake.on(
        Method::Get,
        &v1("/events-stream"),
        When::FirstPage,
        vec![json(200, &first)],
    );
    fake.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=d3Jvbmc".into()),
        vec![json(500, "")],
    );
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    // The page asked on the guess failed, but it was dropped unread: the
    // audit log is complete.
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    let cursors: Vec<&str> = fake
        .sent_to(&v1("/events-stream"))
        .iter()
        .filter_map(|(_, r)| r.url.split_once("cursor=")?.1.split('&').next())
        .collect();
    assert!(
        cursors.contains(&"d3Jvbmc"),
        "the guess was asked for: {cursors:?}"
    );
    assert!(
        cursors.contains(&"Yy0y"),
        "the right page was read: {cursors:?}"
    );
    let mut events: Vec<&str> = sink
        .of_kind("atlassian.event")
        .iter()
        .map(|e| &*e.id)
        .collect();
    events.sort();
    let expected = fixture_items("events-page2")
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .chain(["evt-0000".to_owned()])
        .collect::<HashSet<_>>();
    assert_eq!(events.len(), expected.len(), "{events:?}");
    assert!(events.iter().all(|e| expected.contains(*e)), "{events:?}");
}

/// The capability map: policies are read through the Admin Control API,
/// which documents a scope, and through the v1 API when it refuses.
#[test]
fn policies_refused_by_the_control_api_are_read_through_v1_at_no_cost() {
    let mut fake = standard_org();
    fake.get(
        &control("/policies"),
        json(403, &fixture("error-403-spring")),
    );
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    assert_eq!(sink.ids("atlassian.policy"), ["pol-1"]);
    assert_eq!(fake.sent_to(&v1("/policies")).len(), 1);
    assert_ne!(status(&summary, "ip-allowlist"), FindingStatus::Unknown);
}

#[test]
fn policies_the_control_api_fails_to_serve_are_read_through_v1() {
    let mut fake = standard_org();
    fake.get(
        &control("/policies"),
        json(503, r#"{"errors":[{"status":"503"}]}"#),
    );
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    assert_eq!(sink.ids("atlassian.policy"), ["pol-1"]);
}

#[test]
fn policies_neither_endpoint_reads_are_incomplete_naming_both_causes() {
    let mut fake = standard_org();
    fake.get(
        &control("/policies"),
        json(403, &fixture("error-403-spring")),
    );
    fake.get(&v1("/policies"), json(403, &fixture("error-403-spring")));
    let (summary, _) = collect(&mut fake, None);
    let summary = summary.unwrap();
    let w = warning(&summary, "policies");
    assert!(w.incomplete);
    assert!(w.message.contains("read:policies:admin"), "{}", w.message);
    assert!(w.message.contains("without scopes"), "{}", w.message);
    assert_eq!(status(&summary, "ip-allowlist"), FindingStatus::Unknown);
}

#[test]
fn api_keys_expiring_within_30_days_are_named() {
    let mut fake = standard_org();
    let soon = fixture("api-keys").replace("2026-01-15T00:00:00Z", "2025-07-20T00:00:00Z");
    fake.get(&api_access("/api-keys"), json(200, &soon));
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert_eq!(sink.ids("atlassian.api-key"), ["key-1", "key-2"]);
    let w = warning(&summary, "organization API keys");
    assert!(!w.incomplete);
    assert!(
        w.message.starts_with(
            "1 organization API keys expire within 30 days: scim-bridge (expires 2025-07-20"
        ),
        "{}",
        w.message
    );
}

#[test]
fn an_api_key_list_that_does_not_exist_costs_the_expiry_notice_only() {
    let mut fake = standard_org();
    fake.get(
        &api_access("/api-keys"),
        json(404, &fixture("error-404-org")),
    );
    let (summary, _) = collect(&mut fake, None);
    let summary = summary.unwrap();
    let w = warning(&summary, "organization API keys");
    assert!(!w.incomplete, "{w:?}");
    assert!(
        summary.warnings.iter().all(|w| !w.incomplete),
        "{:#?}",
        summary.warnings
    );
}
