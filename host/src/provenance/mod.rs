//! Provenance per record: a record's `data` is a whole JSON object or array
//! of the body of the response it cites, byte for byte, checked by the host
//! as the record is emitted.
//!
//! The contract already says a record's data holds the object "fields as the
//! upstream gave them"; this module makes the host hold plugins to it, so a
//! plugin cannot put data into a bundle that no response carried. When the
//! host has read a body whole with a 2xx status, it indexes it ([`Index`]):
//! the SHA-256 of the text of every object and array value in it, at any
//! depth, and lets the bytes go; a [`Window`] bounded in the index's bytes
//! holds the indexes, oldest evicted first. As each record arrives,
//! [`Citations::prove`] looks the SHA-256 of its data up in the index of the
//! exchange it cites. Several exchanges can share a method and URL (a POST
//! search's pages differ only by their request body), so a record is linked
//! to the newest one whose body holds its data.
//!
//! Data must be a whole value of the body, not any substring of it: `[1,2]`
//! is refused when the body holds `[1,2,3]`, and so is a string or a number
//! alone, or a body that is not JSON ([`jsontext`]'s grammar). A digest
//! (32 bytes) per container instead of the body keeps a run's memory to a
//! fraction of what it read. Line breaks count as spaces ([`one_line`]):
//! JSON allows them only as whitespace between tokens, and the bundle writes
//! them as spaces, so `collect` and `verify --tape` ([`recheck`]) prove the
//! same text.
//!
//! Data a plugin computes rather than copies (an aggregate, a joined view) is
//! allowed only for kinds declared derived: by the contract 0.1 convention, a
//! kind whose name ends in [`DERIVED_SUFFIX`]. Such a record must still cite
//! an exchange carried whole with a 2xx status, and the bundle marks it
//! `"derived": true`.

use crate::bundle::RecordSource;
use crate::ledger::Outcome;
use bytes::Bytes;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub mod recheck;

/// JSON text on one line, for a JSON-lines file. JSON may break lines
/// between tokens; in JSON a line feed or carriage return can only be such
/// whitespace (strings hold them escaped), so each becomes a space: the
/// text keeps its length and every other byte of the span it is, and stays
/// what [`jsontext::validate`] accepted, with no second parser's limits
/// between `collect` and `verify`.
pub fn one_line(json: String) -> String {
    if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
        return json;
    }
    json.replace(['\n', '\r'], " ")
}

/// The end of the name of every kind whose data the plugin computes rather
/// than copies from a response, such as `example.team-summary.derived`.
pub const DERIVED_SUFFIX: &str = ".derived";

/// True for a kind declared derived.
pub fn is_derived(kind: &str) -> bool {
    kind.ends_with(DERIVED_SUFFIX)
}

/// The window holds at least this many bytes of body indexes...
pub const MIN_WINDOW_BYTES: u64 = 64 << 20;
/// ...and at least this many times the largest response allowed, so that
/// the indexes of pages the plugin still processes while the next ones
/// arrive are always held (an index is smaller than its body but for
/// pathological bodies of tiny containers).
pub const WINDOW_RESPONSES: u64 = 4;

/// The window's size for a run whose responses are capped at `response_cap`.
pub fn window_bytes(response_cap: u64) -> u64 {
    response_cap
        .saturating_mul(WINDOW_RESPONSES)
        .max(MIN_WINDOW_BYTES)
}

/// Why a record's data is not proven to come from the exchange it cites.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Unproven {
    /// No exchange of this run has the cited method and URL.
    #[error("the host did not carry that request in this run")]
    NotCarried,
    /// The cited response was not 2xx: an error body is not evidence.
    #[error("its response was HTTP {status}, not a success")]
    NotSuccess {
        /// The cited response's HTTP status.
        status: u16,
    },
    /// The cited body was cut, abandoned or failed, so it was never indexed.
    #[error("its response body was not read whole ({outcome:?})")]
    Incomplete {
        /// How the cited exchange ended.
        outcome: Outcome,
    },
    /// The record arrived before the body it cites was read to its end.
    #[error("its response body was still being read")]
    StillReading,
    /// The body's index was dropped to make room before the record came.
    #[error(
        "its response body left the host's {capacity}-byte window before the record arrived: unverifiable"
    )]
    Evicted {
        /// The window's size in bytes, to tell the operator what was
        /// outgrown.
        capacity: u64,
    },
    /// The data is not a whole object or array value of any body it cites.
    #[error("the data is not an object or array value of its response body")]
    NotInBody,
}

