//! The deterministic truth: one synthetic organization built from a seed.
//!
//! [`Population::generate`] builds everything but the audit log up front (compact records,
//! tens of megabytes at 50,000 users); audit events are made on demand from their index. The
//! server renders the API's views from this data, and tests compute the exact records and
//! posture findings they expect from it (see the methods in `posture`).
//!
//! All names, emails and hosts are on RFC 2606 domains (`example.com`, `example.org`,
//! `example.net`), and all IP addresses are RFC 5737 documentation addresses.

mod events;
mod generate;
mod keys;
mod model;
mod posture;

use std::collections::HashMap;

pub(crate) use events::Event;
pub use model::*;

use crate::PUBLIC_ORIGIN;
use crate::clock::NOW_MS;
use crate::prng::mix;
use events::EventLog;
use generate::{Org, stream};

/// A synthetic Atlassian organization.
pub struct Population {
    seed: u64,
    org: Org,
    /// `https://api.atlassian.com/admin/v1/orgs/{orgId}`, the stem of most record links.
    org_url: String,
    events: EventLog,
    by_account_id: HashMap<String, usize>,
}

impl Population {
    /// Builds the organization for `seed` with `users` members and `events` audit events
    /// (none if there are no users: an organization without users has nothing to audit).
    pub fn generate(seed: u64, users: usize, events: usize) -> Population {
        let org = generate::organization(seed, users);
        let events = EventLog::new(&org.users, events);
        let by_account_id = org
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.account_id.clone(), i))
            .collect();
        Population {
            seed,
            org_url: format!("{PUBLIC_ORIGIN}/admin/v1/orgs/{}", org.id),
            org,
            events,
            by_account_id,
        }
    }

    /// The population's fixed "now" (2026-11-24T00:00:00Z) in epoch milliseconds: every
    /// timestamp is relative to it. See [`crate::NOW_MS`] for why checks stay stable.
    pub fn now_ms() -> i64 {
        NOW_MS
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The organization id: a UUID derived from the seed.
    pub fn org_id(&self) -> &str {
        &self.org.id
    }

    /// The organization's v1 URL on the public origin.
    pub(crate) fn org_url(&self) -> &str {
        &self.org_url
    }

    pub fn org_name(&self) -> &str {
        &self.org.name
    }

    /// The site hosting the products (the resource `atlassian/site-admin` is held on).
    pub fn site_id(&self) -> &str {
        &self.org.site_id
    }

    /// "Employees" (about 90% of users) and "Contractors" (about 10%), in that order.
    pub fn directories(&self) -> &[Directory] {
        &self.org.directories
    }

    pub fn workspaces(&self) -> &[Workspace] {
        &self.org.workspaces
    }

    pub fn users(&self) -> &[User] {
        &self.org.users
    }

    /// The user with this account id.
    pub fn user(&self, account_id: &str) -> Option<&User> {
        self.by_account_id
            .get(account_id)
            .map(|&i| &self.org.users[i])
    }

    pub fn groups(&self) -> &[Group] {
        &self.org.groups
    }

    pub fn domains(&self) -> &[Domain] {
        &self.org.domains
    }

    pub fn policies(&self) -> &[Policy] {
        &self.org.policies
    }

    pub fn api_tokens(&self) -> &[ApiToken] {
        &self.org.api_tokens
    }

    /// The organization's admin API keys.
    pub fn api_keys(&self) -> &[ApiKey] {
        &self.org.api_keys
    }

    /// The roles a user holds, one entry per resource, as `…/users/{accountId}/role-assignments`
    /// lists them: org admins hold `atlassian/org-admin` on the organization and site admins
    /// `atlassian/site-admin` on the site (both directly, with no directory); every product a
    /// user can use carries `atlassian/user`, held through a product group or directly, plus
    /// any role a group grants on it (`site-admins` grants `atlassian/admin`).
    pub fn role_assignments(&self, user: &User) -> Vec<RoleAssignment> {
        let mut assignments = Vec::new();
        if user.org_admin {
            assignments.push(RoleAssignment {
                resource: Resource::Org,
                roles: vec![(ORG_ADMIN_ROLE, AssignmentMethod::Direct)],
                directory: None,
            });
        }
        if user.site_admin {
            assignments.push(RoleAssignment {
                resource: Resource::Site,
                roles: vec![(SITE_ADMIN_ROLE, AssignmentMethod::Direct)],
                directory: None,
            });
        }
        for access in &user.product_access {
            let resource = Resource::Product(access.product, access.workspace);
            let granted_by_group = |role| {
                user.groups
                    .iter()
                    .any(|&g| self.org.groups[g].grants.contains(&(resource, role)))
            };
            let mut roles = vec![(
                USER_ROLE,
                if granted_by_group(USER_ROLE) {
                    AssignmentMethod::GroupDirect
                } else {
                    AssignmentMethod::Direct
                },
            )];
            if granted_by_group(ADMIN_ROLE) {
                roles.push((ADMIN_ROLE, AssignmentMethod::GroupDirect));
            }
            assignments.push(RoleAssignment {
                resource,
                roles,
                directory: Some(user.directory),
            });
        }
        assignments
    }

    /// The roles a group grants, one entry per resource, all held `direct`ly by the group in
    /// its directory (`…/groups/{groupId}/role-assignments`).
    pub fn group_role_assignments(&self, group: &Group) -> Vec<RoleAssignment> {
        let mut assignments: Vec<RoleAssignment> = Vec::new();
        for &(resource, role) in &group.grants {
            let grant = (role, AssignmentMethod::Direct);
            match assignments.iter_mut().find(|a| a.resource == resource) {
                Some(assignment) => assignment.roles.push(grant),
                None => assignments.push(RoleAssignment {
                    resource,
                    roles: vec![grant],
                    directory: Some(group.directory),
                }),
            }
        }
        assignments
    }

    /// The workspace (an index into [`Population::workspaces`]) a product lives in.
    pub fn product_workspace(&self, product: Product) -> usize {
        generate::workspace_of(product)
    }

    /// The resource's ARI, as role assignments name it.
    pub fn resource_id(&self, resource: Resource) -> String {
        match resource {
            Resource::Org => format!("ari:cloud:platform::org/{}", self.org_id()),
            Resource::Site => format!("ari:cloud:platform::site/{}", self.site_id()),
            Resource::Product(product, workspace) => format!(
                "ari:cloud:{}::site/{}",
                product.key(),
                self.workspaces()[workspace].id
            ),
        }
    }

    /// How many audit events exist now, including appended ones.
    pub fn event_count(&self) -> usize {
        self.events.count()
    }

    /// Audit event `index` (0-based, in `processedAt` order) exactly as the events APIs return
    /// it. Panics if `index >= event_count()`.
    pub fn event(&self, index: usize) -> serde_json::Value {
        assert!(index < self.event_count(), "event {index} does not exist");
        serde_json::to_value(self.event_record(index)).expect("an event serializes")
    }

    /// When event `index` was processed, in epoch milliseconds (strictly increasing).
    pub fn event_processed_ms(&self, index: usize) -> i64 {
        self.events.processed_ms(index)
    }

    /// The index of the first event processed at or after `ms`; may be `event_count()` or more.
    pub(crate) fn first_event_at_or_after(&self, ms: i64) -> usize {
        self.events.first_at_or_after(ms)
    }

    pub(crate) fn append_events(&self, n: usize) {
        self.events.append(n);
    }

    /// The key cursors are checked with: cursors from another seed's simulator are rejected.
    pub(crate) fn cursor_key(seed: u64) -> u64 {
        mix(seed, stream::CURSORS)
    }

    /// The id of the organization `seed` builds, without building it.
    pub fn org_id_for(seed: u64) -> String {
        generate::org_id(seed)
    }
}
