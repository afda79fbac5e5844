//! Secret values and the scrubber that keeps them out of everything we write.
//!
//! A [`Secret`] cannot be printed: its `Debug` is redacted and it has no
//! `Display`, so a secret can reach a log, an error or a panic message only by
//! an explicit [`Secret::expose`] call, and the only caller is the header
//! injection in [`crate::outbound`]. The [`Scrubber`] replaces known secret
//! values in text the plugin writes and in bytes the upstream sends, so an
//! upstream that echoes the key back cannot hand it to the plugin either.
//!
//! An upstream may reflect a credential in another spelling, so the scrubber
//! replaces each secret in every spelling [`spellings`] lists: raw,
//! JSON-escaped, base64 and base64url (standalone, and embedded at any of
//! the three alignments inside a longer base64 text), hex and
//! percent-encoded. Compressed bodies never reach it: the host owns content
//! encoding (see [`crate::outbound`]).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use memchr::memmem::Finder;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// The shortest secret the host accepts: anything shorter cannot be told
/// apart from ordinary text.
pub const MIN_SECRET_BYTES: usize = 4;

/// The longest secret the host accepts: keys and tokens are far shorter,
/// and a larger value is a file pasted by mistake.
pub const MAX_SECRET_BYTES: usize = 64 << 10;

/// The shortest derived spelling that is scrubbed: a shorter run of base64
/// or hex digits occurs by chance in ordinary bodies, and redacting it would
/// corrupt evidence. Every spelling of a secret of at least 8 bytes is at
/// least this long.
const MIN_SPELLING_BYTES: usize = 8;

/// A secret value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a value cannot be a secret. Never holds the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BadSecret {
    /// Shorter than [`MIN_SECRET_BYTES`]: scrubbing it would mangle
    /// ordinary text.
    #[error("is shorter than {MIN_SECRET_BYTES} bytes")]
    TooShort,
    /// A newline or other control character would split or forge the header
    /// it is sent in, and is almost always a copy-paste accident.
    #[error("holds a control character (a newline?) at byte {at}")]
    ControlCharacter {
        /// Its byte offset, which locates it without showing the value.
        at: usize,
    },
    /// Longer than [`MAX_SECRET_BYTES`]: a file pasted by mistake.
    #[error("is {len} bytes long; secrets are at most {MAX_SECRET_BYTES} bytes")]
    TooLong {
        /// The value's length, bytes.
        len: usize,
    },
}

impl Secret {
    /// A secret, refused if it is too short to scrub or holds a control
    /// character.
    pub fn new(value: impl Into<String>) -> Result<Secret, BadSecret> {
        let value = value.into();
        if let Some((at, _)) = value.char_indices().find(|(_, c)| c.is_control()) {
            return Err(BadSecret::ControlCharacter { at });
        }
        if value.len() < MIN_SECRET_BYTES {
            return Err(BadSecret::TooShort);
        }
        if value.len() > MAX_SECRET_BYTES {
            return Err(BadSecret::TooLong { len: value.len() });
        }
        Ok(Secret(value))
    }

    /// The raw value, for injecting into an outgoing request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where an embedder's secrets come from: asked once per declared secret
/// field of a run. The environment is one source ([`crate::config::EnvSecrets`]);
/// an embedder passes its own to hand secrets to one run without a
/// process-wide environment.
pub trait SecretSource {
    /// The value of `field` for the integration `integration` (the manifest
    /// id), if the operator set one; an error names where it was read from.
    fn secret(&self, integration: &str, field: &str) -> Option<Result<Secret, SourceError>>;

