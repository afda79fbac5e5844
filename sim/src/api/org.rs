//! Organization-level APIs: the org, v1 managed accounts, domains, policies, workspaces and
//! user API tokens.
//!
//! v1 lists (users, domains, policies) put full URLs in `links` (`…?cursor=…`) and take no
//! page size, so the simulator uses fixed ones; workspaces and API tokens use opaque cursors.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Ctx, json};
use crate::errors::ApiError;
use crate::pagination::{ListQuery, Listed, PageSize, limit};
use crate::population::ClaimStatus;
use crate::views;

/// v1 users per page (undocumented).
const USERS_PAGE: usize = 100;
/// v1 domains per page (undocumented).
const DOMAINS_PAGE: usize = 20;
/// v1 policies per page (the documented example shows `page_size: 20`).
const POLICIES_PAGE: usize = 20;
/// API tokens per page (undocumented; small, so a default population needs two pages).
const TOKENS_PAGE: usize = 20;
/// Workspaces per page: default and maximum of the body's `limit` (undocumented).
const WORKSPACES_DEFAULT: usize = 20;
const WORKSPACES_MAX: usize = 100;

/// `GET /admin/v1/orgs/{orgId}`.
pub(super) fn org(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    Ok(json(&views::org(ctx.pop)))
}

impl Ctx<'_> {
    /// v1 `links`: full URLs; `self` repeats the request's own cursor.
    fn v1_links<Q>(&self, listed: &Listed<Q>) -> Value {
        json!({
            "self": self.url(self.params.get("cursor")),
            "prev": null,
            "next": listed.next.as_deref().map(|c| self.url(Some(c))),
        })
    }

    /// A page of an unfiltered list of `len` items with a fixed page size.
    fn fixed_page(&self, len: usize, page: usize) -> Result<Listed<PageSize>, ApiError> {
        self.paginator.page(
            &self.scope(),
            self.params.get("cursor"),
            || Ok(PageSize { limit: page }),
            |_| 0..len,
            |_, _| true,
        )
    }
}

/// `GET /admin/v1/orgs/{orgId}/users`: managed accounts only, with `meta.total`.
pub(super) fn managed_accounts(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let users = ctx.pop.users();
    let managed = |i: usize| users[i].claim_status == ClaimStatus::Managed;
    let listed = ctx.paginator.page(
        &ctx.scope(),
        ctx.params.get("cursor"),
        || Ok(PageSize { limit: USERS_PAGE }),
        |_| 0..users.len(),
        |_, i| managed(i),
    )?;
    #[derive(Serialize)]
    struct AccountPage<'a> {
        data: Vec<views::ManagedAccount<'a>>,
        meta: Value,
        links: Value,
    }
    Ok(json(&AccountPage {
        data: listed
            .items
            .iter()
            .map(|&i| views::managed_account(ctx.pop, &users[i]))
            .collect(),
        meta: json!({"total": ctx.pop.managed_accounts().len()}),
        links: ctx.v1_links(&listed),
    }))
}

/// `GET /admin/v1/orgs/{orgId}/domains`.
pub(super) fn domains(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let domains = ctx.pop.domains();
    let listed = ctx.fixed_page(domains.len(), DOMAINS_PAGE)?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::domain(ctx.pop, &domains[i]))
        .collect();
    Ok(json(&json!({"data": data, "links": ctx.v1_links(&listed)})))
}

#[derive(Serialize, Deserialize)]
struct PolicyQuery {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    policy_type: Option<String>,
    limit: usize,
}

impl ListQuery for PolicyQuery {
    fn limit(&self) -> usize {
        self.limit
    }
}

/// `GET /admin/v1/orgs/{orgId}/policies[?type=]`: `meta.next` repeats the next cursor.
pub(super) fn policies(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let policies = ctx.pop.policies();
    let listed = ctx.paginator.page(
        &ctx.scope(),
        ctx.params.get("cursor"),
        || {
            Ok(PolicyQuery {
                policy_type: ctx.params.get("type").map(str::to_owned),
                limit: POLICIES_PAGE,
            })
        },
        |_| 0..policies.len(),
        |q, i| {
            q.policy_type
                .as_deref()
                .is_none_or(|t| policies[i].policy_type == t)
        },
    )?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::policy(ctx.pop, &policies[i]))
        .collect();
    Ok(json(&json!({
        "data": data,
        "links": ctx.v1_links(&listed),
        "meta": {"next": listed.next, "page_size": POLICIES_PAGE},
    })))
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct WorkspaceSearch {
    cursor: Option<String>,
    limit: Option<u64>,
    /// Every other member, to enforce the cursor rule.
    #[serde(flatten)]
    others: serde_json::Map<String, Value>,
}

