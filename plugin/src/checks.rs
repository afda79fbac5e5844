//! The posture checks. A [`Tally`] sees each record once, as it streams by,
//! and keeps only what the findings need: counters, the ids that fail, and
//! the (few) org-admin candidates. Memory grows with failures, not with the
//! organization.
//!
//! Status rule, for every finding: a known failure is `Fail` even when some
//! evidence is missing (the failure is real); otherwise missing evidence is
//! `Unknown`, never `Pass`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::contract::{Finding, FindingStatus, Severity};
use crate::dates::{DAY_MS, parse_iso_ms};

/// Accounts and tokens unused for this long fail the activity checks.
pub const INACTIVE_DAYS: i64 = 90;

/// The platform role that makes an organization admin. Org admins are read
/// from this role only, never from a group's name: after Atlassian's "Units"
/// rollout the `org-admins` group no longer grants the role.
pub const ORG_ADMIN_ROLE: &str = "atlassian/org-admin";

/// Platform roles whose holders get their role assignments read, to confirm
/// org-admin holders and to record admin grants as evidence.
const ADMIN_ROLES: &[&str] = &[
    ORG_ADMIN_ROLE,
    "atlassian/site-admin",
    "atlassian/admin",
    "atlassian/user-access-admin",
];

/// The user `status` values the API documents; anything else is "other".
const STATES: &[&str] = &[
    "active",
    "suspended",
    "deactivated",
    "for_deletion",
    "not_invited",
];

/// Evidence a finding depends on; an area that was not fully read makes the
/// findings over it `Unknown` unless they already fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Area {
    Users,
    /// Per-user product access (only from the user search).
    ProductAccess,
    /// Role assignments of admin candidates.
    AdminRoles,
    Domains,
    Policies,
    AuditLog,
    ApiTokens,
}

