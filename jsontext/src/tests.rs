//! The scanner against `serde_json`, the reference both sides used before:
//! the same texts must be JSON, and the same values must lie in the same
//! places.

use super::*;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

/// Whether `serde_json` reads `text` as one value, skipping it.
fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Texts that exercise every rule of the grammar, both ways.
const CASES: &[&str] = &[
    "",
    " ",
    "null",
    "true",
    "false",
    "nul",
    "nulll",
    "True",
    "0",
    "-0",
    "01",
    "-",
    "1.",
    "1.5",
    ".5",
    "1e5",
    "1E+5",
    "1e-5",
    "1e",
    "1e+",
    "-1.5e-7",
    "--1",
    "1x",
    "[]",
    "[ ]",
    "[1,]",
    "[,1]",
    "[1 2]",
    "[1,2]",
    "[[[]]]",
    "[[]",
    "[]]",
    "{}",
    "{ }",
    r#"{"a":1}"#,
    r#"{"a" 1}"#,
    r#"{"a":}"#,
    r#"{"a":1,}"#,
    r#"{,"a":1}"#,
    r#"{a:1}"#,
    r#"{"a":1 "b":2}"#,
    r#"{"a":[1,{}]}"#,
    r#"{"a":[1,{]}"#,
    r#"{"a":1]"#,
    r#"[1}"#,
    r#""""#,
    r#""abc"#,
    r#""a\"b""#,
    r#""a\\""#,
    r#""\/\b\f\n\r\t""#,
    r#""\x""#,
    r#""\u00e9""#,
    r#""\u00G9""#,
    r#""\u00e""#,
    r#""\ud83d\ude00""#,
    r#""\ud83d""#,
    "\"tab\there\"",
    "\"nl\nhere\"",
    "\"\u{1f}\"",
    "\"\u{7f}\"",
    "\"é ✓ 😀\"",
    " [ 1 , \"x\" ] \n",
    "1 2",
    "{} x",
    "\t{\r\n}\n",
];

#[test]
fn the_grammar_is_serde_jsons() {
    for text in CASES {
        assert_eq!(
            validate(text).is_ok(),
            serde_accepts(text),
            "{text:?}: {:?}",
            validate(text)
        );
    }
}

/// A tiny deterministic generator, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A record as the API's pages hold them, with escapes, numbers, nesting
/// and strings longer than a SIMD block.
const EVENT: &str = r#"{"id":"5786ccc1-4f4f-48ef-ae0b-8c80774f897e","type":"events","attributes":{"time":"2026-11-23T23:58:39.530Z","action":"user_logged_in","actor":{"id":"712020:e586d2bf","name":"Casey \"CZ\" Zhang\u00e9","links":{"self":"https://api.example.com/users/712020:e586d2bf/manage/profile"}},"context":[{"id":"x","type":"users"}],"location":{"ip":"192.0.2.195","geo":[52.52,-13.4e0,0,1E2],"ok":true,"no":false,"none":null}},"message":{"content":"Line\none\\two\ttab \/ slash","format":"simple"}}"#;

#[test]
fn mutated_records_are_judged_as_serde_json_judges_them() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // Bytes that matter to the grammar, and some that do not.
    let alphabet = b"{}[]:,\"\\ \n0123456789-+.eEtrufalsn/ux\x01\x1f";
    let mut disagreements = Vec::new();
    for _ in 0..30_000 {
        let mut bytes = EVENT.as_bytes().to_vec();
        for _ in 0..=rng.below(3) {
            let at = rng.below(bytes.len() + 1);
            let byte = alphabet[rng.below(alphabet.len())];
            match rng.below(4) {
                0 => bytes.insert(at, byte),
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                2 if at < bytes.len() => bytes[at] = byte,
                _ => bytes.truncate(at),
            }
        }
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        if validate(&text).is_ok() != serde_accepts(&text) {
            disagreements.push(text);
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn a_skipped_value_is_where_serde_json_finds_it() {
    let page = format!(r#"{{"data":[{EVENT}, 12.5e3 ,"s",[[]],{{}}],"links":{{"next":null}}}}"#);
    #[derive(serde::Deserialize)]
    struct Page<'a> {
        #[serde(borrow)]
        data: Vec<&'a RawValue>,
    }
    let expected: Vec<&str> = serde_json::from_str::<Page>(&page)
        .unwrap()
        .data
        .iter()
        .map(|r| r.get())
        .collect();

    let mut cursor = Cursor::new(&page);
    cursor.object().unwrap();
    assert_eq!(cursor.key().unwrap().as_deref(), Some("data"));
    cursor.array().unwrap();
    let mut found = Vec::new();
    while cursor.element().unwrap() {
        found.push(&page[cursor.skip().unwrap()]);
    }
    assert_eq!(found, expected);
    assert_eq!(cursor.key().unwrap().as_deref(), Some("links"));
    assert_eq!(&page[cursor.skip().unwrap()], r#"{"next":null}"#);
    assert_eq!(cursor.key().unwrap(), None);
    cursor.finish().unwrap();
}

#[test]
fn a_walk_reports_where_the_text_breaks() {
    let text = r#"{"a":1 "b":2}"#;
    let mut cursor = Cursor::new(text);
    cursor.object().unwrap();
    assert_eq!(cursor.key().unwrap().as_deref(), Some("a"));
    cursor.skip().unwrap();
    assert_eq!(
        cursor.key(),
        Err(Error {
            at: 7,
            expected: "`,` or `}`"
        })
    );
    assert_eq!(
        validate("[1,2"),
        Err(Error {
            at: 4,
            expected: "`,` or `]`"
        })
    );
    assert_eq!(
        validate("\"a\u{1}\"").unwrap_err().to_string(),
        "expected no control character in a string at byte 2"
    );
    assert_eq!(
        validate("[] x").unwrap_err().expected,
        "the end of the text"
    );
}

#[test]
fn nesting_stops_at_the_maximum_depth() {
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    assert_eq!(validate(&nested(MAX_DEPTH)), Ok(()));
    assert_eq!(
        validate(&nested(MAX_DEPTH + 1)),
        Err(Error {
            at: MAX_DEPTH,
            expected: "no deeper nesting"
        })
    );
    let objects = |depth: usize| format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
    assert_eq!(validate(&objects(MAX_DEPTH)), Ok(()));
    assert!(validate(&objects(MAX_DEPTH + 1)).is_err());
}

#[test]
fn strings_decode_as_serde_json_decodes_them() {
    for quoted in [
        r#""plain""#,
        r#""a\"b\\c\/d""#,
        r#""\b\f\n\r\t""#,
        r#""caf\u00e9 \u2713""#,
        r#""\ud83d\ude00 smile""#,
        r#""\u0041\u0042""#,
        r#""é ✓ 😀 raw""#,
    ] {
        let expected: String = serde_json::from_str(quoted).unwrap();
        assert_eq!(Cursor::new(quoted).string().unwrap(), expected, "{quoted}");
    }
    let plain = Cursor::new(r#" "no escapes" "#).string().unwrap();
    assert!(matches!(plain, Cow::Borrowed("no escapes")));
    // serde_json refuses an unpaired surrogate when it decodes; it is JSON
    // all the same, and decodes to U+FFFD here.
    assert_eq!(Cursor::new(r#""a\ud83db""#).string().unwrap(), "a\u{fffd}b");
    assert_eq!(Cursor::new(r#""\ude00""#).string().unwrap(), "\u{fffd}");
}