/// The key of the exchanges a record may cite: method and URL as the ledger
/// spells it.
pub fn key(method: &str, url: &str) -> String {
    format!("{method} {url}")
}

/// What is known of one exchange's body.
#[derive(Clone)]
enum State {
    /// The response head arrived with a 2xx status; its body is being read.
    Reading,
    /// Read whole with a 2xx status, and its index held.
    Held(Arc<Index>),
    /// Read whole with a 2xx status, then evicted from the window (or its
    /// index alone outgrew the window).
    Evicted,
    /// Never citable.
    Unusable(Unproven),
}

struct Exchange {
    seq: u64,
    state: State,
}

/// The indexes of the bodies records may cite, bounded in bytes.
pub struct Window {
    capacity: u64,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Per [`key`], every exchange carried, oldest first.
    exchanges: HashMap<String, Vec<Exchange>>,
    /// Held indexes, oldest first: their key, request number and size.
    order: VecDeque<(String, u64, u64)>,
    bytes: u64,
}

impl Window {
    /// An empty window holding at most `capacity` bytes of indexes (see
    /// [`window_bytes`]).
    pub fn new(capacity: u64) -> Window {
        Window {
            capacity,
            held: Mutex::new(Held::default()),
        }
    }

    /// Notes the response head of exchange `seq`. Returns whether its body
    /// can be cited, and so must be handed to [`Window::close`].
    pub fn open(&self, key: &str, seq: u64, status: u16) -> bool {
        let citable = (200..300).contains(&status);
        let state = if citable {
            State::Reading
        } else {
            State::Unusable(Unproven::NotSuccess { status })
        };
        let mut held = self.held.lock().expect("window lock");
        held.exchanges
            .entry(key.to_owned())
            .or_default()
            .push(Exchange { seq, state });
        citable
    }

    /// Ends exchange `seq`, opened citable: the index of a body read whole
    /// is held, the oldest indexes making room for it. The body is indexed
    /// before the lock is taken, so other exchanges of the run wait for no
    /// body's scan.
    pub fn close(&self, key: &str, seq: u64, outcome: Outcome, chunks: Vec<Bytes>) {
        let state = match outcome {
            Outcome::Complete => match Index::of(&concat(chunks), self.capacity) {
                Some(index) => State::Held(Arc::new(index)),
                None => State::Evicted,
            },
            other => State::Unusable(Unproven::Incomplete { outcome: other }),
        };
        let mut held = self.held.lock().expect("window lock");
        if let State::Held(index) = &state {
            let size = index.bytes();
            held.bytes += size;
            held.order.push_back((key.to_owned(), seq, size));
            while held.bytes > self.capacity {
                held.evict_oldest();
            }
        }
        if let Some(exchange) = held.find(key, seq) {
            exchange.state = state;
        }
    }

    /// Every exchange of `key`, newest first.
    fn snapshot(&self, key: &str) -> Vec<(u64, State)> {
        let held = self.held.lock().expect("window lock");
        held.exchanges.get(key).map_or_else(Vec::new, |all| {
            all.iter().rev().map(|e| (e.seq, e.state.clone())).collect()
        })
    }
}

impl Held {
    fn find(&mut self, key: &str, seq: u64) -> Option<&mut Exchange> {
        self.exchanges
            .get_mut(key)?
            .iter_mut()
            .rev()
            .find(|e| e.seq == seq)
    }

    fn evict_oldest(&mut self) {
        let Some((key, seq, size)) = self.order.pop_front() else {
            return;
        };
        self.bytes -= size;
        if let Some(exchange) = self.find(&key, seq) {
            exchange.state = State::Evicted;
        }
    }
}

/// One body from its pieces, copied only when there are several.
fn concat(chunks: Vec<Bytes>) -> Bytes {
    match <[Bytes; 1]>::try_from(chunks) {
        Ok([one]) => one,
        Err(chunks) => chunks.concat().into(),
    }
}

/// The SHA-256 of a JSON text, its line breaks read as spaces.
pub type Digest = [u8; 32];

/// What one digest of an [`Index`] takes in the window.
const DIGEST_BYTES: u64 = size_of::<Digest>() as u64;

