//! Reading the few fields of a record the logic needs (its id, an audit
//! event's times) without reading the rest of it.
//!
//! Every record of a collection passes here, and reading each one whole,
//! after the page that holds it was read, was most of the integration's
//! work. The fields sought come first in the API's records, so a reader that
//! stops once it has them skips most of the bytes. A general JSON parser
//! cannot stop early cheaply (it reports the unread rest as an error, with
//! its position), hence this small scanner. Its input is a record of a page
//! that was already parsed, so it is valid JSON; on anything else it still
//! ends, and finds what it finds.

use std::borrow::Cow;

/// The strings at `paths` in the object `record` (the JSON text of a record
/// of a parsed page), each path a field name and
/// the names of the objects it is nested in (`["attributes", "time"]`).
/// `None` where a path is absent or not a string; the first of repeated keys
/// counts. At most 32 paths. Values without escapes are borrowed from `raw`.
pub fn strings<'a, const N: usize>(
    record: &'a str,
    paths: [&[&str]; N],
) -> [Option<Cow<'a, str>>; N] {
    assert!(N <= 32, "paths are tracked in a 32-bit set");
    let mut found: [Option<Option<Cow<'a, str>>>; N] = std::array::from_fn(|_| None);
    let mut json = Scanner {
        text: record,
        at: 0,
    };
    json.object(&paths, ((1u64 << N) - 1) as u32, 0, &mut found);
    found.map(Option::flatten)
}

/// A cursor over JSON text.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Reads the object here (or skips any other value), looking for the
    /// paths in the set `wanted`, whose first `depth` names led here. Returns
    /// false as soon as every path has been found: reading stops there.
    fn object(
        &mut self,
        paths: &[&[&str]],
        wanted: u32,
        depth: usize,
        found: &mut [Option<Option<Cow<'a, str>>>],
    ) -> bool {
        self.space();
        if self.peek() != Some(b'{') {
            self.skip_value();
            return true;
        }
        self.at += 1;
        loop {
            self.space();
            if self.peek() != Some(b'"') {
                // `}`: the object ends.
                self.at += 1;
                return true;
            }
            let key = unescape(self.string());
            self.space();
            self.at += 1; // `:`
            let (mut leaves, mut inner) = (0u32, 0u32);
            for (i, path) in paths.iter().enumerate() {
                if wanted & (1 << i) != 0 && found[i].is_none() && path.get(depth) == Some(&&*key) {
                    if path.len() == depth + 1 {
                        leaves |= 1 << i;
                    } else {
                        inner |= 1 << i;
                    }
                }
            }
            if leaves != 0 {
                self.space();
                let value = if self.peek() == Some(b'"') {
                    Some(unescape(self.string()))
                } else {
                    self.skip_value();
                    None
                };
                for (i, slot) in found.iter_mut().enumerate() {
                    if leaves & (1 << i) != 0 {
                        *slot = Some(value.clone());
                    }
                }
            } else if inner != 0 {
                if !self.object(paths, inner, depth + 1, found) {
                    return false;
                }
            } else {
                self.skip_value();
            }
            if found.iter().all(Option::is_some) {
                return false;
            }
            self.space();
            let separator = self.peek();
            self.at += 1;
            if separator != Some(b',') {
                return true;
            }
        }
    }

    /// The string here, quotes included, escapes as written.
    fn string(&mut self) -> &'a str {
        let start = self.at;
        self.at += 1;
        while let Some(b) = self.peek() {
            self.at += if b == b'\\' { 2 } else { 1 };
            if b == b'"' {
                return &self.text[start..self.at];
            }
        }
        &self.text[start..self.text.len().min(self.at)]
    }

    /// Skips the value here, whatever it is.
    fn skip_value(&mut self) {
        self.space();
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    self.string();
                    if depth == 0 {
                        return;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    if depth == 0 {
                        self.at += 1;
                        return;
                    }
                }
                // The end of a number, literal or the enclosing container.
                b',' | b'}' | b']' if depth == 0 => return,
                _ => {}
            }
            self.at += 1;
        }
    }
}

/// A JSON string's value, from its text with quotes.
fn unescape(quoted: &str) -> Cow<'_, str> {
    match quoted.get(1..quoted.len().saturating_sub(1)) {
        Some(inner) if !inner.contains('\\') && quoted.ends_with('"') => Cow::Borrowed(inner),
        _ => serde_json::from_str::<String>(quoted).map_or(Cow::Borrowed(""), Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as pages hold them: valid JSON.
    fn raw(json: &str) -> &str {
        let _: &serde_json::value::RawValue = serde_json::from_str(json).unwrap();
        json
    }

    #[test]
    fn nested_fields_are_found() {
        let event = raw(
            r#"{"id":"e-1","type":"events","attributes":{"time":"t1","processedAt":"p1","actor":{"id":"a"}}}"#,
        );
        assert_eq!(
            strings(
                event,
                [
                    &["id"],
                    &["attributes", "processedAt"],
                    &["attributes", "time"]
                ]
            ),
            [Some("e-1".into()), Some("p1".into()), Some("t1".into())]
        );
        // A nested `id` is not the top-level one.
        assert_eq!(strings(raw(r#"{"actor":{"id":"a"}}"#), [&["id"]]), [None]);
    }

    #[test]
    fn reading_stops_once_everything_is_found() {
        // What follows the field is never read: here it is not even JSON.
        let mut json = Scanner {
            text: r#"{"id":"x", oops"#,
            at: 0,
        };
        let mut found = [None];
        assert!(!json.object(&[&["id"]], 1, 0, &mut found));
        assert_eq!(found, [Some(Some("x".into()))]);
        assert_eq!(json.at, r#"{"id":"x""#.len());
    }

    #[test]
    fn odd_shapes_yield_none_and_the_rest_is_still_read() {
        let record = raw(
            r#"{ "attributes" : null, "n":[1,{"id":"2"},"]"], "id":7.5e3, "s":"a\"}b",
                 "accountId":"a\"b\u00e9", "x":{"y":"z"}}"#,
        );
        assert_eq!(
            strings(
                record,
                [
                    &["attributes", "time"],
                    &["id"],
                    &["accountId"],
                    &["x", "y"]
                ]
            ),
            [None, None, Some("a\"bé".into()), Some("z".into())]
        );
        assert_eq!(strings(raw(r#"["id"]"#), [&["id"]]), [None]);
        assert_eq!(strings(raw(r#"{}"#), [&["id"]]), [None]);
        assert_eq!(
            strings(raw(r#"{"id":"first","id":"second"}"#), [&["id"]]),
            [Some("first".into())]
        );
        assert_eq!(
            strings(raw(r#"{"i\u0064":"escaped key"}"#), [&["id"]]),
            [Some("escaped key".into())]
        );
    }

    #[test]
    fn broken_text_ends_without_a_panic() {
        for text in [
            r#"{"id"#,
            r#"{"a":{"b":"#,
            r#"{"a":"\"#,
            "{",
            r#"{"a":[}"#,
            "{\"a\"}",
        ] {
            let mut json = Scanner { text, at: 0 };
            let mut found = [None];
            json.object(&[&["id"]], 1, 0, &mut found);
        }
    }
}
