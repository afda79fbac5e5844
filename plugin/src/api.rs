//! The Atlassian Cloud Admin endpoints this integration reads: their URLs,
//! first-page parameters, the scope each needs (for 403 remedies), the
//! resource names used in messages and the evidence kind each yields.
//! Paths and scopes follow `shared/atlassian/admin-api-notes.md` §1–2.

use serde_json::{Value, json};

use crate::transport::Method;
use crate::urls::{API_ORIGIN, encode_segment};

/// Page size for v2 lists and searches. No maximum is documented; 100 is what
/// third-party clients use and keeps one page well under the host's
/// response-size cap.
pub const PAGE_LIMIT: u32 = 100;
/// Page size for the audit-log stream: Atlassian documents only a default of
/// 200; the maximum of 500 comes from a third-party client (notes §0
/// "Events-stream page size"), so no more than the default is asked for.
pub const EVENTS_LIMIT: u32 = 200;
/// The smallest page size the audit log is retried with when a page size
/// is refused (a 400): each refusal halves it down to this.
pub const EVENTS_MIN_LIMIT: u32 = 25;

pub const KIND_ORG: &str = "atlassian.org";
pub const KIND_DIRECTORY: &str = "atlassian.directory";
pub const KIND_USER: &str = "atlassian.user";
pub const KIND_GROUP: &str = "atlassian.group";
pub const KIND_ROLE_ASSIGNMENT: &str = "atlassian.role-assignment";
pub const KIND_DOMAIN: &str = "atlassian.domain";
pub const KIND_POLICY: &str = "atlassian.policy";
pub const KIND_EVENT: &str = "atlassian.event";
pub const KIND_WORKSPACE: &str = "atlassian.workspace";
pub const KIND_API_TOKEN: &str = "atlassian.api-token";
pub const KIND_API_KEY: &str = "atlassian.api-key";
pub const KIND_AUTH_POLICY: &str = "atlassian.auth-policy";
pub const KIND_USER_COUNT: &str = "atlassian.user-count";

/// What a user search expands (notes §2.4).
const USER_EXPANSIONS: [&str; 4] = [
    "productAccess",
    "groups",
    "platformRoles",
    "counts.resources",
];

/// The platform role of organization admins.
const ORG_ADMIN_ROLE: &str = crate::checks::ORG_ADMIN_ROLE;

/// Every request this integration can make, as manifest route patterns
/// (`*` is one segment). The manifest declares exactly these; a test checks
/// that every request of a full collection and validation matches one.
pub const ROUTES: &[(Method, &str)] = &[
    (Method::Get, "/admin/v1/orgs/*"),
    (Method::Get, "/admin/v1/orgs/*/domains"),
    (Method::Get, "/admin/v1/orgs/*/policies"),
    (Method::Get, "/admin/v1/orgs/*/events-stream"),
    (Method::Get, "/admin/v2/orgs/*/directories"),
    (Method::Get, "/admin/v2/orgs/*/directories/*/users"),
    (Method::Get, "/admin/v2/orgs/*/directories/*/groups"),
    (
        Method::Get,
        "/admin/v2/orgs/*/directories/*/users/*/role-assignments",
    ),
    (
        Method::Get,
        "/admin/v2/orgs/*/directories/*/groups/*/role-assignments",
    ),
    (Method::Get, "/admin/api-access/v1/orgs/*/api-tokens"),
    (Method::Get, "/admin/api-access/v1/orgs/*/api-keys"),
    (Method::Get, "/admin/control/v1/orgs/*/policies"),
    (Method::Get, "/admin/v2/orgs/*/directories/*/users/count"),
    (
        Method::Post,
        "/admin/control/v1/orgs/*/users/auth-policies/bulk-fetch",
    ),
    (Method::Post, "/admin/v2/orgs/*/directories/*/users/search"),
    (Method::Post, "/admin/v2/orgs/*/directories/*/groups/search"),
    (Method::Post, "/admin/v2/orgs/*/workspaces"),
];

/// An identifier placed in a URL path: the org id from the configuration, or
/// a directory, account or group id the API returned. Built only through
/// [`Segment::new`], so an id can never add a path segment, a query or a dot
/// segment to a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    raw: String,
    encoded: String,
}

/// An id [`Segment::new`] refuses: empty, or a dot segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} cannot be used as a path segment")]
pub struct NotASegment(String);

impl Segment {
    /// Refuses ids that are empty or dot segments; encodes everything else.
    pub fn new(id: &str) -> Result<Segment, NotASegment> {
        if id.is_empty() || id == "." || id == ".." {
            return Err(NotASegment(id.to_owned()));
        }
        Ok(Segment {
            raw: id.to_owned(),
            encoded: encode_segment(id),
        })
    }

