//! Record and replay: the responses a run carried, kept so that a later run
//! can be served them back with no network.
//!
//! One mechanism for every plugin, whatever its language, because it sits in
//! the HTTP hook ([`crate::outbound`]) and not in the plugin. `collect
//! --record DIR` writes each response the host carried to `DIR`: the body as
//! the plugin received it (secrets already scrubbed by the host) in
//! `responses/<seq>.body`, the request body, if any, in
//! `responses/<seq>.request`, and its method, URL, request body SHA-256,
//! status and scrubbed headers as one line of `responses.jsonl`. `--replay
//! DIR` answers each request from there after the egress policy has admitted
//! it, matching method, URL and request body, so a replay is held to the same
//! policy as a live run and each page of a POST search gets its own page; a
//! request the recording does not hold fails with [`TapeError::Unrecorded`],
//! never with a trip to the network.

use crate::ledger;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The index of a recording, one [`Recorded`] a line.
pub const INDEX_FILE: &str = "responses.jsonl";
/// The folder of response bodies inside a recording.
pub const BODIES_DIR: &str = "responses";

/// Where a run's responses come from, and whether they are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "dir", rename_all = "kebab-case")]
pub enum Tape {
    /// From the network; nothing kept.
    #[default]
    Live,
    /// From the network, each response kept in the folder.
    Record(PathBuf),
    /// From the folder's recording; nothing reaches the network.
    Replay(PathBuf),
}

impl Tape {
    /// True when the run neither records nor replays.
    pub fn is_live(&self) -> bool {
        *self == Tape::Live
    }

    /// Opens the tape for one run: creates the recording, or reads it.
    pub fn open(&self) -> Result<OpenTape, TapeError> {
        Ok(match self {
            Tape::Live => OpenTape::Live,
            Tape::Record(dir) => OpenTape::Record(Recorder::create(dir)?),
            Tape::Replay(dir) => OpenTape::Replay(Replay::open(dir)?),
        })
    }
}

/// A [`Tape`] opened for a run.
pub enum OpenTape {
    /// From the network; nothing kept.
    Live,
    /// From the network, each response written to this recording.
    Record(Recorder),
    /// Served from this recording, with no network.
    Replay(Replay),
}

/// One line of `responses.jsonl`: a response as the plugin received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The ledger entry of the recorded exchange.
    pub seq: u64,
    /// The request's method, as in the ledger entry.
    pub method: String,
    /// The URL the plugin asked for, as the ledger spells it.
    pub url: String,
    /// SHA-256 of the request body, when it had one, as in the ledger entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sha256: Option<String>,
    /// The request body's file, relative to the recording folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<String>,
    /// The response's HTTP status, served back as it was.
    pub status: u16,
    /// Response headers, secrets scrubbed.
    pub headers: Vec<(String, String)>,
    /// The body file, relative to the recording folder.
    pub body: String,
    /// SHA-256 of the body file, as in the ledger entry.
    pub body_sha256: String,
}

/// Why a recording cannot be made or served.
#[derive(Debug, thiserror::Error)]
pub enum TapeError {
    /// `--record` into a folder that already holds a recording, which a
    /// second run must not overwrite or mix into.
    #[error("{dir} already holds a recording ({INDEX_FILE})")]
    Exists {
        /// The recording folder.
        dir: PathBuf,
    },
    /// A file of the recording could not be created, written or read.
    #[error("recording {dir}: {source}")]
    Io {
        /// The recording folder.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line of the index that is not a [`Recorded`].
    #[error("recording {dir}, {INDEX_FILE} line {line}: {why}")]
    Index {
        /// The recording folder.
        dir: PathBuf,
        /// The line's number, from 1.
        line: usize,
        /// Why it does not parse.
        why: String,
    },
    /// A body file whose SHA-256 is not the one recorded beside it.
    #[error("recording {dir}: the body of {url} does not match its SHA-256 (edited)")]
    Tampered {
        /// The recording folder.
        dir: PathBuf,
        /// The URL whose body was edited.
        url: String,
    },
    #[error(
        "the recording holds no response for {method} {url}{} (or fewer than the plugin asked for); record again with `collect --record`",
        request_sha256.as_ref().map(|h| format!(" with request body SHA-256 {h}")).unwrap_or_default()
    )]
    /// A replayed request the recording holds no (more) response for.
    Unrecorded {
        /// The request's method.
        method: String,
        /// The URL asked for, as the ledger spells it.
        url: String,
        /// SHA-256 of its body, when it had one.
        request_sha256: Option<String>,
    },
}