/// The digest a record's data is looked up by: the SHA-256 of `text` with
/// each line feed and carriage return hashed as a space, as the bundle
/// writes it ([`one_line`]), so that the data as emitted and as written
/// prove alike.
pub fn digest(text: &[u8]) -> Digest {
    let mut hasher = Sha256::new();
    let mut rest = text;
    while let Some(at) = memchr::memchr2(b'\n', b'\r', rest) {
        hasher.update(&rest[..at]);
        hasher.update(b" ");
        rest = &rest[at + 1..];
    }
    hasher.update(rest);
    hasher.finalize().into()
}

/// What a body lets records cite: the [`digest`] of every object and array
/// value in it, at any depth, sorted. A body that is not JSON, or whose
/// only value is neither, has none.
#[derive(Debug, Default)]
pub struct Index {
    digests: Vec<Digest>,
}

impl Index {
    /// The index of `body`, or `None` if it would take more than `limit`
    /// bytes (a body of tiny containers can index larger than itself; the
    /// window could not hold it anyway).
    pub fn of(body: &[u8], limit: u64) -> Option<Index> {
        let mut digests = Vec::new();
        let Ok(text) = std::str::from_utf8(body) else {
            return Some(Index::default());
        };
        let mut cursor = jsontext::Cursor::new(text);
        let max = usize::try_from(limit / DIGEST_BYTES).unwrap_or(usize::MAX);
        match containers(&mut cursor, 0, &mut digests, max) {
            Ok(()) if cursor.finish().is_ok() => {}
            Ok(()) => return Some(Index::default()),
            Err(Stop::NotJson) => return Some(Index::default()),
            Err(Stop::TooLarge) => return None,
        }
        digests.sort_unstable();
        digests.dedup();
        digests.shrink_to_fit();
        Some(Index { digests })
    }

    /// Whether the body holds an object or array whose text has `digest`.
    pub fn holds(&self, digest: &Digest) -> bool {
        self.digests.binary_search(digest).is_ok()
    }

    /// What the index takes in the window.
    fn bytes(&self) -> u64 {
        self.digests.len() as u64 * DIGEST_BYTES
    }
}

/// Why a body's indexing stopped.
enum Stop {
    NotJson,
    TooLarge,
}

impl From<jsontext::Error> for Stop {
    fn from(_: jsontext::Error) -> Stop {
        Stop::NotJson
    }
}

/// Reads the value at `cursor`, `depth` containers deep, adding the digest
/// of every object and array in it to `digests`, at most `max` of them.
/// Containers nest at most [`jsontext::MAX_DEPTH`] deep, as the scanner
/// allows, which also bounds this recursion.
fn containers(
    cursor: &mut jsontext::Cursor,
    depth: usize,
    digests: &mut Vec<Digest>,
    max: usize,
) -> Result<(), Stop> {
    let is_array = match cursor.peek() {
        Some(b'[') => true,
        Some(b'{') => false,
        _ => {
            cursor.skip()?;
            return Ok(());
        }
    };
    if depth == jsontext::MAX_DEPTH {
        return Err(Stop::NotJson);
    }
    let start = cursor.offset();
    if is_array {
        cursor.array()?;
        while cursor.element()? {
            containers(cursor, depth + 1, digests, max)?;
        }
    } else {
        cursor.object()?;
        while cursor.key()?.is_some() {
            containers(cursor, depth + 1, digests, max)?;
        }
    }
    if digests.len() == max {
        return Err(Stop::TooLarge);
    }
    let text = &cursor.text().as_bytes()[start..cursor.offset()];
    digests.push(digest(text));
    Ok(())
}

/// The exchanges a batch's records cite, looked up in the window once per
/// source rather than once per record, and which of them held the last
/// record: a page's records come together, so the next one is looked up
/// there first.
#[derive(Default)]
pub struct Citations {
    current: Option<Cited>,
}

struct Cited {
    method: String,
    url: String,
    /// Newest first.
    candidates: Vec<Candidate>,
    /// The candidate that held the last record.
    last: Option<usize>,
}

struct Candidate {
    state: State,
    source: Arc<RecordSource>,
}

