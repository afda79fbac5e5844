//! The endpoints the simulator serves: their paths, methods and required scopes.

use http::Method;

/// A served endpoint. Paths are as documented; `{directoryId}` may be `-` (all directories).
/// The discriminants index per-endpoint request counters, in the order of [`Endpoint::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET /admin/v1/orgs/{orgId}`
    Org,
    /// `GET /admin/v2/orgs/{orgId}/directories`
    Directories,
    /// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users` (deprecated upstream)
    Users,
    /// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search`
    UsersSearch,
    /// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments`
    UserRoleAssignments,
    /// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups` (deprecated upstream)
    Groups,
    /// `POST /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search`
    GroupsSearch,
    /// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments`
    GroupRoleAssignments,
    /// `GET /admin/v1/orgs/{orgId}/users` (managed accounts)
    ManagedAccounts,
    /// `GET /admin/v1/orgs/{orgId}/domains`
    Domains,
    /// `GET /admin/v1/orgs/{orgId}/policies`
    Policies,
    /// `GET /admin/v1/orgs/{orgId}/events-stream`
    EventsStream,
    /// `GET /admin/v1/orgs/{orgId}/events` (10 requests a minute)
    Events,
    /// `POST /admin/v2/orgs/{orgId}/workspaces`
    Workspaces,
    /// `GET /admin/api-access/v1/orgs/{orgId}/api-tokens`
    ApiTokens,
    /// `GET /admin/control/v1/orgs/{orgId}/policies` (the Admin Control API)
    ControlPolicies,
    /// `GET /admin/api-access/v1/orgs/{orgId}/api-keys` (org admin API keys)
    ApiKeys,
    /// `POST /admin/control/v1/orgs/{orgId}/users/auth-policies/bulk-fetch`
    AuthPolicies,
    /// `GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users/count`
    UsersCount,
}

impl Endpoint {
    pub const ALL: [Endpoint; 19] = [
        Endpoint::Org,
        Endpoint::Directories,
        Endpoint::Users,
        Endpoint::UsersSearch,
        Endpoint::UserRoleAssignments,
        Endpoint::Groups,
        Endpoint::GroupsSearch,
        Endpoint::GroupRoleAssignments,
        Endpoint::ManagedAccounts,
        Endpoint::Domains,
        Endpoint::Policies,
        Endpoint::EventsStream,
        Endpoint::Events,
        Endpoint::Workspaces,
        Endpoint::ApiTokens,
        Endpoint::ControlPolicies,
        Endpoint::ApiKeys,
        Endpoint::AuthPolicies,
        Endpoint::UsersCount,
    ];

    /// The (read-only) method the endpoint answers to.
    pub fn method(self) -> Method {
        match self {
            Endpoint::UsersSearch
            | Endpoint::GroupsSearch
            | Endpoint::Workspaces
            | Endpoint::AuthPolicies => Method::POST,
            _ => Method::GET,
        }
    }

    /// The scope a scoped API key needs. The notes annotate no scope on `users/search`,
    /// `groups/search` and the v1 `policies`; the simulator requires the scope of the
    /// matching read (`read:directories:admin`, `read:groups:admin`) and the Admin Control
    /// API's `read:policies:admin`, the plausible reading for keys that do reach them.
    pub fn scope(self) -> &'static str {
        match self {
            Endpoint::Org => "read:orgs:admin",
            Endpoint::Directories
            | Endpoint::Users
            | Endpoint::UsersSearch
            | Endpoint::UsersCount
            | Endpoint::UserRoleAssignments => "read:directories:admin",
            Endpoint::Groups | Endpoint::GroupsSearch | Endpoint::GroupRoleAssignments => {
                "read:groups:admin"
            }
            Endpoint::ManagedAccounts => "read:accounts:admin",
            Endpoint::Domains => "read:domains:admin",
            Endpoint::Policies | Endpoint::ControlPolicies | Endpoint::AuthPolicies => {
                "read:policies:admin"
            }
            Endpoint::EventsStream | Endpoint::Events => "read:events:admin",
            Endpoint::Workspaces => "read:workspaces:admin",
            Endpoint::ApiTokens | Endpoint::ApiKeys => "read:tokens:admin",
        }
    }

    /// Whether Atlassian documents a scope for the endpoint. Where it does
    /// not (notes §1: `users/search`, `groups/search`, the v1 `policies`),
    /// whether a scoped key is accepted is unconfirmed; the simulator
    /// refuses it in its strict-scopes mode.
    pub fn scope_documented(self) -> bool {
        !matches!(
            self,
            Endpoint::UsersSearch | Endpoint::GroupsSearch | Endpoint::Policies
        )
    }
}

