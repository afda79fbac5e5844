//! Record and replay as interceptors: an [`Interceptor`] sees each request
//! the gate admitted, may answer it with a finished response instead of the
//! network (a replay), and may keep each response as the plugin receives it
//! (a recording). Live runs use one that does neither.

use super::{Carried, NotCarried};
use crate::connect::Unanswered;
use crate::encoding;
use crate::ledger::Outcome;
use crate::log::{Level, RunLog};
use crate::tape::{OpenTape, Recorded, Recorder, Recording, Replay, TapeError};
use bytes::Bytes;
use http::response::Parts;
use http_body_util::{BodyExt, Full};
use std::sync::Mutex;
use wasmtime_wasi_http::Error as HttpError;

/// Response headers a replay does not serve: they framed the recorded
/// connection, not the body now served whole from its file.
const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// A request as a recording keeps it.
pub(super) struct Asked<'a> {
    /// The request's number in the run.
    pub seq: u64,
    pub method: &'a str,
    /// As the ledger spells it.
    pub url: &'a str,
    /// The one spelling recordings and citations file it under.
    pub key: &'a str,
    pub body: &'a [u8],
    pub body_sha256: Option<&'a str>,
}

/// Sees admitted requests before the network and responses after it; by
/// default it does neither.
pub(super) trait Interceptor: Send + Sync {
    /// A finished response (or why there is none) instead of the network's,
    /// or `None` to let the request go.
    fn intercept(&self, _asked: &Asked<'_>) -> Option<Result<Carried, NotCarried>> {
        None
    }

    /// Starts keeping the response with head `head` as the plugin reads it.
    fn keep(&self, _asked: &Asked<'_>, _head: &Parts) -> Option<Box<dyn Keep>> {
        None
    }

    /// The first request it could not answer: such a run did not see what
    /// the recorded one saw.
    fn take_miss(&self) -> Option<TapeError> {
        None
    }
}

/// A response body being kept as the plugin reads it.
pub(super) trait Keep: Send {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()>;
    /// Ends the exchange; what is kept depends on how it ended.
    fn finish(self: Box<Self>, outcome: Outcome) -> std::io::Result<()>;
}

/// The interceptor for a run's tape.
pub(super) fn for_tape(tape: OpenTape, log: RunLog) -> Box<dyn Interceptor> {
    match tape {
        OpenTape::Live => Box::new(Live),
        OpenTape::Record(recorder) => Box::new(Keeping {
            recorder: std::sync::Arc::new(recorder),
            log,
        }),
        OpenTape::Replay(replay) => Box::new(Replaying {
            replay,
            log,
            miss: Mutex::new(None),
        }),
    }
}

/// Neither answers nor keeps anything.
struct Live;

impl Interceptor for Live {}

/// Answers every admitted request from a recording, with no network.
struct Replaying {
    replay: Replay,
    log: RunLog,
    /// The first request the recording did not hold.
    miss: Mutex<Option<TapeError>>,
}

impl Interceptor for Replaying {
    fn intercept(&self, asked: &Asked<'_>) -> Option<Result<Carried, NotCarried>> {
        Some(self.replayed(asked))
    }

    fn take_miss(&self) -> Option<TapeError> {
        self.miss.lock().expect("replay miss lock").take()
    }
}

