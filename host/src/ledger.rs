//! The ledger: one hash-chained entry per HTTP exchange the host carried or
//! refused, written by the host and never by the plugin, so the provenance of
//! evidence does not rest on the plugin's word.
//!
//! Each entry's `hash` is the SHA-256 of the previous entry's hash and the
//! entry's own canonical JSON (every field but `hash`, in declaration order).
//! Editing, removing, inserting or reordering a line breaks the chain from
//! there on; the head hash (the last entry's) is printed by the CLI and kept in
//! `run.json`, so truncating the file is caught as well.

use crate::jsonl::{LineError, StrictLines};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Carried, and the whole response body was read.
    Complete,
    /// Carried, but the plugin stopped reading the body early.
    Abandoned,
    /// Carried, but the response body exceeded the size cap and was cut.
    Truncated,
    /// Refused by the egress policy before anything left the host.
    Denied,
    /// Could not be carried (DNS, connect, TLS, timeout) or failed mid-body.
    Failed,
}

/// Why the host refused a request before it left: what a
/// [`Outcome::Denied`] entry's `detail` explains, as a reader can match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// The grant's egress policy: an undeclared origin or route, a write
    /// method, a URL or path a server could read as another.
    Egress,
    /// The plugin set a header the host owns, or wrote a body on a read.
    Framing,
    /// A declared public origin resolved to an address the plugin must not
    /// reach (a metadata service, the LAN, this machine).
    ForbiddenAddress,
    /// The request body exceeded the host's cap or failed while read.
    RequestBody,
    /// The origin's name did not resolve in time, or at all.
    Dns,
}

impl Refusal {
    /// Whether the plugin asked for something its manifest does not grant,
    /// as opposed to a request the host could not send.
    pub fn is_policy(self) -> bool {
        matches!(
            self,
            Refusal::Egress | Refusal::Framing | Refusal::ForbiddenAddress
        )
    }
}

/// One ledger line: an exchange, chained. Field order is the canonical
/// order hashed: the exchange's fields, then `prev`, then `hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What was asked and what came back.
    #[serde(flatten)]
    pub exchange: Exchange,
    /// The previous entry's hash ([`GENESIS`] for the first).
    pub prev: String,
    /// SHA-256 of `prev` and this entry's canonical JSON without `hash`, in
    /// lower-case hex: the link the next entry's `prev` repeats.
    pub hash: String,
}

impl Entry {
    /// The hash this entry must carry given its content and `prev`.
    pub fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let canonical = serde_json::to_vec(&unhashed).expect("entries always serialize");
        let mut digest = Sha256::new();
        digest.update(self.prev.as_bytes());
        digest.update(&canonical);
        hex::encode(digest.finalize())
    }
}

/// One exchange, as the ledger keeps it; the writer chains it into an
/// [`Entry`] (adding `prev` and `hash`), so a caller cannot forge a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// Request number in this run, in the order the plugin made them. Lines are
    /// written when an exchange ends, so numbers need not be in line order.
    pub seq: u64,
    /// When the request started, RFC 3339 UTC.
    pub time: String,
    /// The HTTP method, as the plugin sent it.
    pub method: String,
    /// The URL the plugin asked for, secrets scrubbed.
    pub url: String,
    /// SHA-256 of the request body, when it had one: the pages of a POST
    /// search share a URL and differ by their body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<String>,
    /// The loopback origin actually contacted, when a developer `--route` sent
    /// it elsewhere: evidence from such a run did not come from `url`'s origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_to: Option<String>,
    /// What happened to the request.
    pub outcome: Outcome,
    /// The response's HTTP status; none when no response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Milliseconds from the request's start until the exchange ended.
    pub duration_ms: u64,
    /// Response body bytes delivered to the plugin.
    pub bytes: u64,
    /// SHA-256 of those bytes; [`LedgerThread::append_hashed`] fills it
    /// from the body it was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<String>,
    /// Why a denied request was refused, for readers that match it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Refusal>,
    /// Why a request was denied or failed, secrets scrubbed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Appends chained entries to a writer.
pub struct LedgerWriter<W: Write> {
    out: W,
    head: String,
    entries: u64,
}

