//! Live progress of a run, for a person watching or a machine reading:
//! requests and records so far, per list (the path a chain of pages is
//! read from) pages, records and the last status, and rate-limit waits with
//! when they end. The host fills it as exchanges end and evidence arrives;
//! the CLI draws it (`cli::progress`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

/// What a run is doing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Loading, instantiating and configuring the plugin.
    #[default]
    Starting,
    /// The plugin's `validate` call: checking credentials and access.
    Validating,
    /// The plugin's `collect` call: the requests that produce evidence.
    Collecting,
}

/// Live counts a caller can show while a run works.
#[derive(Debug, Default)]
pub struct Progress {
    /// Requests the plugin has made so far, carried or refused.
    pub requests: AtomicU64,
    /// Evidence records cited so far, over all lists.
    pub records: AtomicU64,
    /// Requests the egress policy refused, in every call (also `validate`,
    /// which keeps no ledger).
    pub denied: AtomicU64,
    /// When the collection's instance began to be made, and when its first
    /// request was sent: how long a run takes to start.
    pub instantiating: OnceLock<Instant>,
    /// Set once, by [`Progress::note_request_sent`].
    pub first_request: OnceLock<Instant>,
    /// Woken once, when the first request is sent ([`Progress::started`]).
    first_sent: tokio::sync::Notify,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    phase: Phase,
    lists: BTreeMap<String, List>,
}

/// One list: the pages read from one path and the records they gave.
#[derive(Debug, Default, Clone, Serialize)]
pub struct List {
    /// Responses received on this path.
    pub pages: u64,
    /// Records cited from this path's responses.
    pub records: u64,
    /// The HTTP status of the latest response on this path.
    pub last_status: u16,
    /// When a rate limit the API announced ends, if one is in force.
    #[serde(skip_serializing_if = "Option::is_none", with = "unix_ms")]
    pub rate_limited_until: Option<SystemTime>,
}

/// A copy of the progress at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    /// As [`Progress`]'s phase, set by [`Progress::set_phase`].
    pub phase: Phase,
    /// As [`Progress::requests`].
    pub requests: u64,
    /// As [`Progress::records`].
    pub records: u64,
    /// As [`Progress::denied`].
    pub denied: u64,
    /// Each list by its path, in path order so a display is stable.
    pub lists: BTreeMap<String, List>,
}

impl Progress {
    /// Notes a request sent: the first one's time is kept, and wakes
    /// whoever waits in [`Progress::started`].
    pub fn note_request_sent(&self) {
        if self.first_request.set(Instant::now()).is_ok() {
            // A stored permit if nobody waits yet: the wake-up is never lost.
            self.first_sent.notify_one();
        }
    }

    /// Resolves once the run has sent its first request.
    pub async fn started(&self) {
        if self.first_request.get().is_none() {
            self.first_sent.notified().await;
        }
    }

    /// Notes what the run is doing now.
    pub fn set_phase(&self, phase: Phase) {
        self.state().phase = phase;
    }

    /// Notes a response on `path`: a page, and for a 429 how long the API
    /// asked to wait (`retry-after` seconds or an HTTP date, else
    /// `x-ratelimit-reset` as an ISO 8601 time).
    pub fn answered(&self, path: &str, status: u16, headers: &http::HeaderMap) {
        let mut state = self.state();
        let list = state.lists.entry(path.to_owned()).or_default();
        list.pages += 1;
        list.last_status = status;
        list.rate_limited_until = (status == 429).then(|| rate_limit_end(headers)).flatten();
    }

    /// Notes `n` records cited from `path`.
    pub fn recorded(&self, path: &str, n: u64) {
        self.records.fetch_add(n, Ordering::Relaxed);
        self.state()
            .lists
            .entry(path.to_owned())
            .or_default()
            .records += n;
    }

    /// A copy to draw or serialize while the run goes on.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state();
        Snapshot {
            phase: state.phase,
            requests: self.requests.load(Ordering::Relaxed),
            records: self.records.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            lists: state.lists.clone(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// When a 429's wait ends, as its headers say.
fn rate_limit_end(headers: &http::HeaderMap) -> Option<SystemTime> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(value) = header("retry-after") {
        if let Ok(secs) = value.trim().parse::<u64>() {
            return Some(SystemTime::now() + Duration::from_secs(secs));
        }
        if let Some(at) = http_date(value) {
            return Some(at);
        }
    }
    header("x-ratelimit-reset").and_then(iso_8601)
}

/// An ISO 8601 time with or without seconds (`2026-12-01T18:05Z`).
fn iso_8601(text: &str) -> Option<SystemTime> {
    use time::format_description::well_known::Iso8601;
    let at = time::OffsetDateTime::parse(text.trim(), &Iso8601::DEFAULT).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at.unix_timestamp()).ok()?))
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`), as `retry-after` may be.
fn http_date(text: &str) -> Option<SystemTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(text.trim(), format).ok()?;
    let secs = u64::try_from(at.assume_utc().unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

mod unix_ms {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        at: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let ms = at
            .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_millis() as u64);
        serde::Serialize::serialize(&ms, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().unwrap()))
            .collect()
    }

    fn ms(at: SystemTime) -> u64 {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    #[test]
    fn a_429_says_when_its_wait_ends_in_every_announced_form() {
        let progress = Progress::default();
        progress.answered(
            "/a",
            429,
            &headers(&[("x-ratelimit-reset", "2026-12-01T18:05Z")]),
        );
        let until = progress.snapshot().lists["/a"].rate_limited_until.unwrap();
        assert_eq!(ms(until), 1_796_148_300_000);
        progress.answered(
            "/a",
            429,
            &headers(&[("retry-after", "Tue, 01 Dec 2026 18:06:00 GMT")]),
        );
        let until = progress.snapshot().lists["/a"].rate_limited_until.unwrap();
        assert_eq!(ms(until), 1_796_148_360_000);
        progress.answered("/a", 200, &headers(&[]));
        let list = &progress.snapshot().lists["/a"];
        assert_eq!((list.pages, list.rate_limited_until), (3, None));
    }

    #[test]
    fn records_are_counted_per_list_and_in_all() {
        let progress = Progress::default();
        progress.recorded("/users", 100);
        progress.recorded("/users", 7);
        progress.recorded("/groups", 3);
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.records, 110);
        assert_eq!(snapshot.lists["/users"].records, 107);
    }
}
