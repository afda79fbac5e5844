//! The v2 directory APIs: directories, users, groups and role assignments.
//!
//! Lists here use opaque cursors: `links: {self, prev, next}` hold cursors, `prev` is always
//! null (the simulator offers no backward paging), and `next` is null on the last page.
//! Page sizes: default 100, maximum 100 (larger limits are clamped); no maximum is documented.

use http::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Ctx, Params, json};
use crate::errors::ApiError;
use crate::pagination::{ListQuery, Listed, PageSize, limit};
use crate::population::*;
use crate::views::{self, Expand};

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 100;

/// The v2 list envelope: `{data, links: {self, prev, next}}`.
#[derive(Serialize)]
struct Page<'a, T> {
    data: Vec<T>,
    links: Links<'a>,
}

#[derive(Serialize)]
struct Links<'a> {
    #[serde(rename = "self")]
    this: &'a str,
    prev: Option<&'a str>,
    next: Option<&'a str>,
}

fn envelope<T: Serialize, Q>(data: Vec<T>, listed: &Listed<Q>) -> Vec<u8> {
    json(&Page {
        data,
        links: Links {
            this: &listed.this,
            prev: None,
            next: listed.next.as_deref(),
        },
    })
}

/// The filters a list takes, from query parameters (`GET`) or a JSON body (`POST …/search`,
/// where they sit beside `cursor` and `limit`). Filters combine with AND, the values of one
/// filter with OR.
trait Filter: Serialize + DeserializeOwned + Default {
    fn from_params(params: &Params) -> Result<Self, ApiError>;

    /// Rejects combinations the API refuses.
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A filtered list's query, as its cursor carries it.
#[derive(Serialize, Deserialize)]
struct Filtered<F> {
    #[serde(flatten)]
    filter: F,
    limit: usize,
}

impl<F: Serialize + DeserializeOwned> ListQuery for Filtered<F> {
    fn limit(&self) -> usize {
        self.limit
    }
}

/// A `POST …/search` body.
#[derive(Default, Deserialize)]
#[serde(default)]
struct SearchBody<F> {
    cursor: Option<String>,
    limit: Option<u64>,
    #[serde(flatten)]
    filter: F,
}

impl Ctx<'_> {
    /// A page of a filtered list of `len` items: the cursor and the first page's filters come
    /// from the body of a `POST`, or from the query parameters of a `GET`.
    fn filtered_page<F: Filter>(
        &self,
        len: usize,
        keep: impl Fn(&F, usize) -> bool,
    ) -> Result<Listed<Filtered<F>>, ApiError> {
        let (cursor, fresh) = if self.route.endpoint.method() == Method::POST {
            let body: SearchBody<F> = self.json_body()?;
            (body.cursor, Ok((body.filter, body.limit)))
        } else {
            let fresh = F::from_params(&self.params)
                .and_then(|filter| Ok((filter, self.params.one("limit")?)));
            (self.params.get("cursor").map(str::to_owned), fresh)
        };
        self.paginator.page(
            &self.scope(),
            cursor.as_deref(),
            || {
                let (filter, requested) = fresh?;
                filter.check()?;
                Ok(Filtered {
                    filter,
                    limit: limit(requested, DEFAULT_LIMIT, MAX_LIMIT)?,
                })
            },
            |_| 0..len,
            |q, i| keep(&q.filter, i),
        )
    }

    /// The path's `{directoryId}`: `None` for `-` (all directories), else its index.
    fn directory(&self) -> Result<Option<usize>, ApiError> {
        match self.route.directory {
            None | Some("-") => Ok(None),
            Some(id) => self
                .pop
                .directories()
                .iter()
                .position(|d| d.id == id)
                .map(Some)
                .ok_or_else(|| ApiError::not_found(format!("Directory {id}"))),
        }
    }
}

/// `GET /admin/v2/orgs/{orgId}/directories`.
pub(super) fn directories(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directories = ctx.pop.directories();
    let listed = ctx.paginator.page(
        &ctx.scope(),
        ctx.params.get("cursor"),
        || {
            Ok(PageSize {
                limit: limit(ctx.params.one("limit")?, DEFAULT_LIMIT, MAX_LIMIT)?,
            })
        },
        |_| 0..directories.len(),
        |_, _| true,
    )?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::directory(&directories[i]))
        .collect();
    Ok(envelope(data, &listed))
}

