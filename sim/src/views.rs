//! The JSON shapes of the API's records, rendered from the population.
//!
//! Field names and nesting follow the notes' documented shapes. Links inside records always
//! use the public origin `https://api.atlassian.com`, as the real API's do; only pagination
//! links can be moved to another origin (by the `links` fault). Where the notes mark a value
//! unconfirmed, the choice is documented on the function.
//!
//! Records served by the thousand (users here, events in `population`) are typed structs that
//! serialize straight to bytes; the rest are `json!` literals, which read closest to the notes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::PUBLIC_ORIGIN;
use crate::clock::{iso_basic_offset, iso_millis, iso_seconds};
use crate::population::*;

/// `expand` values of `POST …/users/search`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Expand {
    #[serde(rename = "productAccess")]
    ProductAccess,
    #[serde(rename = "groups")]
    Groups,
    /// Accepted for compatibility: `platformRoles` is always present.
    #[serde(rename = "platformRoles")]
    PlatformRoles,
    /// Adds `counts.resources`: the number of products the user can use.
    #[serde(rename = "counts.resources")]
    ResourceCounts,
}

/// `GET /admin/v1/orgs/{orgId}`.
pub(crate) fn org(pop: &Population) -> Value {
    let url = pop.org_url();
    json!({"data": {
        "id": pop.org_id(),
        "type": "orgs",
        "attributes": {"name": pop.org_name()},
        "relationships": {
            "domains": {"links": {"related": format!("{url}/domains")}},
            "users": {"links": {"related": format!("{url}/users")}},
        },
        "links": {"self": url},
    }})
}

/// A directory. `icon` is a static asset on an RFC 2606 host.
pub(crate) fn directory(directory: &Directory) -> Value {
    json!({
        "directoryId": directory.id,
        "name": directory.name,
        "icon": "https://static.example.com/icons/directory.svg",
    })
}

fn picture(user: &User) -> String {
    let initials: String = user
        .name
        .split(' ')
        .filter_map(|w| w.chars().next())
        .collect();
    format!("https://avatar.example.com/initials/{initials}.png")
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    href: String,
}

/// A v2 `MultiDirectoryUser`. `organization` and `location` are null (never set in the
/// simulated directory); `email` is absent when hidden; `managementSource` is null for users
/// never invited; `productAccess`, `groups` and `counts` appear only when expanded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DirectoryUser<'a> {
    account_id: &'a str,
    account_type: &'static str,
    status: UserStatus,
    account_status: AccountStatus,
    membership_status: MembershipStatus,
    added_to_org: String,
    name: &'a str,
    nickname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    email_verified: bool,
    claim_status: ClaimStatus,
    platform_roles: Vec<&'static str>,
    picture: String,
    avatar: String,
    management_source: Option<ManagementSource>,
    mfa_enabled: bool,
    job_title: &'a str,
    department: &'a str,
    organization: Option<&'a str>,
    location: Option<&'a str>,
    time_zone: &'a str,
    links: SelfLink,
    deactivated_on: Option<String>,
    for_deletion: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    product_access: Option<Vec<UserProductAccess<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<Vec<GroupSummary<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    counts: Option<ResourceCount>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserProductAccess<'a> {
    key: &'static str,
    id: &'a str,
    last_active_timestamp: Option<String>,
}

#[derive(Serialize)]
struct GroupSummary<'a> {
    id: &'a str,
    name: &'a str,
    description: &'a str,
}

#[derive(Serialize)]
struct ResourceCount {
    resources: usize,
}