impl Replaying {
    /// The recorded response to `asked`. A request the recording does not
    /// hold fails, and the first such miss is kept for the run's outcome.
    fn replayed(&self, asked: &Asked<'_>) -> Result<Carried, NotCarried> {
        let Asked { method, url, .. } = *asked;
        let routed_to = Some(self.replay.label());
        let not_carried = |code: Option<HttpError>, detail: String| NotCarried {
            why: Unanswered {
                code: code.unwrap_or_else(|| HttpError::InternalError(Some(detail.clone()))),
                detail,
            },
            routed_to: routed_to.clone(),
        };
        let (recorded, body) = match self.replay.take(method, asked.key, asked.body_sha256) {
            Ok(found) => found,
            Err(miss) => {
                let detail = miss.to_string();
                self.log.host(Level::Error, &detail);
                self.miss
                    .lock()
                    .expect("replay miss lock")
                    .get_or_insert(miss);
                return Err(not_carried(None, detail));
            }
        };
        let mut response = http::Response::builder().status(recorded.status);
        for (name, value) in &recorded.headers {
            // The body is served whole from the file; the recorded framing
            // describes a connection that no longer exists.
            if !FRAMING_HEADERS.contains(&name.as_str()) {
                response = response.header(name, value);
            }
        }
        let body = Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync();
        let response = response
            .body(body)
            .map_err(|e| not_carried(None, format!("recorded response for {method} {url}: {e}")))?;
        // A recording made before the host owned content encoding may hold
        // an encoded body, which must not reach the plugin now either.
        encoding::check_response(response.headers()).map_err(|encoded| {
            let code = HttpError::HttpResponseContentCoding(Some(encoded.coding.clone()));
            not_carried(
                Some(code),
                format!("recorded response for {method} {url}: {encoded}"),
            )
        })?;
        Ok(Carried {
            response,
            routed_to,
            slot: None,
        })
    }
}

/// Lets every request go and keeps each response in the recording.
struct Keeping {
    recorder: std::sync::Arc<Recorder>,
    log: RunLog,
}

impl Interceptor for Keeping {
    /// Records the request body, if any, and opens the body file of the
    /// response. A recording that cannot be written is logged and the run
    /// goes on: the evidence and the ledger are what the run is for.
    fn keep(&self, asked: &Asked<'_>, head: &Parts) -> Option<Box<dyn Keep>> {
        let (recorder, seq) = (&self.recorder, asked.seq);
        let files = asked
            .body_sha256
            .map(|_| recorder.request_file(seq, asked.body))
            .transpose()
            .and_then(|request| Ok((request, recorder.body_file(seq)?)));
        match files {
            Ok((request_body, (file, body))) => Some(Box::new(Kept {
                recording: Recording::new(
                    file,
                    Recorded {
                        seq,
                        method: asked.method.to_string(),
                        url: asked.key.to_string(),
                        request_sha256: asked.body_sha256.map(str::to_owned),
                        request_body,
                        status: head.status.as_u16(),
                        headers: head
                            .headers
                            .iter()
                            .filter_map(|(k, v)| {
                                Some((k.to_string(), v.to_str().ok()?.to_string()))
                            })
                            .collect(),
                        body,
                        body_sha256: String::new(),
                    },
                ),
                recorder: recorder.clone(),
            })),
            Err(e) => {
                self.log.host(
                    Level::Error,
                    &format!(
                        "cannot record the response to {} {}: {e}",
                        asked.method, asked.key
                    ),
                );
                None
            }
        }
    }
}

/// A response being recorded, and the recording it joins when it ends.
struct Kept {
    recording: Recording,
    recorder: std::sync::Arc<Recorder>,
}

impl Keep for Kept {
    fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.recording.write(chunk)
    }

    fn finish(self: Box<Self>, outcome: Outcome) -> std::io::Result<()> {
        self.recording.finish(&self.recorder, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Scrubber;

    #[test]
    fn an_encoded_recorded_response_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(dir.path()).unwrap();
        let (file, body) = recorder.body_file(0).unwrap();
        let url = "https://api.example.com/items";
        let mut recording = Recording::new(
            file,
            Recorded {
                seq: 0,
                method: "GET".into(),
                url: url.into(),
                request_sha256: None,
                request_body: None,
                status: 200,
                headers: vec![("content-encoding".into(), "gzip".into())],
                body,
                body_sha256: String::new(),
            },
        );
        recording.write(b"gzipped").unwrap();
        recording.finish(&recorder, Outcome::Complete).unwrap();
        let replay = for_tape(
            OpenTape::Replay(Replay::open(dir.path()).unwrap()),
            RunLog::new(None, Scrubber::default()),
        );
        let asked = Asked {
            seq: 0,
            method: "GET",
            url,
            key: url,
            body: &[],
            body_sha256: None,
        };
        let Some(Err(refused)) = replay.intercept(&asked) else {
            panic!("an encoded body was replayed")
        };
        assert!(
            matches!(&refused.why.code, HttpError::HttpResponseContentCoding(Some(c)) if c == "gzip"),
            "{:?}",
            refused.why.code
        );
    }
}
