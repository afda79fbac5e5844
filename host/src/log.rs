//! The run log: what the host decided and what the plugin said, in one place,
//! with secrets scrubbed before anything is kept or printed.
//!
//! Lines go to stderr from a chosen level up, and to a file in the bundle
//! when there is one. The plugin's `log` calls and its captured stdout and
//! stderr arrive here too, marked by [`Source`].

use crate::secrets::Scrubber;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Step-by-step detail, for a developer following a plugin.
    Trace,
    /// Detail of the host's and plugin's decisions.
    Debug,
    /// What a run did, for the operator.
    Info,
    /// Something an operator should look at; counted in [`RunLog::warnings`].
    Warn,
    /// Something failed; counted in [`RunLog::warnings`] too.
    Error,
}

impl From<crate::contract::LogLevel> for Level {
    fn from(level: crate::contract::LogLevel) -> Level {
        use crate::contract::LogLevel as L;
        match level {
            L::Trace => Level::Trace,
            L::Debug => Level::Debug,
            L::Info => Level::Info,
            L::Warn => Level::Warn,
            L::Error => Level::Error,
        }
    }
}

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The host itself: its decisions, refusals and failures.
    Host,
    /// The plugin's `log` calls.
    Plugin,
    /// What the plugin wrote to its stdout, captured.
    Stdout,
    /// What the plugin wrote to its stderr, captured.
    Stderr,
}

struct Inner {
    echo_from: Option<Level>,
    file: Option<Kept>,
    warnings: u64,
}

/// The file a bundle keeps the log in, and the SHA-256 of what reached it,
/// which the bundle's seal commits to.
struct Kept {
    out: Box<dyn Write + Send>,
    digest: Sha256,
    /// The first line that could not be written: the file is incomplete
    /// from there on, so nothing more is written and the run fails.
    failed: Option<std::io::Error>,
}

/// A cheaply cloned handle to the run's log.
#[derive(Clone)]
pub struct RunLog {
    inner: Arc<Mutex<Inner>>,
    scrubber: Scrubber,
}

impl RunLog {
    /// A log that prints lines from `echo_from` up to stderr (`None`: silent).
    pub fn new(echo_from: Option<Level>, scrubber: Scrubber) -> RunLog {
        RunLog {
            inner: Arc::new(Mutex::new(Inner {
                echo_from,
                file: None,
                warnings: 0,
            })),
            scrubber,
        }
    }

    /// The same log, scrubbing the given secrets too.
    pub fn with_scrubber(&self, scrubber: Scrubber) -> RunLog {
        RunLog {
            inner: self.inner.clone(),
            scrubber,
        }
    }

    /// A log for one bundle: it echoes as this one does, scrubs with
    /// `scrubber`, and keeps every line, as JSON, in `file` until
    /// [`RunLog::release`]. Its own, so runs started with the same options
    /// never write into each other's bundles.
    pub fn keeping(&self, scrubber: Scrubber, file: Box<dyn Write + Send>) -> RunLog {
        let echo_from = self.inner.lock().expect("log lock").echo_from;
        RunLog {
            inner: Arc::new(Mutex::new(Inner {
                echo_from,
                file: Some(Kept {
                    out: file,
                    digest: Sha256::new(),
                    failed: None,
                }),
                warnings: 0,
            })),
            scrubber,
        }
    }

    /// Stops keeping lines in the file given to [`RunLog::keeping`] and
    /// flushes it: the SHA-256 of its content, or the first error writing
    /// it. Later lines go to stderr only, so the file is final.
    pub fn release(&self) -> std::io::Result<String> {
        let kept = self.inner.lock().expect("log lock").file.take();
        let Some(mut kept) = kept else {
            return Err(std::io::Error::other("the log is kept in no file"));
        };
        if let Some(e) = kept.failed {
            return Err(e);
        }
        kept.out.flush()?;
        Ok(hex::encode(kept.digest.finalize()))
    }

    /// `text` with this log's secrets hidden, for words of the plugin's
    /// that reach the operator by another way than the log.
    pub fn scrub<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        self.scrubber.text(text)
    }

    /// Logs `message`, scrubbed of secrets, as said by `source`: echoed to
    /// stderr (escaped) from the echo level up, and kept in the bundle's file.
    pub fn write(&self, level: Level, source: Source, message: &str) {
        let message = self.scrubber.text(message);
        let mut inner = self.inner.lock().expect("log lock");
        if level >= Level::Warn {
            inner.warnings += 1;
        }
        if inner.echo_from.is_some_and(|from| level >= from) {
            // The plugin's own words, printed with control characters
            // escaped; a closed stderr must not stop the run (the file keeps
            // the line).
            let _ = writeln!(
                std::io::stderr(),
                "[{level:?} {source:?}] {}",
                crate::terminal::escape(&message)
            );
        }
        if let Some(kept) = inner.file.as_mut().filter(|k| k.failed.is_none()) {
            let mut line = serde_json::json!({
                "time": crate::now_rfc3339(),
                "level": level,
                "source": source,
                "message": message,
            })
            .to_string();
            line.push('\n');
            match kept.out.write_all(line.as_bytes()) {
                Ok(()) => kept.digest.update(line.as_bytes()),
                Err(e) => kept.failed = Some(e),
            }
        }
    }

    /// Logs a line of the host's own, as [`RunLog::write`] does.
    pub fn host(&self, level: Level, message: &str) {
        self.write(level, Source::Host, message);
    }

    /// Lines at warn or above so far.
    pub fn warnings(&self) -> u64 {
        self.inner.lock().expect("log lock").warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` that takes `room` bytes, then fails as a full disk does.
    struct Filling {
        room: usize,
    }

    impl Write for Filling {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_that_could_not_be_written_whole_is_an_error_when_released() {
        let log = RunLog::new(None, Scrubber::default())
            .keeping(Scrubber::default(), Box::new(Filling { room: 150 }));
        log.host(Level::Info, "first");
        log.host(Level::Info, &"x".repeat(200));
        log.host(Level::Info, "third, after the disk filled");
        let error = log.release().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull);
    }

    #[test]
    fn a_released_log_hashes_what_it_kept_and_keeps_nothing_more() {
        let log = RunLog::new(None, Scrubber::default())
            .keeping(Scrubber::default(), Box::new(Filling { room: usize::MAX }));
        log.host(Level::Info, "kept");
        let sha = log.release().unwrap();
        assert_eq!(sha.len(), 64);
        log.host(Level::Info, "after the seal, to stderr only");
        assert!(log.release().is_err(), "no file any more");
    }
}
