//! Strict JSON text scanning: checks that text is JSON (RFC 8259) and finds
//! where its values lie, without building them.
//!
//! Both sides of the sandbox read every byte a collection fetches: the
//! integration splits each page into its records and reads a few fields of
//! each; the host checks that every record the plugin emits is JSON before
//! writing it as evidence. That is hundreds of megabytes in a large
//! organization, and a tree of values, or a general parser's machinery to
//! skip one, was most of that work. A [`Cursor`] walks the text instead,
//! checking it as it goes, and its inner loop, over string content, tests
//! sixteen bytes at a time (`strings`).
//!
//! Its grammar is RFC 8259's, as `serde_json` reads it when it skips a
//! value (the tests compare the two): the text is already UTF-8 (`&str`),
//! `\u` escapes need four hex digits but may leave a surrogate unpaired,
//! and containers nest at most [`MAX_DEPTH`] deep.

mod strings;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 128;

/// Why text is not JSON: what was expected, and the byte where it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub at: usize,
    pub expected: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

impl std::error::Error for Error {}

/// Checks that `text` is one JSON value, with whitespace around it at most.
pub fn validate(text: &str) -> Result<(), Error> {
    let mut cursor = Cursor::new(text);
    cursor.skip()?;
    cursor.finish()
}

/// A position in JSON text that moves forward as values are read: the
/// caller walks the containers it cares about ([`Cursor::object`] and
/// [`Cursor::key`], [`Cursor::array`] and [`Cursor::element`]) and skips
/// the rest ([`Cursor::skip`]). Whatever it reads is checked; whitespace
/// before a token is passed over.
pub struct Cursor<'a> {
    text: &'a str,
    at: usize,
    /// Whether the container just entered has yielded nothing yet, so that
    /// its first member or element has no `,` before it. One flag serves
    /// any nesting: once a value inside ends, the container around it is
    /// never at its first member again.
    first: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `text`.
    pub fn new(text: &'a str) -> Cursor<'a> {
        Cursor {
            text,
            at: 0,
            first: false,
        }
    }

    /// The text read.
    pub fn text(&self) -> &'a str {
        self.text
    }

    /// Where the cursor is: the byte after the last token read, or, after
    /// [`Cursor::peek`], the next token's first byte. With it a caller that
    /// walks containers knows where each one starts and ends.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The next token's first byte, after any whitespace.
    pub fn peek(&mut self) -> Option<u8> {
        self.space();
        self.byte()
    }

    /// Reads a string: its value, borrowed from the text unless it holds
    /// escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>, Error> {
        self.space();
        self.expect(b'"', "a string")?;
        let start = self.at;
        let escaped = self.string_rest()?;
        let content = &self.text[start..self.at - 1];
        Ok(if escaped {
            Cow::Owned(unescape(content))
        } else {
            Cow::Borrowed(content)
        })
    }

    /// Reads the object that starts here up to its first member: then
    /// [`Cursor::key`] until it says the object ended.
    pub fn object(&mut self) -> Result<(), Error> {
        self.space();
        self.expect(b'{', "an object")?;
        self.first = true;
        Ok(())
    }

    /// Reads the next member's key and its `:`: its value is read next.
    /// `None` once the object ended, its `}` read.
    pub fn key(&mut self) -> Result<Option<Cow<'a, str>>, Error> {
        if !self.next(b'}', "`,` or `}`")? {
            return Ok(None);
        }
        let key = self.string()?;
        self.space();
        self.expect(b':', "`:`")?;
        Ok(Some(key))
    }

    /// Reads the array that starts here up to its first element: then
    /// [`Cursor::element`] before each one.
    pub fn array(&mut self) -> Result<(), Error> {
        self.space();
        self.expect(b'[', "an array")?;
        self.first = true;
        Ok(())
    }

    /// Whether another element follows (its `,` read); `false` once the
    /// array ended, its `]` read.
    pub fn element(&mut self) -> Result<bool, Error> {
        self.next(b']', "`,` or `]`")
    }

    /// Reads the value that starts here, whatever it is, and says where it
    /// lies: `&text[range]` is its JSON text.
    pub fn skip(&mut self) -> Result<Range<usize>, Error> {
        self.space();
        let start = self.at;
        // Bit `d`: whether the container at depth `d` is an array. Words of
        // 64 bits: wasm32 has no 128-bit shifts, and emulates them slowly.
        let mut arrays = [0u64; MAX_DEPTH / 64];
        let mut depth = 0;
        loop {
            self.space();
            match self.byte() {
                Some(b'"') => {
                    self.at += 1;
                    self.string_rest()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return self.fail("no deeper nesting");
                    }
                    self.at += 1;
                    self.space();
                    let is_array = open == b'[';
                    let close = if is_array { b']' } else { b'}' };
                    if self.byte() == Some(close) {
                        self.at += 1;
                    } else {
                        let (word, bit) = (depth / 64, depth % 64);
                        arrays[word] = arrays[word] & !(1 << bit) | (u64::from(is_array) << bit);
                        depth += 1;
                        if !is_array {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal("true")?,
                Some(b'f') => self.literal("false")?,
                Some(b'n') => self.literal("null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return self.fail("a value"),
            }
            // A value ended: close the containers it ends, then go on to
            // the next value.
            loop {
                if depth == 0 {
                    return Ok(start..self.at);
                }
                self.space();
                let (word, bit) = ((depth - 1) / 64, (depth - 1) % 64);
                let in_array = (arrays[word] >> bit) & 1 == 1;
                match self.byte() {
                    Some(b',') => {
                        self.at += 1;
                        if !in_array {
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b']') if in_array => {
                        self.at += 1;
                        depth -= 1;
                    }
                    Some(b'}') if !in_array => {
                        self.at += 1;
                        depth -= 1;
                    }
                    _ if in_array => return self.fail("`,` or `]`"),
                    _ => return self.fail("`,` or `}`"),
                }
            }
        }
    }

    /// Checks that only whitespace is left.
    pub fn finish(mut self) -> Result<(), Error> {
        self.space();
        match self.byte() {
            None => Ok(()),
            Some(_) => self.fail("the end of the text"),
        }
    }

    fn byte(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn fail<T>(&self, expected: &'static str) -> Result<T, Error> {
        Err(Error {
            at: self.at,
            expected,
        })
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), Error> {
        if self.byte() != Some(byte) {
            return self.fail(expected);
        }
        self.at += 1;
        Ok(())
    }

    fn space(&mut self) {
        while matches!(self.byte(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Before a member or element: reads the `,` that separates it from the
    /// previous one, or the `close` that ends the container instead.
    fn next(&mut self, close: u8, expected: &'static str) -> Result<bool, Error> {
        self.space();
        let first = std::mem::replace(&mut self.first, false);
        match self.byte() {
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ if first => Ok(true),
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            _ => self.fail(expected),
        }
    }

    /// A member's key and `:`, inside [`Cursor::skip`].
    fn member_key(&mut self) -> Result<(), Error> {
        self.space();
        self.expect(b'"', "a string")?;
        self.string_rest()?;
        self.space();
        self.expect(b':', "`:`")
    }

    /// The rest of a string whose `"` was read, up to and with its closing
    /// `"`; whether it holds escapes.
    fn string_rest(&mut self) -> Result<bool, Error> {
        let bytes = self.text.as_bytes();
        let mut escaped = false;
        loop {
            self.at = strings::plain_run_end(bytes, self.at);
            match self.byte() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    self.at += 1;
                    match self.byte() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1;
                        }
                        Some(b'u') => {
                            self.at += 1;
                            for _ in 0..4 {
                                if !self.byte().is_some_and(|b| b.is_ascii_hexdigit()) {
                                    return self.fail("a hex digit");
                                }
                                self.at += 1;
                            }
                        }
                        _ => return self.fail("an escape"),
                    }
                }
                Some(_) => return self.fail("no control character in a string"),
                None => return self.fail("the end of the string"),
            }
        }
    }

    fn literal(&mut self, word: &'static str) -> Result<(), Error> {
        if !self.text[self.at..].starts_with(word) {
            return self.fail(word);
        }
        self.at += word.len();
        Ok(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), Error> {
        if self.byte() == Some(b'-') {
            self.at += 1;
        }
        match self.byte() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.fail("a digit"),
        }
        if self.byte() == Some(b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if matches!(self.byte(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.byte(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    fn some_digits(&mut self) -> Result<(), Error> {
        if !self.byte().is_some_and(|b| b.is_ascii_digit()) {
            return self.fail("a digit");
        }
        self.digits();
        Ok(())
    }

    fn digits(&mut self) {
        while self.byte().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }
}

/// A string's value from its content between the quotes, checked and
/// holding escapes. An unpaired surrogate decodes to U+FFFD.
fn unescape(content: &str) -> String {
    let mut out = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(backslash) = rest.find('\\') {
        out.push_str(&rest[..backslash]);
        let escape = &rest[backslash + 1..];
        let (decoded, used) = match escape.as_bytes().first() {
            Some(b'u') => unicode_escape(escape),
            Some(&b) => (
                match b {
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    other => char::from(other),
                },
                1,
            ),
            None => (char::REPLACEMENT_CHARACTER, 0),
        };
        out.push(decoded);
        rest = &escape[used..];
    }
    out.push_str(rest);
    out
}

/// The character of a `\u` escape (its text from the `u`), with the low
/// half of a surrogate pair if one follows, and the bytes it used.
fn unicode_escape(escape: &str) -> (char, usize) {
    let hex = |at: usize| {
        escape
            .get(at..at + 4)
            .and_then(|digits| u32::from_str_radix(digits, 16).ok())
    };
    let Some(unit) = hex(1) else {
        return (char::REPLACEMENT_CHARACTER, escape.len().min(5));
    };
    if (0xD800..0xDC00).contains(&unit)
        && escape[5..].starts_with("\\u")
        && let Some(low @ 0xDC00..0xE000) = hex(7)
    {
        let scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
        return (
            char::from_u32(scalar).unwrap_or(char::REPLACEMENT_CHARACTER),
            11,
        );
    }
    (
        char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
        5,
    )
}

#[cfg(test)]
mod tests;
