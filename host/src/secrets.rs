//! Secret values and the scrubber that keeps them out of everything we write.
//!
//! A [`Secret`] cannot be printed: its `Debug` is redacted and it has no
//! `Display`, so a secret can reach a log, an error or a panic message only by
//! an explicit [`Secret::expose`] call, and the only caller is the header
//! injection in [`crate::outbound`]. The [`Scrubber`] replaces known secret
//! values in text the plugin writes and in bytes the upstream sends, so an
//! upstream that echoes the key back cannot hand it to the plugin either.

use std::borrow::Cow;
use std::fmt;

/// What a secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// A secret value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
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

/// Replaces every known secret value with [`REDACTED`].
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    needles: Vec<Secret>,
}

impl Scrubber {
    /// Scrubs the given secrets. Values shorter than 4 bytes are ignored: they
    /// cannot be told apart from ordinary text, and config validation refuses
    /// such secrets anyway.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Scrubber {
        let mut needles: Vec<Secret> = secrets
            .into_iter()
            .filter(|s| s.0.len() >= 4)
            .cloned()
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        needles.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        needles.dedup();
        Scrubber { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// The text with every secret replaced.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for needle in &self.needles {
            if out.contains(needle.expose()) {
                out = Cow::Owned(out.replace(needle.expose(), REDACTED));
            }
        }
        out
    }

    /// The bytes with every secret replaced.
    pub fn bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(bytes);
        for needle in &self.needles {
            let needle = needle.expose().as_bytes();
            if find(&out, needle).is_some() {
                out = Cow::Owned(replace_all(&out, needle, REDACTED.as_bytes()));
            }
        }
        out
    }

    /// A scrubber for one byte stream whose chunks may split a secret.
    pub fn stream(&self) -> StreamScrubber {
        StreamScrubber {
            scrubber: self.clone(),
            held: Vec::new(),
        }
    }

    fn longest(&self) -> usize {
        self.needles.first().map_or(0, |s| s.0.len())
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
    /// Takes a chunk; returns the bytes that are safe to pass on now.
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
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    memchr::memmem::find(haystack, needle)
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(pos) = find(rest, needle) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(with);
        rest = &rest[pos + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("sk-live-123456");
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert!(!format!("{:?}", Some(&secret)).contains("123456"));
    }

    #[test]
    fn text_and_bytes_are_scrubbed() {
        let secret = Secret::new("sk-live-123456");
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
    fn a_secret_split_across_chunks_is_caught() {
        let secret = Secret::new("abcdefgh");
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
}
