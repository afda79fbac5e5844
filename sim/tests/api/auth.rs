//! Authentication, organization and scope checks, in the gateway's order.

use std::collections::BTreeSet;

use crate::common::{Client, start, start_default};
use atlassian_sim::{Endpoint, SimConfig};
use serde_json::{Value, json};

fn assert_errors_shape(body: &Value, status: &str, code: &str) {
    let errors = body["errors"].as_array().expect("errors[]");
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert_eq!(error["status"], status);
    assert_eq!(error["code"], code);
    for field in ["id", "title", "detail"] {
        assert!(error[field].is_string(), "{field} in {error}");
    }
}

fn scoped(scopes: &[&str]) -> SimConfig {
    SimConfig {
        scopes: Some(
            scopes
                .iter()
                .map(|s| s.to_string())
                .collect::<BTreeSet<_>>(),
        ),
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn wrong_key_gets_401_errors_shape() {
    let sim = start_default().await;
    let client = Client::new(&sim).with_key(Some("not-the-key"));
    let reply = client.get(&client.v1("")).await;
    assert_eq!(reply.status, 401);
    assert_errors_shape(&reply.json(), "401", "unauthenticated");
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_key_gets_401() {
    let sim = start_default().await;
    let client = Client::new(&sim).with_key(None);
    let reply = client.get(&client.v1("/users")).await;
    assert_eq!(reply.status, 401);
    assert_errors_shape(&reply.json(), "401", "unauthenticated");
    sim.shutdown().await;
}

#[tokio::test]
async fn expired_key_gets_the_same_generic_401_as_a_wrong_key() {
    let sim = start(SimConfig {
        key_expired: true,
        ..SimConfig::default()
    })
    .await;
    let client = Client::new(&sim);
    let expired = client.get(&client.v1("")).await;
    let wrong = Client::new(&sim)
        .with_key(Some("other"))
        .get(&client.v1(""))
        .await;
    assert_eq!(expired.status, 401);
    let (mut expired, mut wrong) = (expired.json(), wrong.json());
    expired["errors"][0]["id"] = Value::Null;
    wrong["errors"][0]["id"] = Value::Null;
    assert_eq!(expired, wrong);
    assert!(!expired.to_string().to_lowercase().contains("expir"));
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_org_gets_404_org_not_found() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let reply = client
        .get("/admin/v1/orgs/00000000-0000-4000-8000-000000000000/domains")
        .await;
    assert_eq!(reply.status, 404);
    assert_errors_shape(&reply.json(), "404", "org_not_found");
    sim.shutdown().await;
}

#[tokio::test]
async fn scoped_key_without_events_scope_gets_spring_403() {
    let sim = start(scoped(&["read:orgs:admin", "read:directories:admin"])).await;
    let client = Client::new(&sim);
    let path = client.v1("/events-stream");
    let reply = client.get(&path).await;
    assert_eq!(reply.status, 403);
    let body = reply.json();
    assert_eq!(body["status"], 403);
    assert_eq!(body["error"], "Forbidden");
    assert_eq!(
        body["message"],
        "User has no permission to access resource."
    );
    assert_eq!(body["path"], format!("/api{path}"));
    assert!(body["timestamp"].as_str().unwrap().ends_with("+00:00"));
    assert!(body["requestId"].is_string());
    assert!(body.get("errors").is_none());
    // The scopes it has still work.
    assert_eq!(client.get(&client.v1("")).await.status, 200);
    assert_eq!(client.get(&client.v2("/directories")).await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn each_endpoint_requires_its_scope() {
    let sim = start(scoped(&[])).await;
    let client = Client::new(&sim);
    let dir = "-";
    let account = sim.population().users()[0].account_id.clone();
    let group = sim.population().groups()[0].id.clone();
    for endpoint in Endpoint::ALL {
        let (method, path) = match endpoint {
            Endpoint::Org => ("GET", client.v1("")),
            Endpoint::Directories => ("GET", client.v2("/directories")),
            Endpoint::Users => ("GET", client.v2(&format!("/directories/{dir}/users"))),
            Endpoint::UsersSearch => (
                "POST",
                client.v2(&format!("/directories/{dir}/users/search")),
            ),
            Endpoint::UserRoleAssignments => (
                "GET",
                client.v2(&format!(
                    "/directories/{dir}/users/{account}/role-assignments"
                )),
            ),
            Endpoint::Groups => ("GET", client.v2(&format!("/directories/{dir}/groups"))),
            Endpoint::GroupsSearch => (
                "POST",
                client.v2(&format!("/directories/{dir}/groups/search")),
            ),
            Endpoint::GroupRoleAssignments => (
                "GET",
                client.v2(&format!(
                    "/directories/{dir}/groups/{group}/role-assignments"
                )),
            ),
            Endpoint::ManagedAccounts => ("GET", client.v1("/users")),
            Endpoint::Domains => ("GET", client.v1("/domains")),
            Endpoint::Policies => ("GET", client.v1("/policies")),
            Endpoint::EventsStream => ("GET", client.v1("/events-stream")),
            Endpoint::Events => ("GET", client.v1("/events")),
            Endpoint::Workspaces => ("POST", client.v2("/workspaces")),
            Endpoint::ApiTokens => (
                "GET",
                format!("/admin/api-access/v1/orgs/{}/api-tokens", client.org),
            ),
            Endpoint::UsersCount => ("GET", client.v2(&format!("/directories/{dir}/users/count"))),
            Endpoint::ApiKeys => (
                "GET",
                format!("/admin/api-access/v1/orgs/{}/api-keys", client.org),
            ),
            Endpoint::ControlPolicies => (
                "GET",
                format!("/admin/control/v1/orgs/{}/policies", client.org),
            ),
            Endpoint::AuthPolicies => (
                "POST",
                format!(
                    "/admin/control/v1/orgs/{}/users/auth-policies/bulk-fetch",
                    client.org
                ),
            ),
        };
        let body = if endpoint == Endpoint::AuthPolicies {
            json!({"userIds": [account]})
        } else {
            json!({})
        };
        let denied = client.send(method, &path, Some(&body)).await;
        assert_eq!(denied.status, 403, "{endpoint:?} without any scope");
        let sim_with = start(scoped(&[endpoint.scope()])).await;
        let with = Client::new(&sim_with);
        let path = path.replace(&client.org, &with.org);
        let path = path.replace(&account, &sim_with.population().users()[0].account_id);
        let path = path.replace(&group, &sim_with.population().groups()[0].id);
        let allowed = with.send(method, &path, Some(&body)).await;
        assert_eq!(
            allowed.status,
            200,
            "{endpoint:?} with {}",
            endpoint.scope()
        );
        sim_with.shutdown().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_is_checked_before_org_and_org_before_scope() {
    let sim = start(scoped(&[])).await;
    let client = Client::new(&sim);
    let foreign = "/admin/v1/orgs/00000000-0000-4000-8000-000000000000/events-stream";
    let wrong_key = Client::new(&sim).with_key(Some("nope"));
    assert_eq!(wrong_key.get(foreign).await.status, 401);
    assert_eq!(client.get(foreign).await.status, 404);
    assert_eq!(client.get(&client.v1("/events-stream")).await.status, 403);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_path_gets_404_errors_shape_and_wrong_method_405() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let reply = client.get(&client.v1("/secrets")).await;
    assert_eq!(reply.status, 404);
    assert_errors_shape(&reply.json(), "404", "not_found");
    let reply = client.post(&client.v1("/users"), &json!({})).await;
    assert_eq!(reply.status, 405);
    assert_errors_shape(&reply.json(), "405", "method_not_allowed");
    sim.shutdown().await;
}

#[tokio::test]
async fn strict_scopes_refuse_scoped_keys_where_no_scope_is_documented() {
    let sim = start(SimConfig {
        strict_scopes: true,
        ..SimConfig::default()
    })
    .await;
    let client = Client::new(&sim);
    let body = json!({});
    for (method, path, status) in [
        ("POST", client.v2("/directories/-/users/search"), 403),
        ("POST", client.v2("/directories/-/groups/search"), 403),
        ("GET", client.v1("/policies"), 403),
        ("GET", client.v2("/directories/-/users"), 200),
        ("GET", client.v2("/directories/-/groups"), 200),
        (
            "GET",
            format!("/admin/control/v1/orgs/{}/policies", client.org),
            200,
        ),
    ] {
        let reply = client.send(method, &path, Some(&body)).await;
        assert_eq!(reply.status, status, "{method} {path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_default_key_is_the_guides_scoped_key_and_reads_everything() {
    let sim = start_default().await;
    let client = Client::new(&sim);
    let body = json!({});
    for (method, path) in [
        ("POST", client.v2("/directories/-/users/search")),
        ("GET", client.v1("/policies")),
        ("GET", client.v1("/events-stream")),
        (
            "GET",
            format!("/admin/api-access/v1/orgs/{}/api-keys", client.org),
        ),
    ] {
        let reply = client.send(method, &path, Some(&body)).await;
        assert_eq!(reply.status, 200, "{method} {path}");
    }
    let keys = client
        .get(&format!(
            "/admin/api-access/v1/orgs/{}/api-keys",
            client.org
        ))
        .await
        .json();
    assert_eq!(
        keys["data"].as_array().unwrap().len(),
        sim.population().api_keys().len()
    );
    sim.shutdown().await;
}
