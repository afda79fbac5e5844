//! Canonical request paths: the only paths the egress policy matches against
//! routes.
//!
//! A route admits a path segment by segment, so the upstream must see the
//! same segments the policy saw. Servers and proxies rewrite paths before
//! routing them: nginx and Apache percent-decode and remove dot segments,
//! Tomcat and Spring strip `;` parameters (`/docs/..;/admin` is `/admin`),
//! IIS turns `\` into `/`, decodes overlong UTF-8 and trims trailing dots and
//! spaces, some decode twice (`%252e` is `.`), some fold full-width
//! characters (`．` is `.`). A path that any of them would rewrite is not
//! canonical and is refused, whatever route it would match: close to what
//! Spring Security's `StrictHttpFirewall` refuses on the receiving side.
//!
//! Admitted: segments of ASCII letters, digits, `-._~!$&'()*+,=:@`, and
//! percent-escapes of other printable ASCII (a space, `"`, `|`, `?`, ...),
//! which every server decodes inside the segment without moving a boundary.

use std::fmt;

/// What makes a path non-canonical: each is a rewrite some common server
/// applies before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathFlaw {
    /// The path does not start with `/`.
    Relative,
    /// `//` or a trailing `/`: servers merge or drop empty segments.
    EmptySegment,
    /// A `.` or `..` segment: removed or resolved against the previous one.
    DotSegment,
    /// A segment ending in `.` or an escaped space: IIS trims both.
    TrailingDotOrSpace,
    /// A `;` parameter: Tomcat, Jetty and Spring strip it before routing.
    Parameter,
    /// A backslash: IIS and some proxies read it as `/`.
    Backslash,
    /// A raw byte outside ASCII: decoded and folded (full-width `．` is `.`).
    NonAscii,
    /// A raw control character, space or other character that must be escaped.
    Unescaped,
    /// A `%` not followed by two hex digits.
    BrokenEscape,
    /// An escaped letter, digit or `-._~`: decoded by every server (`%2e` is `.`).
    EscapedUnreserved,
    /// An escaped `%`, `/`, `\` or `;`: decoded into a separator, a parameter
    /// or a second escape (`%252e` is `%2e`, then `.`).
    EscapedDelimiter,
    /// An escaped control character: cut or rejected differently by each server.
    EscapedControl,
    /// An escaped byte of 0x80 or more: overlong UTF-8 (`%c0%ae` is `.`) or a
    /// character folded to ASCII (`%ef%bc%8e` is `.`).
    EscapedNonAscii,
}

impl fmt::Display for PathFlaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathFlaw::Relative => "it does not start with `/`",
            PathFlaw::EmptySegment => "it has an empty segment",
            PathFlaw::DotSegment => "it has a `.` or `..` segment",
            PathFlaw::TrailingDotOrSpace => "a segment ends in `.` or a space",
            PathFlaw::Parameter => "it has a `;` parameter",
            PathFlaw::Backslash => "it has a backslash",
            PathFlaw::NonAscii => "it has a character outside ASCII",
            PathFlaw::Unescaped => "it has a control character or a character that must be escaped",
            PathFlaw::BrokenEscape => "it has a `%` not followed by two hex digits",
            PathFlaw::EscapedUnreserved => "it escapes a letter, digit or `-._~`",
            PathFlaw::EscapedDelimiter => "it escapes `%`, `/`, `\\` or `;`",
            PathFlaw::EscapedControl => "it escapes a control character",
            PathFlaw::EscapedNonAscii => "it escapes a byte outside ASCII",
        })
    }
}

/// Splits a canonical path into its segments (`/` has none), or says why
/// the path is not canonical.
pub fn canonical_segments(path: &str) -> Result<Vec<&str>, PathFlaw> {
    let rest = path.strip_prefix('/').ok_or(PathFlaw::Relative)?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    for segment in &segments {
        check_segment(segment)?;
    }
    Ok(segments)
}

