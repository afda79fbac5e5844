//! From an HTTP answer to the contract's typed [`Error`]: what the host
//! shows the operator, and what decides whether a request is retried.
//!
//! | status | error |
//! |---|---|
//! | 401 | `unauthorized` |
//! | 403 | `forbidden`, with the missing scope when the body names one |
//! | 404 | `not-found` |
//! | 429 | `rate-limited`, with the wait from `Retry-After` or `X-RateLimit-Reset` ([`crate::retry::asked_wait`]) |
//! | other | `upstream` with the status |

use crate::http::{Request, Response};
use crate::retry::asked_wait;
use crate::{Error, Forbidden, RateLimited, UpstreamFailure};

/// The typed error for a response that is not a success. `resource` names
/// what was being read, for the operator (`users`, `GET https://...`).
pub fn error_for(resource: &str, response: &Response, now_ms: i64) -> Error {
    let detail = format!(
        "{resource} answered {}: {}",
        response.status,
        excerpt(&response.body)
    );
    match response.status {
        401 => Error::Unauthorized(detail),
        403 => Error::Forbidden(Forbidden {
            resource: resource.to_owned(),
            missing: missing_scope(&response.body),
            detail,
        }),
        404 => Error::NotFound(detail),
        429 => Error::RateLimited(RateLimited {
            retry_after_ms: asked_wait(response, now_ms)
                .map(|wait| u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)),
            detail,
        }),
        status => Error::Upstream(UpstreamFailure { status, detail }),
    }
}

/// The typed error for a request's whole story: `what` is the request.
pub(crate) fn request_error(request: &Request, response: &Response, now_ms: i64) -> Error {
    let what = format!("{} {}", request.method.as_str(), request.url);
    error_for(&what, response, now_ms)
}

/// The scope a 403 body names as missing, in the forms APIs use: a
/// `WWW-Authenticate`-style `scope="..."`, a JSON `"scope"`,
/// `"required_scope"` or `"missing_scope"` string, or a message that says
/// `scope <name>` / `scope: <name>`.
pub fn missing_scope(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    for key in [
        "\"missing_scope\"",
        "\"required_scope\"",
        "\"scope\"",
        "scope=",
    ] {
        if let Some(at) = text.find(key) {
            let rest = text[at + key.len()..].trim_start_matches([':', ' ', '"', '=']);
            let scope: String = rest.chars().take_while(|c| is_scope_char(*c)).collect();
            if !scope.is_empty() {
                return Some(scope);
            }
        }
    }
    let at = text.find("scope")?;
    let rest = text[at + "scope".len()..].trim_start_matches([':', ' ', 's']);
    let scope: String = rest.chars().take_while(|c| is_scope_char(*c)).collect();
    scope.contains(':').then_some(scope)
}

fn is_scope_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-' | '/')
}

/// The start of a body, for an error message: bodies can be long pages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if text.is_empty() => "(empty body)".into(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response::fake(status, headers, body)
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        assert!(matches!(
            error_for("users", &response(401, &[], ""), 0),
            Error::Unauthorized(_)
        ));
        assert!(matches!(
            error_for("users", &response(404, &[], ""), 0),
            Error::NotFound(_)
        ));
        assert!(matches!(
            error_for("users", &response(502, &[], ""), 0),
            Error::Upstream(UpstreamFailure { status: 502, .. })
        ));
    }

    #[test]
    fn forbidden_names_the_scope_the_body_says_is_missing() {
        for body in [
            r#"{"error":"insufficient_scope","scope":"read:users:example"}"#,
            r#"{"missing_scope": "read:users:example"}"#,
            r#"Bearer error="insufficient_scope", scope="read:users:example""#,
            "The key needs the scope read:users:example to list users",
        ] {
            let Error::Forbidden(f) = error_for("users", &response(403, &[], body), 0) else {
                panic!("403 is forbidden");
            };
            assert_eq!(f.missing.as_deref(), Some("read:users:example"), "{body}");
            assert_eq!(f.resource, "users");
        }
        let Error::Forbidden(f) = error_for("users", &response(403, &[], "{}"), 0) else {
            panic!("403 is forbidden");
        };
        assert_eq!(f.missing, None);
    }

    #[test]
    fn rate_limits_carry_the_wait_from_retry_after_or_the_reset() {
        let wait = |headers: &[(&str, &str)]| match error_for(
            "users",
            &response(429, headers, ""),
            1_000_000,
        ) {
            Error::RateLimited(r) => r.retry_after_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!(wait(&[("retry-after", "7")]), Some(7_000));
        assert_eq!(wait(&[("x-ratelimit-reset", "1030")]), Some(30_000));
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1970-01-01T00:17:00Z")]),
            Some(20_000)
        );
        assert_eq!(wait(&[("x-ratelimit-reset", "900")]), None);
        assert_eq!(wait(&[]), None);
        // An HTTP date, and the minute precision the Atlassian gateway writes.
        assert_eq!(
            wait(&[("retry-after", "Thu, 01 Jan 1970 00:17:00 GMT")]),
            Some(20_000)
        );
        assert_eq!(
            wait(&[("x-ratelimit-reset", "1970-01-01T00:17Z")]),
            Some(20_000)
        );
    }
}
