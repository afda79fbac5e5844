//! JSON-lines files read back exactly as the host writes them.
//!
//! The host writes every line of a bundle's `.jsonl` files itself: one JSON
//! value, then a line feed, never a carriage return (JSON text on one line
//! holds none outside strings, and none raw inside them). A reader that took
//! `\r\n`, a last line without its line feed, or a blank line as the same
//! file would let bytes change that verification then never looked at.

use std::io::BufRead;

/// Why a line is not as the host writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// The last line was cut short, or the file was truncated mid-line.
    #[error("does not end with a line feed")]
    NoLineFeed,
    /// A blank line, which the host never writes between values.
    #[error("is empty")]
    Empty,
    /// A `\r` anywhere, as a `\r\n` line ending would bring.
    #[error("holds a carriage return")]
    CarriageReturn,
    /// Bytes the host's JSON could not have produced.
    #[error("is not UTF-8")]
    NotUtf8,
}

/// A line that is not as the host writes it, or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A line the host could not have written.
    #[error("line {line} {problem}")]
    Malformed {
        /// The line's number, from 1.
        line: usize,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// The file could not be read.
    #[error("reading it: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads lines one at a time into a buffer the caller keeps, so a file of a
/// million lines allocates once.
pub struct StrictLines<R> {
    input: R,
    bytes: Vec<u8>,
    line: usize,
}

impl<R: BufRead> StrictLines<R> {
    /// Reads `input` from its current position, counting lines from 1.
    pub fn new(input: R) -> StrictLines<R> {
        StrictLines {
            input,
            bytes: Vec::new(),
            line: 0,
        }
    }

    /// The next line without its line feed, and its number (from 1);
    /// `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<(usize, &str)>, LineError> {
        self.bytes.clear();
        if self.input.read_until(b'\n', &mut self.bytes)? == 0 {
            return Ok(None);
        }
        self.line += 1;
        let malformed = |problem| LineError::Malformed {
            line: self.line,
            problem,
        };
        let Some(b'\n') = self.bytes.pop() else {
            return Err(malformed(LineProblem::NoLineFeed));
        };
        if self.bytes.is_empty() {
            return Err(malformed(LineProblem::Empty));
        }
        if memchr::memchr(b'\r', &self.bytes).is_some() {
            return Err(malformed(LineProblem::CarriageReturn));
        }
        match std::str::from_utf8(&self.bytes) {
            Ok(text) => Ok(Some((self.line, text))),
            Err(_) => Err(malformed(LineProblem::NotUtf8)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[u8]) -> Result<Vec<String>, LineError> {
        let mut reader = StrictLines::new(text);
        let mut out = Vec::new();
        while let Some((_, line)) = reader.next_line()? {
            out.push(line.to_owned());
        }
        Ok(out)
    }

    fn problem(text: &[u8]) -> (usize, LineProblem) {
        match lines(text) {
            Err(LineError::Malformed { line, problem }) => (line, problem),
            other => panic!("expected a malformed line, got {other:?}"),
        }
    }

    #[test]
    fn lines_as_the_host_writes_them_read_back() {
        assert_eq!(lines(b"{}\n[1]\n").unwrap(), ["{}", "[1]"]);
        assert!(lines(b"").unwrap().is_empty());
    }

    #[test]
    fn a_carriage_return_a_missing_line_feed_or_a_blank_line_is_refused() {
        assert_eq!(problem(b"{}\r\n"), (1, LineProblem::CarriageReturn));
        assert_eq!(problem(b"{}\n{}"), (2, LineProblem::NoLineFeed));
        assert_eq!(problem(b"{}\n\n"), (2, LineProblem::Empty));
        assert_eq!(problem(b"{}\n\"\xff\"\n"), (2, LineProblem::NotUtf8));
    }
}
