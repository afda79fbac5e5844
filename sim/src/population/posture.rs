//! The answers a compliance collector should reach: the exact populations behind each posture
//! finding, computed from the truth so end-to-end tests can compare against them.
//!
//! Each method states its definition. The population is built so that reasonable variants of
//! a definition agree (see [`crate::NOW_MS`]): product activity is either recent or clearly
//! stale, users who never used a product joined long ago, and all of a user's products share
//! one activity class.

use super::Population;
use super::model::*;
use crate::clock::{DAY_MS, NOW_MS};

impl Population {
    /// Accounts the v1 users API lists: every managed account, whatever its status.
    pub fn managed_accounts(&self) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| u.claim_status == ClaimStatus::Managed)
            .collect()
    }

    /// Users holding `atlassian/org-admin`, found through roles, never through the
    /// `org-admins` group.
    pub fn org_admins(&self) -> Vec<&User> {
        self.users().iter().filter(|u| u.org_admin).collect()
    }

    /// Org admins without two-step verification (`mfaEnabled: false`) outside single sign-on
    /// (under SSO, 2SV is the identity provider's); never empty when the organization has
    /// admins.
    pub fn org_admins_without_mfa(&self) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| u.org_admin && !u.mfa_enabled && u.auth_policy != AuthPolicy::Sso)
            .collect()
    }

    /// Org admins the directory listings do not show: the org-wide search finds them.
    pub fn org_admins_in_no_directory(&self) -> Vec<&User> {
        self.org_admins()
            .into_iter()
            .filter(|u| u.listed_in.is_empty())
            .collect()
    }

    /// Org admins listed by more than one directory.
    pub fn org_admins_in_several_directories(&self) -> Vec<&User> {
        self.org_admins()
            .into_iter()
            .filter(|u| u.listed_in.len() > 1)
            .collect()
    }

    /// Active (`status: active`) managed accounts.
    pub fn active_managed(&self) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| u.status == UserStatus::Active && u.claim_status == ClaimStatus::Managed)
            .collect()
    }

    /// Active managed accounts reporting `mfaEnabled: false`, single sign-on or not (what
    /// the `mfaEnabled=false` filter returns).
    pub fn active_managed_reporting_no_mfa(&self) -> Vec<&User> {
        self.active_managed()
            .into_iter()
            .filter(|u| !u.mfa_enabled)
            .collect()
    }

    /// Active managed accounts without two-step verification, outside single sign-on.
    pub fn active_managed_without_mfa(&self) -> Vec<&User> {
        self.active_managed_reporting_no_mfa()
            .into_iter()
            .filter(|u| u.auth_policy != AuthPolicy::Sso)
            .collect()
    }

    /// Active managed accounts under single sign-on: their 2SV is delegated to the identity
    /// provider, neither passing nor failing.
    pub fn sso_delegated(&self) -> Vec<&User> {
        self.active_managed()
            .into_iter()
            .filter(|u| u.auth_policy == AuthPolicy::Sso)
            .collect()
    }

    /// Active managed accounts under a policy enforcing neither single sign-on nor 2SV.
    pub fn neither_sso_nor_2sv(&self) -> Vec<&User> {
        self.active_managed()
            .into_iter()
            .filter(|u| u.auth_policy == AuthPolicy::Default)
            .collect()
    }

    /// Active users with product access who have not used any product in the `days` before
    /// [`Population::now_ms`], counting users who never used one. Any `days` from 15 to 200
    /// gives the same answer.
    pub fn inactive_with_product_access(&self, days: i64) -> Vec<&User> {
        let cutoff = NOW_MS - days * DAY_MS;
        self.users()
            .iter()
            .filter(|u| {
                u.status == UserStatus::Active
                    && !u.product_access.is_empty()
                    && u.last_active_ms().is_none_or(|t| t < cutoff)
            })
            .collect()
    }

    /// Claimed domains whose claim does not hold: unverified, or missing its verification
    /// token. Superseded claims are history, not domains of the org.
    pub fn unverified_domains(&self) -> Vec<&Domain> {
        self.domains()
            .iter()
            .filter(|d| {
                matches!(
                    d.status,
                    DomainStatus::Unverified | DomainStatus::MissingToken
                )
            })
            .collect()
    }

    /// Claimed domains of the org: all but superseded claims.
    pub fn claimed_domains(&self) -> Vec<&Domain> {
        self.domains()
            .iter()
            .filter(|d| d.status != DomainStatus::Superseded)
            .collect()
    }

    /// Whether an `ip-allowlist` policy is enabled and applied to a product (seed-dependent;
    /// a second allowlist is always enabled and applied to none).
    pub fn ip_allowlist_applied(&self) -> bool {
        self.policies()
            .iter()
            .any(|p| p.policy_type == "ip-allowlist" && p.enabled && p.applies_to_workspaces)
    }

    /// The organization's API keys that expire within `days` of [`Population::now_ms`].
    pub fn api_keys_expiring_within(&self, days: i64) -> Vec<&ApiKey> {
        self.api_keys()
            .iter()
            .filter(|k| k.expires_ms < NOW_MS + days * DAY_MS)
            .collect()
    }

    /// API tokens not used in the `days` before [`Population::now_ms`], counting tokens never
    /// used (all of which are over 200 days old). Any `days` from 15 to 200 gives the same
    /// answer.
    pub fn stale_api_tokens(&self, days: i64) -> Vec<&ApiToken> {
        let cutoff = NOW_MS - days * DAY_MS;
        self.api_tokens()
            .iter()
            .filter(|t| t.last_active_ms.is_none_or(|at| at < cutoff))
            .collect()
    }

    /// API tokens without an expiry date.
    pub fn non_expiring_api_tokens(&self) -> Vec<&ApiToken> {
        self.api_tokens()
            .iter()
            .filter(|t| t.expires_ms.is_none())
            .collect()
    }

    /// The members of group `group` (an index into [`Population::groups`]).
    pub fn group_members(&self, group: usize) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| u.groups.contains(&group))
            .collect()
    }
}