    /// `-`: every directory the key may manage (used by `validate` probes).
    pub fn all_directories() -> Segment {
        Segment::new("-").expect("'-' is a valid segment")
    }

    /// The id as the API wrote it.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// What a key needs to call an endpoint; drives the remedy of a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// An API key with scopes needs this scope.
    Scope(&'static str),
    /// No scope is documented for the endpoint: it may only answer to an API
    /// key without scopes (notes §1, AX-712).
    UnscopedKey,
}

/// One readable list or object of the Admin APIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Org,
    Directories,
    /// POST search with product access, groups and platform roles expanded.
    UsersSearch(Segment),
    /// GET list: the fallback when the search is refused; no product access
    /// and no groups. Deprecated (works until June 30, 2027).
    UsersList(Segment),
    /// The org-wide search for org admins (directory `-`, role filter):
    /// finds admins in every directory and those in none (notes §0 "Org
    /// admins and directories").
    OrgAdminsSearch,
    /// How many accounts the organization holds (directory `-`), to check
    /// that the listings missed none (notes §0 "Counts").
    UsersCount,
    /// The authentication policies of a batch of managed accounts (Admin
    /// Control API bulk fetch): which are under SSO or enforced 2SV.
    AuthPolicies(Vec<String>),
    GroupsSearch(Segment),
    /// Deprecated GET list (works until June 30, 2027).
    GroupsList(Segment),
    UserRoles {
        directory: Segment,
        account: Segment,
    },
    GroupRoles {
        directory: Segment,
        group: Segment,
    },
    Domains,
    /// Policies through the Organizations API v1, for which no scope is
    /// documented.
    Policies,
    /// Policies through the Admin Control API (`read:policies:admin`).
    ControlPolicies,
    /// The audit log, through the polling endpoint (never `/events`, which
    /// is limited to 10 requests a minute).
    EventsStream,
    Workspaces,
    ApiTokens,
    /// The organization's own admin API keys, read for their expiry dates.
    ApiKeys,
}

impl Endpoint {
    pub fn method(&self) -> Method {
        match self {
            Endpoint::UsersSearch(_)
            | Endpoint::OrgAdminsSearch
            | Endpoint::AuthPolicies(_)
            | Endpoint::GroupsSearch(_)
            | Endpoint::Workspaces => Method::Post,
            _ => Method::Get,
        }
    }

    /// The URL without a query: origin and percent-encoded path.
    pub fn url(&self, org: &Segment) -> String {
        let org = &org.encoded;
        let v2 = format!("/admin/v2/orgs/{org}");
        let path = match self {
            Endpoint::Org => format!("/admin/v1/orgs/{org}"),
            Endpoint::Directories => format!("{v2}/directories"),
            Endpoint::UsersSearch(d) => format!("{v2}/directories/{}/users/search", d.encoded),
            Endpoint::UsersList(d) => format!("{v2}/directories/{}/users", d.encoded),
            Endpoint::OrgAdminsSearch => format!("{v2}/directories/-/users/search"),
            Endpoint::UsersCount => format!("{v2}/directories/-/users/count"),
            Endpoint::AuthPolicies(_) => {
                format!("/admin/control/v1/orgs/{org}/users/auth-policies/bulk-fetch")
            }
            Endpoint::GroupsSearch(d) => format!("{v2}/directories/{}/groups/search", d.encoded),
            Endpoint::GroupsList(d) => format!("{v2}/directories/{}/groups", d.encoded),
            Endpoint::UserRoles { directory, account } => format!(
                "{v2}/directories/{}/users/{}/role-assignments",
                directory.encoded, account.encoded
            ),
            Endpoint::GroupRoles { directory, group } => format!(
                "{v2}/directories/{}/groups/{}/role-assignments",
                directory.encoded, group.encoded
            ),
            Endpoint::Domains => format!("/admin/v1/orgs/{org}/domains"),
            Endpoint::Policies => format!("/admin/v1/orgs/{org}/policies"),
            Endpoint::EventsStream => format!("/admin/v1/orgs/{org}/events-stream"),
            Endpoint::Workspaces => format!("{v2}/workspaces"),
            Endpoint::ApiTokens => format!("/admin/api-access/v1/orgs/{org}/api-tokens"),
            Endpoint::ApiKeys => format!("/admin/api-access/v1/orgs/{org}/api-keys"),
            Endpoint::ControlPolicies => format!("/admin/control/v1/orgs/{org}/policies"),
        };
        format!("{API_ORIGIN}{path}")
    }

