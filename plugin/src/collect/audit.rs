//! The audit log's bookkeeping: which events this run emitted (a bounded
//! window of recent ids, to drop the overlap with the previous run), where
//! the next run resumes, and the checkpoint that carries both.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

use super::Flow;
use crate::checkpoint::Checkpoint;
use crate::pagination::Position;

/// How far before the last processed event a time-based resume starts, to
/// absorb events processed slightly out of order.
pub(super) const OVERLAP_MS: i64 = 5 * 60 * 1000;
/// The most recent audit-log ids carried in a checkpoint for de-duplication.
const MAX_RECENT_IDS: usize = 1000;

/// Audit-log bookkeeping for the checkpoint.
pub(super) struct Audit {
    /// The checkpoint this run started from.
    pub(super) previous: Checkpoint,
    previous_ids: HashSet<String>,
    /// The stream's first request resumes at the checkpoint's position, so a
    /// 400 means the position was rejected.
    pub(super) resuming_at_position: bool,
    /// Where the next run resumes.
    pub(super) next: Option<Position>,
    last_processed_ms: Option<i64>,
    /// Ids of recent events, oldest first, and the same as a set. An id is
    /// shared by the lists that hold it: one copy an event, not three (a
    /// collection reads a million of them).
    window: VecDeque<(i64, Rc<str>)>,
    window_ids: HashSet<Rc<str>>,
    page_ids: Vec<Rc<str>>,
    last_page_ids: Vec<Rc<str>>,
}

impl Audit {
    pub(super) fn new(previous: Checkpoint) -> Audit {
        Audit {
            previous_ids: previous.recent_ids.iter().cloned().collect(),
            resuming_at_position: false,
            next: previous.next.clone(),
            last_processed_ms: previous.last_processed_ms,
            previous,
            window: VecDeque::new(),
            window_ids: HashSet::new(),
            page_ids: Vec::new(),
            last_page_ids: Vec::new(),
        }
    }

    /// Notes an event of the current page, processed at `time`; false if it
    /// was emitted before (in the previous run's overlap, or earlier in this
    /// run).
    pub(super) fn sighting(&mut self, id: &str, time: Option<i64>) -> bool {
        if self.previous_ids.contains(id) || self.window_ids.contains(id) {
            self.page_ids.push(Rc::from(id));
            return false;
        }
        let id: Rc<str> = Rc::from(id);
        self.page_ids.push(id.clone());
        let newest = time.max(self.last_processed_ms);
        self.last_processed_ms = newest;
        let at = time.or(newest).unwrap_or(i64::MIN);
        self.window.push_back((at, id.clone()));
        self.window_ids.insert(id);
        let horizon = newest.unwrap_or(i64::MIN).saturating_sub(OVERLAP_MS);
        while self.window.len() > MAX_RECENT_IDS
            || self.window.front().is_some_and(|(t, _)| *t < horizon)
        {
            if let Some((_, old)) = self.window.pop_front() {
                self.window_ids.remove(&old);
            }
        }
        true
    }

    /// Decides how the stream goes on after the page read at `at`, which
    /// announced `next` and held records or not (`empty`). An empty page is
    /// the stream's tail: its cursor (or, without one, its own position) is
    /// where the next run polls. A page without a successor is read again
    /// next time from its own position; its ids de-duplicate that.
    pub(super) fn page_end(
        &mut self,
        next: Option<Position>,
        at: Option<Position>,
        empty: bool,
    ) -> Flow {
        match next {
            Some(next) if !empty => {
                self.next = Some(next.clone());
                Flow::Next(next)
            }
            Some(next) => {
                self.next = Some(next);
                Flow::End
            }
            None => {
                self.next = at;
                Flow::End
            }
        }
    }

    /// Closes the sightings of a processed page: the last page with events
    /// is the one the next run may read again.
    pub(super) fn page_processed(&mut self) {
        if !self.page_ids.is_empty() {
            self.last_page_ids = std::mem::take(&mut self.page_ids);
        }
    }

    /// The checkpoint for the next run; `None` when there is nothing to say.
    pub(super) fn checkpoint(&self) -> Option<String> {
        let mut recent_ids = if self.last_page_ids.is_empty() {
            self.previous.recent_ids.clone()
        } else {
            let window = self.window.iter().map(|(_, id)| id);
            self.last_page_ids
                .iter()
                .chain(window)
                .map(|id| id.to_string())
                .collect()
        };
        recent_ids.sort();
        recent_ids.dedup();
        let checkpoint = Checkpoint {
            next: self.next.clone(),
            last_processed_ms: self.last_processed_ms,
            recent_ids,
        };
        (!checkpoint.is_empty()).then(|| checkpoint.encode())
    }
}
