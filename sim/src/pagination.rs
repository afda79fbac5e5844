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
    /// The server's own page-size cap ([`crate::Paging::max_page`]).
    pub max_page: Option<usize>,
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
        let limit = query
            .limit()
            .min(self.max_page.unwrap_or(usize::MAX))
            .max(1);
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

/// A page's body with its top-level `links` and `meta` moved before the
/// other members ([`crate::Paging::links_first`]). A body that is not a JSON
/// object is returned as it was.
pub(crate) fn links_first(body: Vec<u8>) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(&body) else {
        return body;
    };
    let Ok(members) = members(text) else {
        return body;
    };
    let (first, rest): (Vec<_>, Vec<_>) = members
        .into_iter()
        .partition(|(key, _)| matches!(key.as_str(), "links" | "meta"));
    let mut out = Vec::with_capacity(body.len());
    out.push(b'{');
    for (i, (_, member)) in first.iter().chain(&rest).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(text[member.clone()].as_bytes());
    }
    out.push(b'}');
    out
}

/// Each top-level member of a JSON object: its key and the text of `"key":value`.
fn members(text: &str) -> Result<Vec<(String, Range<usize>)>, jsontext::Error> {
    let mut json = jsontext::Cursor::new(text);
    json.object()?;
    let mut members = Vec::new();
    let mut start = text.find('{').map_or(0, |i| i + 1);
    while let Some(key) = json.key()? {
        let value = json.skip()?;
        let from = start + text[start..].find('"').unwrap_or(0);
        members.push((key.into_owned(), from..value.end));
        start = value.end;
    }
    json.finish()?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(repeat_cursor: bool, pages: usize) -> Vec<Vec<usize>> {
        walk_capped(repeat_cursor, None, pages)
    }

    fn walk_capped(repeat_cursor: bool, max_page: Option<usize>, pages: usize) -> Vec<Vec<usize>> {
        let cursors = Cursors::new(5);
        let paginator = Paginator {
            cursors: &cursors,
            repeat_cursor,
            max_page,
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
    fn the_server_page_size_cap_wins_over_the_limit_asked() {
        assert_eq!(
            walk_capped(false, Some(1), 10),
            [vec![1], vec![3], vec![5], vec![7]]
        );
        assert_eq!(walk_capped(false, Some(7), 10), [vec![1, 3], vec![5, 7]]);
    }

    #[test]
    fn links_first_moves_links_and_meta_before_data_and_keeps_the_json() {
        let body =
            br#"{"data":[{"links":{"self":"r"}}], "links":{"next":null},"meta":{"next":"c"}}"#;
        let moved = links_first(body.to_vec());
        assert_eq!(
            std::str::from_utf8(&moved).unwrap(),
            r#"{"links":{"next":null},"meta":{"next":"c"},"data":[{"links":{"self":"r"}}]}"#
        );
        let same: serde_json::Value = serde_json::from_slice(&moved).unwrap();
        assert_eq!(
            same,
            serde_json::from_slice::<serde_json::Value>(body).unwrap()
        );
        assert_eq!(links_first(b"[1]".to_vec()), b"[1]");
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