    /// Query parameters of the first page of a GET list. The audit log's
    /// time window is added by the collector, which knows the checkpoint.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        match self {
            Endpoint::Directories
            | Endpoint::UsersList(_)
            | Endpoint::GroupsList(_)
            | Endpoint::UserRoles { .. }
            | Endpoint::GroupRoles { .. } => vec![("limit", PAGE_LIMIT.to_string())],
            Endpoint::EventsStream => vec![("limit", EVENTS_LIMIT.to_string())],
            Endpoint::Org
            | Endpoint::Domains
            | Endpoint::Policies
            | Endpoint::ControlPolicies
            | Endpoint::ApiTokens
            | Endpoint::ApiKeys
            | Endpoint::UsersCount
            | Endpoint::UsersSearch(_)
            | Endpoint::OrgAdminsSearch
            | Endpoint::AuthPolicies(_)
            | Endpoint::GroupsSearch(_)
            | Endpoint::Workspaces => Vec::new(),
        }
    }

    /// The JSON body of the first page of a POST search. `platformRoles` is
    /// expanded too: the GET shape carries it unasked, but the search lists
    /// it among its expansions, so asking costs nothing and covers both.
    /// `counts.resources` tells product access when an account that never
    /// used a product has no `productAccess` entry.
    pub fn body(&self) -> Option<Value> {
        match self {
            Endpoint::UsersSearch(_) => Some(json!({
                "limit": PAGE_LIMIT,
                "expand": USER_EXPANSIONS,
            })),
            Endpoint::OrgAdminsSearch => Some(json!({
                "limit": PAGE_LIMIT,
                "roleIds": [ORG_ADMIN_ROLE],
                "expand": USER_EXPANSIONS,
            })),
            Endpoint::AuthPolicies(accounts) => Some(json!({ "userIds": accounts })),
            Endpoint::GroupsSearch(_) | Endpoint::Workspaces => {
                Some(json!({ "limit": PAGE_LIMIT }))
            }
            _ => None,
        }
    }

    pub fn permission(&self) -> Permission {
        match self {
            Endpoint::Org => Permission::Scope("read:orgs:admin"),
            Endpoint::Directories | Endpoint::UsersList(_) | Endpoint::UserRoles { .. } => {
                Permission::Scope("read:directories:admin")
            }
            // Scope unconfirmed (notes §2.8); the Admin Control API's read scope.
            Endpoint::AuthPolicies(_) => Permission::Scope("read:policies:admin"),
            Endpoint::GroupsList(_) | Endpoint::GroupRoles { .. } => {
                Permission::Scope("read:groups:admin")
            }
            Endpoint::Domains => Permission::Scope("read:domains:admin"),
            Endpoint::EventsStream => Permission::Scope("read:events:admin"),
            Endpoint::Workspaces => Permission::Scope("read:workspaces:admin"),
            Endpoint::ApiTokens | Endpoint::ApiKeys => Permission::Scope("read:tokens:admin"),
            Endpoint::ControlPolicies => Permission::Scope("read:policies:admin"),
            Endpoint::UsersSearch(_)
            | Endpoint::OrgAdminsSearch
            | Endpoint::UsersCount
            | Endpoint::GroupsSearch(_)
            | Endpoint::Policies => Permission::UnscopedKey,
        }
    }

    /// The plan an endpoint's control needs, where one does: a 403 may
    /// then be the plan's, not the key's (notes §0 "Audit log plan").
    pub fn plan(&self) -> Option<&'static str> {
        match self {
            Endpoint::EventsStream => Some("Atlassian Guard Standard or above"),
            Endpoint::Policies => {
                Some("an Enterprise plan or Atlassian Guard Premium for IP allowlists")
            }
            _ => None,
        }
    }

    /// Whether the endpoint answers one object in `data` rather than a list.
    pub fn is_single_object(&self) -> bool {
        matches!(self, Endpoint::Org | Endpoint::UsersCount)
    }

    /// What the endpoint reads, for warnings, errors and logs.
    pub fn resource(&self) -> String {
        match self {
            Endpoint::Org => "organization".into(),
            Endpoint::Directories => "directories".into(),
            Endpoint::UsersSearch(d) | Endpoint::UsersList(d) => {
                format!("users of directory {}", d.raw)
            }
            Endpoint::OrgAdminsSearch => "org admins (all directories)".into(),
            Endpoint::UsersCount => "user count".into(),
            Endpoint::AuthPolicies(accounts) => {
                format!("authentication policies of {} accounts", accounts.len())
            }
            Endpoint::GroupsSearch(d) | Endpoint::GroupsList(d) => {
                format!("groups of directory {}", d.raw)
            }
            Endpoint::UserRoles { account, .. } => {
                format!("role assignments of user {}", account.raw)
            }
            Endpoint::GroupRoles { group, .. } => {
                format!("role assignments of group {}", group.raw)
            }
            Endpoint::Domains => "domains".into(),
            Endpoint::Policies | Endpoint::ControlPolicies => "policies".into(),
            Endpoint::EventsStream => "audit log".into(),
            Endpoint::Workspaces => "workspaces".into(),
            Endpoint::ApiTokens => "user API tokens".into(),
            Endpoint::ApiKeys => "organization API keys".into(),
        }
    }

    /// The evidence kind of the endpoint's records.
    pub fn kind(&self) -> &'static str {
        match self {
            Endpoint::Org => KIND_ORG,
            Endpoint::Directories => KIND_DIRECTORY,
            Endpoint::UsersSearch(_) | Endpoint::UsersList(_) | Endpoint::OrgAdminsSearch => {
                KIND_USER
            }
            Endpoint::AuthPolicies(_) => KIND_AUTH_POLICY,
            Endpoint::UsersCount => KIND_USER_COUNT,
            Endpoint::ApiKeys => KIND_API_KEY,
            Endpoint::GroupsSearch(_) | Endpoint::GroupsList(_) => KIND_GROUP,
            Endpoint::UserRoles { .. } | Endpoint::GroupRoles { .. } => KIND_ROLE_ASSIGNMENT,
            Endpoint::Domains => KIND_DOMAIN,
            Endpoint::Policies | Endpoint::ControlPolicies => KIND_POLICY,
            Endpoint::EventsStream => KIND_EVENT,
            Endpoint::Workspaces => KIND_WORKSPACE,
            Endpoint::ApiTokens => KIND_API_TOKEN,
        }
    }

    /// The next endpoint of this one's list in the capability map (see
    /// [`Fallback`]), for when this one refuses the key (403) or does not
    /// exist for it (404) on the first page.
    pub fn fallback(&self) -> Option<Fallback> {
        let (endpoint, cost) = match self {
            Endpoint::UsersSearch(d) => (Endpoint::UsersList(d.clone()), Cost::NoProductAccess),
            // Every account of every directory the key manages, admins
            // in no directory included: the role filter is the search's.
            Endpoint::OrgAdminsSearch => (
                Endpoint::UsersList(Segment::all_directories()),
                Cost::NoProductAccess,
            ),
            Endpoint::GroupsSearch(d) => (Endpoint::GroupsList(d.clone()), Cost::Deprecated),
            Endpoint::ControlPolicies => (Endpoint::Policies, Cost::Nothing),
            _ => return None,
        };
        Some(Fallback { endpoint, cost })
    }
}