fn view<T: DeserializeOwned>(record: &str) -> Option<T> {
    serde_json::from_str(record).ok()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserView {
    status: Option<String>,
    claim_status: Option<String>,
    mfa_enabled: Option<bool>,
    platform_roles: Option<Vec<String>>,
    product_access: Option<Vec<ProductAccessView>>,
    added_to_org: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductAccessView {
    last_active_timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleAssignmentView {
    roles: Option<Vec<String>>,
    role_assignments: Option<Vec<RoleView>>,
}

#[derive(Deserialize)]
struct RoleView {
    role: Option<String>,
}

impl RoleAssignmentView {
    /// Both the deprecated `roles` list and `roleAssignments` are read.
    fn grants_org_admin(&self) -> bool {
        let listed = self.roles.iter().flatten().any(|r| r == ORG_ADMIN_ROLE);
        let assigned = self
            .role_assignments
            .iter()
            .flatten()
            .any(|a| a.role.as_deref() == Some(ORG_ADMIN_ROLE));
        listed || assigned
    }
}

#[derive(Deserialize)]
struct AttributesView<T> {
    attributes: Option<T>,
}

#[derive(Deserialize)]
struct DomainView {
    claim: Option<ClaimView>,
}

#[derive(Deserialize)]
struct ClaimView {
    status: Option<String>,
}

#[derive(Deserialize)]
struct PolicyView {
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    created_at: Option<String>,
    expires_at: Option<String>,
    last_active_at: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Admin {
    mfa: Option<bool>,
    active: bool,
    org_admin: bool,
}

/// The aggregates of one collection.
#[derive(Debug)]
pub struct Tally {
    now_ms: i64,
    max_org_admins: u32,
    incomplete: BTreeSet<Area>,
    users: u64,
    states: BTreeMap<&'static str, u64>,
    active_managed: u64,
    without_mfa: Vec<String>,
    mfa_unreported: Vec<String>,
    with_access: u64,
    inactive: Vec<String>,
    /// Holders of an admin platform role, by account id.
    admins: BTreeMap<String, Admin>,
    groups_granting_org_admin: BTreeSet<String>,
    domains: u64,
    unverified: Vec<String>,
    ip_allowlists: u64,
    ip_allowlists_enabled: u64,
    events: u64,
    audit_resumed: bool,
    tokens: u64,
    stale_tokens: Vec<String>,
    tokens_without_expiry: Vec<String>,
}

impl Tally {
    pub fn new(now_ms: i64, max_org_admins: u32) -> Tally {
        Tally {
            now_ms,
            max_org_admins,
            incomplete: BTreeSet::new(),
            users: 0,
            states: BTreeMap::new(),
            active_managed: 0,
            without_mfa: Vec::new(),
            mfa_unreported: Vec::new(),
            with_access: 0,
            inactive: Vec::new(),
            admins: BTreeMap::new(),
            groups_granting_org_admin: BTreeSet::new(),
            domains: 0,
            unverified: Vec::new(),
            ip_allowlists: 0,
            ip_allowlists_enabled: 0,
            events: 0,
            audit_resumed: false,
            tokens: 0,
            stale_tokens: Vec::new(),
            tokens_without_expiry: Vec::new(),
        }
    }

    /// Records that `area` was not (fully) read.
    pub fn incomplete(&mut self, area: Area) {
        self.incomplete.insert(area);
    }

    fn complete(&self, areas: &[Area]) -> bool {
        areas.iter().all(|a| !self.incomplete.contains(a))
    }

    fn older_than_inactivity(&self, ms: i64) -> bool {
        ms < self.now_ms - INACTIVE_DAYS * DAY_MS
    }

    /// One user record. `expanded` says whether product access was asked
    /// for. Returns whether the user holds an admin platform role, so that
    /// the caller reads their role assignments.
    pub fn user(&mut self, id: &str, record: &str, expanded: bool) -> bool {
        let Some(user) = view::<UserView>(record).filter(|u| u.status.is_some()) else {
            self.incomplete(Area::Users);
            return false;
        };
        self.users += 1;
        let status = user.status.as_deref().unwrap_or_default();
        let state = STATES
            .iter()
            .find(|s| **s == status)
            .copied()
            .unwrap_or("other");
        *self.states.entry(state).or_default() += 1;
        let active = status == "active";
        if active {
            match (user.claim_status.as_deref(), user.mfa_enabled) {
                (Some("managed"), Some(true)) => self.active_managed += 1,
                (Some("managed"), Some(false)) => {
                    self.active_managed += 1;
                    self.without_mfa.push(id.to_owned());
                }
                (Some("managed"), None) | (None, _) => self.mfa_unreported.push(id.to_owned()),
                (Some(_), _) => {}
            }
        }
        if active && expanded {
            self.activity(id, &user);
        }
        let roles = user.platform_roles.unwrap_or_default();
        let is_admin = roles.iter().any(|r| ADMIN_ROLES.contains(&r.as_str()));
        if is_admin {
            self.admins.insert(
                id.to_owned(),
                Admin {
                    mfa: user.mfa_enabled,
                    active,
                    org_admin: roles.iter().any(|r| r == ORG_ADMIN_ROLE),
                },
            );
        }
        is_admin
    }

    /// The inactivity check of an active user with product access: the most
    /// recent use of any product, else (never used) the date they were added.
    fn activity(&mut self, id: &str, user: &UserView) {
        let access = user.product_access.as_deref().unwrap_or_default();
        if access.is_empty() {
            return;
        }
        self.with_access += 1;
        let last_used = access
            .iter()
            .filter_map(|p| p.last_active_timestamp.as_deref().and_then(parse_iso_ms))
            .max();
        let added = user.added_to_org.as_deref().and_then(parse_iso_ms);
        let idle = match (last_used, added) {
            (Some(used), _) => self.older_than_inactivity(used),
            (None, Some(added)) => self.older_than_inactivity(added),
            (None, None) => true,
        };
        if idle {
            self.inactive.push(id.to_owned());
        }
    }

    /// One role-assignment record of an admin candidate.
    pub fn user_roles(&mut self, account: &str, record: &str) {
        match view::<RoleAssignmentView>(record) {
            Some(a) if a.grants_org_admin() => {
                if let Some(admin) = self.admins.get_mut(account) {
                    admin.org_admin = true;
                }
            }
            Some(_) => {}
            None => self.incomplete(Area::AdminRoles),
        }
    }

    /// One role-assignment record of a group (reported in the admin
    /// findings' detail; members are counted through their own roles).
    pub fn group_roles(&mut self, group: &str, record: &str) {
        if view::<RoleAssignmentView>(record).is_some_and(|a| a.grants_org_admin()) {
            self.groups_granting_org_admin.insert(group.to_owned());
        }
    }

    /// One domain. Deleted claims are history, not domains of the org.
    pub fn domain(&mut self, id: &str, record: &str) {
        let Some(domain) = view::<AttributesView<DomainView>>(record) else {
            return self.incomplete(Area::Domains);
        };
        let status = domain
            .attributes
            .and_then(|a| a.claim)
            .and_then(|c| c.status);
        match status.as_deref() {
            Some("deleted") => {}
            Some("verified") => self.domains += 1,
            _ => {
                self.domains += 1;
                self.unverified.push(id.to_owned());
            }
        }
    }

    /// One policy; only IP allowlists matter to the findings.
    pub fn policy(&mut self, record: &str) {
        let Some(policy) = view::<AttributesView<PolicyView>>(record) else {
            return self.incomplete(Area::Policies);
        };
        if let Some(p) = policy.attributes
            && p.kind.as_deref() == Some("ip-allowlist")
        {
            self.ip_allowlists += 1;
            if p.status.as_deref() == Some("enabled") {
                self.ip_allowlists_enabled += 1;
            }
        }
    }

    /// Audit-log events read in this run.
    pub fn events(&mut self, count: u64) {
        self.events += count;
    }

    /// The audit log was read from an earlier run's position, so an empty
    /// answer means "nothing new", not "no audit log".
    pub fn audit_resumed(&mut self, resumed: bool) {
        self.audit_resumed = resumed;
    }

    /// Whether the audit log was read, completely, from the start of what the
    /// API retains, and held nothing: the mark of an org without Atlassian Guard.
    pub fn audit_log_empty(&self) -> bool {
        self.events == 0 && !self.audit_resumed && self.complete(&[Area::AuditLog])
    }

    /// One user API token. Expired tokens cannot be used and are left out.
    pub fn api_token(&mut self, id: &str, record: &str) {
        let Some(token) = view::<TokenView>(record) else {
            return self.incomplete(Area::ApiTokens);
        };
        let expires = token.expires_at.as_deref().and_then(parse_iso_ms);
        if expires.is_some_and(|at| at <= self.now_ms) {
            return;
        }
        self.tokens += 1;
        if token.expires_at.is_none() {
            self.tokens_without_expiry.push(id.to_owned());
        }
        let last_use = token
            .last_active_at
            .as_deref()
            .or(token.created_at.as_deref())
            .and_then(parse_iso_ms);
        if last_use.is_none_or(|at| self.older_than_inactivity(at)) {
            self.stale_tokens.push(id.to_owned());
        }
    }

    /// The findings, in a fixed order.
    pub fn findings(&self, org_id: &str) -> Vec<Finding> {
        let org = || vec![org_id.to_owned()];
        let mut out = Vec::new();

        let undetermined = if self.mfa_unreported.is_empty() {
            String::new()
        } else {
            format!(
                " {} active account(s) did not report their claim status or 2SV state.",
                self.mfa_unreported.len()
            )
        };
        out.push(finding(
            Spec {
                id: "mfa-active-managed",
                title: "Two-step verification for every active managed account",
                severity: Severity::High,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.8.5", "ISO27001:2022:A.5.17"],
                remedy: "Enforce two-step verification for managed accounts with an authentication policy (admin.atlassian.com → Security → Authentication policies), or through your identity provider.",
            },
            self.active_managed,
            self.without_mfa.clone(),
            self.complete(&[Area::Users]) && self.mfa_unreported.is_empty(),
            format!(
                "{} of {} active managed accounts have no two-step verification.{undetermined}",
                self.without_mfa.len(),
                self.active_managed
            ),
        ));

        let org_admins: Vec<(&String, &Admin)> = self
            .admins
            .iter()
            .filter(|(_, a)| a.org_admin && a.active)
            .collect();
        let admins_known = self.complete(&[Area::Users, Area::AdminRoles]);
        let via_groups = if self.groups_granting_org_admin.is_empty() {
            String::new()
        } else {
            format!(
                " {} group(s) hold the org-admin role ({}); their members are counted through their own platform roles.",
                self.groups_granting_org_admin.len(),
                self.groups_granting_org_admin
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let admins_without_mfa: Vec<String> = org_admins
            .iter()
            .filter(|(_, a)| a.mfa == Some(false))
            .map(|(id, _)| (*id).clone())
            .collect();
        let admins_unreported = org_admins.iter().filter(|(_, a)| a.mfa.is_none()).count();
        out.push(finding(
            Spec {
                id: "mfa-org-admins",
                title: "Two-step verification for every organization admin",
                severity: Severity::Critical,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.8.5", "ISO27001:2022:A.5.17"],
                remedy: "Require two-step verification for every account holding the org-admin role; remove the role from accounts that cannot enable it.",
            },
            org_admins.len() as u64,
            admins_without_mfa.clone(),
            admins_known && admins_unreported == 0,
            format!(
                "{} of {} active org admins (holders of {ORG_ADMIN_ROLE}) have no two-step verification.{via_groups}",
                admins_without_mfa.len(),
                org_admins.len()
            ),
        ));

        let count = org_admins.len() as u64;
        let max = u64::from(self.max_org_admins);
        let (failing, detail) = if count > max {
            (
                org_admins.iter().map(|(id, _)| (*id).clone()).collect(),
                format!("{count} active org admins, more than the {max} allowed."),
            )
        } else if count < 2 && admins_known {
            (
                org(),
                format!(
                    "{count} active org admin(s): fewer than 2 leaves no cover when one is unavailable."
                ),
            )
        } else {
            (
                Vec::new(),
                format!("{count} active org admins (accepted: 2 to {max})."),
            )
        };
        out.push(finding(
            Spec {
                id: "org-admin-count",
                title: "Number of organization admins",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.3", "ISO27001:2022:A.5.15", "ISO27001:2022:A.5.18"],
                remedy: "Keep between two and the configured maximum of org admins: grant or remove the org-admin role in admin.atlassian.com → Directory → Users.",
            },
            count,
            failing,
            admins_known,
            detail,
        ));

        out.push(finding(
            Spec {
                id: "inactive-with-access",
                title: "Active accounts with product access unused for 90 days",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:2022:A.5.18"],
                remedy: "Review these accounts and remove their product access or suspend them (admin.atlassian.com → Directory → Users).",
            },
            self.with_access,
            self.inactive.clone(),
            self.complete(&[Area::Users, Area::ProductAccess]),
            format!(
                "{} of {} active accounts with product access have not used any product for {INACTIVE_DAYS} days.",
                self.inactive.len(),
                self.with_access
            ),
        ));

        let states = self
            .states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(finding(
            Spec {
                id: "account-states",
                title: "Account states (informational)",
                severity: Severity::Low,
                controls: &["SOC2:CC6.2", "ISO27001:2022:A.5.16"],
                remedy: "Nothing to fix: review that suspended, deactivated and for-deletion accounts match leavers and that none should still be active.",
            },
            self.users,
            Vec::new(),
            self.complete(&[Area::Users]),
            format!(
                "{} accounts by status, each kept apart: {}.",
                self.users,
                if states.is_empty() { "none" } else { &states }
            ),
        ));

        out.push(finding(
            Spec {
                id: "unverified-domains",
                title: "Unverified domains",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.16"],
                remedy: "Verify these domains (admin.atlassian.com → Settings → Domains) so their accounts become managed, or remove the claims.",
            },
            self.domains,
            self.unverified.clone(),
            self.complete(&[Area::Domains]),
            format!(
                "{} of {} claimed domains are not verified (deleted claims are left out).",
                self.unverified.len(),
                self.domains
            ),
        ));

        let ip_failing = if self.ip_allowlists_enabled == 0 && self.complete(&[Area::Policies]) {
            org()
        } else {
            Vec::new()
        };
        out.push(finding(
            Spec {
                id: "ip-allowlist",
                title: "IP allowlist enabled",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.15"],
                remedy: "Create and enable an IP allowlist policy for your products (admin.atlassian.com → Security → IP allowlists; needs an Enterprise or Atlassian Guard Premium plan).",
            },
            self.ip_allowlists,
            ip_failing,
            self.complete(&[Area::Policies]),
            format!(
                "{} IP allowlist policies, {} enabled.",
                self.ip_allowlists, self.ip_allowlists_enabled
            ),
        ));

        out.push(finding(
            Spec {
                id: "audit-log-available",
                title: "Organization audit log available",
                severity: Severity::High,
                controls: &["SOC2:CC7.2", "ISO27001:2022:A.8.15"],
                remedy: "Subscribe the organization to Atlassian Guard, which provides the organization audit log, and give the API key the scope read:events:admin.",
            },
            self.events,
            if self.audit_log_empty() { org() } else { Vec::new() },
            // Events read prove availability even if a later page failed.
            self.events > 0 || self.complete(&[Area::AuditLog]),
            if self.events > 0 {
                format!("{} audit-log events read.", self.events)
            } else if !self.complete(&[Area::AuditLog]) {
                "No audit-log event could be read.".into()
            } else if self.audit_resumed {
                "No new audit-log events since the previous run; the log is readable.".into()
            } else {
                "The audit log holds no events at all: it needs Atlassian Guard.".to_owned()
            },
        ));

        out.push(finding(
            Spec {
                id: "api-tokens-stale",
                title: "User API tokens unused for 90 days",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.2", "ISO27001:2022:A.5.18"],
                remedy: "Revoke unused tokens (admin.atlassian.com → Security → User API tokens).",
            },
            self.tokens,
            self.stale_tokens.clone(),
            self.complete(&[Area::ApiTokens]),
            format!(
                "{} of {} unexpired user API tokens have not been used for {INACTIVE_DAYS} days (never used: counted from creation).",
                self.stale_tokens.len(),
                self.tokens
            ),
        ));

        out.push(finding(
            Spec {
                id: "api-tokens-no-expiry",
                title: "User API tokens without expiry",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.17"],
                remedy: "Revoke tokens without an expiry date and have their owners create tokens that expire; set a maximum token lifetime for the organization.",
            },
            self.tokens,
            self.tokens_without_expiry.clone(),
            self.complete(&[Area::ApiTokens]),
            format!(
                "{} of {} unexpired user API tokens never expire.",
                self.tokens_without_expiry.len(),
                self.tokens
            ),
        ));
        out
    }
}

/// The fixed part of a finding.
struct Spec {
    id: &'static str,
    title: &'static str,
    severity: Severity,
    controls: &'static [&'static str],
    remedy: &'static str,
}

fn finding(
    spec: Spec,
    population: u64,
    mut failing: Vec<String>,
    complete: bool,
    detail: String,
) -> Finding {
    failing.sort();
    failing.dedup();
    let status = if !failing.is_empty() {
        FindingStatus::Fail
    } else if complete {
        FindingStatus::Pass
    } else {
        FindingStatus::Unknown
    };
    let detail = if complete {
        detail
    } else {
        format!(
            "{detail} Some of the evidence needed is missing, so these counts are lower bounds."
        )
    };
    Finding {
        id: spec.id.into(),
        title: spec.title.into(),
        status,
        severity: spec.severity,
        population,
        failing,
        detail,
        remedy: spec.remedy.into(),
        controls: spec.controls.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 200 * DAY_MS;

    fn status(tally: &Tally, id: &str) -> FindingStatus {
        tally
            .findings("org")
            .into_iter()
            .find(|f| f.id == id)
            .unwrap()
            .status
    }

    #[test]
    fn an_empty_complete_collection_fails_only_where_absence_fails() {
        let tally = Tally::new(NOW, 5);
        let failing: Vec<String> = tally
            .findings("org")
            .into_iter()
            .filter(|f| f.status == FindingStatus::Fail)
            .map(|f| f.id)
            .collect();
        assert_eq!(
            failing,
            ["org-admin-count", "ip-allowlist", "audit-log-available"]
        );
    }

    #[test]
    fn known_failures_stay_failures_when_evidence_is_missing() {
        let mut tally = Tally::new(NOW, 5);
        tally.user(
            "u1",
            r#"{"status":"active","claimStatus":"managed","mfaEnabled":false}"#,
            true,
        );
        tally.incomplete(Area::Users);
        assert_eq!(status(&tally, "mfa-active-managed"), FindingStatus::Fail);
        assert_eq!(status(&tally, "account-states"), FindingStatus::Unknown);
        assert_eq!(status(&tally, "org-admin-count"), FindingStatus::Unknown);
    }

    #[test]
    fn unreported_2sv_is_unknown_not_pass() {
        let mut tally = Tally::new(NOW, 5);
        tally.user("u1", r#"{"status":"active","claimStatus":"managed"}"#, true);
        assert_eq!(status(&tally, "mfa-active-managed"), FindingStatus::Unknown);
    }

    #[test]
    fn unreadable_users_make_user_findings_unknown() {
        let mut tally = Tally::new(NOW, 5);
        assert!(!tally.user("u1", r#"{"status":7}"#, true));
        assert_eq!(status(&tally, "mfa-active-managed"), FindingStatus::Unknown);
    }

    #[test]
    fn inactivity_uses_the_latest_product_use_or_the_join_date() {
        let mut tally = Tally::new(NOW, 5);
        let recent = "1970-07-01T00:00:00Z"; // day 181
        let old = "1970-01-02T00:00:00Z"; // day 1
        let user = |access: &str, added: &str| {
            format!(
                r#"{{"status":"active","claimStatus":"managed","mfaEnabled":true,"productAccess":{access},"addedToOrg":"{added}"}}"#
            )
        };
        let both =
            format!(r#"[{{"lastActiveTimestamp":"{old}"}},{{"lastActiveTimestamp":"{recent}"}}]"#);
        let stale = format!(r#"[{{"lastActiveTimestamp":"{old}"}}]"#);
        tally.user("recent", &user(&both, old), true);
        tally.user("stale", &user(&stale, old), true);
        tally.user("new-never-used", &user(r#"[{"key":"jira"}]"#, recent), true);
        tally.user("old-never-used", &user(r#"[{"key":"jira"}]"#, old), true);
        tally.user("no-access", &user("[]", old), true);
        let f = tally.findings("org");
        let inactive = f.iter().find(|f| f.id == "inactive-with-access").unwrap();
        assert_eq!(inactive.population, 4);
        assert_eq!(inactive.failing, ["old-never-used", "stale"]);
    }

    #[test]
    fn tokens_are_judged_on_use_and_expiry() {
        let mut tally = Tally::new(NOW, 5);
        tally.api_token("fresh", r#"{"createdAt":"1970-07-01T00:00:00Z","expiresAt":"1971-01-01T00:00:00Z","lastActiveAt":null}"#);
        tally.api_token("stale", r#"{"createdAt":"1970-01-01T00:00:00Z","expiresAt":"1971-01-01T00:00:00Z","lastActiveAt":"1970-01-02T00:00:00Z"}"#);
        tally.api_token(
            "forever",
            r#"{"createdAt":"1970-07-01T00:00:00Z","lastActiveAt":"1970-07-10T00:00:00Z"}"#,
        );
        tally.api_token(
            "expired",
            r#"{"createdAt":"1970-01-01T00:00:00Z","expiresAt":"1970-02-01T00:00:00Z"}"#,
        );
        let f = tally.findings("org");
        let stale = f.iter().find(|f| f.id == "api-tokens-stale").unwrap();
        assert_eq!(
            (stale.population, stale.failing.clone()),
            (3, vec!["stale".to_owned()])
        );
        let forever = f.iter().find(|f| f.id == "api-tokens-no-expiry").unwrap();
        assert_eq!(forever.failing, ["forever"]);
    }

    #[test]
    fn domains_and_allowlists() {
        let mut tally = Tally::new(NOW, 5);
        let domain = |status: &str| {
            format!(
                r#"{{"attributes":{{"name":"example.com","claim":{{"type":"dns","status":"{status}"}}}}}}"#
            )
        };
        tally.domain("d1", &domain("verified"));
        tally.domain("d2", &domain("unverified"));
        tally.domain("d3", &domain("deleted"));
        tally.policy(r#"{"attributes":{"type":"ip-allowlist","status":"disabled"}}"#);
        let f = tally.findings("org");
        let domains = f.iter().find(|f| f.id == "unverified-domains").unwrap();
        assert_eq!(
            (domains.population, domains.failing.clone()),
            (2, vec!["d2".to_owned()])
        );
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Fail);
        tally.policy(r#"{"attributes":{"type":"ip-allowlist","status":"enabled"}}"#);
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Pass);
    }

    #[test]
    fn admin_count_bounds() {
        let admin = r#"{"status":"active","claimStatus":"managed","mfaEnabled":true,"platformRoles":["atlassian/org-admin"]}"#;
        let mut tally = Tally::new(NOW, 2);
        tally.user("a1", admin, true);
        let f = tally.findings("org");
        let count = f.iter().find(|f| f.id == "org-admin-count").unwrap();
        assert_eq!(
            (count.status, count.failing.clone()),
            (FindingStatus::Fail, vec!["org".to_owned()])
        );
        tally.user("a2", admin, true);
        assert_eq!(status(&tally, "org-admin-count"), FindingStatus::Pass);
        tally.user("a3", admin, true);
        let f = tally.findings("org");
        let count = f.iter().find(|f| f.id == "org-admin-count").unwrap();
        assert_eq!(count.failing, ["a1", "a2", "a3"]);
    }
}
