//! The Atlassian integration end to end: the real component in the real host
//! against the simulated organization over loopback HTTP, with the truth
//! known from the seed.

use atlassian_sim::{Population, SimConfig, SimHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use watchdog_components::ATLASSIAN_CLOUD_ADMIN;
use watchdog_e2e::{Harness, bundle_text, config};
use watchdog_host::bundle::{self, Outcome, Record};
use watchdog_host::config::RunConfig;
use watchdog_host::contract::{CheckStatus, FindingStatus, PluginError, is_not_applicable};
use watchdog_host::egress::Reroutes;
use watchdog_host::run::{Collected, Failure, exit};
use watchdog_host::sandbox::Limits;

const KEY: &str = "e2e-key-3b1f5a7c9d";

async fn sim(adjust: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut config = SimConfig {
        api_key: KEY.into(),
        ..SimConfig::default()
    };
    adjust(&mut config);
    SimHandle::start(config).await.unwrap()
}

fn reroute(sim: &SimHandle) -> Reroutes {
    Reroutes::parse([format!("https://api.atlassian.com={}", sim.base_url()).as_str()]).unwrap()
}

fn org_config(org: &str, key: &str) -> RunConfig {
    config(&[("org-id", org)], &[("api-key", key)])
}

/// Collects from the simulator with the given limits and configuration.
async fn collect(
    sim: &SimHandle,
    harness: &Harness,
    name: &str,
    config: &RunConfig,
    limits: Limits,
    checkpoint: Option<String>,
) -> Collected {
    let options = harness.options(limits, reroute(sim));
    let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &options).await;
    let collected = harness
        .collect(&loaded, config, &options, name, checkpoint)
        .await
        .unwrap();
    bundle::verify(&collected.dir, Some(&collected.run.ledger_head)).expect("the bundle verifies");
    assert!(
        !bundle_text(&collected.dir).contains(KEY),
        "the API key leaked"
    );
    collected
}

/// Ids per kind in `evidence.jsonl`, asserting no id appears twice.
fn ids_by_kind(collected: &Collected) -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(collected.dir.join(bundle::EVIDENCE_FILE)).unwrap();
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let record: Record = serde_json::from_str(line).unwrap();
        assert!(
            ids.entry(record.kind.clone())
                .or_default()
                .insert(record.id.clone()),
            "duplicate {} {}",
            record.kind,
            record.id
        );
    }
    ids
}

fn set<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    ids.into_iter().map(str::to_string).collect()
}

fn finding<'a>(collected: &'a Collected, id: &str) -> &'a watchdog_host::contract::Finding {
    collected
        .run
        .findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

