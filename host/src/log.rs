//! The run log: what the host decided and what the plugin said, in one place,
//! with secrets scrubbed before anything is kept or printed.
//!
//! Lines go to stderr from a chosen level up, and to a file in the bundle
//! when there is one. The plugin's `log` calls and its captured stdout and
//! stderr arrive here too, marked by [`Source`].

use crate::secrets::Scrubber;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Severity, ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
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
    Host,
    Plugin,
    Stdout,
    Stderr,
}

struct Inner {
    echo_from: Option<Level>,
    file: Option<Box<dyn Write + Send>>,
    warnings: u64,
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

    /// Also keeps every line, as JSON, in `file`.
    pub fn keep_in(&self, file: Box<dyn Write + Send>) {
        self.inner.lock().expect("log lock").file = Some(file);
    }

    pub fn write(&self, level: Level, source: Source, message: &str) {
        let message = self.scrubber.text(message);
        let mut inner = self.inner.lock().expect("log lock");
        if level >= Level::Warn {
            inner.warnings += 1;
        }
        if inner.echo_from.is_some_and(|from| level >= from) {
            // The plugin's own words: printed with control characters escaped.
            eprintln!(
                "[{level:?} {source:?}] {}",
                crate::terminal::escape(&message)
            );
        }
        if let Some(file) = inner.file.as_mut() {
            let line = serde_json::json!({
                "time": crate::now_rfc3339(),
                "level": level,
                "source": source,
                "message": message,
            });
            // A log that cannot be written must not stop the run: the
            // evidence and the ledger are what the run is for.
            let _ = writeln!(file, "{line}");
        }
    }

    pub fn host(&self, level: Level, message: &str) {
        self.write(level, Source::Host, message);
    }

    /// Lines at warn or above so far.
    pub fn warnings(&self) -> u64 {
        self.inner.lock().expect("log lock").warnings
    }

    pub fn flush(&self) {
        if let Some(file) = self.inner.lock().expect("log lock").file.as_mut() {
            let _ = file.flush();
        }
    }
}
