//! The v2 directory APIs against the population's truth.

use std::collections::BTreeSet;

use crate::common::{Client, start_default};
use atlassian_sim::{ORG_ADMIN_ROLE, Population, SimHandle, UserStatus};
use serde_json::{Value, json};

/// Follows `links.next` cursors through a list, by GET (`path` + `query` first, then
/// `?cursor=`) or, when `search` is a body, by POST with `cursor` added to it; returns every
/// item.
async fn walk(client: &Client, path: &str, search: Option<Value>, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page = match &search {
            Some(body) => {
                let mut body = body.clone();
                if let Some(c) = &cursor {
                    body["cursor"] = c.clone().into();
                }
                let reply = client.post(path, &body).await;
                assert_eq!(
                    reply.status,
                    200,
                    "{}",
                    String::from_utf8_lossy(&reply.body)
                );
                reply.json()
            }
            None => match &cursor {
                Some(c) => client.ok(&format!("{path}?cursor={c}")).await,
                None => client.ok(&format!("{path}{query}")).await,
            },
        };
        items.extend(page["data"].as_array().unwrap().iter().cloned());
        assert!(page["links"]["prev"].is_null());
        match page["links"]["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap().to_owned())
        .collect()
}

fn all_user_ids(pop: &Population) -> Vec<String> {
    pop.users().iter().map(|u| u.account_id.clone()).collect()
}

async fn setup() -> (SimHandle, Client) {
    let sim = start_default().await;
    let client = Client::new(&sim);
    (sim, client)
}

#[tokio::test]
async fn v2_cursor_walks_every_user_once() {
    let (sim, client) = setup().await;
    let users = walk(
        &client,
        &client.v2("/directories/-/users"),
        None,
        "?limit=37",
    )
    .await;
    assert_eq!(ids(&users, "accountId"), all_user_ids(sim.population()));
    sim.shutdown().await;
}

#[tokio::test]
async fn v2_cursors_are_opaque_and_links_are_cursors() {
    let (sim, client) = setup().await;
    let page = client.ok(&client.v2("/directories/-/users?limit=10")).await;
    let next = page["links"]["next"].as_str().unwrap();
    assert!(next.parse::<u64>().is_err());
    assert!(!next.contains("://"));
    assert!(page["links"]["self"].is_string());
    assert_eq!(page["data"].as_array().unwrap().len(), 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn limit_defaults_to_100_and_is_clamped_to_100() {
    let (sim, client) = setup().await;
    for query in ["", "?limit=1000"] {
        let page = client
            .ok(&client.v2(&format!("/directories/-/users{query}")))
            .await;
        assert_eq!(page["data"].as_array().unwrap().len(), 100, "{query}");
    }
    assert_eq!(
        client
            .get(&client.v2("/directories/-/users?limit=0"))
            .await
            .status,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_or_tampered_cursor_gets_400_invalid_cursor() {
    let (sim, client) = setup().await;
    for cursor in ["MTAw", "garbage!", "eyJhIjoxfQ"] {
        let reply = client
            .get(&client.v2(&format!("/directories/-/users?cursor={cursor}")))
            .await;
        assert_eq!(reply.status, 400, "{cursor}");
        assert_eq!(reply.json()["errors"][0]["code"], "invalid_cursor");
    }
    // A groups cursor is not a users cursor.
    let groups = client.ok(&client.v2("/directories/-/groups?limit=2")).await;
    let cursor = groups["links"]["next"].as_str().unwrap();
    let reply = client
        .get(&client.v2(&format!("/directories/-/users?cursor={cursor}")))
        .await;
    assert_eq!(reply.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn directories_split_users_and_each_lists_only_its_own() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let dirs = client.ok(&client.v2("/directories")).await;
    let names: Vec<&str> = dirs["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Employees", "Contractors"]);
    let mut seen = Vec::new();
    for (index, directory) in pop.directories().iter().enumerate() {
        let path = client.v2(&format!("/directories/{}/users", directory.id));
        let users = walk(&client, &path, None, "").await;
        let expected: Vec<String> = pop
            .users()
            .iter()
            .filter(|u| u.listed_in.contains(&index))
            .map(|u| u.account_id.clone())
            .collect();
        assert_eq!(ids(&users, "accountId"), expected);
        seen.extend(expected);
    }
    // One org admin is listed by both directories and one by none.
    seen.extend(
        pop.org_admins_in_no_directory()
            .iter()
            .map(|u| u.account_id.clone()),
    );
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), pop.users().len());
    let contractors = pop.users().iter().filter(|u| u.directory == 1).count();
    assert!((20..=40).contains(&contractors), "{contractors}");
    assert_eq!(
        client
            .get(&client.v2("/directories/not-a-directory/users"))
            .await
            .status,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn user_filters_match_the_truth() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let users = walk(
        &client,
        &client.v2("/directories/-/users"),
        None,
        "?status=active&mfaEnabled=false&claimStatus=managed",
    )
    .await;
    let expected: Vec<String> = pop
        .active_managed_reporting_no_mfa()
        .iter()
        .map(|u| u.account_id.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(ids(&users, "accountId"), expected);

    let suspended_or_deactivated = walk(
        &client,
        &client.v2("/directories/-/users"),
        None,
        "?status=suspended,deactivated",
    )
    .await;
    let expected: Vec<String> = pop
        .users()
        .iter()
        .filter(|u| matches!(u.status, UserStatus::Suspended | UserStatus::Deactivated))
        .map(|u| u.account_id.clone())
        .collect();
    assert_eq!(ids(&suspended_or_deactivated, "accountId"), expected);

    let admins = walk(
        &client,
        &client.v2("/directories/-/users"),
        None,
        &format!("?roleIds={ORG_ADMIN_ROLE}"),
    )
    .await;
    let expected: Vec<String> = pop
        .org_admins()
        .iter()
        .map(|u| u.account_id.clone())
        .collect();
    assert_eq!(ids(&admins, "accountId"), expected);
    assert_eq!(
        client
            .get(&client.v2("/directories/-/users?status=sleeping"))
            .await
            .status,
        400
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn search_expands_product_access_and_groups_only_when_asked() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let path = client.v2("/directories/-/users/search");
    let plain = walk(&client, &path, Some(json!({"limit": 50})), "").await;
    assert_eq!(ids(&plain, "accountId"), all_user_ids(pop));
    assert!(
        plain
            .iter()
            .all(|u| u.get("productAccess").is_none() && u.get("groups").is_none())
    );

    let expanded = walk(
        &client,
        &path,
        Some(json!({"limit": 50, "expand": ["productAccess", "groups"]})),
        "",
    )
    .await;
    for (view, user) in expanded.iter().zip(pop.users()) {
        let products: Vec<&str> = view["productAccess"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["key"].as_str().unwrap())
            .collect();
        // Products never used have no entry; `counts.resources` counts them.
        let expected: Vec<&str> = user
            .product_access
            .iter()
            .filter(|p| p.last_active_ms.is_some())
            .map(|p| p.product.key())
            .collect();
        assert_eq!(products, expected);
        let groups: Vec<&str> = view["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = user.groups.iter().map(|&g| pop.groups()[g].name).collect();
        assert_eq!(groups, expected);
        assert_eq!(view["mfaEnabled"], user.mfa_enabled);
        assert_eq!(view["email"].as_str(), user.visible_email());
    }
    let bad = client
        .post(
            &path,
            &json!({"searchTerm": "a", "emails": ["x@example.com"]}),
        )
        .await;
    assert_eq!(bad.status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn user_objects_have_the_documented_composite_status() {
    let (sim, client) = setup().await;
    let users = walk(&client, &client.v2("/directories/-/users"), None, "").await;
    let mut statuses = BTreeSet::new();
    for user in &users {
        let expected = match user["status"].as_str().unwrap() {
            "active" => ("active", "active", false),
            "suspended" => ("active", "suspended", false),
            "not_invited" => ("active", "no_membership", false),
            "deactivated" => ("inactive", "active", false),
            "for_deletion" => ("inactive", "active", true),
            other => panic!("status {other}"),
        };
        assert_eq!(
            (
                user["accountStatus"].as_str().unwrap(),
                user["membershipStatus"].as_str().unwrap(),
                user["forDeletion"].as_bool().unwrap()
            ),
            expected
        );
        assert_eq!(
            user["deactivatedOn"].is_string(),
            expected.0 == "inactive",
            "{user}"
        );
        statuses.insert(user["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses.len(), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn org_admins_come_from_roles_not_from_the_org_admins_group() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let admins: BTreeSet<String> = pop
        .org_admins()
        .iter()
        .map(|u| u.account_id.clone())
        .collect();
    assert!((3..=6).contains(&admins.len()));
    for user in pop.users() {
        let path = client.v2(&format!(
            "/directories/-/users/{}/role-assignments",
            user.account_id
        ));
        let page = client.ok(&path).await;
        let org_level: Vec<&Value> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| {
                a["roles"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(ORG_ADMIN_ROLE))
            })
            .collect();
        assert_eq!(
            org_level.len(),
            usize::from(user.org_admin),
            "{}",
            user.account_id
        );
        if let Some(assignment) = org_level.first() {
            assert!(assignment["directoryId"].is_null());
            assert_eq!(
                assignment["resourceId"],
                format!("ari:cloud:platform::org/{}", pop.org_id())
            );
        }
    }
    let pitfall = pop
        .groups()
        .iter()
        .position(|g| g.name == "org-admins")
        .expect("org-admins group");
    let members: BTreeSet<String> = pop
        .group_members(pitfall)
        .iter()
        .map(|u| u.account_id.clone())
        .collect();
    assert!(!members.is_subset(&admins), "some members are not admins");
    assert!(!admins.is_subset(&members), "some admins are not members");
    let group_roles = client
        .ok(&client.v2(&format!(
            "/directories/-/groups/{}/role-assignments",
            pop.groups()[pitfall].id
        )))
        .await;
    assert_eq!(group_roles["data"], json!([]));
    // Filtering users by the group gives its members, not the admins.
    let by_group = walk(
        &client,
        &client.v2("/directories/-/users"),
        None,
        &format!("?groupIds={}", pop.groups()[pitfall].id),
    )
    .await;
    assert_eq!(
        ids(&by_group, "accountId")
            .into_iter()
            .collect::<BTreeSet<_>>(),
        members
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn role_assignments_404_for_unknown_user_or_other_directory() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let contractor = pop.users().iter().find(|u| u.directory == 1).unwrap();
    let employees = &pop.directories()[0].id;
    let reply = client
        .get(&client.v2(&format!(
            "/directories/{employees}/users/{}/role-assignments",
            contractor.account_id
        )))
        .await;
    assert_eq!(reply.status, 404);
    let reply = client
        .get(&client.v2("/directories/-/users/nobody/role-assignments"))
        .await;
    assert_eq!(reply.status, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn groups_search_and_list_walk_every_group_once_with_counts() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let expected: Vec<String> = pop.groups().iter().map(|g| g.id.clone()).collect();
    let searched = walk(
        &client,
        &client.v2("/directories/-/groups/search"),
        Some(json!({"limit": 4})),
        "",
    )
    .await;
    assert_eq!(ids(&searched, "id"), expected);
    let listed = walk(
        &client,
        &client.v2("/directories/-/groups"),
        None,
        "?limit=5",
    )
    .await;
    assert_eq!(listed, searched);
    for (index, (view, group)) in searched.iter().zip(pop.groups()).enumerate() {
        assert_eq!(view["counts"]["users"], group.member_count);
        assert_eq!(group.member_count, pop.group_members(index).len());
    }
    let by_name = client
        .post(
            &client.v2("/directories/-/groups/search"),
            &json!({"groupNames": ["org-admins"]}),
        )
        .await
        .json();
    assert_eq!(by_name["data"].as_array().unwrap().len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn product_groups_grant_roles_seen_in_user_assignments() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let index = pop
        .groups()
        .iter()
        .position(|g| g.name == "jira-software-users")
        .unwrap();
    let group = &pop.groups()[index];
    let page = client
        .ok(&client.v2(&format!(
            "/directories/-/groups/{}/role-assignments",
            group.id
        )))
        .await;
    assert_eq!(page["data"][0]["roles"], json!(["atlassian/user"]));
    assert_eq!(
        page["data"][0]["roleAssignments"][0]["roleAssignmentMethods"],
        json!(["direct"])
    );
    let member = pop.group_members(index)[0];
    let page = client
        .ok(&client.v2(&format!(
            "/directories/-/users/{}/role-assignments",
            member.account_id
        )))
        .await;
    let via_group = page["data"].as_array().unwrap().iter().any(|a| {
        a["resourceOwner"] == "jira-software"
            && a["roleAssignments"][0]["roleAssignmentMethods"] == json!(["group_direct"])
    });
    assert!(via_group, "{page}");
    sim.shutdown().await;
}

#[tokio::test]
async fn search_term_and_role_filters_narrow_lists() {
    let (sim, client) = setup().await;
    let pop = sim.population();
    let target = &pop.users()[0];
    let found = walk(
        &client,
        &client.v2("/directories/-/users/search"),
        Some(json!({"searchTerm": target.nickname.to_uppercase()})),
        "",
    )
    .await;
    let expected: Vec<String> = pop
        .users()
        .iter()
        .filter(|u| {
            u.nickname.contains(&target.nickname)
                || u.visible_email()
                    .is_some_and(|e| e.contains(&target.nickname))
        })
        .map(|u| u.account_id.clone())
        .collect();
    assert_eq!(ids(&found, "accountId"), expected);

    let admin = pop.users().iter().find(|u| u.site_admin).unwrap();
    let path = client.v2(&format!(
        "/directories/-/users/{}/role-assignments",
        admin.account_id
    ));
    let all = client.ok(&path).await["data"].as_array().unwrap().len();
    let admin_roles = client.ok(&format!("{path}?roleIds=atlassian/admin")).await;
    let admin_roles = admin_roles["data"].as_array().unwrap();
    assert_eq!(all, pop.role_assignments(admin).len());
    assert_eq!(
        admin_roles.len(),
        3,
        "atlassian/admin on each product via site-admins"
    );
    assert!(admin_roles.iter().all(|a| {
        a["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("atlassian/admin"))
    }));
    sim.shutdown().await;
}