fn event_ids(population: &Population, range: std::ops::Range<usize>) -> BTreeSet<String> {
    range
        .map(|i| population.event(i)["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_collection_yields_exactly_the_simulated_organization() {
    let sim = sim(|_| {}).await;
    let harness = Harness::new("full");
    let pop = sim.population().clone();
    let c = collect(
        &sim,
        &harness,
        "full",
        &org_config(sim.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    assert_eq!(c.run.outcome, Outcome::Complete, "{:?}", c.run.warnings);
    assert_eq!(
        c.exit_code(),
        exit::FINDINGS_FAILED,
        "the simulated org fails some findings"
    );

    let ids = ids_by_kind(&c);
    let expect = |kind: &str, want: BTreeSet<String>| {
        assert_eq!(ids.get(kind).cloned().unwrap_or_default(), want, "{kind}");
        assert_eq!(
            c.run.counts.get(kind).copied().unwrap_or(0),
            want.len() as u64,
            "{kind}"
        );
    };
    expect("atlassian.org", set([pop.org_id()]));
    expect(
        "atlassian.directory",
        set(pop.directories().iter().map(|d| d.id.as_str())),
    );
    expect(
        "atlassian.user",
        set(pop.users().iter().map(|u| u.account_id.as_str())),
    );
    expect(
        "atlassian.group",
        set(pop.groups().iter().map(|g| g.id.as_str())),
    );
    expect(
        "atlassian.domain",
        set(pop.domains().iter().map(|d| d.id.as_str())),
    );
    expect(
        "atlassian.policy",
        set(pop.policies().iter().map(|p| p.id.as_str())),
    );
    expect(
        "atlassian.workspace",
        set(pop.workspaces().iter().map(|w| w.id.as_str())),
    );
    expect(
        "atlassian.api-token",
        set(pop.api_tokens().iter().map(|t| t.id.as_str())),
    );
    expect(
        "atlassian.api-key",
        set(pop.api_keys().iter().map(|k| k.id.as_str())),
    );
    expect("atlassian.user-count", set(["users/count"]));
    assert!(
        c.run.warnings.iter().all(|w| w.resource != "users"),
        "the listings hold every counted account"
    );
    // The authentication policy of every active managed account, admins in
    // no directory included.
    expect(
        "atlassian.auth-policy",
        set(pop.active_managed().iter().map(|u| u.account_id.as_str())),
    );
    expect("atlassian.event", event_ids(&pop, 0..pop.event_count()));
    // Every org admin's role assignments were read.
    let assignments = &ids["atlassian.role-assignment"];
    for admin in pop.org_admins() {
        assert!(
            assignments.iter().any(|id| id.contains(&admin.account_id)),
            "no role assignment for org admin {}",
            admin.account_id
        );
    }

    assert_findings_match_the_truth(&c, &pop);
}

/// Every finding's failing set (and population, where the truth defines one)
/// is exactly what the simulated organization holds.
fn assert_findings_match_the_truth(c: &Collected, pop: &Population) {
    assert_findings_match_the_truth_but_the_audit_log(c, pop);
    assert_eq!(
        finding(c, "audit-log-available").status,
        FindingStatus::Pass
    );
    // On this organization every finding can be judged.
    for f in &c.run.findings {
        assert_ne!(f.status, FindingStatus::Unknown, "{f:?}");
    }
}

/// The findings over the accounts, domains, policies and tokens.
fn assert_findings_match_the_truth_but_the_audit_log(c: &Collected, pop: &Population) {
    let failing = |id: &str| set(finding(c, id).failing.iter().map(String::as_str));
    let population = |id: &str| finding(c, id).population;
    let accounts = |users: Vec<&atlassian_sim::User>| -> BTreeSet<String> {
        set(users.iter().map(|u| u.account_id.as_str()))
    };
    // 2SV: accounts under single sign-on are set apart, neither failing
    // nor counted as judged.
    assert_eq!(
        failing("mfa-active-managed"),
        accounts(pop.active_managed_without_mfa())
    );
    assert_eq!(
        population("mfa-active-managed"),
        (pop.active_managed().len() - pop.sso_delegated().len()) as u64
    );
    let delegated = accounts(pop.sso_delegated());
    assert!(!delegated.is_empty());
    assert!(failing("mfa-active-managed").is_disjoint(&delegated));
    assert_eq!(
        failing("sso-or-2sv-enforced"),
        accounts(pop.neither_sso_nor_2sv())
    );
    assert_eq!(
        population("sso-or-2sv-enforced"),
        pop.active_managed().len() as u64
    );
    // Org admins: found org-wide, one in no directory, one in two.
    assert_eq!(pop.org_admins_in_no_directory().len(), 1);
    assert_eq!(pop.org_admins_in_several_directories().len(), 1);
    assert_eq!(
        failing("mfa-org-admins"),
        accounts(pop.org_admins_without_mfa())
    );
    let admins_outside_sso = pop
        .org_admins()
        .iter()
        .filter(|u| u.auth_policy != atlassian_sim::AuthPolicy::Sso)
        .count();
    assert_eq!(population("mfa-org-admins"), admins_outside_sso as u64);
    assert_eq!(population("org-admin-count"), pop.org_admins().len() as u64);
    assert_eq!(finding(c, "org-admin-count").status, FindingStatus::Pass);
    // Inactivity: never-used access has no productAccess entry.
    assert_eq!(
        failing("inactive-with-access"),
        accounts(pop.inactive_with_product_access(90))
    );
    assert_eq!(
        failing("unverified-domains"),
        set(pop.unverified_domains().iter().map(|d| d.id.as_str()))
    );
    assert_eq!(
        population("unverified-domains"),
        pop.claimed_domains().len() as u64
    );
    let allowlist = finding(c, "ip-allowlist");
    if pop.ip_allowlist_applied() {
        assert_eq!(allowlist.status, FindingStatus::Pass);
    } else {
        assert_eq!(failing("ip-allowlist"), set([pop.org_id()]));
    }
    assert_eq!(
        failing("api-tokens-stale"),
        set(pop.stale_api_tokens(90).iter().map(|t| t.id.as_str()))
    );
    assert_eq!(
        failing("api-tokens-no-expiry"),
        set(pop.non_expiring_api_tokens().iter().map(|t| t.id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_findings_hold_under_the_gateway_limiter_and_a_smaller_audit_page_maximum() {
    let clean_sim = sim(|_| {}).await;
    let harness = Harness::new("limiter");
    let clean = collect(
        &clean_sim,
        &harness,
        "clean",
        &org_config(clean_sim.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    // A limiter a few requests short of the whole collection: it trips once
    // (twice if the minute turns), and only X-RateLimit-Reset says until when.
    let allowed = clean.run.traffic.requests.saturating_sub(10).max(1);
    let limited = sim(|c| {
        c.rate_limit = Some(allowed);
        c.events_max_limit = 100;
    })
    .await;
    let c = collect(
        &limited,
        &harness,
        "limited",
        &org_config(limited.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    assert_eq!(c.run.outcome, Outcome::Complete, "{:?}", c.run.warnings);
    assert!(
        limited.requests_served() > clean_sim.requests_served(),
        "the limiter refused requests, which were sent again after its reset"
    );
    assert_eq!(ids_by_kind(&c), ids_by_kind(&clean), "the same records");
    assert_findings_match_the_truth(&c, limited.population());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_audit_log_the_plan_lacks_is_not_applicable_and_the_run_complete() {
    let sim = sim(|c| c.guard = false).await;
    let harness = Harness::new("no-guard");
    let c = collect(
        &sim,
        &harness,
        "run",
        &org_config(sim.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    assert_eq!(c.run.outcome, Outcome::Complete, "{:?}", c.run.warnings);
    assert!(is_not_applicable(finding(&c, "audit-log-available")));
    let warning = c
        .run
        .warnings
        .iter()
        .find(|w| w.resource == "audit log")
        .expect("a warning about the audit log");
    assert!(!warning.incomplete);
    assert!(
        warning.message.contains("Nothing to change in the API key"),
        "{}",
        warning.message
    );
    assert_findings_match_the_truth_but_the_audit_log(&c, sim.population());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_organization_reads_as_not_applicable_not_as_passing() {
    let sim = sim(|c| {
        c.users = 0;
        c.events = 0;
    })
    .await;
    let harness = Harness::new("empty");
    let c = collect(
        &sim,
        &harness,
        "run",
        &org_config(sim.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    let not_applicable: BTreeSet<&str> = c
        .run
        .findings
        .iter()
        .filter(|f| is_not_applicable(f))
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        not_applicable,
        BTreeSet::from([
            "mfa-active-managed",
            "sso-or-2sv-enforced",
            "mfa-org-admins",
            "inactive-with-access",
            "account-states",
            "audit-log-available",
            "api-tokens-stale",
            "api-tokens-no-expiry",
        ])
    );
    // The report is not a pass: org-admin-count and the claimed domains
    // still fail, nothing passes for want of accounts.
    assert_eq!(c.exit_code(), exit::FINDINGS_FAILED);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_incremental_run_reads_exactly_the_new_events() {
    let sim = sim(|_| {}).await;
    let harness = Harness::new("incremental");
    let config = org_config(sim.org_id(), KEY);
    let first = collect(&sim, &harness, "first", &config, Limits::default(), None).await;
    let before = sim.population().event_count();
    let checkpoint = first.run.checkpoint.clone().expect("a checkpoint");

    sim.append_events(37);
    let second = collect(
        &sim,
        &harness,
        "second",
        &config,
        Limits::default(),
        Some(checkpoint),
    )
    .await;
    assert_eq!(
        second.run.outcome,
        Outcome::Complete,
        "{:?}",
        second.run.warnings
    );
    let ids = ids_by_kind(&second);
    assert_eq!(
        ids["atlassian.event"],
        event_ids(sim.population(), before..before + 37)
    );

    // Nothing new: nothing read again, and the log is not mistaken for empty.
    let third = collect(
        &sim,
        &harness,
        "third",
        &config,
        Limits::default(),
        second.run.checkpoint.clone(),
    )
    .await;
    assert_eq!(third.run.counts.get("atlassian.event"), None);
    assert_ne!(
        finding(&third, "audit-log-available").status,
        FindingStatus::Fail
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_faults_lose_nothing() {
    let clean_sim = sim(|_| {}).await;
    let harness = Harness::new("transient");
    let clean = collect(
        &clean_sim,
        &harness,
        "clean",
        &org_config(clean_sim.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    let faulty = sim(|c| {
        c.faults = [
            "429:every=10,burst=2,retry-after=1",
            "429:every=37,no-retry-after,retry-after=1",
            "500:every=11",
            "503:every=31",
            "reset:every=29",
            "slow-body:every=4,ms=20",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    })
    .await;
    let c = collect(
        &faulty,
        &harness,
        "faulty",
        &org_config(faulty.org_id(), KEY),
        Limits::default(),
        None,
    )
    .await;
    assert_eq!(c.run.outcome, Outcome::Complete, "{:?}", c.run.warnings);
    assert_eq!(ids_by_kind(&c), ids_by_kind(&clean), "the same records");
    assert!(
        c.run.traffic.requests > clean.run.traffic.requests,
        "faults were retried"
    );
}

/// Collects under one persistent fault; returns the partial run.
async fn persistent(fault: &str, limits: Limits) -> Collected {
    let sim = sim(|c| c.faults = vec![fault.parse().unwrap()]).await;
    let harness = Harness::new("persistent");
    let c = collect(
        &sim,
        &harness,
        "run",
        &org_config(sim.org_id(), KEY),
        limits,
        None,
    )
    .await;
    assert_eq!(c.run.outcome, Outcome::Partial, "{fault}: {:?}", c.failure);
    assert_eq!(c.exit_code(), exit::PARTIAL);
    c
}

fn incomplete_warning<'a>(
    c: &'a Collected,
    resource: &str,
) -> &'a watchdog_host::contract::Warning {
    c.run
        .warnings
        .iter()
        .find(|w| w.incomplete && w.resource.contains(resource))
        .unwrap_or_else(|| panic!("no incomplete warning for {resource}: {:?}", c.run.warnings))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_server_error_on_users_is_partial_and_named() {
    let c = persistent("503:path=/users", Limits::default()).await;
    let warning = incomplete_warning(&c, "users");
    assert!(matches!(
        warning.cause,
        Some(PluginError::Upstream(ref u)) if u.status == 503
    ));
    assert_eq!(
        finding(&c, "mfa-active-managed").status,
        FindingStatus::Unknown
    );
    assert_eq!(finding(&c, "mfa-org-admins").status, FindingStatus::Unknown);
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_is_partial_not_empty() {
    let c = persistent("malformed:path=/domains", Limits::default()).await;
    incomplete_warning(&c, "domain");
    assert_eq!(c.run.counts.get("atlassian.domain"), None);
    assert_eq!(
        finding(&c, "unverified-domains").status,
        FindingStatus::Unknown
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repeating_cursor_is_an_error_not_a_hang() {
    let c = persistent("repeat-cursor:path=/api-tokens", Limits::default()).await;
    let warning = incomplete_warning(&c, "token");
    assert!(
        warning.message.contains("cursor") || format!("{:?}", warning.cause).contains("cursor")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_body_times_out_and_is_partial() {
    let limits = Limits {
        read_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let c = persistent("stall:path=/policies", limits).await;
    incomplete_warning(&c, "polic");
    assert_eq!(finding(&c, "ip-allowlist").status, FindingStatus::Unknown);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_or_expired_key_is_unauthorized_with_a_remedy() {
    for (name, sim) in [
        ("wrong", sim(|_| {}).await),
        ("expired", sim(|c| c.key_expired = true).await),
    ] {
        let key = if name == "wrong" {
            "not-the-key-1234"
        } else {
            KEY
        };
        let harness = Harness::new(name);
        let config = org_config(sim.org_id(), key);
        let c = collect(&sim, &harness, "run", &config, Limits::default(), None).await;
        let Some(Failure::Plugin(PluginError::Unauthorized(why))) = &c.failure else {
            panic!("{name}: {:?}", c.failure)
        };
        assert!(why.contains("create a new"), "{why}");
        assert_eq!(c.exit_code(), exit::AUTH);
        assert_eq!(c.run.evidence_records, 0);
        // One request, refused: no storm of retries against a bad key.
        assert_eq!(sim.requests_served(), 1, "{name}");

        let options = harness.options(Limits::default(), reroute(&sim));
        let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &options).await;
        assert!(matches!(
            loaded.validate(&config, &options).await,
            Err(Failure::Plugin(PluginError::Unauthorized(_)))
        ));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_org_id_is_not_found() {
    let sim = sim(|_| {}).await;
    let harness = Harness::new("wrong-org");
    let other = "0f0e0d0c-0b0a-4000-8000-000000000000";
    let c = collect(
        &sim,
        &harness,
        "run",
        &org_config(other, KEY),
        Limits::default(),
        None,
    )
    .await;
    assert!(
        matches!(c.failure, Some(Failure::Plugin(PluginError::NotFound(_)))),
        "{:?}",
        c.failure
    );
    assert_eq!(c.exit_code(), exit::USAGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_scope_names_the_scope_to_add() {
    let all_but_events = [
        "read:orgs:admin",
        "read:directories:admin",
        "read:groups:admin",
        "read:domains:admin",
        "read:policies:admin",
        "read:workspaces:admin",
        "read:tokens:admin",
        "read:accounts:admin",
    ];
    let sim =
        sim(|c| c.scopes = Some(all_but_events.iter().map(|s| s.to_string()).collect())).await;
    let harness = Harness::new("scope");
    let config = org_config(sim.org_id(), KEY);
    let c = collect(&sim, &harness, "run", &config, Limits::default(), None).await;
    assert_eq!(c.run.outcome, Outcome::Partial);
    let warning = incomplete_warning(&c, "audit");
    assert!(matches!(
        &warning.cause,
        Some(PluginError::Forbidden(f)) if f.missing.as_deref() == Some("read:events:admin")
    ));
    assert!(c.run.counts["atlassian.user"] > 0, "the rest was collected");

    let options = harness.options(Limits::default(), reroute(&sim));
    let loaded = harness.open(ATLASSIAN_CLOUD_ADMIN, &options).await;
    let checks = loaded.validate(&config, &options).await.unwrap();
    let audit = checks.iter().find(|c| c.id.contains("audit")).unwrap();
    assert_eq!(audit.status, CheckStatus::Fail);
    assert!(
        audit.remedy.contains("read:events:admin"),
        "{}",
        audit.remedy
    );
    assert!(
        checks
            .iter()
            .filter(|c| c.status == CheckStatus::Pass)
            .count()
            >= 6
    );
}