/// User filters.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct UserFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    status: Vec<UserStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_status: Vec<AccountStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    membership_status: Vec<MembershipStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claim_status: Option<ClaimStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    role_ids: Vec<String>,
    /// Case-insensitive substring of the nickname or the visible email.
    #[serde(skip_serializing_if = "Option::is_none")]
    search_term: Option<String>,
    /// Exact visible emails (search body only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    emails: Vec<String>,
    /// Search body only.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expand: Vec<Expand>,
}

impl Filter for UserFilter {
    fn from_params(p: &Params) -> Result<UserFilter, ApiError> {
        Ok(UserFilter {
            account_ids: p.strings("accountIds"),
            status: p.many("status")?,
            account_status: p.many("accountStatus")?,
            membership_status: p.many("membershipStatus")?,
            claim_status: p.one("claimStatus")?,
            mfa_enabled: p.one("mfaEnabled")?,
            group_ids: p.strings("groupIds"),
            role_ids: p.strings("roleIds"),
            search_term: p.get("searchTerm").map(str::to_owned),
            emails: Vec::new(),
            expand: Vec::new(),
        })
    }

    fn check(&self) -> Result<(), ApiError> {
        if self.search_term.is_some() && !self.emails.is_empty() {
            return Err(ApiError::bad_request(
                "searchTerm and emails cannot be used together".to_owned(),
            ));
        }
        Ok(())
    }
}

fn any_or_empty<T>(wanted: &[T], test: impl Fn(&T) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(test)
}

/// Whether any of `wanted` is among `roles`.
fn holds_any<'r>(wanted: &[String], mut roles: impl Iterator<Item = &'r str>) -> bool {
    wanted.is_empty() || roles.any(|role| wanted.iter().any(|w| w == role))
}

impl UserFilter {
    fn matches(&self, pop: &Population, user: &User) -> bool {
        any_or_empty(&self.account_ids, |id| *id == user.account_id)
            && any_or_empty(&self.status, |s| *s == user.status)
            && any_or_empty(&self.account_status, |s| *s == user.account_status())
            && any_or_empty(&self.membership_status, |s| *s == user.membership_status())
            && self.claim_status.is_none_or(|c| c == user.claim_status)
            && self.mfa_enabled.is_none_or(|m| m == user.mfa_enabled)
            && self.search_term.as_deref().is_none_or(|term| {
                let term = term.to_lowercase();
                user.nickname.contains(&term)
                    || user
                        .visible_email()
                        .is_some_and(|e| e.to_lowercase().contains(&term))
            })
            && any_or_empty(&self.emails, |e| Some(e.as_str()) == user.visible_email())
            && any_or_empty(&self.group_ids, |id| {
                user.groups.iter().any(|&g| pop.groups()[g].id == *id)
            })
            && (self.role_ids.is_empty()
                || holds_any(
                    &self.role_ids,
                    pop.role_assignments(user)
                        .iter()
                        .flat_map(|a| a.roles.iter().map(|(role, _)| *role)),
                ))
    }
}

/// `GET …/directories/{directoryId}/users` and `POST …/directories/{directoryId}/users/search`.
/// `productAccess`, `groups` and `counts` appear only when the search body expands them.
pub(super) fn users(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directory = ctx.directory()?;
    let (pop, users) = (ctx.pop, ctx.pop.users());
    let listed = ctx.filtered_page(users.len(), |filter: &UserFilter, i| {
        let user = &users[i];
        directory.is_none_or(|d| user.listed_in.contains(&d)) && filter.matches(pop, user)
    })?;
    let data: Vec<_> = listed
        .items
        .iter()
        .map(|&i| views::directory_user(pop, &users[i], &listed.query.filter.expand))
        .collect();
    Ok(envelope(data, &listed))
}