    /// What the operator does to provide a secret this source lacks, as
    /// the configuration error says it: where this source reads it from.
    fn remedy(&self, integration: &str, field: &str) -> String {
        let _ = integration;
        format!("the secret source holds no `{field}`")
    }
}

/// A value a [`SecretSource`] holds that cannot be a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place} {why}")]
pub struct SourceError {
    /// Where the value was found, such as the environment variable's name.
    pub place: String,
    /// Why the value there cannot be a secret.
    pub why: BadSecret,
}

/// Every spelling of `secret` the scrubber replaces. A spelling shorter than
/// `MIN_SPELLING_BYTES` is left out unless it is the secret itself: one that
/// short occurs by chance in ordinary bodies, and redacting it would corrupt
/// evidence.
pub fn spellings(secret: &Secret) -> Vec<Vec<u8>> {
    let raw = secret.expose().as_bytes();
    let mut all = vec![raw.to_vec()];
    all.extend(json_spellings(secret.expose()));
    all.extend(base64_spellings(raw));
    all.push(hex::encode(raw).into_bytes());
    all.push(hex::encode_upper(raw).into_bytes());
    for upper in [false, true] {
        all.push(percent(raw, is_unreserved, upper));
        all.push(percent(raw, |_| false, upper));
    }
    all.retain(|s| s.as_slice() == raw || s.len() >= MIN_SPELLING_BYTES);
    all
}

/// As a JSON string's content: minimal escaping, `/` escaped too, and every
/// character as a `\u` escape in either case of hex digit.
fn json_spellings(secret: &str) -> Vec<Vec<u8>> {
    let quoted = serde_json::to_string(secret).expect("a string serializes");
    let minimal = quoted[1..quoted.len() - 1].to_string();
    let slashed = minimal.replace('/', "\\/");
    let escaped = |upper: bool| -> String {
        secret
            .encode_utf16()
            .map(|unit| match upper {
                true => format!("\\u{unit:04X}"),
                false => format!("\\u{unit:04x}"),
            })
            .collect()
    };
    [minimal, slashed, escaped(false), escaped(true)]
        .into_iter()
        .map(String::into_bytes)
        .collect()
}

/// Base64 and base64url, padded and not; and, for the secret inside a longer
/// base64 text, the digits that depend on the secret alone at each of the
/// three byte alignments it may start at.
fn base64_spellings(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
        out.push(engine.encode(raw).into_bytes());
    }
    for skip in 0..3.min(raw.len()) {
        let rest = &raw[skip..];
        let whole = &rest[..rest.len() / 3 * 3];
        out.push(STANDARD_NO_PAD.encode(whole).into_bytes());
        out.push(URL_SAFE_NO_PAD.encode(whole).into_bytes());
    }
    out
}

/// RFC 3986 unreserved characters, which percent-encoding may leave as is.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes every byte `keep` does not accept, in either case of hex
/// digit (the `percent-encoding` crate writes upper case only).
fn percent(raw: &[u8], keep: fn(u8) -> bool, upper: bool) -> Vec<u8> {
    let mut out = String::with_capacity(raw.len() * 3);
    for &b in raw {
        match (keep(b), upper) {
            (true, _) => out.push(b as char),
            (false, true) => out.push_str(&format!("%{b:02X}")),
            (false, false) => out.push_str(&format!("%{b:02x}")),
        }
    }
    out.into_bytes()
}

/// Replaces every spelling of every known secret with [`REDACTED`].
#[derive(Clone, Default)]
pub struct Scrubber {
    /// One searcher per spelling, longest first, so a spelling containing
    /// another is replaced whole. Shared: every response body clones it.
    needles: Arc<[Finder<'static>]>,
}

/// The spellings are the secrets: only their number is shown.
impl fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scrubber")
            .field("spellings", &self.needles.len())
            .finish()
    }
}

impl Scrubber {
    /// Scrubs every spelling of the given secrets.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Scrubber {
        let mut all: Vec<Vec<u8>> = secrets.into_iter().flat_map(spellings).collect();
        all.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        all.dedup();
        Scrubber {
            needles: all.iter().map(|n| Finder::new(n).into_owned()).collect(),
        }
    }

    /// True when there are no secrets to hide, so scrubbing changes nothing.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The text with every secret replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Every spelling is whole UTF-8, so a match in UTF-8 text starts
            // and ends on character boundaries.
            Cow::Owned(bytes) => {
                Cow::Owned(String::from_utf8(bytes).expect("spellings are whole UTF-8"))
            }
        }
    }

    /// The bytes with every secret replaced.
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for needle in self.needles.iter() {
            if needle.find(&out).is_some() {
                out = Cow::Owned(replace_all(&out, needle));
            }
        }
        out
    }

    /// Whether a header name holds a secret in any spelling, in any case:
    /// names are case-insensitive, and arrive lower-cased.
    pub fn hides_in_name(&self, name: &[u8]) -> bool {
        let name = name.to_ascii_lowercase();
        self.needles
            .iter()
            .any(|n| memchr::memmem::find(&name, &n.needle().to_ascii_lowercase()).is_some())
    }

    /// Scrubs a header section, a response's or its trailers': a value
    /// holding a secret is rewritten, whatever bytes it holds, and a header
    /// whose name holds one is dropped, since a name cannot spell
    /// [`REDACTED`].
    pub fn headers(&self, headers: &mut http::HeaderMap) {
        if self.is_empty() {
            return;
        }
        let mut name = None;
        for (key, value) in std::mem::take(headers) {
            // The map yields a name only with the first of its values.
            let key = key.or(name).expect("a header map's first value has a name");
            name = Some(key.clone());
            if self.hides_in_name(key.as_str().as_bytes()) {
                continue;
            }
            let value = match self.bytes(value.as_bytes()) {
                Cow::Borrowed(_) => value,
                Cow::Owned(clean) => http::HeaderValue::from_bytes(&clean)
                    .expect("replacing bytes of a valid value with printable ASCII keeps it valid"),
            };
            headers.append(key, value);
        }
    }

    /// A scrubber for one byte stream whose chunks may split a secret.
    pub fn stream(&self) -> StreamScrubber {
        StreamScrubber {
            scrubber: self.clone(),
            held: Vec::new(),
        }
    }

    fn longest(&self) -> usize {
        self.needles.first().map_or(0, |n| n.needle().len())
    }
}

