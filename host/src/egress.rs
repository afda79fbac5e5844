//! The egress policy: which requests a plugin may make, and where a developer
//! may reroute them.
//!
//! Plain data and pure functions, no wasmtime in sight: the HTTP hook in
//! [`crate::outbound`] asks [`EgressPolicy::check`] about every request
//! (redirects included, since a redirect is a new request), and everything here
//! is unit-tested on its own. Deny by default: an empty policy allows nothing.

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
    Http,
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
            host: host.to_ascii_lowercase(),
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
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        Some(Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            port: authority.port_u16().unwrap_or(scheme.default_port()),
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn host(&self) -> &str {
        &self.host
    }

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

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host)?;
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
    Get,
    Head,
    Post,
}

impl ReadMethod {
    pub fn parse(method: &str) -> Option<ReadMethod> {
        match method {
            "GET" => Some(ReadMethod::Get),
            "HEAD" => Some(ReadMethod::Head),
            "POST" => Some(ReadMethod::Post),
            _ => None,
        }
    }

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
    pub fn parse(text: &str) -> Result<PathPattern, EgressError> {
        let bad = |why: &str| EgressError::BadPattern {
            pattern: text.to_string(),
            why: why.to_string(),
        };
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
                "" => return Err(bad("empty segment")),
                "." | ".." => return Err(bad("dot segments are not allowed")),
                literal if literal.contains('*') => {
                    return Err(bad("`*` must be a whole segment"));
                }
                literal => Segment::Literal(literal.to_string()),
            });
        }
        Ok(PathPattern {
            text: text.to_string(),
            segments,
        })
    }

    /// Matches a request path already split into safe segments.
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
    pub method: ReadMethod,
    pub path: PathPattern,
}

impl Route {
    /// Parses a manifest route, refusing any method that writes.
    pub fn parse(method: &str, path: &str) -> Result<Route, EgressError> {
        let method = ReadMethod::parse(method).ok_or_else(|| EgressError::WriteMethod {
            method: method.to_string(),
        })?;
        Ok(Route {
            method,
            path: PathPattern::parse(path)?,
        })
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
        let path = safe_segments(uri.path()).ok_or_else(|| Denial::UnsafePath {
            path: uri.path().to_string(),
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

/// Splits a request path into segments, or `None` when it hides a traversal:
/// dot segments, encoded slashes or dots, or empty segments.
fn safe_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix('/')?;
    if rest.is_empty() {
        return Some(Vec::new());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let lowered = path.to_ascii_lowercase();
    let hidden = ["%2f", "%2e", "%5c", "\\"]
        .iter()
        .any(|needle| lowered.contains(needle));
    let unsafe_segment = segments
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == "..");
    (!hidden && !unsafe_segment).then_some(segments)
}

/// Why a request was refused. The message says what the manifest would need,
/// so a plugin author can tell a bug from a missing declaration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("origin {origin} is not declared; the manifest would need an egress rule for it")]
    UndeclaredOrigin { origin: Origin },
    #[error("method {method} on {origin} writes; integrations are read-only")]
    WriteMethod { method: String, origin: Origin },
    #[error(
        "{method} {path} on {origin} is not declared; the manifest would need a route `{method} {path}`"
    )]
    UndeclaredRoute {
        origin: Origin,
        method: ReadMethod,
        path: String,
    },
    #[error("path `{path}` has dot segments, encoded separators or empty segments")]
    UnsafePath { path: String },
    #[error("`{url}` is not an absolute http(s) URL")]
    MalformedUrl { url: String },
    #[error("{origin} resolves to {address} ({class}); only a --route may send traffic there")]
    ForbiddenAddress {
        origin: Origin,
        address: IpAddr,
        class: &'static str,
    },
}

/// A malformed declaration or flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("origin `{origin}`: {why}")]
    BadOrigin { origin: String, why: String },
    #[error("path pattern `{pattern}`: {why}")]
    BadPattern { pattern: String, why: String },
    #[error("method `{method}` is not a read method (GET, HEAD, or POST on a declared search)")]
    WriteMethod { method: String },
    #[error(
        "route `{spec}` must be ORIGIN=URL, such as https://api.example.com=http://127.0.0.1:8080"
    )]
    BadRouteSpec { spec: String },
    #[error("route target {target} is not a loopback address; --route only reaches this machine")]
    NonLoopbackTarget { target: Origin },
}

/// The class of address a public origin must never resolve to, if any.
/// Loopback, private, link-local (where cloud metadata services live),
/// carrier-grade NAT, unique-local, unspecified and multicast are refused.
pub fn forbidden_address_class(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local or metadata")
            } else if a == 100 && (64..128).contains(&b) {
                Some("carrier-grade NAT")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
                Some("unspecified, broadcast or multicast")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_address_class(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("unspecified or multicast")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else {
                None
            }
        }
    }
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

    /// Where requests for `origin` really go, if rerouted.
    pub fn target(&self, origin: &Origin) -> Option<&Origin> {
        self.map.get(origin)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Origin, &Origin)> {
        self.map.iter()
    }

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
            assert_eq!(
                forbidden_address_class(ip.parse().unwrap()),
                Some(class),
                "{ip}"
            );
        }
        assert_eq!(
            forbidden_address_class("93.184.216.34".parse().unwrap()),
            None
        );
    }
}