/// A typed struct rather than `json!`: users are served 100 to a page, 50,000 deep.
pub(crate) fn directory_user<'a>(
    pop: &'a Population,
    user: &'a User,
    expand: &[Expand],
) -> DirectoryUser<'a> {
    let directory = &pop.directories()[user.directory];
    let picture = picture(user);
    DirectoryUser {
        account_id: &user.account_id,
        account_type: "atlassian",
        status: user.status,
        account_status: user.account_status(),
        membership_status: user.membership_status(),
        added_to_org: iso_seconds(user.added_to_org_ms),
        name: &user.name,
        nickname: &user.nickname,
        email: user.visible_email(),
        email_verified: user.email_verified,
        claim_status: user.claim_status,
        platform_roles: user.platform_roles(),
        avatar: picture.clone(),
        picture,
        management_source: user.management_source,
        mfa_enabled: user.mfa_enabled,
        job_title: user.job_title,
        department: user.department,
        organization: None,
        location: None,
        time_zone: user.time_zone,
        links: SelfLink {
            href: format!(
                "{PUBLIC_ORIGIN}/admin/v2/orgs/{}/directories/{}/users/{}",
                pop.org_id(),
                directory.id,
                user.account_id
            ),
        },
        deactivated_on: user.deactivated_on_ms.map(iso_seconds),
        for_deletion: user.for_deletion(),
        // A product never used has no entry (notes §0 "Product access and inactivity");
        // `counts.resources` still counts it.
        product_access: expand.contains(&Expand::ProductAccess).then(|| {
            user.product_access
                .iter()
                .filter(|p| p.last_active_ms.is_some())
                .map(|p| UserProductAccess {
                    key: p.product.key(),
                    id: &pop.workspaces()[p.workspace].id,
                    last_active_timestamp: p.last_active_ms.map(iso_seconds),
                })
                .collect()
        }),
        groups: expand.contains(&Expand::Groups).then(|| {
            user.groups
                .iter()
                .map(|&g| {
                    let group = &pop.groups()[g];
                    GroupSummary {
                        id: &group.id,
                        name: group.name,
                        description: group.description,
                    }
                })
                .collect()
        }),
        counts: expand
            .contains(&Expand::ResourceCounts)
            .then_some(ResourceCount {
                resources: user.product_access.len(),
            }),
    }
}

/// A v1 managed account. `last_active` (and a product's `last_active`) is absent when the
/// user never used a product; `access_billable` is true for active users with product access.
#[derive(Serialize)]
pub(crate) struct ManagedAccount<'a> {
    account_id: &'a str,
    account_type: &'static str,
    account_status: AccountStatus,
    name: &'a str,
    picture: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    access_billable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_active: Option<String>,
    product_access: Vec<AccountProduct<'a>>,
    links: SelfLink,
}

#[derive(Serialize)]
struct AccountProduct<'a> {
    key: &'static str,
    name: &'static str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_active: Option<String>,
}

/// A typed struct for the same reason as [`DirectoryUser`].
pub(crate) fn managed_account<'a>(pop: &'a Population, user: &'a User) -> ManagedAccount<'a> {
    ManagedAccount {
        account_id: &user.account_id,
        account_type: "atlassian",
        account_status: user.account_status(),
        name: &user.name,
        picture: picture(user),
        email: user.visible_email(),
        access_billable: user.status == UserStatus::Active && !user.product_access.is_empty(),
        last_active: user.last_active_ms().map(iso_millis),
        product_access: user
            .product_access
            .iter()
            .map(|p| AccountProduct {
                key: p.product.key(),
                name: p.product.display_name(),
                url: &pop.workspaces()[p.workspace].host_url,
                last_active: p.last_active_ms.map(iso_millis),
            })
            .collect(),
        links: SelfLink {
            href: format!("{PUBLIC_ORIGIN}/users/{}/manage/profile", user.account_id),
        },
    }
}

/// A group. `managedBy` is `external` for synced groups and `admins` otherwise; synced
/// groups cannot be modified or deleted, and nor can `org-admins` be deleted.
pub(crate) fn group(pop: &Population, group: &Group) -> Value {
    let directory = &pop.directories()[group.directory];
    json!({
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "directoryId": directory.id,
        "managementAccess": {
            "readable": true,
            "modifiable": !group.external_synced,
            "deletable": !group.external_synced && group.name != "org-admins",
        },
        "externalSynced": group.external_synced,
        "managedBy": if group.external_synced { "external" } else { "admins" },
        "counts": {
            "users": group.member_count,
            "resources": pop.group_role_assignments(group).len(),
        },
        "links": {"self": format!(
            "{PUBLIC_ORIGIN}/admin/v2/orgs/{}/directories/{}/groups/{}",
            pop.org_id(), directory.id, group.id
        )},
    })
}

/// A role assignment. `resourceOwner` is the product key for product resources and
/// `platform` for the organization and the site (unconfirmed). `userDirectoryStatus` is the
/// user's membership status on directory-scoped assignments of a user, else null.
pub(crate) fn role_assignment(
    pop: &Population,
    assignment: &RoleAssignment,
    user: Option<&User>,
) -> Value {
    let owner = match assignment.resource {
        Resource::Org | Resource::Site => "platform",
        Resource::Product(product, _) => product.key(),
    };
    let directory = assignment.directory.map(|d| &pop.directories()[d].id);
    json!({
        "resourceId": pop.resource_id(assignment.resource),
        "resourceOwner": owner,
        "roles": assignment.roles.iter().map(|(role, _)| *role).collect::<Vec<_>>(),
        "roleAssignments": assignment.roles.iter().map(|(role, method)| json!({
            "role": role,
            "roleAssignmentMethods": [method],
        })).collect::<Vec<_>>(),
        "directoryId": directory,
        "userDirectoryStatus": user.filter(|_| directory.is_some()).map(User::membership_status),
    })
}