impl<W: Write> LedgerWriter<W> {
    /// An empty ledger on `out`, its head [`GENESIS`].
    pub fn new(out: W) -> Self {
        LedgerWriter {
            out,
            head: GENESIS.to_string(),
            entries: 0,
        }
    }

    /// Chains and writes one exchange; returns its hash.
    pub fn append(&mut self, exchange: Exchange) -> std::io::Result<String> {
        let mut entry = Entry {
            exchange,
            prev: self.head.clone(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        serde_json::to_writer(&mut self.out, &entry)?;
        self.out.write_all(b"\n")?;
        self.out.flush()?;
        self.head = entry.hash;
        self.entries += 1;
        Ok(self.head.clone())
    }

    /// The last entry's hash ([`GENESIS`] before any): what `run.json`
    /// records and the CLI prints, so truncation is caught.
    pub fn head(&self) -> &str {
        &self.head
    }

    /// How many entries have been written.
    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// Messages waiting for the ledger's thread, at most: a plugin that reads
/// faster than bodies are hashed waits for the thread, so memory stays
/// bounded.
const QUEUED_MESSAGES: usize = 256;

/// What the ledger's thread is asked to do, in order.
enum Message {
    /// A piece of the response body of request `seq`, as the plugin got it.
    Body { seq: u64, chunk: Bytes },
    /// An exchange that ended; with `hashed`, its `body_sha256` is the
    /// digest of every `Body` of its request.
    Append { exchange: Exchange, hashed: bool },
    /// The head and entry count once everything sent before is written,
    /// or the first error writing the ledger; nothing is written after.
    Close(Sender<std::io::Result<(String, u64)>>),
}

/// The ledger of a run, kept by a thread of its own: it hashes response
/// bodies as they stream to the plugin and chains the entries, so that the
/// plugin's thread, which runs the plugin, does neither. Messages are
/// handled in the order they are sent, so an exchange's body always reaches
/// its digest before its entry is chained.
pub struct LedgerThread {
    messages: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
}

impl LedgerThread {
    /// Starts the thread writing to `out`; `failed` hears of every entry
    /// that could not be written.
    pub fn start(
        out: Box<dyn Write + Send>,
        failed: impl FnMut(&std::io::Error) + Send + 'static,
    ) -> LedgerThread {
        let (messages, inbox) = sync_channel(QUEUED_MESSAGES);
        let thread = std::thread::Builder::new()
            .name("watchdog-ledger".into())
            .spawn(move || keep(LedgerWriter::new(out), inbox, failed))
            .expect("starting the ledger thread");
        LedgerThread {
            messages: Some(messages),
            thread: Some(thread),
        }
    }

    fn send(&self, message: Message) {
        // The thread ends only when this sender is dropped.
        if let Some(messages) = &self.messages {
            let _ = messages.send(message);
        }
    }

    /// Adds `chunk` to the body digest of request `seq`.
    pub fn body(&self, seq: u64, chunk: Bytes) {
        self.send(Message::Body { seq, chunk });
    }

    /// Chains an exchange that carried no body (refused, or failed before
    /// a response).
    pub fn append(&self, exchange: Exchange) {
        self.send(Message::Append {
            exchange,
            hashed: false,
        });
    }

    /// Chains an exchange whose body went through [`LedgerThread::body`];
    /// its `body_sha256` is set from that.
    pub fn append_hashed(&self, exchange: Exchange) {
        self.send(Message::Append {
            exchange,
            hashed: true,
        });
    }

    /// The head hash and entry count, once every exchange appended before
    /// is written; the first write error instead if one failed, since a
    /// ledger missing an entry is no ledger of the run. The ledger is then
    /// closed: the bundle is sealed over this head, so an exchange that
    /// ends later (a request still in flight when a run was interrupted) is
    /// not written after it.
    pub fn close(&self) -> std::io::Result<(String, u64)> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.send(Message::Close(reply));
        answer
            .recv()
            .expect("the ledger thread answers while it has a sender")
    }
}

impl Drop for LedgerThread {
    fn drop(&mut self) {
        self.messages = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The ledger thread's loop, until every sender is gone.
fn keep(
    mut ledger: LedgerWriter<Box<dyn Write + Send>>,
    inbox: Receiver<Message>,
    mut failed: impl FnMut(&std::io::Error),
) {
    let mut digests: HashMap<u64, Sha256> = HashMap::new();
    // After a failed write the file's chain is broken: nothing more is
    // written, and the head answers with this.
    let mut broken: Option<std::io::Error> = None;
    let mut closed = false;
    for message in inbox {
        match message {
            Message::Body { seq, chunk } => digests.entry(seq).or_default().update(&chunk),
            Message::Append {
                mut exchange,
                hashed,
            } => {
                if hashed {
                    let digest = digests.remove(&exchange.seq).unwrap_or_default();
                    exchange.body_sha256 = Some(hex::encode(digest.finalize()));
                }
                if !closed
                    && broken.is_none()
                    && let Err(e) = ledger.append(exchange)
                {
                    failed(&e);
                    broken = Some(e);
                }
            }
            Message::Close(reply) => {
                closed = true;
                let head = match &broken {
                    Some(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                    None => Ok((ledger.head().to_string(), ledger.entries())),
                };
                let _ = reply.send(head);
            }
        }
    }
}

/// A ledger read back and checked.
#[derive(Debug)]
pub struct Verified {
    /// The last entry's hash, to compare with the one `run.json` records.
    pub head: String,
    /// Every entry, in line order.
    pub entries: Vec<Entry>,
}

/// Why a ledger does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A line that does not parse as an [`Entry`].
    #[error("ledger line {line}: not a ledger entry: {source}")]
    Malformed {
        /// The line's number, from 1.
        line: usize,
        /// Why it does not parse.
        source: serde_json::Error,
    },
    /// An entry whose `prev` is not the hash before it: a line removed,
    /// inserted or moved.
    #[error("ledger line {line} (request {seq}): `prev` does not match the previous entry's hash")]
    BrokenLink {
        /// The line's number, from 1.
        line: usize,
        /// The entry's request number.
        seq: u64,
    },
    /// An entry whose content no longer gives its `hash`.
    #[error("ledger line {line} (request {seq}): content does not match its hash (edited)")]
    Tampered {
        /// The line's number, from 1.
        line: usize,
        /// The entry's request number.
        seq: u64,
    },
    /// Two entries with one request number, which the host never writes.
    #[error("ledger line {line}: request number {seq} appears twice")]
    DuplicateSeq {
        /// The second line's number, from 1.
        line: usize,
        /// The repeated request number.
        seq: u64,
    },
    /// An entry whose bytes differ from the host's serialization of it
    /// (spacing, key order, escapes), which the hash alone would not see.
    #[error("ledger line {line} (request {seq}): not written as the host writes entries (edited)")]
    NotCanonical {
        /// The line's number, from 1.
        line: usize,
        /// The entry's request number.
        seq: u64,
    },
    /// A line not framed as the host writes lines.
    #[error("ledger {0}")]
    Line(#[from] LineError),
    /// A digest field that is not 64 lower-case hex digits, so two
    /// spellings of one digest cannot both verify.
    #[error("ledger line {line} (request {seq}): `{field}` is not a SHA-256 in lower-case hex")]
    BadDigest {
        /// The line's number, from 1.
        line: usize,
        /// The entry's request number.
        seq: u64,
        /// The field's name in the entry.
        field: &'static str,
    },
    /// The ledger could not be read.
    #[error("reading the ledger: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a ledger and recomputes its chain. Every line must be exactly the
/// bytes the host wrote for its entry: the hash covers an entry's content,
/// and this covers the rest of the file.
pub fn verify(input: impl BufRead) -> Result<Verified, ChainError> {
    let mut head = GENESIS.to_string();
    let mut entries = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut lines = StrictLines::new(input);
    while let Some((line_no, line)) = lines.next_line()? {
        let entry: Entry = serde_json::from_str(line).map_err(|source| ChainError::Malformed {
            line: line_no,
            source,
        })?;
        if serde_json::to_string(&entry).ok().as_deref() != Some(line) {
            return Err(ChainError::NotCanonical {
                line: line_no,
                seq: entry.exchange.seq,
            });
        }
        if entry.prev != head {
            return Err(ChainError::BrokenLink {
                line: line_no,
                seq: entry.exchange.seq,
            });
        }
        if entry.compute_hash() != entry.hash {
            return Err(ChainError::Tampered {
                line: line_no,
                seq: entry.exchange.seq,
            });
        }
        for (field, digest) in [
            ("request_sha256", &entry.exchange.request_sha256),
            ("body_sha256", &entry.exchange.body_sha256),
        ] {
            if digest.as_deref().is_some_and(|d| !is_sha256_hex(d)) {
                return Err(ChainError::BadDigest {
                    line: line_no,
                    seq: entry.exchange.seq,
                    field,
                });
            }
        }
        if !seen.insert(entry.exchange.seq) {
            return Err(ChainError::DuplicateSeq {
                line: line_no,
                seq: entry.exchange.seq,
            });
        }
        head = entry.hash.clone();
        entries.push(entry);
    }
    Ok(Verified { head, entries })
}

/// True for 64 lower-case hex digits, as the host writes a SHA-256.
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A complete exchange of `seq` with `status`.
    pub(crate) fn exchange(seq: u64, status: u16) -> Exchange {
        Exchange {
            seq,
            time: "2026-11-01T00:00:00Z".into(),
            method: "GET".into(),
            url: format!("https://api.example.com/items?page={seq}"),
            request_sha256: None,
            routed_to: None,
            outcome: Outcome::Complete,
            status: Some(status),
            duration_ms: 3,
            bytes: 10,
            body_sha256: Some("ab".repeat(32)),
            refusal: None,
            detail: None,
        }
    }

    fn ledger(n: u64) -> (Vec<u8>, String) {
        let mut writer = LedgerWriter::new(Vec::new());
        for seq in 0..n {
            writer.append(exchange(seq, 200)).unwrap();
        }
        let head = writer.head().to_string();
        (writer.out, head)
    }

    #[test]
    fn chain_verifies_and_reports_head() {
        let (bytes, head) = ledger(3);
        let verified = verify(&bytes[..]).unwrap();
        assert_eq!(verified.head, head);
        assert_eq!(verified.entries.len(), 3);
        assert_eq!(verified.entries[0].prev, GENESIS);
    }

    #[test]
    fn a_line_is_its_exchange_fields_then_the_link_as_bundles_already_hold_them() {
        // Bundles written before the exchange was flattened into the entry
        // must verify byte for byte: the same names, in the same order.
        let (bytes, _) = ledger(1);
        let line = String::from_utf8(bytes).unwrap();
        let expected_start = concat!(
            r#"{"seq":0,"time":"2026-11-01T00:00:00Z","method":"GET","#,
            r#""url":"https://api.example.com/items?page=0","outcome":"complete","#,
            r#""status":200,"duration_ms":3,"bytes":10,"body_sha256":""#,
        );
        assert!(line.starts_with(expected_start), "{line}");
        let prev = format!(r#""{}","prev":"{GENESIS}","hash":""#, "ab".repeat(32));
        assert!(line.contains(&prev), "{line}");
        assert!(line.ends_with("\"}\n"), "{line}");
    }

    #[test]
    fn edited_entry_is_tampered() {
        let (bytes, _) = ledger(3);
        let text = String::from_utf8(bytes).unwrap();
        let edited = text.replacen("\"status\":200", "\"status\":404", 1);
        assert!(matches!(
            verify(edited.as_bytes()),
            Err(ChainError::Tampered { line: 1, .. })
        ));
    }

    #[test]
    fn a_malformed_request_digest_fails_even_when_rehashed() {
        let mut writer = LedgerWriter::new(Vec::new());
        let mut search = exchange(0, 200);
        search.method = "POST".into();
        search.request_sha256 = Some("cd".repeat(32));
        writer.append(search.clone()).unwrap();
        assert!(
            verify(&writer.out[..]).is_ok(),
            "a well-formed digest verifies"
        );

        let mut writer = LedgerWriter::new(Vec::new());
        search.request_sha256 = Some("page=2".into());
        writer.append(search).unwrap();
        assert!(matches!(
            verify(&writer.out[..]),
            Err(ChainError::BadDigest {
                line: 1,
                field: "request_sha256",
                ..
            })
        ));
    }

    #[test]
    fn removed_entry_breaks_the_chain() {
        let (bytes, _) = ledger(3);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let without_middle = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(matches!(
            verify(without_middle.as_bytes()),
            Err(ChainError::BrokenLink { line: 2, .. })
        ));
    }

    #[test]
    fn rehashed_edit_still_breaks_the_next_link() {
        let (bytes, _) = ledger(2);
        let text = String::from_utf8(bytes).unwrap();
        let mut first: Entry = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        first.exchange.status = Some(500);
        first.hash = first.compute_hash();
        let forged = format!(
            "{}\n{}\n",
            serde_json::to_string(&first).unwrap(),
            text.lines().nth(1).unwrap()
        );
        assert!(matches!(
            verify(forged.as_bytes()),
            Err(ChainError::BrokenLink { line: 2, .. })
        ));
    }

    /// A `Write` whose bytes a test can read after the writer moved away.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_ledger_thread_hashes_interleaved_bodies_and_chains_in_order() {
        let out = Shared::default();
        let ledger = LedgerThread::start(Box::new(out.clone()), |e| panic!("{e}"));
        // Two bodies arrive in pieces, interleaved; a refusal has no body.
        ledger.body(0, Bytes::from_static(b"{\"data\":"));
        ledger.body(1, Bytes::from_static(b"second "));
        ledger.body(0, Bytes::from_static(b"[]}"));
        let mut refused = exchange(2, 0);
        refused.outcome = Outcome::Denied;
        refused.body_sha256 = None;
        ledger.append(refused);
        ledger.body(1, Bytes::from_static(b"body"));
        ledger.append_hashed(exchange(1, 200));
        ledger.append_hashed(exchange(0, 200));
        let (head, entries) = ledger.close().unwrap();
        assert_eq!(entries, 3);
        // Closed: an exchange ending after the head was taken is not written.
        ledger.append(exchange(3, 200));
        assert_eq!(ledger.close().unwrap(), (head.clone(), 3));

        let written = out.0.lock().unwrap().clone();
        let verified = verify(&written[..]).unwrap();
        assert_eq!(verified.head, head);
        let digests: Vec<(u64, Option<String>)> = verified
            .entries
            .iter()
            .map(|e| (e.exchange.seq, e.exchange.body_sha256.clone()))
            .collect();
        let sha = |body: &[u8]| Some(hex::encode(Sha256::digest(body)));
        assert_eq!(
            digests,
            [
                (2, None),
                (1, sha(b"second body")),
                (0, sha(b"{\"data\":[]}"))
            ]
        );
    }

    #[test]
    fn a_ledger_rewritten_with_other_spacing_or_line_ends_is_refused() {
        let (bytes, _) = ledger(2);
        let text = String::from_utf8(bytes).unwrap();
        let spaced = text.replacen("\"seq\":0,", "\"seq\": 0,", 1);
        assert!(matches!(
            verify(spaced.as_bytes()),
            Err(ChainError::NotCanonical { line: 1, seq: 0 })
        ));
        let crlf = text.replace('\n', "\r\n");
        assert!(matches!(
            verify(crlf.as_bytes()),
            Err(ChainError::Line(LineError::Malformed { line: 1, .. }))
        ));
        let unterminated = text.trim_end();
        assert!(matches!(
            verify(unterminated.as_bytes()),
            Err(ChainError::Line(LineError::Malformed { line: 2, .. }))
        ));
    }

    /// A `Write` that fails every write, as a full disk does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_ledger_that_cannot_be_written_has_no_head() {
        let failures = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let ledger = LedgerThread::start(Box::new(Full), {
            let failures = failures.clone();
            move |_| {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        ledger.append(exchange(0, 200));
        ledger.append(exchange(1, 200));
        let error = ledger.close().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
        // Reported once, not once an entry.
        assert_eq!(failures.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
