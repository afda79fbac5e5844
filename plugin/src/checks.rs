//! The posture checks. A [`Tally`] sees each record once, as it streams by,
//! and keeps only what the findings need: counters, the ids that fail, and
//! the (few) org-admin candidates. Memory grows with failures, not with the
//! organization.
//!
//! Status rule, for every finding: a known failure is `Fail` even when some
//! evidence is missing (the failure is real); otherwise missing evidence is
//! `Unknown`, never `Pass`.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::contract::{Finding, FindingStatus, Severity};
use crate::dates::{DAY_MS, parse_iso8601_ms};
use crate::fingerprint::fingerprint;

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
    ApiKeys,
    /// Authentication policies of managed accounts.
    AuthPolicies,
}

/// What a user record told the caller to read next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seen {
    /// Holds an admin platform role: read its role assignments.
    pub admin: bool,
    /// An active managed account seen for the first time: read its
    /// authentication policy.
    pub needs_auth_policy: bool,
}

/// How an account signs in, by its authentication policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coverage {
    /// Single sign-on enforced: 2SV is the identity provider's business and
    /// `mfaEnabled` says nothing (notes §0 "Two-step verification and SSO").
    Sso,
    /// Two-step verification enforced by the policy.
    TwoStep,
    /// Neither: 2SV is up to the account.
    Neither,
}

/// One account's authentication policy, as the bulk fetch returns it. The
/// response's fields are undocumented (notes §2.8): this reads `policy`
/// with `ssoEnforced` and `twoStepVerification` (`enforced` or other), and
/// an account whose record lacks them is unknown, never covered.
#[derive(Deserialize)]
struct AuthPolicyView {
    policy: Option<AuthPolicySettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthPolicySettings {
    sso_enforced: Option<bool>,
    two_step_verification: Option<String>,
}

impl AuthPolicyView {
    fn coverage(&self) -> Option<Coverage> {
        let policy = self.policy.as_ref()?;
        match (
            policy.sso_enforced?,
            policy.two_step_verification.as_deref()?,
        ) {
            (true, _) => Some(Coverage::Sso),
            (false, "enforced") => Some(Coverage::TwoStep),
            (false, _) => Some(Coverage::Neither),
        }
    }
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
    counts: Option<CountsView>,
    added_to_org: Option<String>,
}

#[derive(Deserialize)]
struct CountsView {
    resources: Option<u64>,
}

impl UserView {
    /// Whether the account has product access in this directory: a
    /// `productAccess` entry says so; with none, `counts.resources` (the
    /// resources it can use, expanded on request) decides, because an
    /// account that never used a product may have no entry at all (notes
    /// §0 "Product access and inactivity"). `None`: neither was reported.
    fn has_access(&self) -> Option<bool> {
        if self.product_access.as_ref().is_some_and(|a| !a.is_empty()) {
            return Some(true);
        }
        self.counts
            .as_ref()
            .and_then(|c| c.resources)
            .map(|n| n > 0)
    }
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
    resources: Option<Vec<PolicyResourceView>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyResourceView {
    application_status: Option<String>,
}

/// Where an enabled policy stands with the products it covers
/// (`resources[].applicationStatus`; notes §0 "Policies": the documented
/// example is `applying`, `applied` is illustrative, others undocumented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Application {
    /// Applied to no product: protects nothing.
    Nowhere,
    /// Being applied, or a status this integration does not know: whether
    /// it protects anything yet cannot be told.
    Undetermined,
    /// Applied to at least one product.
    Applied,
}

impl PolicyView {
    fn application(&self) -> Application {
        let Some(resources) = &self.resources else {
            return Application::Undetermined;
        };
        resources
            .iter()
            .map(|r| match r.application_status.as_deref() {
                Some("applied") => Application::Applied,
                _ => Application::Undetermined,
            })
            .max()
            .unwrap_or(Application::Nowhere)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenView {
    status: Option<String>,
    created_at: Option<String>,
    expires_at: Option<String>,
    last_active_at: Option<String>,
}

/// A token date: absent (or null), readable, or written in a form that
/// cannot be read, which makes what depends on it unknown for that token.
enum TokenDate {
    Absent,
    At(i64),
    Unreadable,
}

fn token_date(text: Option<&str>) -> TokenDate {
    match text {
        None => TokenDate::Absent,
        Some(text) => parse_iso8601_ms(text).map_or(TokenDate::Unreadable, TokenDate::At),
    }
}

#[derive(Debug, Clone, Copy)]
struct Admin {
    mfa: Option<bool>,
    active: bool,
    org_admin: bool,
}

impl Admin {
    /// The same account as another directory lists it.
    fn merge(&mut self, other: Admin) {
        self.mfa = match (self.mfa, other.mfa) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), _) | (_, Some(true)) => Some(true),
            (None, None) => None,
        };
        self.active |= other.active;
        self.org_admin |= other.org_admin;
    }
}

