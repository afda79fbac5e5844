//! Text a plugin wrote, made safe to print on an operator's terminal.
//!
//! A manifest string, a log line, a warning or an error message comes from
//! an untrusted component. Printed raw, `ESC[8m` hides everything after it,
//! other escape sequences move the cursor or retitle the window, and a
//! right-to-left override (U+202E) shows text in another order than it is.
//! Every place that prints such text goes through [`escape`] (or
//! [`escape_json`] for JSON output).

use std::borrow::Cow;

/// Characters a terminal acts on instead of showing: C0 controls (newline
/// and tab included), DEL, C1 controls, and the Unicode bidirectional
/// controls and separators (U+061C, U+200E, U+200F, U+202A to U+202E,
/// U+2066 to U+2069, U+2028, U+2029).
pub fn is_hazard(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// The text with every [`is_hazard`] character written as a Rust escape
/// (`\u{1b}`, `\n`, `\u{202e}`), everything else unchanged.
pub fn escape(text: &str) -> Cow<'_, str> {
    replace_hazards(text, is_hazard, |c, out| out.extend(c.escape_default()))
}

/// A JSON document with every [`is_hazard`] character but the whitespace
/// between tokens written as a JSON `\uXXXX` escape: the same document to a
/// JSON reader, and nothing a terminal acts on. (Any other such character
/// can only sit inside a string, where the escape means the same.)
pub fn escape_json(json: &str) -> Cow<'_, str> {
    replace_hazards(
        json,
        |c| is_hazard(c) && !matches!(c, '\n' | '\r' | '\t'),
        |c, out| out.push_str(&format!("\\u{:04x}", u32::from(c))),
    )
}

fn replace_hazards(
    text: &str,
    hazard: impl Fn(char) -> bool,
    write: impl Fn(char, &mut String),
) -> Cow<'_, str> {
    if !text.chars().any(&hazard) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hazard(c) {
            write(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every C0, DEL, C1 and bidirectional control character comes out as
    /// visible ASCII.
    #[test]
    fn every_control_and_bidi_character_is_escaped() {
        let hazards: Vec<char> = (0u32..=0x2100)
            .filter_map(char::from_u32)
            .filter(|c| is_hazard(*c))
            .collect();
        assert_eq!(hazards.len(), 32 + 1 + 32 + 1 + 2 + 5 + 4 + 2);
        for c in hazards {
            let shown = escape(&format!("a{c}b")).into_owned();
            assert!(
                shown.is_ascii() && !shown.chars().any(|c| c.is_ascii_control()),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn a_hidden_route_is_shown() {
        assert_eq!(escape("/x\u{1b}[8m"), "/x\\u{1b}[8m");
        assert_eq!(escape("a\nb\u{202e}c"), "a\\nb\\u{202e}c");
        assert!(matches!(escape("plain café"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escaping_keeps_the_document() {
        let value = serde_json::json!({"route": "/x\u{1b}[8m\u{9b}\u{202e}\u{7f}"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let safe = escape_json(&text);
        assert!(!safe.chars().any(|c| c != '\n' && is_hazard(c)), "{safe}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&safe).unwrap(),
            value
        );
    }
}
