//! The egress policy: which requests a plugin may make, and where a developer
//! may reroute them.
//!
//! Plain data and pure functions, no wasmtime in sight: the HTTP hook in
//! [`crate::outbound`] asks [`EgressPolicy::check`] about every request
//! (redirects included, since a redirect is a new request), and everything here
//! is unit-tested on its own. Deny by default: an empty policy allows nothing.
//!
//! A request is admitted only on a canonical path ([`PathFlaw`]), with no header
//! that frames the message or names another method ([`check_framing`]), and
//! a public origin only at an address no special-purpose registry reserves
//! ([`forbidden_address_class`]).

mod address;
mod path;

pub use address::{AddressClass, forbidden_address_class};
pub use path::PathFlaw;

use crate::ledger::Refusal;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// `scheme://host:port`, normalised (lower-case host, explicit port).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

/// The two schemes a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scheme {
    /// Plain HTTP, default port 80.
    Http,
    /// HTTP over TLS, default port 443.
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl Origin {
    /// Parses `scheme://host[:port]`; a path other than `/`, a query, user info
    /// or a fragment is refused, because an origin names a server, not a place on it.
    pub fn parse(text: &str) -> Result<Origin, EgressError> {
        let bad = |why: &str| EgressError::BadOrigin {
            origin: text.to_string(),
            why: why.to_string(),
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => return Err(bad(&format!("scheme `{other}` is not http or https"))),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("user info is not allowed"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("an origin has no path, query or fragment"));
        }
        let host = url.host_str().ok_or_else(|| bad("no host"))?;
        Ok(Origin {
            scheme,
            host: normal_host(host),
            port: url.port().unwrap_or(scheme.default_port()),
        })
    }

    /// The origin of a request URI, if it has a supported scheme and a host.
    pub fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = match uri.scheme_str()? {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return None,
        };
        let authority = uri.authority()?;
        Some(Origin {
            scheme,
            host: normal_host(authority.host()),
            port: authority.port_u16().unwrap_or(scheme.default_port()),
        })
    }

    /// Whether requests to the origin use TLS.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, lower-case, an IPv6 literal unbracketed and canonical.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, explicit even when it is the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port` as a URI authority (IPv6 literals bracketed).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// True when the host is a loopback address or `localhost`.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

/// One spelling per host: lower case, IPv6 literals unbracketed and in
/// their canonical form (`::127.0.0.1` is `::7f00:1`), so a declared origin
/// and a request's origin compare equal however either was written.
fn normal_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => bare.to_ascii_lowercase(),
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]", self.scheme.as_str(), self.host)?;
        } else {
            write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// Methods a read-only integration may use. `POST` exists for search endpoints
/// that read, and is allowed only on the exact routes a manifest names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReadMethod {
    /// `GET`, allowed on any declared route.
    Get,
    /// `HEAD`, allowed on any declared route.
    Head,
    /// `POST`, only on an explicit route: a search that reads.
    Post,
}

impl ReadMethod {
    /// The read method of an HTTP method name (exact, upper case), or `None`
    /// for any method that may write.
    pub fn parse(method: &str) -> Option<ReadMethod> {
        match method {
            "GET" => Some(ReadMethod::Get),
            "HEAD" => Some(ReadMethod::Head),
            "POST" => Some(ReadMethod::Post),
            _ => None,
        }
    }

    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMethod::Get => "GET",
            ReadMethod::Head => "HEAD",
            ReadMethod::Post => "POST",
        }
    }
}

impl fmt::Display for ReadMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path pattern: `*` matches one non-empty segment, a final `**` the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

