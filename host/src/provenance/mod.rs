//! Provenance per record: a record's `data` is a byte-exact span of the body
//! of the response it cites, checked by the host as the record is emitted.
//!
//! The contract already says a record's data holds the object "fields as the
//! upstream gave them"; this module makes the host hold plugins to it, so a
//! plugin cannot put data into a bundle that no response carried. The host
//! keeps every response body it carried whole with a 2xx status in a
//! [`Window`] bounded in bytes, oldest evicted first; as each record arrives,
//! [`Citations::prove`] finds its data in a body of the exchange it cites.
//! Several exchanges can share a method and URL (a POST search's pages
//! differ only by their request body), so a record is linked to the newest
//! one whose body holds its data.
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

/// The window holds at least this many bytes of bodies...
pub const MIN_WINDOW_BYTES: u64 = 64 << 20;
/// ...and at least this many whole responses of the largest size allowed,
/// so that pages the plugin still processes while the next ones arrive are
/// always held.
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
    #[error("the host did not carry that request in this run")]
    NotCarried,
    #[error("its response was HTTP {status}, not a success")]
    NotSuccess { status: u16 },
    #[error("its response body was not read whole ({outcome:?})")]
    Incomplete { outcome: Outcome },
    #[error("its response body was still being read")]
    StillReading,
    #[error(
        "its response body left the host's {capacity}-byte window before the record arrived: unverifiable"
    )]
    Evicted { capacity: u64 },
    #[error("the data is not a span of its response body")]
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
    /// Read whole with a 2xx status, and held.
    Held(Bytes),
    /// Read whole with a 2xx status, then evicted from the window.
    Evicted,
    /// Never citable.
    Unusable(Unproven),
}

struct Exchange {
    seq: u64,
    state: State,
}

/// The bodies records may cite, bounded in bytes.
pub struct Window {
    capacity: u64,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    /// Per [`key`], every exchange carried, oldest first.
    exchanges: HashMap<String, Vec<Exchange>>,
    /// Held bodies, oldest first: their key, request number and size.
    order: VecDeque<(String, u64, u64)>,
    bytes: u64,
}

impl Window {
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

    /// Ends exchange `seq`, opened citable: a body read whole is held, the
    /// oldest bodies making room for it.
    pub fn close(&self, key: &str, seq: u64, outcome: Outcome, chunks: Vec<Bytes>) {
        let state = match outcome {
            Outcome::Complete => State::Held(concat(chunks)),
            other => State::Unusable(Unproven::Incomplete { outcome: other }),
        };
        let mut held = self.held.lock().expect("window lock");
        if let State::Held(body) = &state {
            let size = body.len() as u64;
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

/// How far after the last record found the next one is looked for by
/// direct comparison, before a search of the rest of the body.
const NEAR_BYTES: usize = 64;

/// The exchanges a batch's records cite, looked up in the window once per
/// source rather than once per record, and where in each body the last
/// record was found: a page's records come in its order, so the next one is
/// searched for from there first.
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
    /// Where the last record found in this body ended.
    cursor: usize,
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
        match cited.find(data) {
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
                        cursor: 0,
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
    /// The candidate whose body holds `data`: the last one, from where its
    /// last record ended, then every held body whole, newest first.
    fn find(&mut self, data: &[u8]) -> Option<usize> {
        if let Some(last) = self.last
            && self.candidates[last].find_from_cursor(data)
        {
            return Some(last);
        }
        let found = self
            .candidates
            .iter_mut()
            .position(|c| c.find_anywhere(data))?;
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
    fn body(&self) -> Option<&[u8]> {
        match &self.state {
            State::Held(body) => Some(body),
            _ => None,
        }
    }

    /// Looks for `data` just after the last record found: the next record
    /// of a page starts within a few bytes of where the last one ended (a
    /// comma, some whitespace), so comparing there spares building a
    /// substring searcher for each record, which cost more than the rest of
    /// the check.
    fn find_from_cursor(&mut self, data: &[u8]) -> bool {
        let Some(body) = self.body() else {
            return false;
        };
        let rest = &body[self.cursor..];
        let near = &rest[..rest.len().min(NEAR_BYTES)];
        let first = data.first().copied().unwrap_or_default();
        let found = memchr::memchr_iter(first, near)
            .find(|&at| rest[at..].starts_with(data))
            .or_else(|| memchr::memmem::find(rest, data));
        match found {
            Some(at) => {
                self.cursor += at + data.len();
                true
            }
            None => false,
        }
    }

    fn find_anywhere(&mut self, data: &[u8]) -> bool {
        let Some(body) = self.body() else {
            return false;
        };
        match memchr::memmem::find(body, data) {
            Some(at) => {
                self.cursor = at + data.len();
                true
            }
            None => false,
        }
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
        let window = window(16);
        carry(&window, 0, 200, r#"{"id":"old-00"}"#, Outcome::Complete);
        carry(&window, 1, 200, r#"{"id":"new-01"}"#, Outcome::Complete);
        assert_eq!(prove(&window, r#"{"id":"new-01"}"#, false), Ok(1));
        assert_eq!(
            prove(&window, r#"{"id":"old-00"}"#, false),
            Err(Unproven::Evicted { capacity: 16 })
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

    #[test]
    fn derived_kinds_are_named_so() {
        assert!(is_derived("example.team-summary.derived"));
        assert!(!is_derived("example.derived-things"));
    }
}