/// `POST /admin/v2/orgs/{orgId}/workspaces`: body `{cursor, limit}`; other body fields
/// (`query`, `sort`) are ignored. "When a cursor is provided in the request body, no other
/// properties may be present" (`SearchWorkspacesRequestV2.cursor`): a 400 otherwise.
pub(super) fn workspaces(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let search: WorkspaceSearch = ctx.json_body()?;
    if search.cursor.is_some() && (search.limit.is_some() || !search.others.is_empty()) {
        return Err(ApiError::bad_request(
            "When a cursor is provided in the request body, no other properties may be present."
                .to_owned(),
        ));
    }
    let workspaces = ctx.pop.workspaces();
    let listed = ctx.paginator.page(
        &ctx.scope(),
        search.cursor.as_deref(),
        || {
            Ok(PageSize {
                limit: limit(search.limit, WORKSPACES_DEFAULT, WORKSPACES_MAX)?,
            })
        },
        |_| 0..workspaces.len(),
        |_, _| true,
    )?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::workspace(ctx.pop, &workspaces[i]))
        .collect();
    Ok(json(&json!({
        "data": data,
        "links": {"self": listed.this, "prev": null, "next": listed.next},
        "meta": {},
    })))
}

/// `GET /admin/api-access/v1/orgs/{orgId}/api-tokens`: `links.next` is an opaque cursor,
/// passed back as `?cursor=`.
pub(super) fn api_tokens(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let tokens = ctx.pop.api_tokens();
    let listed = ctx.fixed_page(tokens.len(), TOKENS_PAGE)?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::api_token(ctx.pop, &tokens[i]))
        .collect();
    Ok(json(&json!({
        "data": data,
        "links": {"self": listed.this, "next": listed.next, "prev": null},
    })))
}

/// `GET /admin/control/v1/orgs/{orgId}/policies`: the same policies through
/// the Admin Control API, which documents a scope (`read:policies:admin`);
/// `links.next` is a full URL on the Control path.
pub(super) fn control_policies(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let policies = ctx.pop.policies();
    let listed = ctx.fixed_page(policies.len(), POLICIES_PAGE)?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::policy(ctx.pop, &policies[i]))
        .collect();
    Ok(json(&json!({
        "data": data,
        "links": {
            "self": ctx.url(Some(&listed.this)),
            "next": listed.next.as_deref().map(|next| ctx.url(Some(next))),
        },
    })))
}

/// `GET /admin/api-access/v1/orgs/{orgId}/api-keys`: org admin API keys, cursor-paged like
/// the tokens.
pub(super) fn api_keys(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let keys = ctx.pop.api_keys();
    let listed = ctx.fixed_page(keys.len(), TOKENS_PAGE)?;
    let data: Vec<Value> = listed
        .items
        .iter()
        .map(|&i| views::api_key(&keys[i]))
        .collect();
    Ok(json(&json!({
        "data": data,
        "links": {"self": listed.this, "next": listed.next, "prev": null},
    })))
}

/// Accounts one bulk fetch may name (undocumented; the users page size).
const AUTH_POLICY_BATCH: usize = 100;

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct BulkFetch {
    user_ids: Vec<String>,
}

/// `POST /admin/control/v1/orgs/{orgId}/users/auth-policies/bulk-fetch`: body
/// `{"userIds": [...]}` (at most [`AUTH_POLICY_BATCH`]); one record per managed account named,
/// unknown and unmanaged accounts left out. Not paged.
pub(super) fn auth_policies(ctx: &Ctx<'_>) -> Result<Vec<u8>, ApiError> {
    let fetch: BulkFetch = ctx.json_body()?;
    if fetch.user_ids.is_empty() || fetch.user_ids.len() > AUTH_POLICY_BATCH {
        return Err(ApiError::bad_request(format!(
            "userIds must name 1 to {AUTH_POLICY_BATCH} accounts"
        )));
    }
    let data: Vec<Value> = fetch
        .user_ids
        .iter()
        .filter_map(|id| ctx.pop.user(id))
        .filter(|u| u.claim_status == ClaimStatus::Managed)
        .map(views::auth_policy)
        .collect();
    Ok(json(&json!({"data": data, "links": {"next": null}})))
}