/// Checks one segment of a path (or of a route pattern's literal).
pub fn check_segment(segment: &str) -> Result<(), PathFlaw> {
    match segment {
        "" => return Err(PathFlaw::EmptySegment),
        "." | ".." => return Err(PathFlaw::DotSegment),
        _ => {}
    }
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or(PathFlaw::BrokenEscape)?;
            check_escaped(u8::from_str_radix(hex, 16).expect("two hex digits"))?;
            i += 3;
        } else {
            check_raw(bytes[i])?;
            i += 1;
        }
    }
    if segment.ends_with('.') || segment.to_ascii_lowercase().ends_with("%20") {
        return Err(PathFlaw::TrailingDotOrSpace);
    }
    Ok(())
}

/// RFC 3986 unreserved characters: never escaped in a canonical path.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn check_raw(byte: u8) -> Result<(), PathFlaw> {
    match byte {
        b if is_unreserved(b) => Ok(()),
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@' => {
            Ok(())
        }
        b';' => Err(PathFlaw::Parameter),
        b'\\' => Err(PathFlaw::Backslash),
        0x80.. => Err(PathFlaw::NonAscii),
        _ => Err(PathFlaw::Unescaped),
    }
}

fn check_escaped(byte: u8) -> Result<(), PathFlaw> {
    match byte {
        b if is_unreserved(b) => Err(PathFlaw::EscapedUnreserved),
        b'%' | b'/' | b'\\' | b';' => Err(PathFlaw::EscapedDelimiter),
        0x00..=0x1f | 0x7f => Err(PathFlaw::EscapedControl),
        0x80.. => Err(PathFlaw::EscapedNonAscii),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atlassian_paths_are_canonical() {
        for path in [
            "/",
            "/admin/v1/orgs/0c1d2e3f-aaaa-bbbb-cccc-0123456789ab",
            "/admin/v2/orgs/o-1/directories/-/users/557058:0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f/role-assignments",
            "/admin/v1/orgs/o/events-stream",
            "/admin/v2/orgs/o/directories/d/groups/a%7Cb/role-assignments",
            "/docs/a%20b",
            "/docs/~user/file.json",
        ] {
            assert!(canonical_segments(path).is_ok(), "{path}");
        }
        assert_eq!(
            canonical_segments("/a/557058:x/b").unwrap(),
            ["a", "557058:x", "b"]
        );
    }

    /// Every spelling a common server rewrites, each with the flaw it is
    /// refused for.
    #[test]
    fn every_rewritten_spelling_is_refused_for_its_flaw() {
        use PathFlaw::*;
        for (path, flaw) in [
            ("docs", Relative),
            ("/docs//admin", EmptySegment),
            ("/docs/", EmptySegment),
            ("/docs/../admin", DotSegment),
            ("/docs/./admin", DotSegment),
            ("/docs/..;/admin", Parameter),
            ("/docs;jsessionid=1/admin", Parameter),
            ("/docs/%2e%2e/admin", EscapedUnreserved),
            ("/docs/%2E%2E/admin", EscapedUnreserved),
            ("/docs/.%2e/admin", EscapedUnreserved),
            ("/docs/%61dmin", EscapedUnreserved),
            ("/docs/%252e%252e/admin", EscapedDelimiter),
            ("/docs/a%2fb", EscapedDelimiter),
            ("/docs/a%2Fb", EscapedDelimiter),
            ("/docs/a%5cb", EscapedDelimiter),
            ("/docs/..%3b/admin", EscapedDelimiter),
            ("/docs/%c0%ae%c0%ae/admin", EscapedNonAscii),
            ("/docs/%e0%80%ae/admin", EscapedNonAscii),
            ("/docs/%ef%bc%8e%ef%bc%8e/admin", EscapedNonAscii),
            ("/docs/\u{ff0e}\u{ff0e}/admin", NonAscii),
            ("/docs/caf\u{e9}", NonAscii),
            ("/docs\\..\\admin", Backslash),
            ("/docs/%00", EscapedControl),
            ("/docs/a%0d%0aHost:x", EscapedControl),
            ("/docs/%7f", EscapedControl),
            ("/docs/a\tb", Unescaped),
            ("/docs/a b", Unescaped),
            ("/docs/a\u{1b}[8m", Unescaped),
            ("/docs/a%2", BrokenEscape),
            ("/docs/a%zz", BrokenEscape),
            ("/docs/a%+1", BrokenEscape),
            ("/docs/admin.", TrailingDotOrSpace),
            ("/docs/.../admin", TrailingDotOrSpace),
            ("/docs/admin%20", TrailingDotOrSpace),
        ] {
            assert_eq!(canonical_segments(path), Err(flaw), "{path:?}");
        }
    }

    /// What a lenient server makes of a path, in the order they apply it:
    /// percent-decoding until nothing changes, overlong UTF-8 and full-width
    /// forms folded to ASCII, `\` read as `/`, `;` parameters stripped,
    /// empty and `.` segments dropped, `..` resolved, trailing dots and
    /// spaces trimmed. The result is the list of segments it routes on.
    fn lenient_server(path: &str) -> Vec<String> {
        let mut bytes = path.as_bytes().to_vec();
        loop {
            let decoded: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
            if decoded == bytes {
                break;
            }
            bytes = decoded;
        }
        let text = fold_to_ascii(&bytes).replace('\\', "/");
        let mut out: Vec<String> = Vec::new();
        for segment in text.split('/') {
            match segment.split(';').next().unwrap_or("") {
                "" | "." => {}
                ".." => {
                    out.pop();
                }
                other => {
                    let trimmed = other.trim_end_matches(['.', ' ']);
                    if !trimmed.is_empty() {
                        out.push(trimmed.to_string());
                    }
                }
            }
        }
        out
    }

    /// Overlong two- and three-byte UTF-8 for ASCII decoded as IIS did, and
    /// full-width ASCII (U+FF01 to U+FF5E) folded as NFKC does.
    fn fold_to_ascii(bytes: &[u8]) -> String {
        let mut plain = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i..] {
                [a @ 0xc0..=0xc1, b, ..] => {
                    plain.push(((a & 0x1f) << 6) | (b & 0x3f));
                    i += 2;
                }
                [0xe0, b @ 0x80..=0x81, c, ..] => {
                    plain.push(((b & 0x3f) << 6) | (c & 0x3f));
                    i += 3;
                }
                _ => {
                    plain.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&plain)
            .chars()
            .map(|c| match c {
                '\u{ff01}'..='\u{ff5e}' => {
                    char::from_u32(c as u32 - 0xfee0).expect("an ASCII character")
                }
                c => c,
            })
            .collect()
    }

    /// The pieces generated paths are made of: plain text, and every
    /// spelling some server rewrites.
    const PIECES: &[&str] = &[
        "docs",
        "admin",
        "a",
        "557058:x",
        "-",
        "~",
        "@",
        "*",
        ".",
        "..",
        "%2e",
        "%2E",
        "%252e",
        "%c0%ae",
        "%e0%80%ae",
        "\u{ff0e}",
        "%ef%bc%8e",
        ";",
        ";x=1",
        "%3b",
        "\\",
        "%5c",
        "%2f",
        "%2F",
        "%25",
        "%20",
        "%7C",
        "%3F",
        "%00",
        "%0a",
        "%41",
        "%",
        "%4",
        "/",
        "//",
        "\t",
    ];

    /// A small deterministic generator (xorshift), so a failure names its seed.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self, below: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % below as u64) as usize
        }
    }

    /// For generated paths: whenever the policy admits a path, a lenient
    /// server routes on exactly the segments the policy matched (each only
    /// percent-decoded), so no route can be reached through a spelling.
    #[test]
    fn an_admitted_path_means_the_same_to_a_lenient_server() {
        let mut random = Xorshift(0x9e37_79b9_7f4a_7c15);
        let (mut admitted, mut refused) = (0, 0);
        for _ in 0..200_000 {
            let mut path = String::from("/");
            for _ in 0..1 + random.next(6) {
                path.push_str(PIECES[random.next(PIECES.len())]);
            }
            let Ok(segments) = canonical_segments(&path) else {
                refused += 1;
                continue;
            };
            admitted += 1;
            let decoded: Vec<String> = segments
                .iter()
                .map(|s| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .expect("canonical escapes are ASCII")
                        .into_owned()
                })
                .collect();
            assert_eq!(lenient_server(&path), decoded, "{path:?}");
        }
        assert!(admitted > 1_000 && refused > 1_000, "{admitted} {refused}");
    }
}
