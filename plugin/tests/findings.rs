//! Findings on an organization shaped like a real one (issue 14): accounts
//! under single sign-on, an org admin in no directory, an account in two
//! directories, never-used product access, token dates in the forms the
//! API writes. Fixtures follow the documented examples (notes §0, §6).

mod support;

use atlassian_cloud_admin::{FindingStatus, Method, Summary, is_not_applicable};
use support::*;

const SAM: &str = "6a00-sso-sam";
const NORA: &str = "6a01-nora";
const NICK: &str = "6a02-nick";
const RITA: &str = "6b00-rita";

/// The standard org, with a second directory of SSO, never-used and
/// cross-directory accounts, and an org admin the org-wide search finds in
/// no directory.
fn org_with_sso() -> Summary {
    let mut fake = standard_org();
    fake.post(
        &v2(&format!("/directories/{D2}/users/search")),
        ok("users-d2-sso"),
    );
    fake.on(
        Method::Post,
        &v2("/directories/-/users/search"),
        When::BodyHas("roleIds"),
        vec![ok("users-org-admins-rita")],
    );
    fake.get(
        &v2(&format!("/directories/-/users/{RITA}/role-assignments")),
        ok("roles-rita"),
    );
    fake.post(&auth_policies_path(), ok("auth-policies-sso"));
    let (summary, _) = collect(&mut fake, None);
    summary.unwrap()
}

