//! The records an organization holds, as plain data: the truth the API views are rendered from
//! and that tests compare collected evidence against.
//!
//! Cross-references are indices into the [`Population`](super::Population)'s vectors (a user's
//! directory, groups and workspaces), which keeps 50,000 users compact.

use serde::{Deserialize, Serialize};

/// A user's composite status, as the v2 directory API reports it in `status`.
///
/// The API derives it from two underlying fields ([`User::account_status`] and
/// [`User::membership_status`]); see those for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Suspended,
    NotInvited,
    Deactivated,
    ForDeletion,
}

impl UserStatus {
    /// Every status, in the order the population's status mix lists them.
    pub const ALL: [UserStatus; 5] = [
        UserStatus::Active,
        UserStatus::Suspended,
        UserStatus::NotInvited,
        UserStatus::Deactivated,
        UserStatus::ForDeletion,
    ];
}

/// The Atlassian account's own state (`accountStatus`; `account_status` in v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Inactive,
    /// Part of the documented enum; no generated account is closed (see [`User::account_status`]).
    Closed,
}

/// The account's membership of the organization (`membershipStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    Active,
    Suspended,
    NoMembership,
}

/// Whether the organization manages the account (its email is on a verified domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Managed,
    Unmanaged,
}

/// How the account came into the directory (`managementSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagementSource {
    Invited,
    Synced,
}

/// A product a user can be given access to. Each lives in one [`Workspace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    JiraSoftware,
    JiraServiceManagement,
    Confluence,
}

impl Product {
    pub const ALL: [Product; 3] = [
        Product::JiraSoftware,
        Product::JiraServiceManagement,
        Product::Confluence,
    ];

    /// The product key the APIs use (`productAccess[].key`, v1 `product_access[].key`).
    pub fn key(self) -> &'static str {
        match self {
            Product::JiraSoftware => "jira-software",
            Product::JiraServiceManagement => "jira-servicedesk",
            Product::Confluence => "confluence",
        }
    }

    /// The product's display name (v1 `product_access[].name`).
    pub fn display_name(self) -> &'static str {
        match self {
            Product::JiraSoftware => "Jira",
            Product::JiraServiceManagement => "Jira Service Management",
            Product::Confluence => "Confluence",
        }
    }
}

/// A user directory (`GET /admin/v2/orgs/{orgId}/directories`).
#[derive(Debug, Clone)]
pub struct Directory {
    pub id: String,
    pub name: &'static str,
}

/// A product instance (`POST /admin/v2/orgs/{orgId}/workspaces`).
#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    /// `jira` or `confluence`.
    pub type_key: &'static str,
    /// A host under an RFC 2606 domain, e.g. `acme.example.com`.
    pub host_url: String,
    /// `online`, `offline` or `deprecated`.
    pub status: &'static str,
    pub sandbox: bool,
    pub created_ms: i64,
}

/// One product a user can use, and when they last used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductAccess {
    pub product: Product,
    /// Index into [`Population::workspaces`](super::Population::workspaces).
    pub workspace: usize,
    /// `None`: never used.
    pub last_active_ms: Option<i64>,
}

/// A member of the organization: everything the v1 and v2 user APIs can report about them.
#[derive(Debug, Clone)]
pub struct User {
    pub account_id: String,
    pub name: String,
    pub nickname: String,
    /// The account's address, on `example.com` or `example.org` (the verified domains) when
    /// managed and on `example.net` when not. The API omits it when [`User::email_hidden`].
    pub email: String,
    /// The user's profile visibility hides their email from the organization (unmanaged only).
    pub email_hidden: bool,
    pub email_verified: bool,
    /// Index into [`Population::directories`](super::Population::directories): the
    /// account's home (its links, groups and product roles are there).
    pub directory: usize,
    /// The directories that list the account: its home for nearly everyone, both for one org
    /// admin, none for another (org admins need no directory; notes §0 "Org admins and
    /// directories"). The `-` listing shows every account either way.
    pub listed_in: Vec<usize>,
    /// The authentication policy the account is under (managed accounts only).
    pub auth_policy: AuthPolicy,
    pub status: UserStatus,
    pub claim_status: ClaimStatus,
    pub management_source: Option<ManagementSource>,
    pub mfa_enabled: bool,
    /// Holds `atlassian/org-admin` (a platform role and an org-level role assignment).
    pub org_admin: bool,
    /// Holds `atlassian/site-admin` on the site.
    pub site_admin: bool,
    pub added_to_org_ms: i64,
    /// Set for deactivated accounts and accounts pending deletion.
    pub deactivated_on_ms: Option<i64>,
    pub product_access: Vec<ProductAccess>,
    /// Indices into [`Population::groups`](super::Population::groups).
    pub groups: Vec<usize>,
    pub job_title: &'static str,
    pub department: &'static str,
    pub time_zone: &'static str,
}

impl User {
    /// `accountStatus`: `inactive` for deactivated accounts and accounts pending deletion,
    /// else `active`. `closed` (a deleted account) never appears: deleted accounts have left
    /// the directory.
    pub fn account_status(&self) -> AccountStatus {
        match self.status {
            UserStatus::Deactivated | UserStatus::ForDeletion => AccountStatus::Inactive,
            UserStatus::Active | UserStatus::Suspended | UserStatus::NotInvited => {
                AccountStatus::Active
            }
        }
    }