/// A request path resolved to an endpoint and its path parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    pub endpoint: Endpoint,
    pub org_id: &'a str,
    /// `{directoryId}` (`-` for all directories).
    pub directory: Option<&'a str>,
    /// `{accountId}` or `{groupId}`.
    pub item: Option<&'a str>,
}

/// Resolves a path (without query); `None` for unknown paths.
pub(crate) fn route(path: &str) -> Option<Route<'_>> {
    let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    let (endpoint, org_id, directory, item) = match segments.as_slice() {
        ["admin", "v1", "orgs", org] => (Endpoint::Org, org, None, None),
        ["admin", "v1", "orgs", org, resource] => {
            let endpoint = match *resource {
                "users" => Endpoint::ManagedAccounts,
                "domains" => Endpoint::Domains,
                "policies" => Endpoint::Policies,
                "events-stream" => Endpoint::EventsStream,
                "events" => Endpoint::Events,
                _ => return None,
            };
            (endpoint, org, None, None)
        }
        ["admin", "v2", "orgs", org, "directories"] => (Endpoint::Directories, org, None, None),
        ["admin", "v2", "orgs", org, "workspaces"] => (Endpoint::Workspaces, org, None, None),
        ["admin", "v2", "orgs", org, "directories", dir, "users"] => {
            (Endpoint::Users, org, Some(*dir), None)
        }
        [
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "users",
            "search",
        ] => (Endpoint::UsersSearch, org, Some(*dir), None),
        [
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "users",
            "count",
        ] => (Endpoint::UsersCount, org, Some(*dir), None),
        [
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "users",
            account,
            "role-assignments",
        ] => (
            Endpoint::UserRoleAssignments,
            org,
            Some(*dir),
            Some(*account),
        ),
        ["admin", "v2", "orgs", org, "directories", dir, "groups"] => {
            (Endpoint::Groups, org, Some(*dir), None)
        }
        [
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "groups",
            "search",
        ] => (Endpoint::GroupsSearch, org, Some(*dir), None),
        [
            "admin",
            "v2",
            "orgs",
            org,
            "directories",
            dir,
            "groups",
            group,
            "role-assignments",
        ] => (
            Endpoint::GroupRoleAssignments,
            org,
            Some(*dir),
            Some(*group),
        ),
        ["admin", "api-access", "v1", "orgs", org, "api-tokens"] => {
            (Endpoint::ApiTokens, org, None, None)
        }
        ["admin", "api-access", "v1", "orgs", org, "api-keys"] => {
            (Endpoint::ApiKeys, org, None, None)
        }
        ["admin", "control", "v1", "orgs", org, "policies"] => {
            (Endpoint::ControlPolicies, org, None, None)
        }
        [
            "admin",
            "control",
            "v1",
            "orgs",
            org,
            "users",
            "auth-policies",
            "bulk-fetch",
        ] => (Endpoint::AuthPolicies, org, None, None),
        _ => return None,
    };
    Some(Route {
        endpoint,
        org_id,
        directory,
        item,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_endpoint_at_its_discriminant() {
        for (i, endpoint) in Endpoint::ALL.iter().enumerate() {
            assert_eq!(*endpoint as usize, i, "{endpoint:?}");
        }
    }

    #[test]
    fn resolves_documented_paths() {
        let r = route("/admin/v2/orgs/o/directories/-/users/712020:a/role-assignments").unwrap();
        assert_eq!(
            (r.endpoint, r.org_id, r.directory, r.item),
            (
                Endpoint::UserRoleAssignments,
                "o",
                Some("-"),
                Some("712020:a")
            )
        );
        assert_eq!(
            route("/admin/api-access/v1/orgs/o/api-tokens").map(|r| r.endpoint),
            Some(Endpoint::ApiTokens)
        );
        assert_eq!(
            route("/admin/v1/orgs/o/events-stream").map(|r| r.endpoint),
            Some(Endpoint::EventsStream)
        );
        assert_eq!(route("/admin/v1/orgs/o/secrets"), None);
        assert_eq!(route("/admin/v1/orgs/o/users/"), None);
        assert_eq!(route("admin/v1/orgs/o"), None);
    }
}
