//! Error responses in the two shapes the real API is seen to return.
//!
//! * The Organizations API's own shape (its OpenAPI `errors` model):
//!   `{"errors":[{"id","status","code","title","detail"}]}`, all strings. Used for 400, 401,
//!   404, 405, 429 and 5xx. The `code` and `title` values are unconfirmed; the simulator uses
//!   snake_case codes (`unauthenticated`, `org_not_found`, `invalid_cursor`, …).
//! * The API gateway's Spring-style shape, seen for a key lacking a scope:
//!   `{"timestamp","path","status":403,"error":"Forbidden","message","requestId"}`.
//!
//! Bodies never say *why* a key was refused (wrong, expired or revoked look the same), as the
//! real API reveals nothing either.

use http::StatusCode;
use serde_json::json;

use crate::clock::{spring_timestamp, wall_now_ms};

/// An error in the `errors[]` shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, title: &'static str, detail: String) -> Self {
        ApiError {
            status,
            code,
            title,
            detail,
        }
    }

    /// A missing, wrong, expired or revoked key: indistinguishable on purpose.
    pub(crate) fn unauthenticated() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Unauthorized",
            "The request could not be authenticated. Check that a valid API key is sent as a \
             Bearer token."
                .to_owned(),
        )
    }

    /// `Error.OrgNotFound`: the path names an organization the key does not belong to.
    pub(crate) fn org_not_found(org_id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "org_not_found",
            "Not Found",
            format!("Organization {org_id} was not found."),
        )
    }

    /// An unknown path, directory, user or group.
    pub(crate) fn not_found(what: String) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not Found",
            format!("{what} was not found."),
        )
    }

    /// `Error.InvalidPageCursor`: malformed, tampered, foreign or out-of-range cursors.
    pub(crate) fn invalid_cursor() -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "Bad Request",
            "invalid cursor".to_owned(),
        )
    }

    /// A malformed parameter or body.
    pub(crate) fn bad_request(detail: String) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Bad Request",
            detail,
        )
    }

    pub(crate) fn method_not_allowed() -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method Not Allowed",
            "This method is not supported on this resource.".to_owned(),
        )
    }

    /// `Error.RateLimited`.
    /// The organization's plan lacks the feature (body unconfirmed: what the API answers
    /// without Atlassian Guard is undocumented, notes §0 "Audit log plan").
    pub(crate) fn plan_lacks(feature: &str, plan: &str) -> Self {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "plan_required",
            "Forbidden",
            format!("{feature} requires {plan}."),
        )
    }

    pub(crate) fn rate_limited() -> Self {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too Many Requests",
            "Rate limit exceeded. Wait for the rate limit window to reset.".to_owned(),
        )
    }

    /// A 5xx (`Error.InternalError` and gateway errors).
    pub(crate) fn server(status: StatusCode) -> Self {
        ApiError::new(
            status,
            "internal_error",
            "Internal Server Error",
            "An unexpected error occurred. Try again later.".to_owned(),
        )
    }

    /// The `errors[]` body; `id` identifies the request.
    pub(crate) fn body(&self, id: &str) -> Vec<u8> {
        json!({"errors": [{
            "id": id,
            "status": self.status.as_str(),
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        }]})
        .to_string()
        .into_bytes()
    }
}

/// The gateway's 403 body. Its `path` carries the gateway's internal `/api` prefix, as in the
/// captured example.
pub(crate) fn spring_forbidden(path: &str, request_id: &str) -> Vec<u8> {
    json!({
        "timestamp": spring_timestamp(wall_now_ms()),
        "path": format!("/api{path}"),
        "status": 403,
        "error": "Forbidden",
        "message": "User has no permission to access resource.",
        "requestId": request_id,
    })
    .to_string()
    .into_bytes()
}