/// A claimed domain.
pub(crate) fn domain(pop: &Population, domain: &Domain) -> Value {
    json!({
        "id": domain.id,
        "type": "domains",
        "attributes": {
            "name": domain.name,
            "claim": {"type": domain.claim_type, "status": domain.status},
        },
        "links": {"self": format!("{}/domains/{}", pop.org_url(), domain.id)},
    })
}

/// A policy. Policies that apply to the workspaces list the two product workspaces as
/// `resources` with `applicationStatus: applied` (value unconfirmed).
pub(crate) fn policy(pop: &Population, policy: &Policy) -> Value {
    let resources: Vec<Value> = if policy.applies_to_workspaces {
        Product::ALL
            .iter()
            .filter(|&&p| p != Product::JiraServiceManagement)
            .map(|&p| {
                let workspace = pop.product_workspace(p);
                json!({
                    "id": pop.resource_id(Resource::Product(p, workspace)),
                    "applicationStatus": "applied",
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    json!({
        "id": policy.id,
        "type": "policy",
        "attributes": {
            "type": policy.policy_type,
            "name": policy.name,
            "status": if policy.enabled { "enabled" } else { "disabled" },
            "rule": policy.rule,
            "resources": resources,
            "createdAt": iso_seconds(policy.created_ms),
            "updatedAt": iso_seconds(policy.updated_ms),
        },
        "links": {"self": format!("{}/policies/{}", pop.org_url(), policy.id)},
    })
}

/// A workspace. Every workspace is hosted in the EU realm (`eu-central-1`).
pub(crate) fn workspace(pop: &Population, workspace: &Workspace) -> Value {
    json!({
        "id": workspace.id,
        "type": "workspaces",
        "attributes": {
            "name": workspace.name,
            "typeKey": workspace.type_key,
            "type": "workspace",
            "owner": pop.org_id(),
            "status": workspace.status,
            "statusDetails": [],
            "labels": [],
            "sandbox": workspace.sandbox,
            "hostUrl": workspace.host_url,
            "realm": "eu",
            "regions": ["eu-central-1"],
            "createdAt": iso_seconds(workspace.created_ms),
        },
        "links": {"self": format!(
            "{PUBLIC_ORIGIN}/admin/v2/orgs/{}/workspaces/{}", pop.org_id(), workspace.id
        )},
    })
}

/// A user API token. `expiresAt` is null for tokens without expiry and `lastActiveAt` for
/// tokens never used; `status` is always `ALLOWED` (the only documented value). The dates'
/// form is undocumented: they are written `2025-01-02T03:04:05.000+0000`, a form Java
/// services emit that RFC 3339 parsers refuse.
pub(crate) fn api_token(pop: &Population, token: &ApiToken) -> Value {
    let owner = &pop.users()[token.owner];
    json!({
        "id": token.id,
        "label": token.label,
        "status": "ALLOWED",
        "createdAt": iso_basic_offset(token.created_ms),
        "expiresAt": token.expires_ms.map(iso_basic_offset),
        "lastActiveAt": token.last_active_ms.map(iso_basic_offset),
        "user": {
            "id": owner.account_id,
            "orgId": pop.org_id(),
            "name": owner.name,
            "email": owner.visible_email(),
        },
    })
}

/// An org admin API key (fields undocumented: id, name, creation and expiry).
pub(crate) fn api_key(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "createdAt": iso_seconds(key.created_ms),
        "expiresAt": iso_seconds(key.expires_ms),
    })
}

/// One managed account's authentication policy, as the bulk fetch returns it (shape
/// undocumented; the integration reads `policy.ssoEnforced` and
/// `policy.twoStepVerification`).
pub(crate) fn auth_policy(user: &User) -> Value {
    let (id, name) = user.auth_policy.id_and_name();
    json!({
        "accountId": user.account_id,
        "policy": {
            "id": id,
            "name": name,
            "ssoEnforced": user.auth_policy == AuthPolicy::Sso,
            "twoStepVerification": if user.auth_policy == AuthPolicy::TwoStep { "enforced" } else { "optional" },
        },
    })
}