/// The aggregates of one collection.
#[derive(Debug)]
pub struct Tally {
    now_ms: i64,
    max_org_admins: u32,
    incomplete: BTreeSet<Area>,
    /// Areas the organization's plan does not offer (a 403 that names the
    /// plan): the findings over them do not apply.
    unoffered: BTreeSet<Area>,
    users: u64,
    /// Fingerprints of the accounts seen, the active ones and those with
    /// product access: an account listed by several directories is one
    /// subject (16 bytes an account each).
    accounts: HashSet<u128>,
    active_accounts: HashSet<u128>,
    with_access_accounts: HashSet<u128>,
    states: BTreeMap<&'static str, u64>,
    active_managed: Vec<String>,
    without_mfa: Vec<String>,
    mfa_unreported: Vec<String>,
    active_unmanaged: u64,
    /// Authentication-policy coverage of managed accounts, by account id.
    coverage: BTreeMap<String, Coverage>,
    api_keys: u64,
    /// What `users/count` said.
    counted_users: Option<u64>,
    with_access: u64,
    inactive: BTreeSet<String>,
    /// Active accounts whose product access was not reported.
    access_unreported: BTreeSet<String>,
    /// Accounts with access whose last use and join date cannot be read.
    activity_unknown: BTreeSet<String>,
    /// Holders of an admin platform role, by account id.
    admins: BTreeMap<String, Admin>,
    groups_granting_org_admin: BTreeSet<String>,
    domains: u64,
    unverified: Vec<String>,
    /// Domains whose claim status is missing or undocumented.
    domains_undetermined: Vec<String>,
    ip_allowlists: u64,
    ip_allowlists_enabled: u64,
    /// Enabled allowlists by how far they are applied to products.
    ip_allowlists_applied: BTreeMap<Application, u64>,
    events: u64,
    audit_resumed: bool,
    tokens: u64,
    stale_tokens: Vec<String>,
    tokens_without_expiry: Vec<String>,
    /// Tokens whose status or expiry cannot be judged.
    tokens_undetermined: Vec<String>,
    /// Unexpired tokens whose last use cannot be told.
    tokens_use_unknown: Vec<String>,
}

impl Tally {
    pub fn new(now_ms: i64, max_org_admins: u32) -> Tally {
        Tally {
            now_ms,
            max_org_admins,
            incomplete: BTreeSet::new(),
            unoffered: BTreeSet::new(),
            users: 0,
            accounts: HashSet::new(),
            active_accounts: HashSet::new(),
            with_access_accounts: HashSet::new(),
            states: BTreeMap::new(),
            active_managed: Vec::new(),
            without_mfa: Vec::new(),
            mfa_unreported: Vec::new(),
            active_unmanaged: 0,
            coverage: BTreeMap::new(),
            api_keys: 0,
            counted_users: None,
            with_access: 0,
            inactive: BTreeSet::new(),
            access_unreported: BTreeSet::new(),
            activity_unknown: BTreeSet::new(),
            admins: BTreeMap::new(),
            groups_granting_org_admin: BTreeSet::new(),
            domains: 0,
            unverified: Vec::new(),
            domains_undetermined: Vec::new(),
            ip_allowlists: 0,
            ip_allowlists_enabled: 0,
            ip_allowlists_applied: BTreeMap::new(),
            events: 0,
            audit_resumed: false,
            tokens: 0,
            stale_tokens: Vec::new(),
            tokens_without_expiry: Vec::new(),
            tokens_undetermined: Vec::new(),
            tokens_use_unknown: Vec::new(),
        }
    }

    /// Records that `area` was not (fully) read.
    pub fn incomplete(&mut self, area: Area) {
        self.incomplete.insert(area);
    }

    /// Records that the organization's plan does not offer `area`.
    pub fn not_offered(&mut self, area: Area) {
        self.unoffered.insert(area);
    }

    fn complete(&self, areas: &[Area]) -> bool {
        areas.iter().all(|a| !self.incomplete.contains(a))
    }

    fn older_than_inactivity(&self, ms: i64) -> bool {
        ms < self.now_ms - INACTIVE_DAYS * DAY_MS
    }

    /// One user record, as one directory lists it. An account listed by
    /// several directories (or also by the org-wide admin search) is one
    /// subject: it is counted once, is active if any directory lists it
    /// active, and has used a product when any directory says so.
    /// `access` says whether the listing reports product access. Returns
    /// whether the user holds an admin platform role, so that the caller
    /// reads their role assignments.
    pub fn user(&mut self, id: &str, record: &str, access: Access) -> Seen {
        let Some(user) = view::<UserView>(record).filter(|u| u.status.is_some()) else {
            self.incomplete(Area::Users);
            return Seen::default();
        };
        let mut seen = Seen::default();
        let key = fingerprint(&[id]);
        let status = user.status.as_deref().unwrap_or_default();
        if self.accounts.insert(key) {
            self.users += 1;
            let state = STATES
                .iter()
                .find(|s| **s == status)
                .copied()
                .unwrap_or("other");
            *self.states.entry(state).or_default() += 1;
        }
        let active = status == "active";
        if active && self.active_accounts.insert(key) {
            let managed = user.claim_status.as_deref() == Some("managed");
            seen.needs_auth_policy = managed;
            match (user.claim_status.as_deref(), user.mfa_enabled) {
                (Some("managed"), Some(true)) => self.active_managed.push(id.to_owned()),
                (Some("managed"), Some(false)) => {
                    self.active_managed.push(id.to_owned());
                    self.without_mfa.push(id.to_owned());
                }
                (Some("managed"), None) | (None, _) => self.mfa_unreported.push(id.to_owned()),
                (Some(_), _) => self.active_unmanaged += 1,
            }
        }
        if active && access == Access::Reported {
            self.activity(id, key, &user);
        }
        let roles = user.platform_roles.unwrap_or_default();
        let is_admin = roles.iter().any(|r| ADMIN_ROLES.contains(&r.as_str()));
        if is_admin {
            let admin = Admin {
                mfa: user.mfa_enabled,
                active,
                org_admin: roles.iter().any(|r| r == ORG_ADMIN_ROLE),
            };
            self.admins
                .entry(id.to_owned())
                .and_modify(|a| a.merge(admin))
                .or_insert(admin);
        }
        seen.admin = is_admin;
        seen
    }