/// Scrubs a byte stream chunk by chunk, holding back just enough bytes to
/// catch a secret split across two chunks.
#[derive(Debug)]
pub struct StreamScrubber {
    scrubber: Scrubber,
    held: Vec<u8>,
}

impl StreamScrubber {
    /// Takes a chunk; returns the bytes that are safe to pass on now, which
    /// may be none while a possible secret is held back.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.scrubber.is_empty() {
            return chunk.to_vec();
        }
        self.held.extend_from_slice(chunk);
        // Every response body passes here: without a secret in it, the held
        // bytes themselves are passed on, and only the short tail is copied.
        let replaced = match self.scrubber.bytes(&self.held) {
            Cow::Owned(replaced) => Some(replaced),
            Cow::Borrowed(_) => None,
        };
        let mut scrubbed = replaced.unwrap_or_else(|| std::mem::take(&mut self.held));
        let keep = self
            .scrubber
            .longest()
            .saturating_sub(1)
            .min(scrubbed.len());
        self.held = scrubbed.split_off(scrubbed.len() - keep);
        scrubbed
    }

    /// The end of the stream: whatever is still held, scrubbed.
    pub fn finish(&mut self) -> Vec<u8> {
        let rest = std::mem::take(&mut self.held);
        self.scrubber.bytes(&rest).into_owned()
    }
}