impl PathPattern {
    /// Parses a manifest's pattern: absolute, no query, `*` only as a whole
    /// segment, `**` only last, every literal segment canonical (so it can
    /// match a canonical request path at all).
    pub fn parse(text: &str) -> Result<PathPattern, EgressError> {
        let bad = |why: &str| EgressError::BadPattern {
            pattern: text.to_string(),
            why: why.to_string(),
        };
        if let Some((path, _query)) = text.split_once('?') {
            return Err(EgressError::QueryInPattern {
                pattern: text.to_string(),
                path: path.to_string(),
            });
        }
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| bad("must start with `/`"))?;
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "**" if i + 1 == parts.len() => Segment::Rest,
                "**" => return Err(bad("`**` may only end a pattern")),
                "*" => Segment::One,
                literal if literal.contains('*') => {
                    return Err(bad("`*` must be a whole segment"));
                }
                literal => {
                    path::check_segment(literal).map_err(|flaw| bad(&flaw.to_string()))?;
                    Segment::Literal(literal.to_string())
                }
            });
        }
        Ok(PathPattern {
            text: text.to_string(),
            segments,
        })
    }

    /// True when the pattern names one endpoint's path: no `**`, and a literal
    /// last segment (`*` may stand for ids before it).
    fn is_explicit(&self) -> bool {
        !self.segments.contains(&Segment::Rest)
            && matches!(self.segments.last(), Some(Segment::Literal(_)))
    }

    /// Matches a request path already split into canonical segments.
    fn matches(&self, path: &[&str]) -> bool {
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Rest => return true,
                Segment::One if i < path.len() => {}
                Segment::Literal(lit) if path.get(i) == Some(&lit.as_str()) => {}
                _ => return false,
            }
            i += 1;
        }
        i == path.len()
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One allowed (method, path pattern) on an origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The method the route allows; never one that writes.
    pub method: ReadMethod,
    /// The paths it allows, matched against canonical request paths.
    pub path: PathPattern,
}

impl Route {
    /// Parses a manifest route, refusing any method that writes, and a POST
    /// that is not one explicit endpoint: a search reads, but `POST /**`
    /// would let a plugin post anything anywhere on the origin.
    pub fn parse(method: &str, path: &str) -> Result<Route, EgressError> {
        let method = ReadMethod::parse(method).ok_or_else(|| EgressError::WriteMethod {
            method: method.to_string(),
        })?;
        let path = PathPattern::parse(path)?;
        if method == ReadMethod::Post && !path.is_explicit() {
            return Err(EgressError::WildcardPost {
                pattern: path.to_string(),
            });
        }
        Ok(Route { method, path })
    }
}

/// What the operator grants: per origin, the routes allowed.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    rules: BTreeMap<Origin, Vec<Route>>,
}

impl EgressPolicy {
    /// Allows nothing.
    pub fn deny_all() -> EgressPolicy {
        EgressPolicy::default()
    }

    /// Adds routes for an origin.
    pub fn allow(&mut self, origin: Origin, routes: impl IntoIterator<Item = Route>) {
        self.rules.entry(origin).or_default().extend(routes);
    }

    /// The declared origins, in order: what reroutes may name and what
    /// refusals list.
    pub fn origins(&self) -> impl Iterator<Item = &Origin> {
        self.rules.keys()
    }

    /// Decides one request. The URI must be absolute (scheme and authority).
    pub fn check(&self, method: &str, uri: &http::Uri) -> Result<(), Denial> {
        let origin = Origin::of_uri(uri).ok_or_else(|| Denial::MalformedUrl {
            url: uri.to_string(),
        })?;
        let Some(routes) = self.rules.get(&origin) else {
            return Err(Denial::UndeclaredOrigin { origin });
        };
        let Some(read) = ReadMethod::parse(method) else {
            return Err(Denial::WriteMethod {
                method: method.to_string(),
                origin,
            });
        };
        let path = path::canonical_segments(uri.path()).map_err(|flaw| Denial::UnsafePath {
            path: uri.path().to_string(),
            flaw,
        })?;
        if routes
            .iter()
            .any(|route| route.method == read && route.path.matches(&path))
        {
            Ok(())
        } else {
            Err(Denial::UndeclaredRoute {
                origin,
                method: read,
                path: uri.path().to_string(),
            })
        }
    }
}

/// Request headers the host owns: they frame the message on the wire
/// (a plugin-set `content-length` on a GET smuggles a second request to a
/// keep-alive upstream), manage the connection, or name another method
/// than the one the policy checked. Any `proxy-*` header too.
const HOST_OWNED_HEADERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "http2-settings",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// True for a request header a plugin may not set.
pub fn is_host_owned_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    HOST_OWNED_HEADERS.contains(&name.as_str()) || name.starts_with("proxy-")
}

/// Refuses a request whose headers frame it or override its method. `host`
/// may only be the request's own authority, which the runtime sets.
pub fn check_framing(uri: &http::Uri, headers: &http::HeaderMap) -> Result<(), Denial> {
    if let Some(name) = headers
        .keys()
        .find(|name| is_host_owned_header(name.as_str()))
    {
        return Err(Denial::HostOwnedHeader {
            name: name.to_string(),
        });
    }
    let authority = uri.authority().map(|a| a.as_str().as_bytes());
    if headers
        .get_all(http::header::HOST)
        .iter()
        .any(|value| Some(value.as_bytes()) != authority)
    {
        return Err(Denial::HostOwnedHeader {
            name: http::header::HOST.to_string(),
        });
    }
    Ok(())
}

