//! URL text handling for the one origin the integration talks to: percent
//! encoding (`percent-encoding`), and a strict reader for absolute URLs that
//! the API hands back (v1 `links.next`). Strict on purpose: a link the API
//! returns is followed only when it provably stays on
//! `https://api.atlassian.com`, so anything a general URL parser would
//! tolerate (backslashes, whitespace, fragments, a missing path) is refused
//! before `url` reads the origin, rather than interpreted.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use url::Url;

/// The origin every request goes to, and the only one the host lets through.
pub const API_ORIGIN: &str = "https://api.atlassian.com";

const API_HOST: &str = "api.atlassian.com";

/// Everything but RFC 3986 unreserved characters.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// As [`QUERY`], with `:` kept (see [`encode_segment`]).
const SEGMENT: &AsciiSet = &QUERY.remove(b':');

/// Percent-encodes everything but RFC 3986 unreserved characters, for query
/// names and values (opaque cursors often hold `+`, `/` and `=`).
pub fn encode_query(value: &str) -> String {
    utf8_percent_encode(value, QUERY).to_string()
}

/// Percent-encodes a path segment. `:` stays literal (it is allowed in a
/// segment, and Atlassian account ids such as `712020:1f2e…` hold it) so that
/// sources read naturally; `/`, `?`, `#` and `%` are always encoded.
pub fn encode_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Decodes `%XX` escapes; `None` when an escape is broken (which
/// `percent-encoding` would pass through as text) or the result is not
/// UTF-8. `+` is left alone: these are RFC 3986 URLs, not form bodies.
pub fn decode(value: &str) -> Option<String> {
    let escapes_whole = value.split('%').skip(1).all(|after| {
        after
            .get(..2)
            .is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
    });
    if !escapes_whole {
        return None;
    }
    percent_decode_str(value)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// An absolute URL on the API origin, split into path and raw query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl<'a> {
    pub path: &'a str,
    pub query: &'a str,
}

/// Why a link the API handed back is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkRefusal {
    /// It holds a character outside printable ASCII, or a backslash.
    #[error("the link holds the character {0:?}")]
    Character(char),
    /// It holds a fragment.
    #[error("the link holds a fragment")]
    Fragment,
    /// It is not an absolute URL.
    #[error("the link is not absolute")]
    NotAbsolute,
    /// It cannot be read as a URL.
    #[error("the link is not a URL ({0})")]
    Malformed(url::ParseError),
    /// It leads to another origin (shown).
    #[error("the link leaves {API_ORIGIN} (origin {0})")]
    OtherOrigin(String),
    /// It names a user (and perhaps a password) before the host.
    #[error("the link holds user info")]
    UserInfo,
    /// It has no path.
    #[error("the link has no path")]
    NoPath,
    /// It leads to another path (shown) than the chain's.
    #[error("it leads to another path ({0})")]
    OtherPath(String),
    /// It holds no cursor, which a chain paging by request body needs.
    #[error("it holds no cursor")]
    NoCursor,
}

/// Reads an absolute URL and accepts it only if its origin (scheme, host and
/// port, with no user info) is [`API_ORIGIN`].
pub fn split_api_url(link: &str) -> Result<ApiUrl<'_>, LinkRefusal> {
    if let Some(c) = link.chars().find(|c| !c.is_ascii_graphic() || *c == '\\') {
        return Err(LinkRefusal::Character(c));
    }
    if link.contains('#') {
        return Err(LinkRefusal::Fragment);
    }
    let parsed = match Url::parse(link) {
        Ok(parsed) => parsed,
        Err(url::ParseError::RelativeUrlWithoutBase) => return Err(LinkRefusal::NotAbsolute),
        Err(e) => return Err(LinkRefusal::Malformed(e)),
    };
    let same_origin = parsed.scheme() == "https"
        && parsed.host_str() == Some(API_HOST)
        && parsed.port_or_known_default() == Some(443);
    if !same_origin {
        return Err(LinkRefusal::OtherOrigin(
            parsed.origin().ascii_serialization(),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(LinkRefusal::UserInfo);
    }
    // The path and query as written: `url` would resolve dot segments and
    // supply a missing path, and a link is followed only as written.
    let after_scheme = &link[link.find("://").ok_or(LinkRefusal::NotAbsolute)? + 3..];
    let path_and_query =
        &after_scheme[after_scheme.find(['/', '?']).unwrap_or(after_scheme.len())..];
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        return Err(LinkRefusal::NoPath);
    }
    Ok(ApiUrl { path, query })
}

/// The raw `name=value` pairs of a query string, in order.
fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

/// Whether the query names `name` (a name is compared as written, since every
/// parameter this integration sets is plain ASCII).
pub fn query_has(query: &str, name: &str) -> bool {
    pairs(query).any(|(n, _)| n == name)
}

/// The decoded value of the first `name` parameter.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    pairs(query)
        .find(|(n, _)| *n == name)
        .and_then(|(_, v)| decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_cursor_characters() {
        let cursor = "Y3Vy c29y+LTI=/?&#%é";
        let encoded = encode_query(cursor);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
        );
        assert_eq!(decode(&encoded).as_deref(), Some(cursor));
        assert_eq!(encode_segment("712020:ab|c/.."), "712020:ab%7Cc%2F..");
    }

    #[test]
    fn broken_escapes_are_refused() {
        assert_eq!(decode("%zz"), None);
        assert_eq!(decode("abc%4"), None);
        assert_eq!(decode("%FF"), None);
    }

    #[test]
    fn api_urls_are_split() {
        let u = split_api_url("https://API.atlassian.com:443/admin/v1/orgs/o/users?cursor=a%3D&x")
            .unwrap();
        assert_eq!(u.path, "/admin/v1/orgs/o/users");
        assert_eq!(u.query, "cursor=a%3D&x");
        assert_eq!(query_value(u.query, "cursor").as_deref(), Some("a="));
        assert!(query_has(u.query, "x"));
        assert!(!query_has(u.query, "from"));
    }

    #[test]
    fn other_origins_and_tricks_are_refused() {
        for url in [
            "http://api.atlassian.com/admin/v1/orgs",
            "https://api.atlassian.com.example.com/admin",
            "https://evil.example.com/admin/v1/orgs",
            "https://api.atlassian.com@evil.example.com/admin",
            "https://evil.example.com\\@api.atlassian.com/admin",
            "https://api.atlassian.com:8443/admin",
            "https://api.atlassian.com/admin#frag",
            "https://api.atlassian.com/ad min",
            "https://api.atlassian.com?cursor=x",
            "//api.atlassian.com/admin",
            "/admin/v1/orgs",
        ] {
            assert!(split_api_url(url).is_err(), "{url} accepted");
        }
    }

    #[test]
    fn a_refusal_says_why() {
        assert_eq!(
            split_api_url("https://api.atlassian.com@evil.example.com/admin"),
            Err(LinkRefusal::OtherOrigin("https://evil.example.com".into()))
        );
        assert_eq!(
            split_api_url("https://user:pw@api.atlassian.com/admin"),
            Err(LinkRefusal::UserInfo)
        );
        assert_eq!(
            split_api_url("https://api.atlassian.com?cursor=x"),
            Err(LinkRefusal::NoPath)
        );
        assert_eq!(split_api_url("/admin"), Err(LinkRefusal::NotAbsolute));
        assert_eq!(
            split_api_url("https://api.atlassian.com:99999/admin"),
            Err(LinkRefusal::Malformed(url::ParseError::InvalidPort))
        );
    }
}