/// Every byte of every response body is searched: a vectorised search, not
/// a comparison at every offset (which was a tenth of a collection's time).
fn replace_all(haystack: &[u8], needle: &Finder<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(pos) = needle.find(rest) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = &rest[pos + needle.needle().len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    fn secret(value: &str) -> Secret {
        Secret::new(value).unwrap()
    }

    #[test]
    fn debug_never_shows_the_value() {
        let secret = secret("sk-live-123456");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert!(!format!("{:?}", Some(&secret)).contains("123456"));
        let scrubber = Scrubber::new([&secret]);
        assert!(!format!("{scrubber:?}").contains("123456"));
    }

    #[test]
    fn a_value_with_a_control_character_or_too_short_is_not_a_secret() {
        assert_eq!(
            Secret::new("sk-live\n-123456"),
            Err(BadSecret::ControlCharacter { at: 7 })
        );
        assert_eq!(
            Secret::new("sk-live-123456\r"),
            Err(BadSecret::ControlCharacter { at: 14 })
        );
        assert_eq!(
            Secret::new("sk-\u{85}live-123456"),
            Err(BadSecret::ControlCharacter { at: 3 })
        );
        assert_eq!(Secret::new("abc"), Err(BadSecret::TooShort));
        let pasted_file = "k".repeat(MAX_SECRET_BYTES + 1);
        assert_eq!(
            Secret::new(pasted_file),
            Err(BadSecret::TooLong {
                len: MAX_SECRET_BYTES + 1
            })
        );
    }

    #[test]
    fn text_and_bytes_are_scrubbed() {
        let secret = secret("sk-live-123456");
        let scrubber = Scrubber::new([&secret]);
        assert_eq!(
            scrubber.text("Bearer sk-live-123456 twice sk-live-123456"),
            "Bearer [REDACTED] twice [REDACTED]"
        );
        assert_eq!(
            scrubber.bytes(b"{\"k\":\"sk-live-123456\"}").as_ref(),
            b"{\"k\":\"[REDACTED]\"}"
        );
        assert!(matches!(scrubber.text("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn each_spelling_of_a_secret_is_scrubbed() {
        let secret = secret("k/3+\"é\\x");
        let scrubber = Scrubber::new([&secret]);
        for spelling in [
            "k\\/3+\\\"é\\\\x",
            "k/3+\\\"é\\\\x",
            "\\u006b\\u002f\\u0033\\u002b\\u0022\\u00e9\\u005c\\u0078",
            "\\u006B\\u002F\\u0033\\u002B\\u0022\\u00E9\\u005C\\u0078",
            "ay8zKyLDqVx4",
            "6b2f332b22c3a95c78",
            "6B2F332B22C3A95C78",
            "k%2F3%2B%22%C3%A9%5Cx",
            "k%2f3%2b%22%c3%a9%5cx",
            "%6b%2f%33%2b%22%c3%a9%5c%78",
        ] {
            let text = format!("<{spelling}>");
            assert_eq!(scrubber.text(&text), "<[REDACTED]>", "{spelling}");
        }
    }

    #[test]
    fn a_secret_in_a_header_name_is_found_in_any_case() {
        let scrubber = Scrubber::new([&secret("Tok3nValue")]);
        assert!(scrubber.hides_in_name(b"x-tok3nvalue"));
        assert!(!scrubber.hides_in_name(b"x-request-id"));
    }

    #[test]
    fn headers_lose_secrets_in_names_and_in_values_of_any_bytes() {
        let scrubber = Scrubber::new([&secret("Tok3nValue")]);
        let mut headers = http::HeaderMap::new();
        headers.append("x-echo", "a Tok3nValue".parse().unwrap());
        headers.append("x-echo", "clean".parse().unwrap());
        let latin = http::HeaderValue::from_bytes(b"\xe9 VG9rM25WYWx1ZQ==").unwrap();
        headers.append("x-latin", latin);
        headers.append("x-tok3nvalue", "1".parse().unwrap());
        scrubber.headers(&mut headers);
        let echo: Vec<_> = headers.get_all("x-echo").iter().collect();
        assert_eq!(echo, ["a [REDACTED]", "clean"]);
        assert_eq!(headers["x-latin"].as_bytes(), b"\xe9 [REDACTED]");
        assert_eq!(
            headers.len(),
            3,
            "the header named after the secret is gone"
        );
    }

    #[test]
    fn a_secret_split_across_chunks_is_caught() {
        let secret = secret("abcdefgh");
        let scrubber = Scrubber::new([&secret]);
        let input = b"xxabcdefghyyabcdefgh".to_vec();
        for split in 0..input.len() {
            for second in split..input.len() {
                let mut stream = scrubber.stream();
                let mut out = stream.push(&input[..split]);
                out.extend(stream.push(&input[split..second]));
                out.extend(stream.push(&input[second..]));
                out.extend(stream.finish());
                assert_eq!(
                    out, b"xx[REDACTED]yy[REDACTED]",
                    "split at {split},{second}"
                );
            }
        }
    }

    #[test]
    fn stream_without_secrets_passes_through() {
        let mut stream = Scrubber::default().stream();
        assert_eq!(stream.push(b"hello"), b"hello");
        assert!(stream.finish().is_empty());
    }

    /// A printable secret of 8 to 40 bytes, with the characters encodings
    /// treat specially.
    fn random_secret(rng: &mut StdRng) -> Secret {
        const ALPHABET: &[u8] = b"abcXYZ0189-_./+=\"\\~:% ";
        let len = rng.random_range(8..=40);
        let value: String = (0..len)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
            .collect();
        secret(&value)
    }

    /// The secret's spellings as an upstream would write them, the base64
    /// ones inside a longer base64 text at a random byte offset.
    fn reflections(secret: &Secret, rng: &mut StdRng) -> Vec<Vec<u8>> {
        let mut out = spellings(secret);
        for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
            let mut inner: Vec<u8> = (0..rng.random_range(0..6)).map(|_| rng.random()).collect();
            inner.extend_from_slice(secret.expose().as_bytes());
            inner.extend((0..rng.random_range(0..6)).map(|_| rng.random::<u8>()));
            out.push(engine.encode(inner).into_bytes());
        }
        out
    }

    /// Every secret decodable from base64 digits in `text`, at every offset.
    fn decodes_to(text: &[u8], secret: &Secret) -> bool {
        let digits = |b: &u8| b.is_ascii_alphanumeric() || b"+/-_".contains(b);
        text.split(|b| !digits(b)).any(|run| {
            (0..4).any(|shift| {
                let run = &run[shift.min(run.len())..];
                let run = &run[..run.len() / 4 * 4];
                [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD].iter().any(|engine| {
                    engine.decode(run).is_ok_and(|bytes| {
                        memchr::memmem::find(&bytes, secret.expose().as_bytes()).is_some()
                    })
                })
            })
        })
    }

    #[test]
    fn generated_reflections_never_pass_in_any_chunking() {
        let mut rng = StdRng::seed_from_u64(13);
        for case in 0..300 {
            let secret = random_secret(&mut rng);
            let scrubber = Scrubber::new([&secret]);
            let mut body = Vec::new();
            for reflection in reflections(&secret, &mut rng) {
                body.extend((0..rng.random_range(0..20)).map(|_| b'a' + rng.random_range(0..26)));
                body.extend(reflection);
            }
            let mut stream = scrubber.stream();
            let mut out = Vec::new();
            let mut rest = body.as_slice();
            while !rest.is_empty() {
                let take = rng.random_range(0..=rest.len().min(9));
                out.extend(stream.push(&rest[..take]));
                rest = &rest[take..];
            }
            out.extend(stream.finish());
            for spelling in spellings(&secret) {
                assert!(
                    memchr::memmem::find(&out, &spelling).is_none(),
                    "case {case}: a spelling passed"
                );
            }
            assert!(!decodes_to(&out, &secret), "case {case}: base64 passed");
        }
    }
}