/// Why a request was refused. The message says what the manifest would need,
/// so a plugin author can tell a bug from a missing declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The request's origin has no egress rule.
    #[error("origin {origin} is not declared; the manifest would need an egress rule for it")]
    UndeclaredOrigin {
        /// The origin asked for.
        origin: Origin,
    },
    /// A method that may write, to a declared origin.
    #[error("method {method} on {origin} writes; integrations are read-only")]
    WriteMethod {
        /// The method as the plugin sent it.
        method: String,
        /// The declared origin it was sent to.
        origin: Origin,
    },
    /// A read no route of the declared origin allows.
    #[error(
        "{method} {path} on {origin} is not declared; the manifest would need a route `{method} {path}`"
    )]
    UndeclaredRoute {
        /// The declared origin.
        origin: Origin,
        /// The read method used.
        method: ReadMethod,
        /// The request's path, as sent.
        path: String,
    },
    /// A path some server would rewrite into another before routing it.
    #[error("path `{path}` is not canonical: {flaw}; servers would read it as another path")]
    UnsafePath {
        /// The request's path, as sent.
        path: String,
        /// The first rewrite it invites.
        flaw: PathFlaw,
    },
    /// A header that frames the message or names another method.
    #[error("the plugin set the `{name}` header, which the host owns (framing or method override)")]
    HostOwnedHeader {
        /// The header's name.
        name: String,
    },
    /// A body written on a request whose method carries none.
    #[error("{method} carries no body; the plugin wrote one")]
    BodyOnRead {
        /// The request's method.
        method: ReadMethod,
    },
    /// A URL with no http(s) scheme or no authority.
    #[error("`{url}` is not an absolute http(s) URL")]
    MalformedUrl {
        /// The URL as the plugin sent it.
        url: String,
    },
    /// A public origin resolved to an address the registries reserve
    /// (private, loopback, metadata, ...).
    #[error("{origin} resolves to {address} ({class}); only a --route may send traffic there")]
    ForbiddenAddress {
        /// The declared origin.
        origin: Origin,
        /// The address it resolved to.
        address: IpAddr,
        /// The registry entry the address falls in.
        class: &'static str,
    },
}

impl Denial {
    /// The kind of refusal the ledger files this under.
    pub fn refusal(&self) -> Refusal {
        match self {
            Denial::HostOwnedHeader { .. } | Denial::BodyOnRead { .. } => Refusal::Framing,
            Denial::ForbiddenAddress { .. } => Refusal::ForbiddenAddress,
            Denial::UndeclaredOrigin { .. }
            | Denial::WriteMethod { .. }
            | Denial::UndeclaredRoute { .. }
            | Denial::UnsafePath { .. }
            | Denial::MalformedUrl { .. } => Refusal::Egress,
        }
    }
}

/// A malformed declaration or flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// An origin that does not parse or names more than a server.
    #[error("origin `{origin}`: {why}")]
    BadOrigin {
        /// The origin as written.
        origin: String,
        /// What is wrong with it.
        why: String,
    },
    /// A path pattern that does not parse.
    #[error("path pattern `{pattern}`: {why}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        why: String,
    },
    /// A pattern with a query: routes match paths only.
    #[error(
        "path pattern `{pattern}`: the query is not part of a route pattern (a route matches \
         the path whatever the query); declare `{path}`"
    )]
    QueryInPattern {
        /// The pattern as written.
        pattern: String,
        /// The pattern without its query: what to declare instead.
        path: String,
    },
    /// A route whose method may write.
    #[error("method `{method}` is not a read method (GET, HEAD, or POST on a declared search)")]
    WriteMethod {
        /// The method as written.
        method: String,
    },
    /// A `--route` flag that is not `ORIGIN=URL`.
    #[error(
        "route `{spec}` must be ORIGIN=URL, such as https://api.example.com=http://127.0.0.1:8080"
    )]
    BadRouteSpec {
        /// The flag's value.
        spec: String,
    },
    /// A reroute to another machine: a reroute is for a local mock only.
    #[error("route target {target} is not a loopback address; --route only reaches this machine")]
    NonLoopbackTarget {
        /// The target named.
        target: Origin,
    },
    /// A POST route that is not one explicit endpoint.
    #[error(
        "POST route `{pattern}` is not one endpoint: POST needs an explicit path ending in a literal segment, without `**`"
    )]
    WildcardPost {
        /// The pattern as written.
        pattern: String,
    },
    /// A reroute of an origin the manifest does not declare.
    #[error(
        "--route names {origin}, which the manifest does not declare (declared: {}); a reroute never widens the policy",
        list(.declared)
    )]
    UndeclaredReroute {
        /// The origin the reroute names.
        origin: Origin,
        /// The origins declared, so a typo shows.
        declared: Vec<Origin>,
    },
}