/// The capability map: each list the integration reads, the endpoints that
/// can serve it in order of preference, and the permission each needs.
///
/// | list | 1st | 2nd |
/// |---|---|---|
/// | users | `POST …/users/search` (no scope documented) | `GET …/users` (`read:directories:admin`; no product access or groups; deprecated) |
/// | org admins | `POST …/directories/-/users/search` with the org-admin role filter (no scope documented) | `GET …/directories/-/users` (`read:directories:admin`; every account, the admins among them) |
/// | groups | `POST …/groups/search` (no scope documented) | `GET …/groups` (`read:groups:admin`; deprecated) |
/// | policies | `GET /admin/control/v1/…/policies` (`read:policies:admin`) | `GET /admin/v1/…/policies` (no scope documented) |
///
/// Every other list has one endpoint with a documented scope. The searches
/// come first although no scope is documented for them because only they
/// report product access and groups; whether a scoped key may call them is
/// unconfirmed, so both answers are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    pub endpoint: Endpoint,
    /// What reading the list through `endpoint` loses.
    pub cost: Cost,
}

/// What a fallback endpoint cannot give that the preferred one could.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// The same records.
    Nothing,
    /// Users without product access and group membership: the findings
    /// that need them are Unknown.
    NoProductAccess,
    /// The same records through an endpoint that stops working after
    /// June 30, 2027.
    Deprecated,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_segment() {
        for bad in ["", ".", ".."] {
            assert!(Segment::new(bad).is_err(), "{bad:?} accepted");
        }
        let org = Segment::new("o").unwrap();
        let sneaky = Endpoint::UserRoles {
            directory: Segment::new("d").unwrap(),
            account: Segment::new("../../x?y#z").unwrap(),
        };
        assert_eq!(
            sneaky.url(&org),
            "https://api.atlassian.com/admin/v2/orgs/o/directories/d/users/..%2F..%2Fx%3Fy%23z/role-assignments"
        );
    }
}