    /// The inactivity check of an active user: the most recent use of any
    /// product in any directory, else (never used) the date they were added.
    fn activity(&mut self, id: &str, key: u128, user: &UserView) {
        match user.has_access() {
            None => {
                if !self.with_access_accounts.contains(&key) {
                    self.access_unreported.insert(id.to_owned());
                }
                return;
            }
            Some(false) => return,
            Some(true) => {}
        }
        self.access_unreported.remove(id);
        let access = user.product_access.as_deref().unwrap_or_default();
        let last_used = access
            .iter()
            .filter_map(|p| {
                p.last_active_timestamp
                    .as_deref()
                    .and_then(parse_iso8601_ms)
            })
            .max();
        let since = last_used.or_else(|| user.added_to_org.as_deref().and_then(parse_iso8601_ms));
        let first = self.with_access_accounts.insert(key);
        if first {
            self.with_access += 1;
        }
        match since {
            Some(at) if self.older_than_inactivity(at) => {
                if first {
                    self.inactive.insert(id.to_owned());
                }
            }
            Some(_) => {
                // Recent use in this directory: not inactive, whatever another said.
                self.inactive.remove(id);
                self.activity_unknown.remove(id);
            }
            None => {
                if first {
                    self.activity_unknown.insert(id.to_owned());
                }
            }
        }
    }

    /// One account's authentication policy (bulk fetch).
    pub fn auth_policy(&mut self, account: &str, record: &str) {
        match view::<AuthPolicyView>(record).and_then(|p| p.coverage()) {
            Some(coverage) => {
                self.coverage.insert(account.to_owned(), coverage);
            }
            None => self.incomplete(Area::AuthPolicies),
        }
    }

    /// The org's account count (`users/count`; shape undocumented: `count`
    /// is read from the `data` object).
    pub fn user_count(&mut self, record: &str) {
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        self.counted_users = view::<Count>(record).map(|c| c.count);
    }

    /// The accounts listed and counted, when they differ and the listings
    /// were read to their end.
    pub fn users_uncounted(&self) -> Option<(u64, u64)> {
        let counted = self.counted_users?;
        (self.complete(&[Area::Users]) && counted != self.users).then_some((self.users, counted))
    }