impl Citations {
    /// The exchange whose response holds `data`, or, for a derived kind, the
    /// newest exchange of `method url` carried whole with a 2xx status.
    pub fn prove(
        &mut self,
        window: &Window,
        method: &str,
        url: &str,
        data: &[u8],
        derived: bool,
    ) -> Result<Arc<RecordSource>, Unproven> {
        let cited = self.cited(window, method, url);
        if cited.candidates.is_empty() {
            return Err(Unproven::NotCarried);
        }
        if derived {
            return cited
                .candidates
                .iter()
                .find(|c| matches!(c.state, State::Held(_) | State::Evicted))
                .map(|c| c.source.clone())
                .ok_or_else(|| cited.why_not(window.capacity));
        }
        match cited.find(&digest(data)) {
            Some(index) => Ok(cited.candidates[index].source.clone()),
            None => Err(cited.why_not(window.capacity)),
        }
    }

    fn cited(&mut self, window: &Window, method: &str, url: &str) -> &mut Cited {
        let fresh = !matches!(&self.current, Some(c) if c.method == method && c.url == url);
        if fresh {
            let normalized = crate::outbound::normalize_url(url);
            let candidates = normalized.as_ref().map_or_else(Vec::new, |normalized| {
                window
                    .snapshot(&key(method, normalized))
                    .into_iter()
                    .map(|(seq, state)| Candidate {
                        state,
                        source: Arc::new(RecordSource {
                            method: method.to_owned(),
                            url: normalized.clone(),
                            ledger_seq: seq,
                        }),
                    })
                    .collect()
            });
            self.current = Some(Cited {
                method: method.to_owned(),
                url: url.to_owned(),
                candidates,
                last: None,
            });
        }
        self.current.as_mut().expect("set above")
    }
}

impl Cited {
    /// The candidate whose body holds data of `digest`: the one that held
    /// the last record, then every held body, newest first.
    fn find(&mut self, digest: &Digest) -> Option<usize> {
        if let Some(last) = self.last
            && self.candidates[last].holds(digest)
        {
            return Some(last);
        }
        let found = self.candidates.iter().position(|c| c.holds(digest))?;
        self.last = Some(found);
        Some(found)
    }

    /// Why no candidate proves a record: an evicted body first (the data
    /// may have been there), then a held body that lacks it, then why the
    /// newest exchange cannot be cited.
    fn why_not(&self, capacity: u64) -> Unproven {
        let any = |f: fn(&State) -> bool| self.candidates.iter().any(|c| f(&c.state));
        if any(|s| matches!(s, State::Evicted)) {
            return Unproven::Evicted { capacity };
        }
        if any(|s| matches!(s, State::Held(_))) {
            return Unproven::NotInBody;
        }
        match self.candidates.first().map(|c| &c.state) {
            Some(State::Unusable(why)) => why.clone(),
            Some(State::Reading) => Unproven::StillReading,
            _ => Unproven::NotCarried,
        }
    }
}