fn row(summary: &Summary, id: &str) -> (FindingStatus, u64, Vec<String>) {
    let f = finding(summary, id);
    (f.status, f.population, f.failing.clone())
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn sso_covered_accounts_neither_fail_nor_pass_two_step_verification() {
    let summary = org_with_sso();
    // Nine active managed accounts; Sam is under SSO and set apart.
    assert_eq!(
        row(&summary, "mfa-active-managed"),
        (FindingStatus::Fail, 8, ids(&[CAROL, NORA, RITA]))
    );
    let detail = &finding(&summary, "mfa-active-managed").detail;
    assert!(detail.contains("1 active managed account(s) are under an authentication policy that enforces single sign-on"), "{detail}");
    assert!(
        detail.contains("delegated to the identity provider"),
        "{detail}"
    );
}

#[test]
fn unmanaged_accounts_are_said_to_be_outside_the_two_step_check() {
    let summary = collect(&mut standard_org(), None).0.unwrap();
    let detail = &finding(&summary, "mfa-active-managed").detail;
    assert!(
        detail.contains("1 active unmanaged account(s) are outside this check"),
        "{detail}"
    );
}

#[test]
fn accounts_under_neither_sso_nor_enforced_two_step_verification_fail() {
    let summary = org_with_sso();
    assert_eq!(
        row(&summary, "sso-or-2sv-enforced"),
        (FindingStatus::Fail, 9, ids(&[CAROL, NORA, RITA]))
    );
}

#[test]
fn without_authentication_policies_sso_is_unknown_not_a_failure() {
    let mut fake = standard_org();
    fake.post(
        &v2(&format!("/directories/{D2}/users/search")),
        ok("users-d2-sso"),
    );
    fake.post(
        &auth_policies_path(),
        json(403, &fixture("error-403-spring")),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let f = finding(&summary, "mfa-active-managed");
    assert_eq!(
        (f.status, f.failing.len()),
        (FindingStatus::Unknown, 0),
        "{f:?}"
    );
    assert_eq!(
        status(&summary, "sso-or-2sv-enforced"),
        FindingStatus::Unknown
    );
}

#[test]
fn org_admins_are_found_org_wide_and_merged_across_directories() {
    let summary = org_with_sso();
    // Jane (two directories, once), Erin, and Rita who is in no directory.
    assert_eq!(
        row(&summary, "mfa-org-admins"),
        (FindingStatus::Fail, 3, ids(&[RITA]))
    );
    assert_eq!(
        row(&summary, "org-admin-count"),
        (FindingStatus::Pass, 3, vec![])
    );
}

#[test]
fn never_used_access_counts_from_the_join_date_and_any_directory_s_use_counts() {
    let summary = org_with_sso();
    // Nick has access but no productAccess entry and joined long ago; Carol
    // is stale in one directory and recent in the other; Nell joined
    // recently; Ned has no access.
    assert_eq!(
        row(&summary, "inactive-with-access"),
        (FindingStatus::Fail, 7, ids(&[NICK]))
    );
    assert!(
        !finding(&summary, "inactive-with-access")
            .failing
            .contains(&SAM.to_owned())
    );
}

#[test]
fn token_dates_are_read_in_every_iso_form_and_unreadable_ones_are_unknown() {
    let mut fake = standard_org();
    fake.get(&tokens_path(), ok("tokens-forms"));
    let summary = collect(&mut fake, None).0.unwrap();
    assert_eq!(
        row(&summary, "api-tokens-stale"),
        (FindingStatus::Fail, 3, ids(&["tok-minute"]))
    );
    let stale = finding(&summary, "api-tokens-stale");
    assert!(
        stale.detail.contains("2 token(s) could not be judged"),
        "{}",
        stale.detail
    );
    assert!(
        stale.detail.contains("managed accounts"),
        "{}",
        stale.detail
    );
    assert_eq!(
        row(&summary, "api-tokens-no-expiry"),
        (FindingStatus::Unknown, 3, vec![])
    );
}

#[test]
fn findings_over_nothing_are_not_applicable() {
    let mut fake = standard_org();
    fake.get(&tokens_path(), json(200, &fixture("empty-v2")));
    let summary = collect(&mut fake, None).0.unwrap();
    for id in ["api-tokens-stale", "api-tokens-no-expiry"] {
        assert!(is_not_applicable(finding(&summary, id)), "{id}");
    }
    assert!(!is_not_applicable(finding(&summary, "unverified-domains")));
}

#[test]
fn a_tripped_limiter_is_waited_out_until_its_minute_precision_reset() {
    let mut fake = standard_org();
    // Eight refusals in a row, more than the quick retries allow, each
    // announcing the next minute as the reset (the gateway's form, no
    // Retry-After); then the page.
    let mut answers: Vec<_> = (1..=8)
        .map(|minute| {
            with_header(
                json(
                    429,
                    r#"{"errors":[{"status":"429","title":"Too Many Requests"}]}"#,
                ),
                "x-ratelimit-reset",
                &format!("2025-07-01T00:{minute:02}Z"),
            )
        })
        .collect();
    answers.push(ok("domains-page1"));
    fake.on(Method::Get, &v1("/domains"), When::FirstPage, answers);
    let (summary, sink) = collect(&mut fake, None);
    let summary = summary.unwrap();
    assert!(
        summary.warnings.iter().all(|w| !w.incomplete),
        "{:#?}",
        summary.warnings
    );
    assert_eq!(count(&summary, "atlassian.domain"), 2);
    let waits = sink
        .logs
        .iter()
        .filter(|(_, line)| line.contains("waiting") && line.contains("reset at"))
        .count();
    assert_eq!(waits, 8);
    // The clock reached the last announced reset, and no earlier request was
    // sent to the limiter than its reset.
    let sends = fake.sent_to(&v1("/domains"));
    for (k, (at, _)) in sends.iter().enumerate().skip(1).take(8) {
        assert!(*at >= NOW_MS + k as i64 * 60_000, "send {k} at {at}");
    }
}

#[test]
fn a_refused_audit_page_size_is_retried_smaller() {
    let mut fake = standard_org();
    let refused = json(
        400,
        r#"{"errors":[{"status":"400","code":"invalid_request","title":"Bad Request","detail":"limit must be at most 100"}]}"#,
    );
    fake.on(
        Method::Get,
        &v1("/events-stream"),
        When::FirstPage,
        vec![refused, ok("events-page1")],
    );
    let summary = collect(&mut fake, None).0.unwrap();
    assert!(
        summary.warnings.iter().all(|w| !w.incomplete),
        "{:#?}",
        summary.warnings
    );
    assert_eq!(count(&summary, "atlassian.event"), 3);
    let firsts: Vec<String> = fake
        .sent_to(&v1("/events-stream"))
        .iter()
        .map(|(_, r)| r.url.split_once('?').unwrap().1.to_owned())
        .filter(|q| !q.contains("cursor="))
        .collect();
    assert_eq!(firsts, ["limit=200", "limit=100"]);
}

#[test]
fn fewer_accounts_listed_than_counted_is_a_warning_naming_both_numbers() {
    let mut fake = standard_org();
    fake.get(
        &v2("/directories/-/users/count"),
        json(200, r#"{"data":{"count":9}}"#),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "users");
    assert!(
        w.message.contains("found 7 accounts") && w.message.contains("counts 9"),
        "{}",
        w.message
    );
    assert!(w.incomplete);
    assert_eq!(status(&summary, "account-states"), FindingStatus::Unknown);

    // The standard org's count matches its listings: no warning.
    let summary = collect(&mut standard_org(), None).0.unwrap();
    assert!(summary.warnings.iter().all(|w| w.resource != "users"));
}

#[test]
fn an_unreadable_count_is_no_gap_in_the_collection() {
    let mut fake = standard_org();
    fake.get(
        &v2("/directories/-/users/count"),
        json(200, r#"{"count":7}"#),
    );
    let summary = collect(&mut fake, None).0.unwrap();
    let w = warning(&summary, "user count");
    assert!(!w.incomplete, "{w:?}");
}
