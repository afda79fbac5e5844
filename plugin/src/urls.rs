//! URL text handling for the one origin the integration talks to: percent
//! encoding, and a strict reader for absolute URLs that the API hands back
//! (v1 `links.next`). Strict on purpose: a link the API returns is followed
//! only when it provably stays on `https://api.atlassian.com`, so anything a
//! general URL parser would tolerate (user info, backslashes, whitespace,
//! fragments) is refused rather than interpreted.

/// The origin every request goes to, and the only one the host lets through.
pub const API_ORIGIN: &str = "https://api.atlassian.com";

const API_HOST: &str = "api.atlassian.com";

/// Percent-encodes everything but RFC 3986 unreserved characters, for query
/// names and values (opaque cursors often hold `+`, `/` and `=`).
pub fn encode_query(value: &str) -> String {
    encode(value, |_| false)
}

/// Percent-encodes a path segment. `:` stays literal (it is allowed in a
/// segment, and Atlassian account ids such as `712020:1f2e…` hold it) so that
/// sources read naturally; `/`, `?`, `#` and `%` are always encoded.
pub fn encode_segment(value: &str) -> String {
    encode(value, |b| b == b':')
}

fn encode(value: &str, keep: impl Fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') || keep(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` when an escape is broken or the result is not
/// UTF-8. `+` is left alone: these are RFC 3986 URLs, not form bodies.
pub fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// An absolute URL on the API origin, split into path and raw query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl<'a> {
    pub path: &'a str,
    pub query: &'a str,
}

/// Reads an absolute URL and accepts it only if its origin (scheme, host and
/// port) is [`API_ORIGIN`]. The reason for a refusal is returned for the
/// error message.
pub fn split_api_url(url: &str) -> Result<ApiUrl<'_>, String> {
    if let Some(c) = url.chars().find(|c| !c.is_ascii_graphic() || *c == '\\') {
        return Err(format!("the link holds the character {c:?}"));
    }
    if url.contains('#') {
        return Err("the link holds a fragment".into());
    }
    let scheme_end = url.find("://").ok_or("the link is not absolute")?;
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let same_origin = url[..scheme_end].eq_ignore_ascii_case("https")
        && !authority.contains('@')
        && host.eq_ignore_ascii_case(API_HOST)
        && matches!(port, None | Some("443"));
    if !same_origin {
        return Err(format!(
            "the link leaves {API_ORIGIN} (origin {}://{authority})",
            &url[..scheme_end]
        ));
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    if !path.starts_with('/') {
        return Err("the link has no path".into());
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
}