/// Writes a recording as a run goes.
pub struct Recorder {
    dir: PathBuf,
    index: Mutex<BufWriter<File>>,
}

impl Recorder {
    /// Creates the recording folder; refuses one that holds a recording
    /// already, so two runs never mix.
    pub fn create(dir: &Path) -> Result<Recorder, TapeError> {
        let io = |source| TapeError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        if dir.join(INDEX_FILE).exists() {
            return Err(TapeError::Exists {
                dir: dir.to_path_buf(),
            });
        }
        std::fs::create_dir_all(dir.join(BODIES_DIR)).map_err(io)?;
        let index = File::create(dir.join(INDEX_FILE)).map_err(io)?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            index: Mutex::new(BufWriter::new(index)),
        })
    }

    /// The body file of exchange `seq`, and its name relative to the folder.
    pub fn body_file(&self, seq: u64) -> std::io::Result<(BufWriter<File>, String)> {
        let name = format!("{BODIES_DIR}/{seq}.body");
        Ok((BufWriter::new(File::create(self.dir.join(&name))?), name))
    }

    /// Writes the request body of exchange `seq`; returns its name relative
    /// to the folder.
    pub fn request_file(&self, seq: u64, body: &[u8]) -> std::io::Result<String> {
        let name = format!("{BODIES_DIR}/{seq}.request");
        std::fs::write(self.dir.join(&name), body)?;
        Ok(name)
    }

    /// Adds a response whose body file is complete.
    pub fn append(&self, recorded: &Recorded) -> std::io::Result<()> {
        let mut index = self.index.lock().expect("recording lock");
        serde_json::to_writer(&mut *index, recorded)?;
        index.write_all(b"\n")?;
        index.flush()
    }
}

/// Serves a recording back, response by response.
pub struct Replay {
    dir: PathBuf,
    /// Per method, URL and request body hash, the responses not served yet,
    /// in the order they were carried: a request made twice gets its two
    /// responses in turn.
    queue: Mutex<HashMap<Asked, VecDeque<Recorded>>>,
}

impl Replay {
    /// Reads a recording's index, queueing its responses to serve in the
    /// order they were carried.
    pub fn open(dir: &Path) -> Result<Replay, TapeError> {
        let file = File::open(dir.join(INDEX_FILE)).map_err(|source| TapeError::Io {
            dir: dir.to_path_buf(),
            source,
        })?;
        let mut all = Vec::new();
        for (index, line) in BufReader::new(file).lines().enumerate() {
            let bad = |why: String| TapeError::Index {
                dir: dir.to_path_buf(),
                line: index + 1,
                why,
            };
            let line = line.map_err(|e| bad(e.to_string()))?;
            let recorded: Recorded = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            for path in std::iter::once(&recorded.body).chain(&recorded.request_body) {
                if path.contains("..") || Path::new(path).is_absolute() {
                    return Err(bad(format!("body path `{path}` leaves the folder")));
                }
            }
            all.push(recorded);
        }
        all.sort_by_key(|r| r.seq);
        let mut queue: HashMap<Asked, VecDeque<Recorded>> = HashMap::new();
        for recorded in all {
            let asked = (
                recorded.method.clone(),
                recorded.url.clone(),
                recorded.request_sha256.clone(),
            );
            queue.entry(asked).or_default().push_back(recorded);
        }
        Ok(Replay {
            dir: dir.to_path_buf(),
            queue: Mutex::new(queue),
        })
    }

