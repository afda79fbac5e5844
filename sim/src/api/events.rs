//! The audit log: `GET …/events-stream` (bulk collection and polling) and `GET …/events`.
//!
//! Both serve the same events in `processedAt` order (ascending by default, `sortOrder=desc`
//! for newest first), `limit` default 200 and maximum
//! [`SimConfig::events_max_limit`](crate::SimConfig::events_max_limit) (a larger one is a 400), `from`/`to` in epoch milliseconds.
//! `from`/`to` bound `processedAt` (inclusive); the notes do not say which timestamp they
//! bound, and `processedAt` is the one the stream is ordered by. A page is
//! `{data, meta: {next, page_size}, links: {self, next}}`; `links.next` is a full URL with
//! `?cursor=` and the cursor keeps the sort order and bounds.
//!
//! Unlike the real `/events` (ACCESS-1603: its next links drop `from` and `to`), cursors here
//! keep the bounds; clients that re-add them lose nothing, since parameters sent beside a
//! cursor are ignored.
//!
//! At the end of an ascending stream `links.next` is null but `meta.next` carries a *poll
//! cursor*: used later it returns only events appended since, which is how incremental
//! collection works. A descending walk, and the `/events` search API, end with both null.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::{Ctx, json};
use crate::errors::ApiError;
use crate::pagination::{ListQuery, limit};
use crate::population::Event;

const DEFAULT_LIMIT: usize = 200;

/// Which events API is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Feed {
    /// `events-stream`: the polling API.
    Stream,
    /// `events`: the older search API.
    Search,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Order {
    Asc,
    /// Newest first, from the newest event when the walk began.
    Desc {
        top: usize,
    },
}

#[derive(Serialize, Deserialize)]
struct EventQuery {
    order: Order,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    to: Option<i64>,
    limit: usize,
}

impl ListQuery for EventQuery {
    fn limit(&self) -> usize {
        self.limit
    }
}

#[derive(Serialize)]
struct EventPage<'a> {
    data: Vec<Event<'a>>,
    meta: Meta,
    links: Links,
}

#[derive(Serialize)]
struct Meta {
    next: Option<String>,
    page_size: usize,
}

#[derive(Serialize)]
struct Links {
    #[serde(rename = "self")]
    this: String,
    next: Option<String>,
}

impl Ctx<'_> {
    /// The indices of the events the query's bounds select, as of now (`top` for a
    /// descending walk).
    fn bounds(&self, q: &EventQuery) -> Range<usize> {
        let count = match q.order {
            Order::Asc => self.pop.event_count(),
            Order::Desc { top } => top,
        };
        let end = q.to.map_or(count, |to| {
            self.pop
                .first_event_at_or_after(to.saturating_add(1))
                .min(count)
        });
        let start = q
            .from
            .map_or(0, |from| self.pop.first_event_at_or_after(from));
        start.min(end)..end
    }

    fn event_query(&self) -> Result<EventQuery, ApiError> {
        let p = &self.params;
        let from: Option<i64> = p.one("from")?;
        let to: Option<i64> = p.one("to")?;
        if from.zip(to).is_some_and(|(from, to)| from > to) {
            return Err(ApiError::bad_request(
                "from must not be after to".to_owned(),
            ));
        }
        let order = match p.get("sortOrder") {
            None | Some("asc") => Order::Asc,
            Some("desc") => Order::Desc {
                top: self.pop.event_count(),
            },
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "sortOrder must be asc or desc, got `{other}`"
                )));
            }
        };
        let requested: Option<u64> = p.one("limit")?;
        let max = self.events_max_limit;
        if requested.is_some_and(|n| n > max as u64) {
            return Err(ApiError::bad_request(format!(
                "limit must be at most {max}"
            )));
        }
        Ok(EventQuery {
            order,
            from,
            to,
            limit: limit(requested, DEFAULT_LIMIT.min(max), max)?,
        })
    }
}

/// Serves a page of either events API. Positions are event indices when ascending, and
/// offsets from the newest event of the walk when descending.
pub(super) fn events(ctx: &Ctx<'_>, feed: Feed) -> Result<Vec<u8>, ApiError> {
    let mut bounds = 0..0;
    let listed = ctx.paginator.page(
        &ctx.scope(),
        ctx.params.get("cursor"),
        || ctx.event_query(),
        |q| {
            bounds = ctx.bounds(q);
            match q.order {
                Order::Asc => bounds.clone(),
                Order::Desc { .. } => 0..bounds.len(),
            }
        },
        |_, _| true,
    )?;
    let index = |position: usize| match listed.query.order {
        Order::Asc => position,
        Order::Desc { .. } => bounds.end - 1 - position,
    };
    let poll = feed == Feed::Stream && listed.query.order == Order::Asc;
    let meta_next = match &listed.next {
        Some(next) => Some(next.clone()),
        None if poll => Some(
            ctx.paginator
                .cursor(&ctx.scope(), listed.end, &listed.query),
        ),
        None => None,
    };
    Ok(json(&EventPage {
        data: listed
            .items
            .iter()
            .map(|&p| ctx.pop.event_record(index(p)))
            .collect(),
        meta: Meta {
            next: meta_next,
            page_size: listed.query.limit,
        },
        links: Links {
            this: ctx.url(ctx.params.get("cursor")),
            next: listed.next.as_deref().map(|c| ctx.url(Some(c))),
        },
    }))
}