    /// One org admin API key: counted (its fields are undocumented).
    pub fn api_key(&mut self) {
        self.api_keys += 1;
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

    /// One domain, by its claim status (`verified | deleted | unverified |
    /// superseded | missing_token`, notes §0 "Domains"). Deleted and
    /// superseded claims are history, not domains of the org; a status
    /// outside the documented ones is neither verified nor failing.
    pub fn domain(&mut self, id: &str, record: &str) {
        let Some(domain) = view::<AttributesView<DomainView>>(record) else {
            return self.incomplete(Area::Domains);
        };
        let status = domain
            .attributes
            .and_then(|a| a.claim)
            .and_then(|c| c.status);
        match status.as_deref() {
            Some("deleted" | "superseded") => {}
            Some("verified") => self.domains += 1,
            Some("unverified" | "missing_token") => {
                self.domains += 1;
                self.unverified.push(id.to_owned());
            }
            _ => {
                self.domains += 1;
                self.domains_undetermined.push(id.to_owned());
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
                *self
                    .ip_allowlists_applied
                    .entry(p.application())
                    .or_default() += 1;
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
        self.events == 0
            && !self.audit_resumed
            && self.complete(&[Area::AuditLog])
            && !self.unoffered.contains(&Area::AuditLog)
    }

    /// One user API token. Expired tokens cannot be used and are left out;
    /// `status` is documented only as `ALLOWED`, so a token with another
    /// status is undetermined rather than judged. A date that cannot be read
    /// makes the checks that need it unknown for that token, never failing.
    pub fn api_token(&mut self, id: &str, record: &str) {
        let Some(token) = view::<TokenView>(record) else {
            return self.incomplete(Area::ApiTokens);
        };
        if token.status.as_deref().is_some_and(|s| s != "ALLOWED") {
            self.tokens_undetermined.push(id.to_owned());
            return;
        }
        match token_date(token.expires_at.as_deref()) {
            TokenDate::At(at) if at <= self.now_ms => return,
            TokenDate::Unreadable => {
                // Perhaps expired, perhaps not: neither check can judge it.
                self.tokens_undetermined.push(id.to_owned());
                return;
            }
            TokenDate::Absent => self.tokens_without_expiry.push(id.to_owned()),
            TokenDate::At(_) => {}
        }
        self.tokens += 1;
        let last_use = match token_date(token.last_active_at.as_deref()) {
            TokenDate::Absent => token_date(token.created_at.as_deref()),
            used => used,
        };
        match last_use {
            TokenDate::At(at) if self.older_than_inactivity(at) => {
                self.stale_tokens.push(id.to_owned())
            }
            TokenDate::At(_) => {}
            TokenDate::Absent | TokenDate::Unreadable => {
                self.tokens_use_unknown.push(id.to_owned())
            }
        }
    }

    /// Active managed accounts by what their 2SV state says, given the
    /// authentication policies read.
    fn two_step(&self) -> TwoStep {
        let delegated = self
            .active_managed
            .iter()
            .filter(|id| self.coverage.get(*id) == Some(&Coverage::Sso))
            .count();
        let (failing, undetermined): (Vec<String>, Vec<String>) = self
            .without_mfa
            .iter()
            .filter(|id| self.coverage.get(*id) != Some(&Coverage::Sso))
            .cloned()
            .partition(|id| self.coverage.contains_key(id));
        TwoStep {
            judged: (self.active_managed.len() - delegated) as u64,
            failing,
            delegated,
            undetermined: undetermined.len(),
        }
    }

    /// The findings, in a fixed order.
    pub fn findings(&self, org_id: &str) -> Vec<Finding> {
        vec![
            self.mfa_active_managed(),
            self.sso_or_2sv_enforced(),
            self.mfa_org_admins(),
            self.org_admin_count(org_id),
            self.inactive_with_access(),
            self.account_states(),
            self.unverified_domains(),
            self.ip_allowlist(org_id),
            self.audit_log_available(),
            self.api_tokens_stale(),
            self.api_tokens_no_expiry(),
        ]
    }

    /// `mfa-active-managed`: whether every active managed account outside single
    /// sign-on has two-step verification.
    fn mfa_active_managed(&self) -> Finding {
        let twostep = self.two_step();
        finding(
            Spec {
                id: "mfa-active-managed",
                title: "Two-step verification for every active managed account",
                severity: Severity::High,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.8.5", "ISO27001:2022:A.5.17"],
                remedy: "Enforce two-step verification for managed accounts with an authentication policy (admin.atlassian.com → Security → Authentication policies), or through your identity provider.",
            },
            twostep.judged,
            twostep.failing.clone(),
            Known::when(
                self.complete(&[Area::Users])
                    && self.mfa_unreported.is_empty()
                    && twostep.undetermined == 0,
            ),
            format!(
                "{} of {} active managed accounts outside single sign-on have no two-step verification.{}{}{}{}",
                twostep.failing.len(),
                twostep.judged,
                count_sentence(
                    twostep.delegated,
                    "active managed account(s) are under an authentication policy that enforces single sign-on: their two-step verification is delegated to the identity provider and unknown to Atlassian, so they neither pass nor fail here"
                ),
                count_sentence(
                    twostep.undetermined,
                    "account(s) without two-step verification have no readable authentication policy, so whether single sign-on covers them is unknown"
                ),
                count_sentence(
                    self.mfa_unreported.len(),
                    "active account(s) did not report their claim status or 2SV state"
                ),
                count_sentence(
                    self.active_unmanaged as usize,
                    "active unmanaged account(s) are outside this check: Atlassian reports two-step verification only for managed accounts"
                ),
            ),
        )
    }

    /// `sso-or-2sv-enforced`: whether an authentication policy enforces single
    /// sign-on or two-step verification for every active managed account.
    fn sso_or_2sv_enforced(&self) -> Finding {
        let known: Vec<(&String, Coverage)> = self
            .active_managed
            .iter()
            .filter_map(|id| self.coverage.get(id).map(|c| (id, *c)))
            .collect();
        let uncovered: Vec<String> = known
            .iter()
            .filter(|(_, c)| *c == Coverage::Neither)
            .map(|(id, _)| (*id).clone())
            .collect();
        let policy_unknown = self.active_managed.len() - known.len();
        finding(
            Spec {
                id: "sso-or-2sv-enforced",
                title: "Single sign-on or two-step verification enforced for every active managed account",
                severity: Severity::High,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.8.5", "ISO27001:2022:A.5.17"],
                remedy: "Move these accounts to an authentication policy that enforces single sign-on or two-step verification (admin.atlassian.com → Security → Authentication policies).",
            },
            known.len() as u64,
            uncovered.clone(),
            Known::when(self.complete(&[Area::Users, Area::AuthPolicies]) && policy_unknown == 0),
            format!(
                "{} of {} active managed accounts are under an authentication policy that enforces neither single sign-on nor two-step verification.{}",
                uncovered.len(),
                known.len(),
                count_sentence(
                    policy_unknown,
                    "active managed account(s) have no readable authentication policy"
                ),
            ),
        )
    }

    /// `mfa-org-admins`: whether every active org admin outside single sign-on has
    /// two-step verification.
    fn mfa_org_admins(&self) -> Finding {
        let org_admins = self.org_admins();
        let admins_known = self.admins_known();
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
        let delegated = |id: &String| self.coverage.get(id) == Some(&Coverage::Sso);
        let judged_admins: Vec<&(&String, &Admin)> =
            org_admins.iter().filter(|(id, _)| !delegated(id)).collect();
        let admins_without_mfa: Vec<String> = judged_admins
            .iter()
            .filter(|(id, a)| a.mfa == Some(false) && self.coverage.contains_key(*id))
            .map(|(id, _)| (*id).clone())
            .collect();
        let admins_undetermined = judged_admins
            .iter()
            .filter(|(id, a)| a.mfa.is_none() || !self.coverage.contains_key(*id))
            .count();
        finding(
            Spec {
                id: "mfa-org-admins",
                title: "Two-step verification for every organization admin",
                severity: Severity::Critical,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.8.5", "ISO27001:2022:A.5.17"],
                remedy: "Require two-step verification for every account holding the org-admin role; remove the role from accounts that cannot enable it.",
            },
            judged_admins.len() as u64,
            admins_without_mfa.clone(),
            Known::when(admins_known && admins_undetermined == 0),
            format!(
                "{} of {} active org admins (holders of {ORG_ADMIN_ROLE}) outside single sign-on have no two-step verification.{}{}{via_groups}",
                admins_without_mfa.len(),
                judged_admins.len(),
                count_sentence(
                    org_admins.len() - judged_admins.len(),
                    "org admin(s) are under single sign-on: their two-step verification is delegated to the identity provider"
                ),
                count_sentence(
                    admins_undetermined,
                    "org admin(s) reported no 2SV state or no readable authentication policy"
                ),
            ),
        )
    }

    /// `org-admin-count`: whether the number of active org admins lies between 2
    /// and the configured maximum.
    fn org_admin_count(&self, org_id: &str) -> Finding {
        let org_admins = self.org_admins();
        let admins_known = self.admins_known();
        let count = org_admins.len() as u64;
        let max = u64::from(self.max_org_admins);
        let (failing, detail) = if count > max {
            (
                org_admins.iter().map(|(id, _)| (*id).clone()).collect(),
                format!("{count} active org admins, more than the {max} allowed."),
            )
        } else if count < 2 && admins_known {
            (
                vec![org_id.to_owned()],
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
        finding(
            Spec {
                id: "org-admin-count",
                title: "Number of organization admins",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.3", "ISO27001:2022:A.5.15", "ISO27001:2022:A.5.18"],
                remedy: "Keep between two and the configured maximum of org admins: grant or remove the org-admin role in admin.atlassian.com → Directory → Users.",
            },
            count,
            failing,
            Known::when(admins_known),
            detail,
        )
    }

    /// `inactive-with-access`: active accounts whose product access went unused for
    /// [`INACTIVE_DAYS`].
    fn inactive_with_access(&self) -> Finding {
        finding(
            Spec {
                id: "inactive-with-access",
                title: "Active accounts with product access unused for 90 days",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.2", "SOC2:CC6.3", "ISO27001:2022:A.5.18"],
                remedy: "Review these accounts and remove their product access or suspend them (admin.atlassian.com → Directory → Users).",
            },
            self.with_access,
            self.inactive.iter().cloned().collect(),
            Known::when(
                self.complete(&[Area::Users, Area::ProductAccess])
                    && self.access_unreported.is_empty()
                    && self.activity_unknown.is_empty(),
            ),
            format!(
                "{} of {} active accounts with product access have not used any product for {INACTIVE_DAYS} days (never used: counted from when they were added to the organization).{}{}",
                self.inactive.len(),
                self.with_access,
                count_sentence(
                    self.access_unreported.len(),
                    "active account(s) reported neither product access nor the resources they can use"
                ),
                count_sentence(
                    self.activity_unknown.len(),
                    "account(s) with access reported no readable last use or join date"
                ),
            ),
        )
    }

    /// `account-states`: how many accounts are in each state; informational, it
    /// never fails.
    fn account_states(&self) -> Finding {
        let states = self
            .states
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        finding(
            Spec {
                id: "account-states",
                title: "Account states (informational)",
                severity: Severity::Low,
                controls: &["SOC2:CC6.2", "ISO27001:2022:A.5.16"],
                remedy: "Nothing to fix: review that suspended, deactivated and for-deletion accounts match leavers and that none should still be active.",
            },
            self.users,
            Vec::new(),
            Known::when(self.complete(&[Area::Users])),
            format!(
                "{} accounts by status, each kept apart: {}.",
                self.users,
                if states.is_empty() { "none" } else { &states }
            ),
        )
    }

    /// `unverified-domains`: claimed domains that are not verified.
    fn unverified_domains(&self) -> Finding {
        finding(
            Spec {
                id: "unverified-domains",
                title: "Unverified domains",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.16"],
                remedy: "Verify these domains (admin.atlassian.com → Settings → Domains) so their accounts become managed, or remove the claims.",
            },
            self.domains,
            self.unverified.clone(),
            Known::when(self.complete(&[Area::Domains]) && self.domains_undetermined.is_empty()),
            format!(
                "{} of {} claimed domains are not verified (unverified or missing their verification token); deleted and superseded claims are left out.{}",
                self.unverified.len(),
                self.domains,
                if self.domains_undetermined.is_empty() {
                    String::new()
                } else {
                    format!(
                        " Claim status missing or undocumented: {}.",
                        self.domains_undetermined.join(", ")
                    )
                }
            ),
        )
    }

    /// `ip-allowlist`: whether an IP allowlist is enabled and applied to a product;
    /// not applicable where the plan offers none.
    fn ip_allowlist(&self, org_id: &str) -> Finding {
        let applied = |a| self.ip_allowlists_applied.get(&a).copied().unwrap_or(0);
        let protecting = applied(Application::Applied);
        let undetermined = applied(Application::Undetermined);
        let allowlist = Spec {
            id: "ip-allowlist",
            title: "IP allowlist enabled and applied",
            severity: Severity::Medium,
            controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.15"],
            remedy: "Create and enable an IP allowlist policy and apply it to your products (admin.atlassian.com → Security → IP allowlists; needs an Enterprise or Atlassian Guard Premium plan).",
        };
        let detail = format!(
            "{} IP allowlist policies, {} enabled: {protecting} applied to a product, {undetermined} being applied or of an unknown application status, {} applied to no product.",
            self.ip_allowlists,
            self.ip_allowlists_enabled,
            applied(Application::Nowhere),
        );
        if self.unoffered.contains(&Area::Policies) {
            not_applicable(
                allowlist,
                "the organization's plan does not offer IP allowlists (Enterprise or Atlassian Guard Premium).".into(),
            )
        } else {
            let known = self.complete(&[Area::Policies]);
            let fails = protecting == 0 && undetermined == 0 && known;
            let status = if protecting > 0 {
                FindingStatus::Pass
            } else if fails {
                FindingStatus::Fail
            } else {
                FindingStatus::Unknown
            };
            let failing = if fails {
                vec![org_id.to_owned()]
            } else {
                Vec::new()
            };
            build(allowlist, status, self.ip_allowlists, failing, detail)
        }
    }

    /// `audit-log-available`: whether the organization audit log can be read; not
    /// applicable where the plan lacks it.
    fn audit_log_available(&self) -> Finding {
        let audit = Spec {
            id: "audit-log-available",
            title: "Organization audit log available",
            severity: Severity::High,
            controls: &["SOC2:CC7.2", "ISO27001:2022:A.8.15"],
            remedy: "Subscribe the organization to Atlassian Guard (Standard or above), which provides the organization audit log, and give the API key the scope read:events:admin.",
        };
        if self.unoffered.contains(&Area::AuditLog) {
            not_applicable(audit, "the organization's plan does not include the audit log (it needs Atlassian Guard).".into())
        } else if self.audit_log_empty() {
            not_applicable(audit, "the audit log holds no events at all, the mark of a plan without Atlassian Guard, which the audit log needs.".into())
        } else if self.events == 0 && self.complete(&[Area::AuditLog]) {
            // Resumed, nothing new: the log answered, so it is available.
            build(
                audit,
                FindingStatus::Pass,
                0,
                Vec::new(),
                "No new audit-log events since the previous run; the log is readable.".into(),
            )
        } else {
            finding(
                audit,
                self.events,
                Vec::new(),
                Known::when(
                    // Events read prove availability even if a later page failed.
                    self.events > 0,
                ),
                if self.events > 0 {
                    format!("{} audit-log events read.", self.events)
                } else {
                    "No audit-log event could be read.".into()
                },
            )
        }
    }

    /// `api-tokens-stale`: user API tokens unused for [`INACTIVE_DAYS`].
    fn api_tokens_stale(&self) -> Finding {
        let tokens_known = self.tokens_known();
        let undetermined_tokens = self.undetermined_tokens();
        finding(
            Spec {
                id: "api-tokens-stale",
                title: "User API tokens unused for 90 days",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.2", "ISO27001:2022:A.5.18"],
                remedy: "Revoke unused tokens (admin.atlassian.com → Security → User API tokens).",
            },
            self.tokens,
            self.stale_tokens.clone(),
            Known::when(tokens_known && self.tokens_use_unknown.is_empty()),
            format!(
                "{} of {} unexpired user API tokens of managed accounts (the list covers the tokens managed accounts create) have not been used for {INACTIVE_DAYS} days (never used: counted from creation).{undetermined_tokens}{}{}",
                self.stale_tokens.len(),
                self.tokens,
                count_sentence(
                    self.tokens_use_unknown.len(),
                    "token(s) have no readable last-use or creation date"
                ),
                count_sentence(
                    self.api_keys as usize,
                    "org admin API key(s) were read as evidence; their fields are undocumented, so they are not judged here"
                ),
            ),
        )
    }

    /// `api-tokens-no-expiry`: user API tokens that never expire.
    fn api_tokens_no_expiry(&self) -> Finding {
        let tokens_known = self.tokens_known();
        let undetermined_tokens = self.undetermined_tokens();
        finding(
            Spec {
                id: "api-tokens-no-expiry",
                title: "User API tokens without expiry",
                severity: Severity::Medium,
                controls: &["SOC2:CC6.1", "ISO27001:2022:A.5.17"],
                remedy: "Revoke tokens without an expiry date and have their owners create tokens that expire; set a maximum token lifetime for the organization.",
            },
            self.tokens,
            self.tokens_without_expiry.clone(),
            Known::when(tokens_known),
            format!(
                "{} of {} unexpired user API tokens of managed accounts never expire.{undetermined_tokens}",
                self.tokens_without_expiry.len(),
                self.tokens
            ),
        )
    }

    /// The accounts holding the org-admin role that are active.
    fn org_admins(&self) -> Vec<(&String, &Admin)> {
        self.admins
            .iter()
            .filter(|(_, a)| a.org_admin && a.active)
            .collect()
    }

    /// Whether every account and role assignment was read, so that who is
    /// an org admin is known.
    fn admins_known(&self) -> bool {
        self.complete(&[Area::Users, Area::AdminRoles])
    }

    /// Whether every token was read and could be judged.
    fn tokens_known(&self) -> bool {
        self.complete(&[Area::ApiTokens]) && self.tokens_undetermined.is_empty()
    }

    /// The aside on the tokens that could not be judged.
    fn undetermined_tokens(&self) -> String {
        count_sentence(
            self.tokens_undetermined.len(),
            "token(s) could not be judged: a status other than ALLOWED, or an expiry date that cannot be read",
        )
    }
}

/// How a finding that does not apply opens its detail. Contract 0.1 has no
/// status for it, so it travels as `unknown` (never read as a pass) with an
/// empty population, nothing failing and this prefix, which hosts read
/// (`wit/integration.wit`, `finding`).
pub const NOT_APPLICABLE: &str = "Not applicable:";

/// A finding with nothing to judge: an empty population, or a control the
/// organization's plan does not offer. Neither a pass nor a failure.
fn not_applicable(spec: Spec, why: String) -> Finding {
    let detail = format!("{NOT_APPLICABLE} {why}");
    build(spec, FindingStatus::Unknown, 0, Vec::new(), detail)
}

/// Whether a finding reads as not applicable (see [`NOT_APPLICABLE`]).
pub fn is_not_applicable(finding: &Finding) -> bool {
    finding.status == FindingStatus::Unknown
        && finding.population == 0
        && finding.failing.is_empty()
        && finding.detail.starts_with(NOT_APPLICABLE)
}

/// " N what." when N > 0, else nothing: a finding's detail's aside.
fn count_sentence(n: usize, what: &str) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" {n} {what}.")
    }
}

/// The 2SV state of active managed accounts (see [`Tally::two_step`]).
struct TwoStep {
    /// Accounts outside single sign-on.
    judged: u64,
    /// Without 2SV, under a policy known not to enforce single sign-on.
    failing: Vec<String>,
    /// Under single sign-on: 2SV is the identity provider's.
    delegated: usize,
    /// Without 2SV, with no readable authentication policy.
    undetermined: usize,
}

/// The fixed part of a finding.
struct Spec {
    id: &'static str,
    title: &'static str,
    severity: Severity,
    controls: &'static [&'static str],
    remedy: &'static str,
}

/// Whether a listing of users reports their product access: the searches
/// expand it on request; the deprecated user list cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Reported,
    Unreported,
}

