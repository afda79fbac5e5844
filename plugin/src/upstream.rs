//! Turns what Atlassian answered into typed errors, and typed errors into
//! what the operator should do. Both error body shapes the Admin APIs are
//! known to send are read (the spec's JSON:API `{"errors":[…]}` and the
//! gateway's Spring-style `{"status","error","message","requestId"}`), and
//! any other body is quoted, cleaned and shortened. Messages name the method
//! and URL but never a header: the component does not see the API key, and
//! keeps it that way in what it writes.

use serde::Deserialize;

use std::time::Duration;

use crate::api::{Endpoint, Permission};
use crate::failure::{Failure, Refusal};
use crate::pagination::BodyFault;
use crate::transport::{Request, Response};

/// Longest upstream text quoted in a message.
const MAX_QUOTE: usize = 300;

pub const UNAUTHORIZED_REMEDY: &str = "The API key is invalid, expired or revoked: create a new key in admin.atlassian.com → Settings → API keys.";

#[derive(Deserialize)]
struct JsonApiErrors {
    errors: Vec<JsonApiError>,
}

#[derive(Deserialize)]
struct JsonApiError {
    id: Option<String>,
    code: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpringError {
    error: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

/// What an error body says, in one line.
pub fn describe_body(body: &[u8]) -> String {
    let join = |parts: &[Option<&str>]| {
        parts
            .iter()
            .flatten()
            .filter(|p| !p.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(": ")
    };
    let text = if let Ok(e) = serde_json::from_slice::<JsonApiErrors>(body) {
        e.errors
            .iter()
            .map(|e| {
                let mut line = join(&[e.title.as_deref(), e.detail.as_deref()]);
                if let Some(code) = &e.code {
                    line.push_str(&format!(" (code {code})"));
                }
                if let Some(id) = &e.id {
                    line.push_str(&format!(" (error id {id})"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("; ")
    } else if let Ok(e) = serde_json::from_slice::<SpringError>(body)
        && (e.error.is_some() || e.message.is_some())
    {
        let mut line = join(&[e.error.as_deref(), e.message.as_deref()]);
        if let Some(id) = &e.request_id {
            line.push_str(&format!(" (request id {id})"));
        }
        line
    } else {
        String::from_utf8_lossy(body).into_owned()
    };
    quote(&text)
}

/// Makes upstream text safe for one log line: control characters become
/// spaces, runs of spaces collapse, and the length is capped.
pub(crate) fn quote(text: &str) -> String {
    let cleaned = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>();
    let mut line = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return "(empty body)".into();
    }
    if let Some((cut, _)) = line.char_indices().nth(MAX_QUOTE) {
        line.truncate(cut);
        line.push('…');
    }
    line
}

/// The failure for a final non-2xx answer. `attempts` is how many times the
/// request was sent; `retry_after` the last wait the upstream asked for.
pub fn status_error(
    endpoint: &Endpoint,
    request: &Request,
    response: &Response,
    attempts: u32,
    retry_after: Option<Duration>,
) -> Failure {
    let status = response.status;
    let said = describe_body(&response.body);
    let what = format!("{} {}", request.method.as_str(), request.url);
    let tries = if attempts == 1 {
        String::new()
    } else {
        format!(" after {attempts} attempts")
    };
    match status {
        401 => Failure::Unauthorized(format!(
            "{UNAUTHORIZED_REMEDY} ({what} answered 401: {said})"
        )),
        403 => forbidden(endpoint, &what, &said),
        404 if *endpoint == Endpoint::Org => Failure::NotFound(format!(
            "this organization ID is not reachable with this API key ({what} answered 404: {said})"
        )),
        404 => Failure::NotFound(format!(
            "{}: {what} answered 404: {said}",
            endpoint.resource()
        )),
        429 => Failure::RateLimited {
            retry_after,
            detail: format!("{what}: still rate limited{tries}: {said}"),
        },
        _ => Failure::Status {
            status,
            detail: format!("{what} answered {status}{tries}: {said}"),
        },
    }
}

/// Words with which a refusal names a plan rather than a permission. What
/// the API answers without the plan is undocumented (notes §0 "Audit log
/// plan"): a 403 that names none of these is read as a permission refusal
/// whose remedy also names the plan.
const PLAN_WORDS: &[&str] = &[
    "guard",
    "atlassian access",
    "plan",
    "subscription",
    "upgrade",
    "premium",
    "enterprise",
];

/// A 403: refused by the organization's plan when the endpoint is one a
/// plan gates and the answer says so, else for want of a permission.
fn forbidden(endpoint: &Endpoint, what: &str, said: &str) -> Failure {
    let plan = endpoint.plan();
    let lower = said.to_lowercase();
    if let Some(plan) = plan
        && PLAN_WORDS.iter().any(|w| lower.contains(w))
    {
        return Failure::Forbidden {
            resource: endpoint.resource(),
            refusal: Refusal::Plan(plan),
            detail: format!(
                "{what} answered 403: {said}; the organization's plan does not include this: it needs {plan}"
            ),
        };
    }
    let (refusal, mut hint) = match endpoint.permission() {
        Permission::Scope(scope) => (
            Refusal::Scope {
                scope: scope.to_owned(),
                plan,
            },
            format!("the key needs the scope {scope}"),
        ),
        Permission::UnscopedKey => (
            Refusal::UnscopedKey { plan },
            "this endpoint is not documented for API keys with scopes: use an API key without scopes".to_owned(),
        ),
    };
    if let Some(plan) = plan {
        hint.push_str(&format!(
            "; if it has that, the organization's plan may lack {plan}"
        ));
    }
    Failure::Forbidden {
        resource: endpoint.resource(),
        refusal,
        detail: format!("{what} answered 403: {said}; {hint}"),
    }
}

/// The failure for a 2xx answer whose body is not what the endpoint returns.
pub fn malformed(request: &Request, fault: BodyFault) -> Failure {
    Failure::Unusable {
        request: format!("{} {}", request.method.as_str(), request.url),
        fault,
    }
}

/// What the operator should do about a failure, in one sentence.
pub fn remedy(failure: &Failure) -> String {
    match failure {
        Failure::InvalidConfig(_) => "Correct the configuration fields named above.".into(),
        Failure::Unauthorized(_) => UNAUTHORIZED_REMEDY.into(),
        Failure::Forbidden { refusal, .. } => forbidden_remedy(refusal),
        Failure::NotFound(_) => "Check the Organization ID (admin.atlassian.com → Settings → API keys shows it) and that the API key was created in that organization.".into(),
        Failure::RateLimited { .. } => "Atlassian kept rate limiting the requests: run again later, or when other clients of this organization's Admin APIs are idle.".into(),
        Failure::Status { .. } | Failure::Unusable { .. } | Failure::ChainStopped { .. } => "Atlassian answered with an error: run again later; if it persists, report the request id above to Atlassian support.".into(),
        Failure::Network(_) | Failure::Timeout(_) => "Check that the host allows and can reach https://api.atlassian.com, then run again.".into(),
        Failure::Host(_) | Failure::Internal(_) => "This is a bug in the integration: report it with the run's log.".into(),
    }
}

/// What the operator should do about a 403.
fn forbidden_remedy(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Plan(needs) => format!("Nothing to change in the API key: the organization's plan does not include this ({needs}); subscribe to it to have the control checked."),
        Refusal::Scope { scope, plan: Some(_) } => format!(
            "Add the scope {scope} to the API key (admin.atlassian.com → Settings → API keys), or use an API key without scopes; if the key already has it, the organization's plan does not include this."
        ),
        Refusal::Scope { scope, plan: None } => format!(
            "Add the scope {scope} to the API key (admin.atlassian.com → Settings → API keys), or use an API key without scopes."
        ),
        Refusal::UnscopedKey { .. } => {
            "Use an API key without scopes (admin.atlassian.com → Settings → API keys): this endpoint does not accept scoped keys.".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Segment;
    use crate::transport::Method;

    fn request() -> Request {
        Request {
            method: Method::Get,
            url: "https://api.atlassian.com/admin/v1/orgs/o/users".into(),
            headers: vec![],
            body: None,
        }
    }

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn json_api_errors_are_read() {
        let body = r#"{"errors":[{"id":"e-1","status":"401","code":"unauthenticated","title":"Unauthorized","detail":"Token expired"}]}"#;
        assert_eq!(
            describe_body(body.as_bytes()),
            "Unauthorized: Token expired (code unauthenticated) (error id e-1)"
        );
    }

    #[test]
    fn spring_errors_are_read() {
        let body = r#"{"timestamp":"2025-06-06T06:03:27.122+00:00","path":"/api/admin/v1/orgs/x/users","status":403,"error":"Forbidden","message":"User has no permission to access resource.","requestId":"b4fce632-202784"}"#;
        assert_eq!(
            describe_body(body.as_bytes()),
            "Forbidden: User has no permission to access resource. (request id b4fce632-202784)"
        );
    }

    #[test]
    fn other_bodies_are_quoted_cleanly() {
        assert_eq!(
            describe_body(b"<html>\r\n<b>Bad\tGateway</b></html>"),
            "<html> <b>Bad Gateway</b></html>"
        );
        assert_eq!(describe_body(b""), "(empty body)");
        assert_eq!(describe_body(b"{\"unrelated\":1}"), "{\"unrelated\":1}");
        let long = "x".repeat(1000);
        assert_eq!(
            describe_body(long.as_bytes()).chars().count(),
            MAX_QUOTE + 1
        );
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let dir = Segment::new("d").unwrap();
        let users = Endpoint::UsersList(dir.clone());
        let r = request();
        assert!(matches!(
            status_error(&users, &r, &response(401, ""), 1, None),
            Failure::Unauthorized(m) if m.contains("create a new key")
        ));
        assert!(matches!(
            status_error(&Endpoint::Org, &r, &response(404, ""), 1, None),
            Failure::NotFound(m) if m.contains("not reachable with this API key")
        ));
        assert!(matches!(
            status_error(&users, &r, &response(429, ""), 6, Some(Duration::from_secs(2))),
            Failure::RateLimited { retry_after: Some(wait), detail } if wait == Duration::from_secs(2) && detail.contains("after 6 attempts")
        ));
        assert!(matches!(
            status_error(&users, &r, &response(503, "busy"), 6, None),
            Failure::Status { status: 503, detail } if detail.contains("busy")
        ));
        assert!(matches!(
            status_error(&Endpoint::UsersSearch(dir), &r, &response(403, ""), 1, None),
            Failure::Forbidden { refusal: Refusal::UnscopedKey { plan: None }, detail, .. } if detail.contains("without scopes")
        ));
    }

    #[test]
    fn a_403_naming_the_plan_is_told_from_a_missing_scope() {
        let r = request();
        let guard = r#"{"errors":[{"status":"403","title":"Forbidden","detail":"The organization audit log requires Atlassian Guard."}]}"#;
        let by_plan = status_error(&Endpoint::EventsStream, &r, &response(403, guard), 1, None);
        assert!(
            matches!(&by_plan, Failure::Forbidden { refusal: Refusal::Plan(plan), .. } if plan.contains("Atlassian Guard")),
            "{by_plan:?}"
        );
        assert!(by_plan.refused_by_plan());
        assert!(remedy(&by_plan).contains("Nothing to change in the API key"));
        assert!(remedy(&by_plan).contains("Atlassian Guard"));

        // The gateway's usual refusal names no plan: a scope, perhaps the plan.
        let spring = r#"{"status":403,"error":"Forbidden","message":"User has no permission to access resource."}"#;
        let by_scope = status_error(&Endpoint::EventsStream, &r, &response(403, spring), 1, None);
        assert!(!by_scope.refused_by_plan());
        assert!(
            matches!(&by_scope, Failure::Forbidden { refusal: Refusal::Scope { scope, plan: Some(_) }, .. } if scope == "read:events:admin")
        );
        let advice = remedy(&by_scope);
        assert!(
            advice.contains("read:events:admin") && advice.contains("plan"),
            "{advice}"
        );

        // An endpoint no plan gates never reads as refused by a plan.
        let tokens = status_error(&Endpoint::ApiTokens, &r, &response(403, guard), 1, None);
        assert!(!tokens.refused_by_plan());
    }

    #[test]
    fn an_answer_quoting_the_plan_refusal_text_is_still_a_scope_refusal() {
        // Whether a 403 named the plan is a variant, not text found in the
        // message: an upstream body cannot make a missing scope read as a
        // plan the organization lacks.
        let body = r#"{"errors":[{"title":"Forbidden","detail":"x; the organization's plan does not include this: it needs nothing"}]}"#;
        let refused = status_error(
            &Endpoint::ApiTokens,
            &request(),
            &response(403, body),
            1,
            None,
        );
        assert!(!refused.refused_by_plan(), "{refused:?}");
        assert!(matches!(
            &refused,
            Failure::Forbidden {
                refusal: Refusal::Scope { plan: None, .. },
                ..
            }
        ));
        assert!(remedy(&refused).starts_with("Add the scope"));
    }
}
