//! The connection diagnosis: one check per capability, each pass, warn or
//! fail with what to do about it. Each probe is the first-page request the
//! collection itself makes, so a pass here means the collection's request
//! works.
//!
//! The org is probed first. When the key is rejected (401), the org is not
//! found for it (404) or Atlassian cannot be reached at all, no other check
//! could say anything, so the typed error is returned instead of a list of
//! identical failures (the WIT's "no check could run at all"). Otherwise the
//! independent probes go out together (within the in-flight cap), then the
//! role-assignment probe, which needs a user or group id from them.

use crate::api::{Endpoint, Segment};
use crate::collect::{Limits, record_id};
use crate::config::Config;
use crate::contract::{Check, CheckStatus};
use crate::failure::{Failure, Refusal};
use crate::keys::{EXPIRY_NOTICE_DAYS, Expiring};
use crate::pagination::{BodyFault, Page, Pager};
use crate::schedule::Scheduler;
use crate::transport::Transport;
use crate::upstream::{malformed, remedy};

/// The records on a probe's first page (id and JSON text), or why it failed.
type Probe = Result<Vec<(String, String)>, Failure>;

/// Sends the first-page request of each endpoint, concurrently.
fn probe(
    config: &Config,
    limits: &Limits,
    transport: &mut impl Transport,
    endpoints: Vec<(Endpoint, Vec<(&'static str, String)>)>,
) -> Vec<Probe> {
    let mut results: Vec<Probe> = vec![Ok(Vec::new()); endpoints.len()];
    let mut scheduler = Scheduler::new(limits.max_in_flight, limits.retry.clone());
    for (i, (endpoint, extra)) in endpoints.into_iter().enumerate() {
        match Pager::new(&endpoint, &config.org, extra, 1).request(None) {
            Ok(request) => scheduler.submit(i, endpoint, request),
            Err(error) => results[i] = Err(error),
        }
    }
    while !scheduler.is_idle() {
        for finished in scheduler.round(transport, |_| true, &mut || {}).finished {
            let endpoint = &finished.endpoint;
            results[finished.key] = finished.outcome.and_then(|response| {
                std::str::from_utf8(&response.body)
                    .map_err(|_| BodyFault::NotUtf8)
                    .and_then(|body| {
                        let records = Page::parse(body)?.records(endpoint)?;
                        Ok(records
                            .into_iter()
                            .filter_map(|range| {
                                let text = &body[range];
                                Some((record_id(endpoint, text)?, text.to_owned()))
                            })
                            .collect())
                    })
                    .map_err(|fault| malformed(&finished.request, fault))
            });
        }
    }
    results
}

fn check(id: &str, title: &str, status: CheckStatus, detail: String, remedy: String) -> Check {
    Check {
        id: id.into(),
        title: title.into(),
        status,
        detail,
        remedy,
    }
}

/// A check that passes when its probe read a page and fails with the
/// error's remedy otherwise.
fn simple(id: &str, title: &str, probe: &Probe, what: &str) -> Check {
    match probe {
        Ok(ids) => check(
            id,
            title,
            CheckStatus::Pass,
            format!("{what} readable ({} on the first page).", ids.len()),
            String::new(),
        ),
        Err(e) => failed(id, title, e),
    }
}

fn failed(id: &str, title: &str, error: &Failure) -> Check {
    check(
        id,
        title,
        CheckStatus::Fail,
        error.to_string(),
        remedy(error),
    )
}

/// Runs the diagnosis. See the module documentation.
pub fn validate(
    config: &Config,
    limits: &Limits,
    transport: &mut impl Transport,
) -> Result<Vec<Check>, Failure> {
    let org_probe = probe(config, limits, transport, vec![(Endpoint::Org, Vec::new())]).remove(0);
    let org_check = org_check(config, &org_probe)?;
    let first = FirstRound::probe(config, limits, transport)?;
    let (role_results, auth_policies) = second_round(config, limits, transport, &first);
    Ok(vec![
        org_check,
        users_check(&first),
        groups_check(&first),
        roles_check(&role_results),
        auth_policies_check(auth_policies.as_ref()),
        simple("domains", "Domains", &first.domains, "Domains"),
        policies_check(&first.control_policies, &first.policies),
        audit_check(&first.audit),
        simple(
            "api-tokens",
            "User API tokens",
            &first.tokens,
            "User API tokens",
        ),
        simple("workspaces", "Workspaces", &first.workspaces, "Workspaces"),
        api_keys_check(transport.now_ms(), &first.api_keys),
    ])
}

/// The org and key. A failure beside which no other check could say
/// anything (see the module documentation) is returned as the error.
fn org_check(config: &Config, org_probe: &Probe) -> Result<Check, Failure> {
    Ok(match org_probe {
        Ok(_) => check(
            "org",
            "Organization and API key",
            CheckStatus::Pass,
            format!(
                "Organization {} is reachable with this API key.",
                config.org.raw()
            ),
            String::new(),
        ),
        Err(
            e @ (Failure::Unauthorized(_)
            | Failure::NotFound(_)
            | Failure::Network(_)
            | Failure::Timeout(_)),
        ) => {
            return Err(e.clone());
        }
        Err(e) => failed("org", "Organization and API key", e),
    })
}

/// The probes that need nothing but the organization, sent together.
struct FirstRound {
    directories: Probe,
    users_search: Probe,
    users_list: Probe,
    groups_search: Probe,
    groups_list: Probe,
    domains: Probe,
    control_policies: Probe,
    policies: Probe,
    audit: Probe,
    tokens: Probe,
    workspaces: Probe,
    api_keys: Probe,
}

impl FirstRound {
    fn probe(
        config: &Config,
        limits: &Limits,
        transport: &mut impl Transport,
    ) -> Result<FirstRound, Failure> {
        let all = Segment::all_directories;
        // In the order of the fields below, which take the results in turn.
        let endpoints = [
            Endpoint::Directories,
            Endpoint::UsersSearch(all()),
            Endpoint::UsersList(all()),
            Endpoint::GroupsSearch(all()),
            Endpoint::GroupsList(all()),
            Endpoint::Domains,
            Endpoint::ControlPolicies,
            Endpoint::Policies,
            Endpoint::EventsStream,
            Endpoint::ApiTokens,
            Endpoint::Workspaces,
            Endpoint::ApiKeys,
        ];
        let first_pages = endpoints.into_iter().map(|e| (e, Vec::new())).collect();
        let mut results = probe(config, limits, transport, first_pages).into_iter();
        let mut next = || {
            results
                .next()
                .ok_or_else(|| Failure::Internal("a probe went missing".into()))
        };
        Ok(FirstRound {
            directories: next()?,
            users_search: next()?,
            users_list: next()?,
            groups_search: next()?,
            groups_list: next()?,
            domains: next()?,
            control_policies: next()?,
            policies: next()?,
            audit: next()?,
            tokens: next()?,
            workspaces: next()?,
            api_keys: next()?,
        })
    }

    /// The id of the first user read, through the search or else the list.
    fn first_account(&self) -> Option<String> {
        first(&self.users_search).or_else(|| first(&self.users_list))
    }

    /// The id of the first group read, through the search or else the list.
    fn first_group(&self) -> Option<String> {
        first(&self.groups_search).or_else(|| first(&self.groups_list))
    }
}

/// The id of a probe's first record.
fn first(probe: &Probe) -> Option<String> {
    probe
        .as_ref()
        .ok()
        .and_then(|ids| ids.first().map(|(id, _)| id.clone()))
}

/// The probes that need a user or group id from the first round: the role
/// assignments of the first user and group, and the authentication policy
/// of the first user (`None` when no user was read), in one round.
fn second_round(
    config: &Config,
    limits: &Limits,
    transport: &mut impl Transport,
    first: &FirstRound,
) -> (Vec<Probe>, Option<Probe>) {
    let all = Segment::all_directories;
    let mut probes = Vec::new();
    if let Some(account) = first.first_account().and_then(|a| Segment::new(&a).ok()) {
        probes.push((
            Endpoint::UserRoles {
                directory: all(),
                account,
            },
            Vec::new(),
        ));
    }
    if let Some(group) = first.first_group().and_then(|g| Segment::new(&g).ok()) {
        probes.push((
            Endpoint::GroupRoles {
                directory: all(),
                group,
            },
            Vec::new(),
        ));
    }
    let account = first.first_account();
    if let Some(account) = &account {
        probes.push((Endpoint::AuthPolicies(vec![account.clone()]), Vec::new()));
    }
    let mut role_results = probe(config, limits, transport, probes);
    let auth_policies = account.and_then(|_| role_results.pop());
    (role_results, auth_policies)
}

/// Users pass through the search; through the list alone they lack product
/// access and groups.
fn users_check(first: &FirstRound) -> Check {
    let FirstRound {
        directories,
        users_search,
        users_list,
        ..
    } = first;
    match (&directories, &users_search, &users_list) {
        (Err(e), _, _) => failed("users", "Directories and users", e),
        (Ok(dirs), Ok(_), _) => check(
            "users",
            "Directories and users",
            CheckStatus::Pass,
            format!(
                "{} directories; users readable with 2SV, roles, product access and groups.",
                dirs.len()
            ),
            String::new(),
        ),
        (Ok(_), Err(search), Ok(_)) => check(
            "users",
            "Directories and users",
            CheckStatus::Warn,
            format!(
                "Users are readable through the user list, but the user search was refused ({search}): product access and group membership will be Unknown, and so will the finding inactive-with-access (inactive accounts with product access)."
            ),
            choice(search),
        ),
        (Ok(_), Err(_), Err(list)) => failed("users", "Directories and users", list),
    }
}

/// Groups pass through the search; through the deprecated list alone they
/// warn.
fn groups_check(first: &FirstRound) -> Check {
    let FirstRound {
        groups_search,
        groups_list,
        ..
    } = first;
    match (&groups_search, &groups_list) {
        (Ok(_), _) => simple("groups", "Groups", groups_search, "Groups"),
        (Err(search), Ok(_)) => check(
            "groups",
            "Groups",
            CheckStatus::Warn,
            format!(
                "Groups are readable only through the deprecated group list, which stops working after June 30, 2027: the group search was refused ({search})."
            ),
            choice(search),
        ),
        (Err(_), Err(list)) => failed("groups", "Groups", list),
    }
}

/// Role assignments, which say who is an org admin.
fn roles_check(role_results: &[Probe]) -> Check {
    match role_results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => failed("role-assignments", "Role assignments", e),
        None if role_results.is_empty() => check(
            "role-assignments",
            "Role assignments",
            CheckStatus::Warn,
            "No user or group could be read, so role assignments (which say who is an org admin) could not be tried.".into(),
            "Fix the users and groups checks first.".into(),
        ),
        None => check(
            "role-assignments",
            "Role assignments",
            CheckStatus::Pass,
            "Role assignments of users and groups are readable.".into(),
            String::new(),
        ),
    }
}

/// Authentication policies, which say who is under single sign-on.
fn auth_policies_check(auth_policies: Option<&Probe>) -> Check {
    match auth_policies {
        None => check(
            "auth-policies",
            "Authentication policies",
            CheckStatus::Warn,
            "No user could be read, so authentication policies could not be tried.".into(),
            "Fix the users check first.".into(),
        ),
        Some(Err(e)) => check(
            "auth-policies",
            "Authentication policies",
            CheckStatus::Warn,
            format!("Authentication policies cannot be read ({e}): whether single sign-on covers an account without two-step verification will be Unknown."),
            remedy(e),
        ),
        Some(Ok(_)) => check(
            "auth-policies",
            "Authentication policies",
            CheckStatus::Pass,
            "Which accounts are under single sign-on or enforced two-step verification is readable.".into(),
            String::new(),
        ),
    }
}

/// The audit log: a plan without it, or a log with no events at all, warns.
fn audit_check(audit: &Probe) -> Check {
    match audit {
        Err(e) if e.refused_by_plan() => check(
            "audit-log",
            "Audit log",
            CheckStatus::Warn,
            format!("The organization's plan does not include the audit log ({e}); its finding will read as not applicable."),
            remedy(e),
        ),
        Ok(events) if events.is_empty() => check(
            "audit-log",
            "Audit log",
            CheckStatus::Warn,
            "The audit log returned no events at all: the organization audit log needs Atlassian Guard.".to_owned(),
            "Subscribe the organization to Atlassian Guard (formerly Atlassian Access) to get the audit log.".into(),
        ),
        _ => simple("audit-log", "Audit log", audit, "Audit-log events"),
    }
}

/// The remedy of a capability the key cannot read: the choice between
/// accepting what is lost and a key that reads it. A search refused for
/// want of a documented scope is a key-kind question; anything else has
/// the error's own remedy.
fn choice(error: &Failure) -> String {
    match error {
        Failure::Forbidden {
            refusal: Refusal::Plan(_) | Refusal::UnscopedKey { .. },
            ..
        } => "Either accept this, or create an API key without scopes (admin.atlassian.com → Settings → API keys → Create API key → API key without scopes) and use it instead; Atlassian documents no scope for this endpoint.".into(),
        other => remedy(other),
    }
}

/// Policies pass when either the Admin Control API (scoped) or the
/// Organizations API v1 (no scope documented) reads them: the collection
/// tries them in that order.
fn policies_check(control: &Probe, v1: &Probe) -> Check {
    match (control, v1) {
        (Ok(_), _) => simple("policies", "Policies", control, "Policies"),
        (Err(_), Ok(_)) => simple(
            "policies",
            "Policies",
            v1,
            "Policies (Organizations API v1)",
        ),
        (Err(first), Err(_)) => failed("policies", "Policies", first),
    }
}

/// The organization's API keys: which expire within 30 days (monitoring
/// stops when the key WatchDog uses does). Names the keys of the first page.
fn api_keys_check(now_ms: i64, probe: &Probe) -> Check {
    let title = "API key expiry";
    match probe {
        Ok(keys) => {
            let mut expiring = Expiring::new(now_ms);
            for (id, record) in keys {
                expiring.observe(id, record);
            }
            match expiring.warning() {
                Some(warning) => check("api-keys", title, CheckStatus::Warn, warning, "Create a new API key before the one WatchDog uses expires, and update WatchDog with it.".into()),
                None => check("api-keys", title, CheckStatus::Pass, format!("No organization API key expires within {EXPIRY_NOTICE_DAYS} days."), String::new()),
            }
        }
        Err(Failure::NotFound(_)) => check(
            "api-keys",
            title,
            CheckStatus::Warn,
            "The API-key list is not available, so key expiry cannot be checked.".into(),
            "Note the expiry date of the key WatchDog uses (at most a year) and renew it before then.".into(),
        ),
        Err(e) => check("api-keys", title, CheckStatus::Warn, format!("Key expiry cannot be checked: {e}"), remedy(e)),
    }
}