/// `a, b, c`, or `none`.
fn list(origins: &[Origin]) -> String {
    if origins.is_empty() {
        return "none".to_string();
    }
    origins
        .iter()
        .map(Origin::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Developer reroutes: a declared origin sent to a loopback server. A reroute
/// changes where a request goes, never whether it is allowed.
#[derive(Debug, Clone, Default)]
pub struct Reroutes {
    map: BTreeMap<Origin, Origin>,
}

impl Reroutes {
    /// Parses `ORIGIN=URL` flags; targets must be loopback.
    pub fn parse<'a>(specs: impl IntoIterator<Item = &'a str>) -> Result<Reroutes, EgressError> {
        let mut map = BTreeMap::new();
        for spec in specs {
            let (from, to) = spec
                .split_once('=')
                .ok_or_else(|| EgressError::BadRouteSpec {
                    spec: spec.to_string(),
                })?;
            let from = Origin::parse(from.trim())?;
            let to = Origin::parse(to.trim().trim_end_matches('/'))?;
            if !to.is_loopback() {
                return Err(EgressError::NonLoopbackTarget { target: to });
            }
            map.insert(from, to);
        }
        Ok(Reroutes { map })
    }

    /// Refuses a reroute of an origin the policy does not declare: it would
    /// do nothing, so a typo in it would send the run, secret and all, to
    /// the real origin the developer meant to avoid.
    pub fn check_declared(&self, policy: &EgressPolicy) -> Result<(), EgressError> {
        match self
            .map
            .keys()
            .find(|from| !policy.rules.contains_key(from))
        {
            None => Ok(()),
            Some(origin) => Err(EgressError::UndeclaredReroute {
                origin: origin.clone(),
                declared: policy.origins().cloned().collect(),
            }),
        }
    }

    /// Where requests for `origin` really go, if rerouted.
    pub fn target(&self, origin: &Origin) -> Option<&Origin> {
        self.map.get(origin)
    }

    /// Each rerouted origin and its loopback target, for `run.json`.
    pub fn iter(&self) -> impl Iterator<Item = (&Origin, &Origin)> {
        self.map.iter()
    }

    /// True when no origin is rerouted (a production run).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(text: &str) -> http::Uri {
        text.parse().unwrap()
    }

    fn atlassian_policy() -> EgressPolicy {
        let mut policy = EgressPolicy::deny_all();
        policy.allow(
            Origin::parse("https://api.atlassian.com").unwrap(),
            [
                Route::parse("GET", "/admin/v1/orgs/*").unwrap(),
                Route::parse("GET", "/admin/v1/orgs/*/events-stream").unwrap(),
                Route::parse("POST", "/admin/v2/orgs/*/directories/*/users/search").unwrap(),
                Route::parse("GET", "/docs/**").unwrap(),
            ],
        );
        policy
    }

    #[test]
    fn empty_policy_denies_everything() {
        let denial = EgressPolicy::deny_all()
            .check("GET", &uri("https://api.atlassian.com/admin/v1/orgs/x"))
            .unwrap_err();
        assert!(matches!(denial, Denial::UndeclaredOrigin { .. }));
    }

    #[test]
    fn declared_route_is_allowed() {
        let policy = atlassian_policy();
        policy
            .check("GET", &uri("https://api.atlassian.com/admin/v1/orgs/o-1"))
            .unwrap();
        policy
            .check(
                "GET",
                &uri("https://api.atlassian.com/admin/v1/orgs/o-1/events-stream?cursor=abc"),
            )
            .unwrap();
        policy
            .check(
                "POST",
                &uri("https://API.atlassian.com:443/admin/v2/orgs/o/directories/-/users/search"),
            )
            .unwrap();
    }

    #[test]
    fn disallowed_host_fails() {
        let denial = atlassian_policy()
            .check("GET", &uri("https://evil.example.net/admin/v1/orgs/o-1"))
            .unwrap_err();
        assert_eq!(
            denial,
            Denial::UndeclaredOrigin {
                origin: Origin::parse("https://evil.example.net").unwrap()
            }
        );
    }

    #[test]
    fn other_port_or_scheme_is_another_origin() {
        let policy = atlassian_policy();
        for url in [
            "http://api.atlassian.com/admin/v1/orgs/o",
            "https://api.atlassian.com:8443/admin/v1/orgs/o",
        ] {
            assert!(matches!(
                policy.check("GET", &uri(url)),
                Err(Denial::UndeclaredOrigin { .. })
            ));
        }
    }

    #[test]
    fn write_methods_are_refused_even_on_declared_paths() {
        for method in ["PUT", "PATCH", "DELETE", "CONNECT", "get"] {
            let denial = atlassian_policy()
                .check(method, &uri("https://api.atlassian.com/admin/v1/orgs/o-1"))
                .unwrap_err();
            assert!(matches!(denial, Denial::WriteMethod { .. }), "{method}");
        }
    }

    #[test]
    fn post_only_where_declared() {
        let denial = atlassian_policy()
            .check("POST", &uri("https://api.atlassian.com/admin/v1/orgs/o-1"))
            .unwrap_err();
        assert!(matches!(
            denial,
            Denial::UndeclaredRoute {
                method: ReadMethod::Post,
                ..
            }
        ));
    }

    #[test]
    fn single_star_matches_exactly_one_segment() {
        let policy = atlassian_policy();
        for url in [
            "https://api.atlassian.com/admin/v1/orgs",
            "https://api.atlassian.com/admin/v1/orgs/o/users/extra",
        ] {
            assert!(matches!(
                policy.check("GET", &uri(url)),
                Err(Denial::UndeclaredRoute { .. })
            ));
        }
    }

    #[test]
    fn double_star_matches_the_rest() {
        let policy = atlassian_policy();
        policy
            .check("GET", &uri("https://api.atlassian.com/docs"))
            .unwrap();
        policy
            .check("GET", &uri("https://api.atlassian.com/docs/a/b/c"))
            .unwrap();
    }

    #[test]
    fn traversal_is_refused() {
        for url in [
            "https://api.atlassian.com/docs/../admin/v1/orgs/o/users",
            "https://api.atlassian.com/docs/%2e%2e/secret",
            "https://api.atlassian.com/docs/a%2Fb",
            "https://api.atlassian.com/docs//x",
        ] {
            assert!(
                matches!(
                    atlassian_policy().check("GET", &uri(url)),
                    Err(Denial::UnsafePath { .. })
                ),
                "{url}"
            );
        }
    }

    #[test]
    fn patterns_reject_write_methods_and_bad_shapes() {
        assert!(matches!(
            Route::parse("DELETE", "/x"),
            Err(EgressError::WriteMethod { .. })
        ));
        for bad in ["x", "/a/**/b", "/a*", "/a//b", "/../x"] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_refuse_paths_and_credentials() {
        for bad in [
            "https://api.example.com/admin",
            "https://user:pw@api.example.com",
            "ftp://api.example.com",
            "https://api.example.com?q=1",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Origin::parse("HTTPS://Api.Example.com:443/").unwrap(),
            Origin::parse("https://api.example.com").unwrap()
        );
    }

    #[test]
    fn reroute_must_target_loopback() {
        let routes = Reroutes::parse(["https://api.atlassian.com=http://127.0.0.1:9000"]).unwrap();
        let from = Origin::parse("https://api.atlassian.com").unwrap();
        assert_eq!(routes.target(&from).unwrap().authority(), "127.0.0.1:9000");
        assert!(matches!(
            Reroutes::parse(["https://api.atlassian.com=http://203.0.113.9:80"]),
            Err(EgressError::NonLoopbackTarget { .. })
        ));
        assert!(matches!(
            Reroutes::parse(["https://api.atlassian.com"]),
            Err(EgressError::BadRouteSpec { .. })
        ));
    }

    #[test]
    fn private_and_metadata_addresses_are_classified() {
        for (ip, class) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("192.168.0.1", "private"),
            ("169.254.169.254", "link-local or metadata"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("::1", "loopback"),
            ("fd00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("::ffff:10.0.0.1", "private"),
        ] {
            let found = forbidden_address_class(ip.parse().unwrap());
            assert!(
                found.is_some_and(|c| c.starts_with(class)),
                "{ip}: {found:?}"
            );
        }
        assert_eq!(
            forbidden_address_class("93.184.216.34".parse().unwrap()),
            None
        );
    }

    #[test]
    fn a_non_canonical_path_is_refused_for_its_flaw_under_a_catch_all_route() {
        for (path, flaw) in [
            ("/docs/..;/admin", PathFlaw::Parameter),
            ("/docs/%252e%252e/admin", PathFlaw::EscapedDelimiter),
            ("/docs/%c0%ae%c0%ae/admin", PathFlaw::EscapedNonAscii),
            ("/docs/%ef%bc%8e%ef%bc%8e/admin", PathFlaw::EscapedNonAscii),
        ] {
            assert_eq!(
                atlassian_policy().check("GET", &uri(&format!("https://api.atlassian.com{path}"))),
                Err(Denial::UnsafePath {
                    path: path.to_string(),
                    flaw
                }),
            );
        }
    }

    #[test]
    fn a_route_pattern_with_a_query_says_the_query_is_not_part_of_it() {
        let refused = Route::parse("POST", "/v1/search?limit=*").unwrap_err();
        assert!(matches!(
            &refused,
            EgressError::QueryInPattern { path, .. } if path == "/v1/search"
        ));
        assert_eq!(
            refused.to_string(),
            "path pattern `/v1/search?limit=*`: the query is not part of a route pattern \
             (a route matches the path whatever the query); declare `/v1/search`"
        );
    }

    #[test]
    fn route_patterns_must_be_canonical_too() {
        for bad in ["/docs\u{1b}[8m", "/a;b", "/%2e%2e", "/docs\u{202e}"] {
            assert!(
                matches!(PathPattern::parse(bad), Err(EgressError::BadPattern { .. })),
                "{bad:?}"
            );
        }
        PathPattern::parse("/admin/v2/orgs/*/directories/*/users/557058:x").unwrap();
    }

    #[test]
    fn post_is_only_allowed_on_an_explicit_endpoint() {
        for pattern in ["/**", "/search/**", "/*", "/admin/*", "/"] {
            assert_eq!(
                Route::parse("POST", pattern),
                Err(EgressError::WildcardPost {
                    pattern: pattern.to_string()
                }),
            );
            Route::parse("GET", pattern).unwrap();
        }
        Route::parse("POST", "/admin/v2/orgs/*/directories/*/users/search").unwrap();
    }

    #[test]
    fn headers_that_frame_a_request_or_override_its_method_are_refused() {
        let target = uri("https://api.atlassian.com/admin/v1/orgs/o");
        for name in [
            "content-length",
            "Transfer-Encoding",
            "connection",
            "upgrade",
            "te",
            "trailer",
            "keep-alive",
            "proxy-authorization",
            "proxy-connection",
            "x-http-method-override",
            "x-http-method",
            "x-method-override",
        ] {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "1".parse().unwrap(),
            );
            assert_eq!(
                check_framing(&target, &headers),
                Err(Denial::HostOwnedHeader {
                    name: name.to_ascii_lowercase()
                }),
            );
        }
        let mut headers = http::HeaderMap::new();
        headers.insert("accept", "application/json".parse().unwrap());
        headers.insert("host", "api.atlassian.com".parse().unwrap());
        check_framing(&target, &headers).unwrap();
        headers.append("host", "admin.internal".parse().unwrap());
        assert!(matches!(
            check_framing(&target, &headers),
            Err(Denial::HostOwnedHeader { .. })
        ));
    }

    #[test]
    fn a_reroute_of_an_undeclared_origin_is_refused_naming_the_declared_ones() {
        let typo = Reroutes::parse(["https://api.atlasian.com=http://127.0.0.1:9000"]).unwrap();
        let refused = typo.check_declared(&atlassian_policy()).unwrap_err();
        assert_eq!(
            refused,
            EgressError::UndeclaredReroute {
                origin: Origin::parse("https://api.atlasian.com").unwrap(),
                declared: vec![Origin::parse("https://api.atlassian.com").unwrap()],
            }
        );
        assert!(
            refused.to_string().contains("https://api.atlassian.com"),
            "{refused}"
        );
        Reroutes::parse(["https://api.atlassian.com=http://127.0.0.1:9000"])
            .unwrap()
            .check_declared(&atlassian_policy())
            .unwrap();
    }

    #[test]
    fn ipv6_origins_match_however_they_are_written() {
        let declared = Origin::parse("https://[::127.0.0.1]:8443").unwrap();
        assert_eq!(
            Origin::of_uri(&uri("https://[::7f00:1]:8443/x")),
            Some(declared.clone())
        );
        assert_eq!(declared.to_string(), "https://[::7f00:1]:8443");
        assert_eq!(declared.authority(), "[::7f00:1]:8443");
    }
}