impl Candidate {
    fn holds(&self, digest: &Digest) -> bool {
        matches!(&self.state, State::Held(index) if index.holds(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://api.example.com/search";

    fn window(capacity: u64) -> Window {
        Window::new(capacity)
    }

    fn carry(window: &Window, seq: u64, status: u16, body: &str, outcome: Outcome) {
        let key = key("POST", URL);
        if window.open(&key, seq, status) {
            let half = body.len() / 2;
            let chunks = vec![
                Bytes::copy_from_slice(&body.as_bytes()[..half]),
                Bytes::copy_from_slice(&body.as_bytes()[half..]),
            ];
            window.close(&key, seq, outcome, chunks);
        }
    }

    fn prove(window: &Window, data: &str, derived: bool) -> Result<u64, Unproven> {
        Citations::default()
            .prove(window, "POST", URL, data.as_bytes(), derived)
            .map(|source| source.ledger_seq)
    }

    #[test]
    fn a_span_of_a_page_cites_that_page_among_pages_sharing_a_url() {
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            r#"{"data":[{"id":"a"},{"id":"b"}]}"#,
            Outcome::Complete,
        );
        carry(
            &window,
            1,
            200,
            r#"{"data":[{"id":"c"}]}"#,
            Outcome::Complete,
        );
        assert_eq!(prove(&window, r#"{"id":"b"}"#, false), Ok(0));
        assert_eq!(prove(&window, r#"{"id":"c"}"#, false), Ok(1));
    }

    #[test]
    fn records_of_a_batch_are_found_in_order_and_out_of_order() {
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            r#"[{"id":"a"},{"id":"b"},{"id":"c"}]"#,
            Outcome::Complete,
        );
        let mut citations = Citations::default();
        for id in ["a", "b", "c", "a"] {
            let data = format!(r#"{{"id":"{id}"}}"#);
            let source = citations
                .prove(&window, "POST", URL, data.as_bytes(), false)
                .unwrap();
            assert_eq!(source.ledger_seq, 0, "{id}");
        }
    }

    #[test]
    fn fabricated_data_is_not_in_the_body() {
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            r#"[{"id":"a","admin":false}]"#,
            Outcome::Complete,
        );
        assert_eq!(
            prove(&window, r#"{"id":"a","admin":true}"#, false),
            Err(Unproven::NotInBody)
        );
    }

    #[test]
    fn an_error_response_or_a_body_not_read_whole_proves_nothing() {
        let window = window(1 << 20);
        carry(&window, 0, 404, r#"{"id":"a"}"#, Outcome::Complete);
        assert_eq!(
            prove(&window, r#"{"id":"a"}"#, false),
            Err(Unproven::NotSuccess { status: 404 })
        );
        let window = Window::new(1 << 20);
        carry(&window, 0, 200, r#"{"id":"a"}"#, Outcome::Abandoned);
        assert_eq!(
            prove(&window, r#"{"id":"a"}"#, false),
            Err(Unproven::Incomplete {
                outcome: Outcome::Abandoned
            })
        );
    }

    #[test]
    fn an_evicted_body_is_unverifiable() {
        // Room for one body's index: one object, one digest.
        let window = window(DIGEST_BYTES);
        carry(&window, 0, 200, r#"{"id":"old-00"}"#, Outcome::Complete);
        carry(&window, 1, 200, r#"{"id":"new-01"}"#, Outcome::Complete);
        assert_eq!(prove(&window, r#"{"id":"new-01"}"#, false), Ok(1));
        assert_eq!(
            prove(&window, r#"{"id":"old-00"}"#, false),
            Err(Unproven::Evicted {
                capacity: DIGEST_BYTES
            })
        );
    }

    #[test]
    fn json_inside_a_string_of_the_body_is_not_a_value_of_it() {
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            r#"{"name":"{\"admin\":true} [1,2] {}","tags":[1,2,3]}"#,
            Outcome::Complete,
        );
        for fabricated in ["[1,2]", "{}", r#"{\"admin\":true}"#, "[1,2,3]}"] {
            assert_eq!(
                prove(&window, fabricated, false),
                Err(Unproven::NotInBody),
                "{fabricated}"
            );
        }
        assert_eq!(prove(&window, "[1,2,3]", false), Ok(0));
    }

    #[test]
    fn a_string_or_number_of_the_body_is_no_record() {
        let window = window(1 << 20);
        carry(&window, 0, 200, r#"[{"id":"a","n":12}]"#, Outcome::Complete);
        for scalar in [r#""a""#, "12", r#""id""#] {
            assert_eq!(
                prove(&window, scalar, false),
                Err(Unproven::NotInBody),
                "{scalar}"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_json_proves_nothing() {
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            r#"note: {"id":"a"} [{"id":"b"}]"#,
            Outcome::Complete,
        );
        carry(
            &window,
            1,
            200,
            r#"{"id":"c"} {"id":"d"}"#,
            Outcome::Complete,
        );
        for data in [r#"{"id":"a"}"#, r#"[{"id":"b"}]"#, r#"{"id":"c"}"#] {
            assert_eq!(
                prove(&window, data, false),
                Err(Unproven::NotInBody),
                "{data}"
            );
        }
    }

    #[test]
    fn a_body_nested_deeper_than_the_scanner_allows_proves_nothing() {
        let nested = |depth: usize| "[".repeat(depth) + &"]".repeat(depth);
        let window = window(1 << 20);
        carry(
            &window,
            0,
            200,
            &nested(jsontext::MAX_DEPTH),
            Outcome::Complete,
        );
        assert_eq!(prove(&window, "[[]]", false), Ok(0));
        let window = Window::new(1 << 20);
        let deeper = nested(jsontext::MAX_DEPTH + 1);
        carry(&window, 0, 200, &deeper, Outcome::Complete);
        assert_eq!(prove(&window, "[[]]", false), Err(Unproven::NotInBody));
    }

    #[test]
    fn an_index_larger_than_the_window_is_not_held() {
        let window = window(2 * DIGEST_BYTES);
        carry(&window, 0, 200, "[[0],[1],[2]]", Outcome::Complete);
        assert_eq!(
            prove(&window, "[1]", false),
            Err(Unproven::Evicted {
                capacity: 2 * DIGEST_BYTES
            })
        );
    }

    #[test]
    fn derived_data_needs_only_a_whole_success() {
        let window = window(1 << 20);
        carry(&window, 0, 200, r#"{"total":3}"#, Outcome::Complete);
        assert_eq!(prove(&window, r#"{"admins":3}"#, true), Ok(0));
        let failed = Window::new(1 << 20);
        carry(&failed, 0, 500, "{}", Outcome::Complete);
        assert_eq!(
            prove(&failed, "{}", true),
            Err(Unproven::NotSuccess { status: 500 })
        );
    }

    #[test]
    fn an_uncarried_source_is_named_so() {
        assert_eq!(
            prove(&window(1 << 20), "{}", false),
            Err(Unproven::NotCarried)
        );
    }

    mod generated {
        //! Bodies built from random values, printed compact, pretty and with
        //! random whitespace; every object and array in them, as
        //! serde_json's `RawValue` finds them, must be proven, and nothing
        //! else.

        use super::*;
        use rand::rngs::StdRng;
        use rand::{RngExt, SeedableRng};
        use serde_json::value::RawValue;
        use serde_json::{Map, Value};
        use std::collections::BTreeMap;

        /// A value at most `depth` containers deep, its strings holding
        /// JSON-like text, escapes and non-ASCII characters.
        fn value(rng: &mut StdRng, depth: u32) -> Value {
            let leaf = depth == 0 || rng.random_range(0..3) == 0;
            match rng.random_range(0..if leaf { 5 } else { 7 }) {
                0 => Value::Null,
                1 => Value::Bool(rng.random()),
                2 => Value::from(rng.random_range(-1000i64..100_000)),
                3 => Value::from(f64::from(rng.random_range(-500i32..500)) / 8.0),
                4 => Value::String(string(rng)),
                5 => Value::Array(
                    (0..rng.random_range(0..5))
                        .map(|_| value(rng, depth - 1))
                        .collect(),
                ),
                _ => Value::Object(
                    (0..rng.random_range(0..5))
                        .map(|_| (string(rng), value(rng, depth - 1)))
                        .collect::<Map<_, _>>(),
                ),
            }
        }

        fn string(rng: &mut StdRng) -> String {
            const PIECES: &[&str] = &[
                "a",
                "id",
                "x.example.com",
                "{",
                "}",
                "[",
                "]",
                "[1,2]",
                "{}",
                "\"",
                "\\",
                ":",
                ",",
                " ",
                "\n",
                "é",
                "😀",
                "\u{1}",
            ];
            (0..rng.random_range(0..6))
                .map(|_| PIECES[rng.random_range(0..PIECES.len())])
                .collect()
        }

        /// `value` printed with random whitespace (line breaks too) between
        /// its tokens.
        fn spaced(rng: &mut StdRng, value: &Value, out: &mut String) {
            let space = |rng: &mut StdRng, out: &mut String| {
                for _ in 0..rng.random_range(0..3) {
                    out.push([' ', '\t', '\n', '\r'][rng.random_range(0..4)]);
                }
            };
            match value {
                Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        space(rng, out);
                        spaced(rng, item, out);
                        space(rng, out);
                    }
                    out.push(']');
                }
                Value::Object(members) => {
                    out.push('{');
                    space(rng, out);
                    for (i, (key, item)) in members.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                            space(rng, out);
                        }
                        out.push_str(&Value::from(key.as_str()).to_string());
                        space(rng, out);
                        out.push(':');
                        space(rng, out);
                        spaced(rng, item, out);
                        space(rng, out);
                    }
                    out.push('}');
                }
                scalar => out.push_str(&scalar.to_string()),
            }
        }

        /// A body: a random object or array, printed one of three ways,
        /// with whitespace around it.
        fn body(rng: &mut StdRng) -> String {
            let value = loop {
                let value = value(rng, 4);
                if value.is_array() || value.is_object() {
                    break value;
                }
            };
            let mut out = String::from([" ", "", "\n"][rng.random_range(0..3)]);
            match rng.random_range(0..3) {
                0 => out.push_str(&serde_json::to_string(&value).unwrap()),
                1 => out.push_str(&serde_json::to_string_pretty(&value).unwrap()),
                _ => spaced(rng, &value, &mut out),
            }
            out.push_str(["", "\r\n", " "][rng.random_range(0..3)]);
            out
        }

        /// The oracle: the text of every object and array in `raw`, found
        /// by serde_json, not by the scanner under test.
        fn containers<'a>(raw: &'a RawValue, out: &mut Vec<&'a str>) {
            let text = raw.get();
            let inner: Vec<&RawValue> = match text.as_bytes()[0] {
                b'[' => serde_json::from_str(text).unwrap(),
                b'{' => serde_json::from_str::<BTreeMap<String, &RawValue>>(text)
                    .unwrap()
                    .into_values()
                    .collect(),
                _ => return,
            };
            out.push(text);
            for value in inner {
                containers(value, out);
            }
        }

        fn spans(body: &str) -> Vec<&str> {
            let mut out = Vec::new();
            containers(serde_json::from_str(body).unwrap(), &mut out);
            out
        }

        /// As the bundle writes it, which is what the proof compares.
        fn flat(text: &str) -> String {
            one_line(text.to_owned())
        }

        #[test]
        fn every_object_and_array_of_a_body_is_proven_and_nothing_else() {
            let mut rng = StdRng::seed_from_u64(19);
            // Random parts of bodies, and how many are no value of them.
            let (mut parts, mut refused) = (0, 0);
            for case in 0..200 {
                let window = window(1 << 20);
                let bodies: Vec<String> = (0..3).map(|_| body(&mut rng)).collect();
                // The bodies holding each text, oldest first.
                let mut holders: HashMap<String, Vec<u64>> = HashMap::new();
                for (seq, body) in bodies.iter().enumerate() {
                    carry(&window, seq as u64, 200, body, Outcome::Complete);
                    for span in spans(body) {
                        holders.entry(flat(span)).or_default().push(seq as u64);
                    }
                }
                // Alone, a record cites the newest body holding it; in a
                // batch, the body that held the record before it may be
                // tried first.
                let mut batch = Citations::default();
                let mut check = |data: &str| {
                    let holding = holders.get(&flat(data));
                    let newest = holding
                        .and_then(|seqs| seqs.last().copied())
                        .ok_or(Unproven::NotInBody);
                    assert_eq!(
                        prove(&window, data, false),
                        newest,
                        "case {case}: {data:?} in {bodies:?}"
                    );
                    let in_batch = batch
                        .prove(&window, "POST", URL, data.as_bytes(), false)
                        .map(|source| source.ledger_seq);
                    match (in_batch, holding) {
                        (Ok(seq), Some(seqs)) => {
                            assert!(seqs.contains(&seq), "case {case}: {data:?}")
                        }
                        (proven, holding) => {
                            assert_eq!(proven, newest, "case {case}: {data:?} in {holding:?}")
                        }
                    }
                };
                for body in &bodies {
                    let spans = spans(body);
                    assert!(!spans.is_empty());
                    for span in &spans {
                        check(span);
                    }
                    for _ in 0..20 {
                        let start = rng.random_range(0..body.len());
                        let end = rng.random_range(start..=body.len());
                        if let Some(part) = body.get(start..end) {
                            parts += 1;
                            refused += usize::from(!holders.contains_key(&flat(part)));
                            check(part);
                        }
                    }
                    for span in spans.iter().take(5) {
                        let mut changed = span.as_bytes().to_vec();
                        let at = rng.random_range(0..changed.len());
                        changed[at] = changed[at].wrapping_add(rng.random_range(1..=255));
                        if let Ok(changed) = std::str::from_utf8(&changed) {
                            check(changed);
                        }
                    }
                }
                let elsewhere = body(&mut rng);
                for span in spans(&elsewhere) {
                    check(span);
                }
            }
            assert!(refused * 2 > parts, "{refused} of {parts} parts refused");
        }
    }

    #[test]
    fn derived_kinds_are_named_so() {
        assert!(is_derived("example.team-summary.derived"));
        assert!(!is_derived("example.derived-things"));
    }
}