    /// What the ledger says a replayed exchange was routed to.
    pub fn label(&self) -> String {
        format!("replay:{}", self.dir.display())
    }

    /// The next recorded response for `method url` with a request body of
    /// SHA-256 `request_sha256`, with its body, which must still hash as
    /// recorded: an edited recording feeds no evidence.
    pub fn take(
        &self,
        method: &str,
        url: &str,
        request_sha256: Option<&str>,
    ) -> Result<(Recorded, Vec<u8>), TapeError> {
        let asked = (
            method.to_string(),
            url.to_string(),
            request_sha256.map(str::to_owned),
        );
        let recorded = self
            .queue
            .lock()
            .expect("replay lock")
            .get_mut(&asked)
            .and_then(VecDeque::pop_front)
            .ok_or_else(|| TapeError::Unrecorded {
                method: asked.0.clone(),
                url: asked.1.clone(),
                request_sha256: asked.2.clone(),
            })?;
        let body =
            std::fs::read(self.dir.join(&recorded.body)).map_err(|source| TapeError::Io {
                dir: self.dir.clone(),
                source,
            })?;
        if hex::encode(Sha256::digest(&body)) != recorded.body_sha256 {
            return Err(TapeError::Tampered {
                dir: self.dir.clone(),
                url: recorded.url,
            });
        }
        Ok((recorded, body))
    }
}

/// What a replayed request is matched on: method, URL and the SHA-256 of
/// its body.
type Asked = (String, String, Option<String>);

/// A response being recorded: its body file fills as the plugin reads, and
/// its index line is written when the exchange ends with the body whole or
/// deliberately left unread. A cut or failed body is not kept: a replay
/// serves the response that followed it (the plugin's retry) instead.
pub struct Recording {
    file: BufWriter<File>,
    digest: Sha256,
    entry: Recorded,
}

impl Recording {
    /// Starts recording the response `entry` describes into `file`.
    pub fn new(file: BufWriter<File>, entry: Recorded) -> Recording {
        Recording {
            file,
            digest: Sha256::new(),
            entry,
        }
    }

