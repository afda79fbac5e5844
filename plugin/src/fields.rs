//! Reading the few fields of a record the logic needs (its id, an audit
//! event's times) without reading the rest of it.
//!
//! Every record of a collection passes here, after the page that holds it
//! was read. The fields sought come first in the API's records, so a walk
//! that stops once it has them skips most of the bytes; a general JSON
//! parser cannot stop early cheaply (it reports the unread rest as an error,
//! with its position). Its input is a record of a page that was already
//! checked, so it is JSON; on anything else it still ends, and finds what it
//! finds.

use std::borrow::Cow;

use jsontext::Cursor;

/// The strings at `paths` in the object `record` (the JSON text of a record
/// of a parsed page), each path a field name and
/// the names of the objects it is nested in (`["attributes", "time"]`).
/// `None` where a path is absent or not a string; the first of repeated keys
/// counts. At most 32 paths. Values without escapes are borrowed from
/// `record`.
pub fn strings<'a, const N: usize>(
    record: &'a str,
    paths: [&[&str]; N],
) -> [Option<Cow<'a, str>>; N] {
    assert!(N <= 32, "paths are tracked in a 32-bit set");
    let mut found: [Option<Option<Cow<'a, str>>>; N] = std::array::from_fn(|_| None);
    let mut json = Cursor::new(record);
    // A record that is not JSON after all yields what was found before it
    // broke.
    let _ = object(&mut json, &paths, ((1u64 << N) - 1) as u32, 0, &mut found);
    found.map(Option::flatten)
}

/// Reads the object at `json` (or skips any other value), looking for the
/// paths in the set `wanted`, whose first `depth` names led here. `Ok(false)`
/// as soon as every path has been found: reading stops there.
fn object<'a>(
    json: &mut Cursor<'a>,
    paths: &[&[&str]],
    wanted: u32,
    depth: usize,
    found: &mut [Option<Option<Cow<'a, str>>>],
) -> Result<bool, jsontext::Error> {
    if json.peek() != Some(b'{') {
        json.skip()?;
        return Ok(true);
    }
    json.object()?;
    while let Some(key) = json.key()? {
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
            let value = if json.peek() == Some(b'"') {
                Some(json.string()?)
            } else {
                json.skip()?;
                None
            };
            for (i, slot) in found.iter_mut().enumerate() {
                if leaves & (1 << i) != 0 {
                    *slot = Some(value.clone());
                }
            }
        } else if inner != 0 {
            if !object(json, paths, inner, depth + 1, found)? {
                return Ok(false);
            }
        } else {
            json.skip()?;
        }
        if found.iter().all(Option::is_some) {
            return Ok(false);
        }
    }
    Ok(true)
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
        let mut json = Cursor::new(r#"{"id":"x", oops"#);
        let mut found = [None];
        assert_eq!(object(&mut json, &[&["id"]], 1, 0, &mut found), Ok(false));
        assert_eq!(found, [Some(Some("x".into()))]);
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
            assert_eq!(strings(text, [&["id"]]), [None], "{text}");
        }
    }
}
