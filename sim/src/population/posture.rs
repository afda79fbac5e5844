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

    /// Org admins without two-step verification (`mfaEnabled: false`); never empty when the
    /// organization has admins.
    pub fn org_admins_without_mfa(&self) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| u.org_admin && !u.mfa_enabled)
            .collect()
    }

    /// Active (`status: active`) managed accounts without two-step verification.
    pub fn active_managed_without_mfa(&self) -> Vec<&User> {
        self.users()
            .iter()
            .filter(|u| {
                u.status == UserStatus::Active
                    && u.claim_status == ClaimStatus::Managed
                    && !u.mfa_enabled
            })
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

    /// Claimed domains whose claim is not verified.
    pub fn unverified_domains(&self) -> Vec<&Domain> {
        self.domains()
            .iter()
            .filter(|d| d.status != DomainStatus::Verified)
            .collect()
    }

    /// Whether an `ip-allowlist` policy is enabled (seed-dependent).
    pub fn ip_allowlist_enabled(&self) -> bool {
        self.policies()
            .iter()
            .any(|p| p.policy_type == "ip-allowlist" && p.enabled)
    }

    /// The organization's API keys that expire within `days` of [`Population::now_ms`].
    pub fn api_keys_expiring_within(&self, days: i64) -> Vec<&super::OrgApiKey> {
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
