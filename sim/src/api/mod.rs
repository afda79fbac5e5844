//! The API behind the gateway: the checks every request passes, in the gateway's order
//! (authentication, then the route, then the organization, then the scope), and dispatch to
//! the endpoint handlers.
//!
//! Documented parameters a handler does not implement (e.g. `sortBy`, `resourceIds`) are
//! accepted and ignored, so such a list comes back wider than asked for; each handler's doc
//! names the filters it does implement.

mod directory;
mod events;
mod org;

use http::{HeaderValue, Method};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PUBLIC_ORIGIN;
use crate::auth::Credentials;
use crate::errors::ApiError;
use crate::faults::LinkOrigin;
use crate::pagination::Paginator;
use crate::population::Population;
use crate::routes::{Endpoint, Route, route};

/// One request as the API layer needs it.
pub(crate) struct Call<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub authorization: Option<&'a HeaderValue>,
    pub host: Option<&'a str>,
    pub body: &'a [u8],
}

/// What the API answers.
pub(crate) enum Outcome {
    Json(Vec<u8>),
    Error(ApiError),
    /// The gateway's Spring-style 403.
    Forbidden,
}

/// Answers one call.
pub(crate) fn respond(
    pop: &Population,
    credentials: &Credentials,
    call: &Call<'_>,
    paginator: Paginator<'_>,
    link_origin: Option<&LinkOrigin>,
    events_max_limit: usize,
    guard: bool,
) -> Outcome {
    if !credentials.authenticates(call.authorization) {
        return Outcome::Error(ApiError::unauthenticated());
    }
    let Some(route) = route(call.path) else {
        return Outcome::Error(ApiError::not_found(format!("Resource {}", call.path)));
    };
    if route.endpoint.method() != call.method {
        return Outcome::Error(ApiError::method_not_allowed());
    }
    if route.org_id != pop.org_id() {
        return Outcome::Error(ApiError::org_not_found(route.org_id));
    }
    if !credentials.allows(route.endpoint) {
        return Outcome::Forbidden;
    }
    if !guard && matches!(route.endpoint, Endpoint::Events | Endpoint::EventsStream) {
        return Outcome::Error(ApiError::plan_lacks(
            "The organization audit log",
            "Atlassian Guard",
        ));
    }
    let origin = match link_origin {
        None => PUBLIC_ORIGIN.to_owned(),
        Some(LinkOrigin::Request) => format!("http://{}", call.host.unwrap_or("127.0.0.1")),
        Some(LinkOrigin::Fixed(origin)) => origin.clone(),
    };
    let ctx = Ctx {
        pop,
        route,
        path: call.path,
        params: Params::parse(call.query),
        body: call.body,
        paginator,
        origin,
        events_max_limit,
    };
    let result = match route.endpoint {
        Endpoint::Org => org::org(&ctx),
        Endpoint::Directories => directory::directories(&ctx),
        Endpoint::Users | Endpoint::UsersSearch => directory::users(&ctx),
        Endpoint::UserRoleAssignments => directory::user_role_assignments(&ctx),
        Endpoint::Groups | Endpoint::GroupsSearch => directory::groups(&ctx),
        Endpoint::GroupRoleAssignments => directory::group_role_assignments(&ctx),
        Endpoint::ManagedAccounts => org::managed_accounts(&ctx),
        Endpoint::Domains => org::domains(&ctx),
        Endpoint::Policies => org::policies(&ctx),
        Endpoint::Workspaces => org::workspaces(&ctx),
        Endpoint::ApiTokens => org::api_tokens(&ctx),
        Endpoint::ControlPolicies => org::control_policies(&ctx),
        Endpoint::ApiKeys => org::api_keys(&ctx),
        Endpoint::AuthPolicies => org::auth_policies(&ctx),
        Endpoint::UsersCount => directory::users_count(&ctx),
        Endpoint::EventsStream => events::events(&ctx, events::Feed::Stream),
        Endpoint::Events => events::events(&ctx, events::Feed::Search),
    };
    match result {
        Ok(body) => Outcome::Json(body),
        Err(error) => Outcome::Error(error),
    }
}

/// Everything a handler needs.
struct Ctx<'a> {
    pop: &'a Population,
    route: Route<'a>,
    path: &'a str,
    params: Params,
    body: &'a [u8],
    paginator: Paginator<'a>,
    /// The origin full-URL pagination links are built on.
    origin: String,
    /// The largest audit-log page size served.
    events_max_limit: usize,
}

impl Ctx<'_> {
    /// A full URL to this path on the link origin, with `cursor` if given (v1 links).
    fn url(&self, cursor: Option<&str>) -> String {
        match cursor {
            Some(cursor) => format!("{}{}?cursor={cursor}", self.origin, self.path),
            None => format!("{}{}", self.origin, self.path),
        }
    }

    /// The cursor scope of this path's list: a cursor only works on the list it came from.
    fn scope(&self) -> String {
        format!(
            "{:?}:{}:{}",
            self.route.endpoint,
            self.route.directory.unwrap_or(""),
            self.route.item.unwrap_or("")
        )
    }

    /// The JSON request body (`{}` when empty).
    fn json_body<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(T::default());
        }
        serde_json::from_slice(self.body)
            .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
    }
}

/// Serializes a response body (into a buffer sized for a typical page, to spare regrowth).
fn json(value: &impl Serialize) -> Vec<u8> {
    let mut body = Vec::with_capacity(16 * 1024);
    serde_json::to_writer(&mut body, value).expect("response bodies serialize");
    body
}

/// Query parameters. A list parameter may be repeated (`status=a&status=b`), comma-separated
/// (`status=a,b`), or both.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(query: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// A parameter parsed as the JSON value of that text (numbers, booleans), or as a
    /// string for enums.
    fn parsed<T: DeserializeOwned>(&self, name: &str, text: &str) -> Result<T, ApiError> {
        serde_json::from_str(text)
            .or_else(|_| serde_json::from_value(serde_json::Value::String(text.to_owned())))
            .map_err(|_| ApiError::bad_request(format!("invalid value `{text}` for `{name}`")))
    }

    fn one<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.get(name).map(|v| self.parsed(name, v)).transpose()
    }

    fn many<T: DeserializeOwned>(&self, name: &str) -> Result<Vec<T>, ApiError> {
        self.strings(name)
            .iter()
            .map(|v| self.parsed(name, v))
            .collect()
    }
}