/// Whether all the evidence a finding needs was read: without it, a
/// finding that found nothing failing is unknown, never a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    All,
    Partly,
}

impl Known {
    fn when(complete: bool) -> Known {
        if complete { Known::All } else { Known::Partly }
    }
}

/// A finding judged on what was read: failing when anything fails, else a
/// pass with all the evidence (not applicable with nothing to judge), else
/// unknown.
fn finding(
    spec: Spec,
    population: u64,
    mut failing: Vec<String>,
    known: Known,
    detail: String,
) -> Finding {
    failing.sort();
    failing.dedup();
    let (status, detail) = if !failing.is_empty() {
        (FindingStatus::Fail, detail)
    } else if known == Known::All && population == 0 {
        return not_applicable(spec, detail);
    } else if known == Known::All {
        (FindingStatus::Pass, detail)
    } else {
        (
            FindingStatus::Unknown,
            format!(
                "{detail} Some of the evidence needed is missing, so these counts are lower bounds."
            ),
        )
    };
    build(spec, status, population, failing, detail)
}

fn build(
    spec: Spec,
    status: FindingStatus,
    population: u64,
    failing: Vec<String>,
    detail: String,
) -> Finding {
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

    /// A bulk-fetch record of one account's authentication policy.
    fn policy(sso: bool, two_step: &str) -> String {
        format!(
            r#"{{"accountId":"x","policy":{{"id":"p","name":"Policy","ssoEnforced":{sso},"twoStepVerification":"{two_step}"}}}}"#
        )
    }

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
        let ids = |keep: fn(&Finding) -> bool| -> Vec<String> {
            tally
                .findings("org")
                .into_iter()
                .filter(&keep)
                .map(|f| f.id)
                .collect()
        };
        assert_eq!(
            ids(|f| f.status == FindingStatus::Fail),
            ["org-admin-count", "ip-allowlist"]
        );
        // Nothing to judge is not a pass.
        assert_eq!(
            ids(|f| f.status == FindingStatus::Pass),
            Vec::<String>::new()
        );
        assert_eq!(
            ids(is_not_applicable),
            [
                "mfa-active-managed",
                "sso-or-2sv-enforced",
                "mfa-org-admins",
                "inactive-with-access",
                "account-states",
                "unverified-domains",
                "audit-log-available",
                "api-tokens-stale",
                "api-tokens-no-expiry",
            ]
        );
    }

    #[test]
    fn controls_the_plan_does_not_offer_are_not_applicable() {
        let mut tally = Tally::new(NOW, 5);
        tally.not_offered(Area::Policies);
        tally.not_offered(Area::AuditLog);
        tally.events(3);
        let f = tally.findings("org");
        for id in ["ip-allowlist", "audit-log-available"] {
            let finding = f.iter().find(|f| f.id == id).unwrap();
            assert!(is_not_applicable(finding), "{finding:?}");
            assert!(finding.detail.contains("plan"), "{}", finding.detail);
        }
    }

    #[test]
    fn an_unknown_finding_is_not_read_as_not_applicable() {
        let mut tally = Tally::new(NOW, 5);
        tally.incomplete(Area::Domains);
        let f = tally.findings("org");
        let domains = f.iter().find(|f| f.id == "unverified-domains").unwrap();
        assert_eq!(domains.status, FindingStatus::Unknown);
        assert!(!is_not_applicable(domains));
    }

    #[test]
    fn known_failures_stay_failures_when_evidence_is_missing() {
        let mut tally = Tally::new(NOW, 5);
        tally.user(
            "u1",
            r#"{"status":"active","claimStatus":"managed","mfaEnabled":false}"#,
            Access::Reported,
        );
        tally.auth_policy("u1", &policy(false, "optional"));
        tally.incomplete(Area::Users);
        assert_eq!(status(&tally, "mfa-active-managed"), FindingStatus::Fail);
        assert_eq!(status(&tally, "account-states"), FindingStatus::Unknown);
        assert_eq!(status(&tally, "org-admin-count"), FindingStatus::Unknown);
    }

    #[test]
    fn unreported_2sv_is_unknown_not_pass() {
        let mut tally = Tally::new(NOW, 5);
        tally.user(
            "u1",
            r#"{"status":"active","claimStatus":"managed"}"#,
            Access::Reported,
        );
        assert_eq!(status(&tally, "mfa-active-managed"), FindingStatus::Unknown);
    }

    #[test]
    fn unreadable_users_make_user_findings_unknown() {
        let mut tally = Tally::new(NOW, 5);
        assert_eq!(
            tally.user("u1", r#"{"status":7}"#, Access::Reported),
            Seen::default()
        );
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
        tally.user("recent", &user(&both, old), Access::Reported);
        tally.user("stale", &user(&stale, old), Access::Reported);
        tally.user(
            "new-never-used",
            &user(r#"[{"key":"jira"}]"#, recent),
            Access::Reported,
        );
        tally.user(
            "old-never-used",
            &user(r#"[{"key":"jira"}]"#, old),
            Access::Reported,
        );
        tally.user("no-access", &user("[]", old), Access::Reported);
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
        tally.domain("d4", &domain("superseded"));
        tally.domain("d5", &domain("missing_token"));
        let allowlist = |status: &str, resources: &str| {
            format!(
                r#"{{"attributes":{{"type":"ip-allowlist","status":"{status}","resources":{resources}}}}}"#
            )
        };
        let applied = r#"[{"id":"ari:cloud:jira::site/s1","applicationStatus":"applied"}]"#;
        tally.policy(&allowlist("disabled", applied));
        let f = tally.findings("org");
        let domains = f.iter().find(|f| f.id == "unverified-domains").unwrap();
        assert_eq!(
            (domains.population, domains.failing.clone()),
            (3, vec!["d2".to_owned(), "d5".to_owned()])
        );
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Fail);
        // Enabled but applied to no product: protects nothing.
        tally.policy(&allowlist("enabled", "[]"));
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Fail);
        // Being applied: not yet known to protect anything.
        let applying = r#"[{"id":"ari:cloud:jira::site/s1","applicationStatus":"applying"}]"#;
        tally.policy(&allowlist("enabled", applying));
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Unknown);
        tally.policy(&allowlist("enabled", applied));
        assert_eq!(status(&tally, "ip-allowlist"), FindingStatus::Pass);
    }

    #[test]
    fn an_undocumented_claim_status_is_unknown_not_failing() {
        let mut tally = Tally::new(NOW, 5);
        tally.domain(
            "d1",
            r#"{"attributes":{"claim":{"status":"pending_review"}}}"#,
        );
        let f = tally.findings("org");
        let domains = f.iter().find(|f| f.id == "unverified-domains").unwrap();
        assert_eq!(
            (domains.status, domains.failing.len()),
            (FindingStatus::Unknown, 0)
        );
    }

    #[test]
    fn admin_count_bounds() {
        let admin = r#"{"status":"active","claimStatus":"managed","mfaEnabled":true,"platformRoles":["atlassian/org-admin"]}"#;
        let mut tally = Tally::new(NOW, 2);
        tally.user("a1", admin, Access::Reported);
        let f = tally.findings("org");
        let count = f.iter().find(|f| f.id == "org-admin-count").unwrap();
        assert_eq!(
            (count.status, count.failing.clone()),
            (FindingStatus::Fail, vec!["org".to_owned()])
        );
        tally.user("a2", admin, Access::Reported);
        assert_eq!(status(&tally, "org-admin-count"), FindingStatus::Pass);
        tally.user("a3", admin, Access::Reported);
        let f = tally.findings("org");
        let count = f.iter().find(|f| f.id == "org-admin-count").unwrap();
        assert_eq!(count.failing, ["a1", "a2", "a3"]);
    }
}