/// `GET …/directories/{directoryId}/users/count`: `{"data": {"count": N}}` (shape
/// undocumented), the accounts the directory lists (`-`: every account of the org).
pub(super) fn users_count(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directory = ctx.directory()?;
    let count = ctx
        .pop
        .users()
        .iter()
        .filter(|u| directory.is_none_or(|d| u.listed_in.contains(&d)))
        .count();
    Ok(json(&serde_json::json!({"data": {"count": count}})))
}

/// Role-assignment filters.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RoleFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    role_ids: Vec<String>,
}

impl Filter for RoleFilter {
    fn from_params(p: &Params) -> Result<RoleFilter, ApiError> {
        Ok(RoleFilter {
            role_ids: p.strings("roleIds"),
        })
    }
}

/// Pages through role assignments (of a user or a group).
fn role_assignments(
    ctx: &Ctx<'_>,
    assignments: &[RoleAssignment],
    user: Option<&User>,
) -> Result<Vec<u8>, ApiError> {
    let listed = ctx.filtered_page(assignments.len(), |filter: &RoleFilter, i| {
        holds_any(
            &filter.role_ids,
            assignments[i].roles.iter().map(|(role, _)| *role),
        )
    })?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::role_assignment(ctx.pop, &assignments[i], user))
        .collect();
    Ok(envelope(data, &listed))
}

/// `GET …/directories/{directoryId}/users/{accountId}/role-assignments`: 404 when the user is
/// not in that directory.
pub(super) fn user_role_assignments(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directory = ctx.directory()?;
    let account_id = ctx.route.item.unwrap_or_default();
    let user = ctx
        .pop
        .user(account_id)
        .filter(|u| directory.is_none_or(|d| u.listed_in.contains(&d)))
        .ok_or_else(|| ApiError::not_found(format!("User {account_id}")))?;
    role_assignments(ctx, &ctx.pop.role_assignments(user), Some(user))
}

/// `GET …/directories/{directoryId}/groups/{groupId}/role-assignments`.
pub(super) fn group_role_assignments(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directory = ctx.directory()?;
    let group_id = ctx.route.item.unwrap_or_default();
    let group = ctx
        .pop
        .groups()
        .iter()
        .find(|g| g.id == group_id && directory.is_none_or(|d| g.directory == d))
        .ok_or_else(|| ApiError::not_found(format!("Group {group_id}")))?;
    role_assignments(ctx, &ctx.pop.group_role_assignments(group), None)
}

/// Group filters.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct GroupFilter {
    /// Case-insensitive substring of the name.
    #[serde(skip_serializing_if = "Option::is_none")]
    search_term: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_ids: Vec<String>,
    /// Exact names (search body only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_names: Vec<String>,
    /// Groups any of these accounts belong to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    account_ids: Vec<String>,
}

impl Filter for GroupFilter {
    fn from_params(p: &Params) -> Result<GroupFilter, ApiError> {
        Ok(GroupFilter {
            search_term: p.get("searchTerm").map(str::to_owned),
            group_ids: p.strings("groupIds"),
            group_names: Vec::new(),
            account_ids: p.strings("accountIds"),
        })
    }
}

impl GroupFilter {
    fn matches(&self, pop: &Population, index: usize) -> bool {
        let group = &pop.groups()[index];
        self.search_term
            .as_deref()
            .is_none_or(|t| group.name.contains(&t.to_lowercase()))
            && any_or_empty(&self.group_ids, |id| *id == group.id)
            && any_or_empty(&self.group_names, |name| name == group.name)
            && any_or_empty(&self.account_ids, |id| {
                pop.user(id).is_some_and(|u| u.groups.contains(&index))
            })
    }
}

/// `GET …/directories/{directoryId}/groups` (deprecated upstream) and
/// `POST …/directories/{directoryId}/groups/search`. `counts` is always included.
pub(super) fn groups(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let directory = ctx.directory()?;
    let (pop, groups) = (ctx.pop, ctx.pop.groups());
    let listed = ctx.filtered_page(groups.len(), |filter: &GroupFilter, i| {
        directory.is_none_or(|d| groups[i].directory == d) && filter.matches(pop, i)
    })?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::group(pop, &groups[i]))
        .collect();
    Ok(envelope(data, &listed))
}