    /// Appends a piece of the body as the plugin got it.
    pub fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.digest.update(chunk);
        self.file.write_all(chunk)
    }

    /// Ends the recording of one exchange.
    pub fn finish(mut self, recorder: &Recorder, outcome: ledger::Outcome) -> std::io::Result<()> {
        self.file.flush()?;
        if matches!(
            outcome,
            ledger::Outcome::Complete | ledger::Outcome::Abandoned
        ) {
            self.entry.body_sha256 = hex::encode(self.digest.finalize());
            recorder.append(&self.entry)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder for a recording, not yet created, in a temporary folder
    /// removed with the returned guard.
    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("tape");
        (root, dir)
    }

    fn record(recorder: &Recorder, seq: u64, url: &str, body: &[u8]) {
        record_answer(recorder, seq, url, None, body);
    }

    fn record_answer(
        recorder: &Recorder,
        seq: u64,
        url: &str,
        request: Option<&[u8]>,
        body: &[u8],
    ) {
        let (file, name) = recorder.body_file(seq).unwrap();
        let mut recording = Recording::new(
            file,
            Recorded {
                seq,
                method: if request.is_some() { "POST" } else { "GET" }.into(),
                url: url.into(),
                request_sha256: request.map(|b| hex::encode(Sha256::digest(b))),
                request_body: None,
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: name,
                body_sha256: String::new(),
            },
        );
        recording.write(body).unwrap();
        recording
            .finish(recorder, ledger::Outcome::Complete)
            .unwrap();
    }

    #[test]
    fn a_url_asked_twice_replays_its_responses_in_order_then_misses() {
        let (_root, dir) = scratch();
        let recorder = Recorder::create(&dir).unwrap();
        record(&recorder, 1, "https://api.example.com/a", b"second");
        record(&recorder, 0, "https://api.example.com/a", b"first");
        drop(recorder);

        let replay = Replay::open(&dir).unwrap();
        let url = "https://api.example.com/a";
        assert_eq!(replay.take("GET", url, None).unwrap().1, b"first");
        assert_eq!(replay.take("GET", url, None).unwrap().1, b"second");
        assert!(matches!(
            replay.take("GET", url, None),
            Err(TapeError::Unrecorded { method, url: u, .. }) if method == "GET" && u == url
        ));
        assert!(matches!(
            replay.take("HEAD", url, None),
            Err(TapeError::Unrecorded { .. })
        ));
    }

    #[test]
    fn pages_sharing_a_url_replay_by_their_request_body_and_another_body_misses() {
        let (_root, dir) = scratch();
        let recorder = Recorder::create(&dir).unwrap();
        let url = "https://api.example.com/search";
        record_answer(&recorder, 0, url, Some(b"{\"page\":1}"), b"first page");
        record_answer(&recorder, 1, url, Some(b"{\"page\":2}"), b"second page");
        drop(recorder);

        let replay = Replay::open(&dir).unwrap();
        let hash = |body: &[u8]| hex::encode(Sha256::digest(body));
        let second = hash(b"{\"page\":2}");
        assert_eq!(
            replay.take("POST", url, Some(&second)).unwrap().1,
            b"second page"
        );
        let other = hash(b"{\"page\":3}");
        assert!(matches!(
            replay.take("POST", url, Some(&other)),
            Err(TapeError::Unrecorded { request_sha256: Some(h), .. }) if h == other
        ));
        assert!(matches!(
            replay.take("POST", url, None),
            Err(TapeError::Unrecorded { .. })
        ));
    }

    #[test]
    fn an_edited_body_is_refused() {
        let (_root, dir) = scratch();
        let recorder = Recorder::create(&dir).unwrap();
        record(
            &recorder,
            0,
            "https://api.example.com/a",
            b"{\"admin\":false}",
        );
        drop(recorder);
        std::fs::write(dir.join(BODIES_DIR).join("0.body"), b"{\"admin\":true}").unwrap();
        let replay = Replay::open(&dir).unwrap();
        assert!(matches!(
            replay.take("GET", "https://api.example.com/a", None),
            Err(TapeError::Tampered { url, .. }) if url == "https://api.example.com/a"
        ));
    }

    #[test]
    fn a_folder_holding_a_recording_is_not_recorded_over() {
        let (_root, dir) = scratch();
        drop(Recorder::create(&dir).unwrap());
        assert!(matches!(
            Recorder::create(&dir),
            Err(TapeError::Exists { .. })
        ));
    }

    #[test]
    fn a_cut_body_is_not_kept() {
        let (_root, dir) = scratch();
        let recorder = Recorder::create(&dir).unwrap();
        let (file, body) = recorder.body_file(0).unwrap();
        let recording = Recording::new(
            file,
            Recorded {
                seq: 0,
                method: "GET".into(),
                url: "https://api.example.com/big".into(),
                request_sha256: None,
                request_body: None,
                status: 200,
                headers: vec![],
                body,
                body_sha256: String::new(),
            },
        );
        recording
            .finish(&recorder, ledger::Outcome::Truncated)
            .unwrap();
        drop(recorder);
        let replay = Replay::open(&dir).unwrap();
        assert!(matches!(
            replay.take("GET", "https://api.example.com/big", None),
            Err(TapeError::Unrecorded { .. })
        ));
    }

    #[test]
    fn a_body_path_outside_the_folder_is_refused() {
        let (_root, dir) = scratch();
        std::fs::create_dir_all(&dir).unwrap();
        let line = serde_json::to_string(&Recorded {
            seq: 0,
            method: "GET".into(),
            url: "https://api.example.com/".into(),
            request_sha256: None,
            request_body: None,
            status: 200,
            headers: vec![],
            body: "../../etc/passwd".into(),
            body_sha256: String::new(),
        })
        .unwrap();
        std::fs::write(dir.join(INDEX_FILE), line).unwrap();
        assert!(matches!(
            Replay::open(&dir),
            Err(TapeError::Index { line: 1, .. })
        ));
    }
}