    /// `membershipStatus`: `suspended` for suspended users, `no_membership` for users not
    /// invited, else `active` (the notes' composite rule, inverted).
    pub fn membership_status(&self) -> MembershipStatus {
        match self.status {
            UserStatus::Suspended => MembershipStatus::Suspended,
            UserStatus::NotInvited => MembershipStatus::NoMembership,
            UserStatus::Active | UserStatus::Deactivated | UserStatus::ForDeletion => {
                MembershipStatus::Active
            }
        }
    }

    /// `forDeletion`.
    pub fn for_deletion(&self) -> bool {
        self.status == UserStatus::ForDeletion
    }

    /// The email as the API shows it.
    pub fn visible_email(&self) -> Option<&str> {
        (!self.email_hidden).then_some(self.email.as_str())
    }

    /// `platformRoles`.
    pub fn platform_roles(&self) -> Vec<&'static str> {
        let mut roles = Vec::new();
        if self.org_admin {
            roles.push(ORG_ADMIN_ROLE);
        }
        if self.site_admin {
            roles.push(SITE_ADMIN_ROLE);
        }
        roles
    }

    /// The latest product activity; `None` if the user never used any product.
    pub fn last_active_ms(&self) -> Option<i64> {
        self.product_access
            .iter()
            .filter_map(|p| p.last_active_ms)
            .max()
    }
}

/// An authentication policy, as far as 2SV goes. Under single sign-on `mfaEnabled` is false:
/// two-step verification is the identity provider's business (notes §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthPolicy {
    /// Enforces single sign-on (identity-provider directory only).
    Sso,
    /// Enforces two-step verification.
    TwoStep,
    /// The default policy: 2SV optional, no single sign-on.
    Default,
}

impl AuthPolicy {
    /// The policy's id and name, as the bulk fetch reports them.
    pub fn id_and_name(self) -> (&'static str, &'static str) {
        match self {
            AuthPolicy::Sso => ("ap-sso", "Identity provider: single sign-on"),
            AuthPolicy::TwoStep => ("ap-2sv", "Two-step verification enforced"),
            AuthPolicy::Default => ("ap-default", "Default policy"),
        }
    }
}

/// An org admin API key (`GET /admin/api-access/v1/orgs/{orgId}/api-keys`; fields undocumented).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub name: &'static str,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// The organization administrator role.
pub const ORG_ADMIN_ROLE: &str = "atlassian/org-admin";
/// The site administrator role.
pub const SITE_ADMIN_ROLE: &str = "atlassian/site-admin";
/// A product's user role.
pub const USER_ROLE: &str = "atlassian/user";
/// A product's administrator role.
pub const ADMIN_ROLE: &str = "atlassian/admin";

/// What a role is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The organization (`ari:cloud:platform::org/{orgId}`).
    Org,
    /// The site hosting the products (`ari:cloud:platform::site/{siteId}`).
    Site,
    /// One product in its workspace (`ari:cloud:{productKey}::site/{workspaceId}`).
    Product(Product, usize),
}

/// How a role reached the user (`roleAssignmentMethods`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMethod {
    Direct,
    GroupDirect,
}

/// The roles held on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    pub resource: Resource,
    pub roles: Vec<(&'static str, AssignmentMethod)>,
    /// The directory the assignment was made in; `None` for org- and site-level roles.
    pub directory: Option<usize>,
}

/// A group (`…/groups/search`).
#[derive(Debug, Clone)]
pub struct Group {
    pub id: String,
    pub name: &'static str,
    pub description: &'static str,
    /// Index into [`Population::directories`](super::Population::directories).
    pub directory: usize,
    /// Synced from an identity provider (`externalSynced`, `managedBy: external`).
    pub external_synced: bool,
    /// Roles the group grants its members (none for `org-admins`: since the Units rollout that
    /// group grants nothing, which is the pitfall it is here to reproduce).
    pub grants: Vec<(Resource, &'static str)>,
    pub member_count: usize,
}

/// How a domain was claimed and whether the claim holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DomainStatus {
    Verified,
    Unverified,
    /// Replaced by a newer claim: history, not a domain of the org.
    Superseded,
    /// Its verification token was removed: the claim no longer holds.
    MissingToken,
}

/// A claimed domain (`GET /admin/v1/orgs/{orgId}/domains`).
#[derive(Debug, Clone)]
pub struct Domain {
    pub id: String,
    pub name: &'static str,
    /// `dns` or `http`.
    pub claim_type: &'static str,
    pub status: DomainStatus,
}

/// An organization policy (`GET /admin/v1/orgs/{orgId}/policies`).
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: String,
    /// `ip-allowlist`, `data-residency`, …
    pub policy_type: &'static str,
    pub name: &'static str,
    pub enabled: bool,
    pub rule: serde_json::Value,
    /// Whether the policy applies to the product workspaces (`resources`).
    pub applies_to_workspaces: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A user API token (`GET /admin/api-access/v1/orgs/{orgId}/api-tokens`).
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub id: String,
    pub label: &'static str,
    /// Index into [`Population::users`](super::Population::users).
    pub owner: usize,
    pub created_ms: i64,
    /// `None`: the token never expires.
    pub expires_ms: Option<i64>,
    /// `None`: never used.
    pub last_active_ms: Option<i64>,
}
