//! One pagination scheme for every list endpoint.
//!
//! A list is a range of positions (item indices, or event positions) and a filter. A page is
//! the next `limit` positions the filter keeps, starting at the cursor's position; the next
//! cursor points at the first kept position after the page, so the last page is known to be
//! last (`next` is null) without a trailing empty page. The cursor (see `cursor`) carries the
//! position *and* the query, so later pages ignore the request's other parameters, as the v2
//! API documents. Under the `repeat-cursor` fault the next cursor names the page just served.

use std::ops::Range;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cursor::Cursors;
use crate::errors::ApiError;

/// A list query as its cursor carries it.
pub(crate) trait ListQuery: Serialize + DeserializeOwned {
    /// Page size.
    fn limit(&self) -> usize;
}

/// A query with nothing but a page size.
#[derive(Serialize, Deserialize)]
pub(crate) struct PageSize {
    pub limit: usize,
}

impl ListQuery for PageSize {
    fn limit(&self) -> usize {
        self.limit
    }
}

/// One served page.
pub(crate) struct Listed<Q> {
    pub query: Q,
    /// Positions on this page, in order.
    pub items: Vec<usize>,
    /// The cursor naming this page (the v2 APIs' `links.self`).
    pub this: String,
    /// The cursor of the next page; `None` on the last page.
    pub next: Option<String>,
    /// The end of the list's range, where an events poll cursor resumes.
    pub end: usize,
}

/// How pages are cut for one request.
pub(crate) struct Paginator<'a> {
    pub cursors: &'a Cursors,
    /// Set by the `repeat-cursor` fault.
    pub repeat_cursor: bool,
}

impl Paginator<'_> {
    /// Serves the page named by `cursor`, or the first page of the query `fresh` parses.
    /// `range` gives the positions a query covers; `keep` filters them. A cursor whose
    /// position lies outside the range is stale and rejected.
    pub(crate) fn page<Q: ListQuery>(
        &self,
        scope: &str,
        cursor: Option<&str>,
        fresh: impl FnOnce() -> Result<Q, ApiError>,
        range: impl FnOnce(&Q) -> Range<usize>,
        keep: impl Fn(&Q, usize) -> bool,
    ) -> Result<Listed<Q>, ApiError> {
        let (at, query) = match cursor {
            Some(token) => {
                let (at, query): (usize, Q) = self.cursors.decode(scope, token)?;
                (Some(at), query)
            }
            None => (None, fresh()?),
        };
        let range = range(&query);
        let at = at.unwrap_or(range.start);
        if at < range.start || at > range.end {
            return Err(ApiError::invalid_cursor());
        }
        let limit = query.limit();
        let mut items = Vec::with_capacity(limit.min(range.end - at));
        let mut next = None;
        for position in at..range.end {
            if keep(&query, position) {
                if items.len() == limit {
                    next = Some(position);
                    break;
                }
                items.push(position);
            }
        }
        let next = next.map(|n| if self.repeat_cursor { at } else { n });
        Ok(Listed {
            this: self.cursor(scope, at, &query),
            next: next.map(|n| self.cursor(scope, n, &query)),
            end: range.end,
            items,
            query,
        })
    }

    /// The cursor for `position` in the list `query` describes.
    pub(crate) fn cursor<Q: Serialize>(&self, scope: &str, position: usize, query: &Q) -> String {
        self.cursors.encode(scope, &(position, query))
    }
}

/// Resolves a requested page size: absent means `default`; above `max` is clamped to `max`
/// (the real API's behaviour is unconfirmed; clamping is what a lenient server does); zero is
/// a 400.
pub(crate) fn limit(requested: Option<u64>, default: usize, max: usize) -> Result<usize, ApiError> {
    match requested {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit must be positive".to_owned())),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX).min(max)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(repeat_cursor: bool, pages: usize) -> Vec<Vec<usize>> {
        let cursors = Cursors::new(5);
        let paginator = Paginator {
            cursors: &cursors,
            repeat_cursor,
        };
        let mut cursor = None;
        let mut seen = Vec::new();
        for _ in 0..pages {
            let page = paginator
                .page(
                    "odd",
                    cursor.as_deref(),
                    || Ok(PageSize { limit: 2 }),
                    |_| 0..9,
                    |_, i| i % 2 == 1,
                )
                .unwrap();
            seen.push(page.items);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        seen
    }

    #[test]
    fn pages_cover_kept_items_once_and_end_without_an_empty_page() {
        assert_eq!(walk(false, 10), [vec![1, 3], vec![5, 7]]);
    }

    #[test]
    fn repeat_cursor_serves_the_same_page_again() {
        assert_eq!(walk(true, 3), [vec![1, 3], vec![1, 3], vec![1, 3]]);
    }

    #[test]
    fn limit_defaults_clamps_and_rejects() {
        assert_eq!(limit(None, 100, 100), Ok(100));
        assert_eq!(limit(Some(500), 100, 100), Ok(100));
        assert_eq!(limit(Some(7), 100, 100), Ok(7));
        assert!(limit(Some(0), 100, 100).is_err());
    }
}
