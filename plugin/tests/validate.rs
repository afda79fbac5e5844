//! `validate`: one check per capability, each with what to do.

mod support;

use atlassian_cloud_admin::{Check, CheckStatus, Error, Limits};
use support::*;

fn run(fake: &mut Fake) -> Result<Vec<Check>, Error> {
    integration(Limits::default()).validate(fake)
}

fn check<'a>(checks: &'a [Check], id: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
}

#[test]
fn every_capability_passes_on_a_full_key() {
    let mut fake = standard_org();
    let checks = run(&mut fake).unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "org",
            "users",
            "groups",
            "role-assignments",
            "auth-policies",
            "domains",
            "policies",
            "audit-log",
            "api-tokens",
            "workspaces",
            "api-keys"
        ]
    );
    for c in &checks {
        assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
        assert!(c.remedy.is_empty());
    }
    // The org alone, then the twelve independent probes (capped at 8 a
    // round), then the role assignments of the first user and group found,
    // with the first user's authentication policy.
    let sizes: Vec<usize> = fake.batches.iter().map(|(_, b)| b.len()).collect();
    assert_eq!(sizes, [1, 8, 4, 3]);
    assert!(
        fake.batches[3]
            .1
            .iter()
            .all(
                |r| (r.url.contains("/directories/-/") && r.url.contains("/role-assignments"))
                    || r.url.ends_with("/auth-policies/bulk-fetch")
            )
    );
}

#[test]
fn a_rejected_key_is_one_typed_error() {
    let mut fake = standard_org();
    fake.get(&v1(""), json(401, &fixture("error-401")));
    let result = run(&mut fake);
    assert!(
        matches!(result, Err(Error::Unauthorized(m)) if m.contains("invalid, expired or revoked"))
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn an_unknown_org_is_one_typed_error() {
    let mut fake = standard_org();
    fake.get(&v1(""), json(404, &fixture("error-404-org")));
    assert!(
        matches!(run(&mut fake), Err(Error::NotFound(m)) if m.contains("organization ID is not reachable with this API key"))
    );
}

#[test]
fn a_scoped_key_learns_which_scopes_to_add() {
    let mut fake = standard_org();
    let spring = fixture("error-403-spring");
    fake.get(&v1(""), json(403, &spring));
    fake.get(&v1("/events-stream"), json(403, &spring));
    fake.post(&v2("/directories/-/users/search"), json(403, &spring));
    fake.post(
        &v2("/directories/-/groups/search"),
        json(404, r#"{"errors":[{"status":"404","title":"Not Found"}]}"#),
    );
    fake.get(&tokens_path(), json(403, &spring));
    let checks = run(&mut fake).unwrap();
    let org = check(&checks, "org");
    assert_eq!(org.status, CheckStatus::Fail);
    assert!(org.remedy.contains("read:orgs:admin"), "{}", org.remedy);
    let audit = check(&checks, "audit-log");
    assert_eq!(audit.status, CheckStatus::Fail);
    assert!(
        audit.remedy.starts_with("Add the scope read:events:admin"),
        "{}",
        audit.remedy
    );
    assert!(
        check(&checks, "api-tokens")
            .remedy
            .contains("read:tokens:admin")
    );
    let users = check(&checks, "users");
    assert_eq!(users.status, CheckStatus::Warn);
    assert!(
        users.detail.contains("product access") && users.remedy.contains("without scopes"),
        "{users:?}"
    );
    let groups = check(&checks, "groups");
    assert_eq!(groups.status, CheckStatus::Warn);
    assert!(groups.detail.contains("June 30, 2027"));
    assert_eq!(check(&checks, "role-assignments").status, CheckStatus::Pass);
    assert_eq!(check(&checks, "domains").status, CheckStatus::Pass);
}

#[test]
fn an_empty_audit_log_warns_that_it_needs_guard() {
    let mut fake = standard_org();
    fake.get(&v1("/events-stream"), ok("events-empty"));
    let checks = run(&mut fake).unwrap();
    let audit = check(&checks, "audit-log");
    assert_eq!(audit.status, CheckStatus::Warn);
    assert!(audit.detail.contains("Atlassian Guard") && audit.remedy.contains("Atlassian Guard"));
}

#[test]
fn unreadable_users_fail_with_the_list_scope() {
    let mut fake = standard_org();
    let spring = fixture("error-403-spring");
    fake.post(&v2("/directories/-/users/search"), json(403, &spring));
    fake.get(&v2("/directories/-/users"), json(403, &spring));
    fake.post(&v2("/directories/-/groups/search"), ok("empty-v2"));
    fake.get(&v2("/directories/-/groups"), ok("empty-v2"));
    let checks = run(&mut fake).unwrap();
    let users = check(&checks, "users");
    assert_eq!(users.status, CheckStatus::Fail);
    assert!(users.remedy.contains("read:directories:admin"));
    let roles = check(&checks, "role-assignments");
    assert_eq!(
        roles.status,
        CheckStatus::Warn,
        "no user or group to try: {roles:?}"
    );
}

#[test]
fn a_plan_without_guard_and_unreadable_auth_policies_are_warnings_that_say_so() {
    let mut fake = standard_org();
    fake.get(
        &v1("/events-stream"),
        json(
            403,
            r#"{"errors":[{"status":"403","title":"Forbidden","detail":"The organization audit log requires Atlassian Guard."}]}"#,
        ),
    );
    fake.post(
        &auth_policies_path(),
        json(403, &fixture("error-403-spring")),
    );
    let checks = run(&mut fake).unwrap();
    let audit = check(&checks, "audit-log");
    assert_eq!(audit.status, CheckStatus::Warn);
    assert!(
        audit.remedy.contains("Nothing to change in the API key"),
        "{}",
        audit.remedy
    );
    let policies = check(&checks, "auth-policies");
    assert_eq!(policies.status, CheckStatus::Warn);
    assert!(
        policies.remedy.contains("read:policies:admin"),
        "{}",
        policies.remedy
    );
}
