//! The one link resolver every list is paged with.
//!
//! A page announces its successor in `links.next` (or, for the audit-log
//! stream and policies, also `meta.next`), in one of two forms:
//! - a full URL (Organizations API v1): followed only if it is on the API
//!   origin and on the same path as the list itself; query parameters of the
//!   first page that the link dropped are added back (ACCESS-1603: the events
//!   links lose `from`/`to`);
//! - an opaque cursor (v2, API Access): passed back as the `cursor` query
//!   parameter, or for POST searches as `cursor` in the JSON body.
//!
//! Guards: a position announced twice in one chain is an error (a repeating
//! cursor would otherwise page forever), and so is a chain longer than a hard
//! page cap.

use std::collections::HashSet;
use std::ops::Range;

use jsontext::Cursor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::api::{Endpoint, Segment};
use crate::failure::{ChainStop, Failure};
use crate::fields;
use crate::fingerprint::fingerprint;
use crate::transport::{Method, Request};
use crate::urls::{API_ORIGIN, LinkRefusal, encode_query, query_has, query_value, split_api_url};

/// Where the next page starts, as the previous page announced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    Url(String),
    Cursor(String),
}

impl Position {
    /// Classifies an announced value; an empty one announces nothing. A
    /// cursor may start with `/` (base64 alphabets hold it, notes §0
    /// "Cursor alphabets"), so only a path with a query is a relative link:
    /// no base64 alphabet holds `?`.
    fn parse(value: &str) -> Option<Position> {
        if value.is_empty() {
            None
        } else if value.contains("://") {
            Some(Position::Url(value.to_owned()))
        } else if value.starts_with('/') && value.contains('?') {
            Some(Position::Url(format!("{API_ORIGIN}{value}")))
        } else {
            Some(Position::Cursor(value.to_owned()))
        }
    }

    fn text(&self) -> &str {
        match self {
            Position::Url(s) | Position::Cursor(s) => s,
        }
    }
}

#[derive(Deserialize)]
struct Next {
    next: Option<String>,
}

/// The envelope of a page, and where its records lie in it: they stay raw,
/// so they are emitted exactly as received.
pub struct Page {
    data: Data,
    links: Option<Next>,
    meta: Option<Next>,
}

/// Why a 2xx body is not a page the integration can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyFault {
    /// It is not UTF-8 text.
    #[error("not a page: the body is not UTF-8 text")]
    NotUtf8,
    /// It is not a JSON page envelope, for the reason the reader gave.
    #[error("not a page: {0}")]
    NotAPage(String),
    /// `data` is a list where the endpoint returns one object.
    #[error("\"data\" is a list, not an object")]
    ListForObject,
    /// `data` is not a list.
    #[error("\"data\" is not a list")]
    NotAList,
    /// There is no `data`.
    #[error("no \"data\"")]
    NoData,
}

/// A page's `data`.
enum Data {
    Missing,
    /// A list: where its records lie, found in the same pass as the envelope.
    Items(Vec<Range<usize>>),
    /// Anything else, such as the org's object.
    Other(Range<usize>),
}

impl Page {
    /// Reads the envelope, checking the whole body is JSON. A list's
    /// records are split out in the same pass, so a page is scanned once
    /// (pages are most of a collection's work). The body is text already
    /// checked as UTF-8, so no record is checked again.
    pub fn parse(body: &str) -> Result<Page, BodyFault> {
        Page::read(body).map_err(|e| BodyFault::NotAPage(e.to_string()))
    }

    fn read(body: &str) -> Result<Page, Box<dyn std::error::Error>> {
        let mut json = Cursor::new(body);
        json.object()?;
        let (mut data, mut links, mut meta) = (None, None, None);
        while let Some(key) = json.key()? {
            let (slot, name) = match &*key {
                "data" => {
                    let value = match json.peek() {
                        Some(b'[') => Data::Items(items(&mut json)?),
                        Some(b'n') => {
                            json.skip()?;
                            Data::Missing
                        }
                        _ => Data::Other(json.skip()?),
                    };
                    (data.replace(value).is_some(), "data")
                }
                "links" => (links.replace(next(&mut json, "links")?).is_some(), "links"),
                "meta" => (meta.replace(next(&mut json, "meta")?).is_some(), "meta"),
                _ => {
                    json.skip()?;
                    continue;
                }
            };
            if slot {
                return Err(format!("\"{name}\" appears twice").into());
            }
        }
        json.finish()?;
        Ok(Page {
            data: data.unwrap_or(Data::Missing),
            links: links.flatten(),
            meta: meta.flatten(),
        })
    }

    /// Where the JSON text of each record `endpoint` lists lies in the body:
    /// `data`'s items, or for a single object (the org, a count), `data` itself.
    pub fn records(self, endpoint: &Endpoint) -> Result<Vec<Range<usize>>, BodyFault> {
        let single = endpoint.is_single_object();
        match self.data {
            Data::Other(object) if single => Ok(vec![object]),
            Data::Items(_) if single => Err(BodyFault::ListForObject),
            Data::Items(items) => Ok(items),
            Data::Other(_) => Err(BodyFault::NotAList),
            Data::Missing => Err(BodyFault::NoData),
        }
    }

    /// The next page's position: `links.next`, else `meta.next`.
    pub fn next(&self) -> Option<Position> {
        [&self.links, &self.meta]
            .into_iter()
            .flatten()
            .filter_map(|n| n.next.as_deref())
            .find_map(Position::parse)
    }
}

/// Where each item of the array at `json` lies.
fn items(json: &mut Cursor<'_>) -> Result<Vec<Range<usize>>, jsontext::Error> {
    let mut items = Vec::new();
    json.array()?;
    while json.element()? {
        items.push(json.skip()?);
    }
    Ok(items)
}

/// `links` or `meta`: small objects, read as such.
fn next(json: &mut Cursor<'_>, name: &str) -> Result<Option<Next>, Box<dyn std::error::Error>> {
    let text = &json.text()[json.skip()?];
    serde_json::from_str(text).map_err(|e| format!("\"{name}\": {e}").into())
}

/// How far from a page's end [`guess_next`] looks.
const GUESS_WINDOW: usize = 4096;

/// A cheap guess at a page's [`Page::next`], read from its last bytes, where
/// the API puts `links` and `meta` after the records, without reading the
/// records. Only a guess: it takes the last `"links"` and `"meta"` keys it
/// sees, which a record could also hold; the page is read whole later and a
/// wrong guess is dropped then.
pub fn guess_next(body: &str) -> Option<Position> {
    let mut from = body.len().saturating_sub(GUESS_WINDOW);
    while !body.is_char_boundary(from) {
        from += 1;
    }
    let tail = &body[from..];
    let next_in = |key: &str| {
        let after_key = &tail[tail.rfind(key)? + key.len()..];
        let object = after_key.trim_start().strip_prefix(':')?;
        let [next] = fields::strings(object, [&["next"]]);
        Position::parse(&next?)
    };
    next_in("\"links\"").or_else(|| next_in("\"meta\""))
}

/// One cursor chain: builds the request of each page of one list.
pub struct Pager {
    method: Method,
    /// Percent-encoded path on [`API_ORIGIN`], no query.
    path: String,
    /// First-page query parameters, not encoded; kept on every page.
    params: Vec<(&'static str, String)>,
    body: Option<Map<String, Value>>,
    seen: HashSet<u128>,
    pages: u32,
    max_pages: u32,
}

impl Pager {
    /// A chain over `endpoint`, with `extra` query parameters on top of the
    /// endpoint's own.
    pub fn new(
        endpoint: &Endpoint,
        org: &Segment,
        extra: Vec<(&'static str, String)>,
        max_pages: u32,
    ) -> Pager {
        let mut params = endpoint.query();
        params.retain(|(name, _)| !extra.iter().any(|(e, _)| e == name));
        params.extend(extra);
        Pager {
            method: endpoint.method(),
            path: endpoint.url(org)[API_ORIGIN.len()..].to_owned(),
            params,
            body: endpoint.body().and_then(|b| match b {
                Value::Object(map) => Some(map),
                _ => None,
            }),
            seen: HashSet::new(),
            pages: 0,
            max_pages,
        }
    }

    /// The request for the page at `at`, or the first page for `None`. A
    /// refused position leaves the chain as it was, so a guessed position
    /// that is refused costs nothing.
    pub fn request(&mut self, at: Option<&Position>) -> Result<Request, Failure> {
        if self.pages >= self.max_pages {
            return Err(self.stop(ChainStop::TooLong(self.max_pages)));
        }
        let seen = at.map(|at| fingerprint(&[at.text()]));
        if let (Some(at), Some(seen)) = (at, seen)
            && self.seen.contains(&seen)
        {
            let shown: String = at.text().chars().take(120).collect();
            return Err(self.stop(ChainStop::CursorRepeated(shown)));
        }
        let mut body = self.body.clone();
        let mut query = String::new();
        let cursor = match at {
            None => None,
            Some(Position::Cursor(cursor)) => Some(cursor.clone()),
            Some(Position::Url(url)) => {
                let link =
                    split_api_url(url).map_err(|why| self.stop(ChainStop::LinkRefused(why)))?;
                // v1 links are seen with and without the `/admin` prefix (notes §0).
                let without_admin = self.path.strip_prefix("/admin");
                if link.path != self.path && Some(link.path) != without_admin {
                    return Err(self.stop(ChainStop::LinkRefused(LinkRefusal::OtherPath(
                        link.path.to_owned(),
                    ))));
                }
                if body.is_some() {
                    let cursor = query_value(link.query, "cursor")
                        .ok_or_else(|| self.stop(ChainStop::LinkRefused(LinkRefusal::NoCursor)))?;
                    Some(cursor)
                } else {
                    query.push_str(link.query);
                    None
                }
            }
        };
        let mut params: Vec<(&str, &str)> = self
            .params
            .iter()
            .filter(|(name, _)| !query_has(&query, name))
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        match (&mut body, &cursor) {
            // "When a cursor is provided in the request body, no other
            // properties may be present" (workspaces); the user and group
            // searches discard them anyway: the cursor carries the search.
            (Some(body), Some(cursor)) => {
                body.clear();
                body.insert("cursor".into(), Value::String(cursor.clone()));
            }
            (None, Some(cursor)) => params.push(("cursor", cursor)),
            _ => {}
        }
        for (name, value) in params {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{name}={}", encode_query(value)));
        }
        let url = if query.is_empty() {
            format!("{API_ORIGIN}{}", self.path)
        } else {
            format!("{API_ORIGIN}{}?{query}", self.path)
        };
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        let body = body.map(|b| {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            serde_json::to_vec(&Value::Object(b)).expect("a JSON map serializes")
        });
        self.pages += 1;
        self.seen.extend(seen);
        Ok(Request {
            method: self.method,
            url,
            headers,
            body,
        })
    }

    /// The `limit` the chain asks for, if it sets one.
    pub fn page_size(&self) -> Option<u32> {
        self.params
            .iter()
            .find(|(name, _)| *name == "limit")
            .and_then(|(_, v)| v.parse().ok())
    }

    /// The same chain from its first page, asking for `size` records a page.
    pub fn with_page_size(&self, size: u32) -> Pager {
        let mut params = self.params.clone();
        params.retain(|(name, _)| *name != "limit");
        params.push(("limit", size.to_string()));
        Pager {
            method: self.method,
            path: self.path.clone(),
            params,
            body: self.body.clone(),
            seen: HashSet::new(),
            pages: 0,
            max_pages: self.max_pages,
        }
    }

    fn stop(&self, stop: ChainStop) -> Failure {
        Failure::ChainStopped {
            chain: format!("{} {API_ORIGIN}{}", self.method.as_str(), self.path),
            stop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Segment {
        Segment::new("org-1").unwrap()
    }

    fn body_json(r: &Request) -> Value {
        serde_json::from_slice(r.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn next_comes_from_links_then_meta() {
        let both = r#"{"data":[],"links":{"next":"https://api.atlassian.com/x?cursor=a"},"meta":{"next":"a"}}"#;
        let page = Page::parse(both).unwrap();
        assert_eq!(
            page.next(),
            Some(Position::Url("https://api.atlassian.com/x?cursor=a".into()))
        );
        let meta_only = r#"{"data":[],"links":{"next":null},"meta":{"next":"b"}}"#;
        assert_eq!(
            Page::parse(meta_only).unwrap().next(),
            Some(Position::Cursor("b".into()))
        );
        let end = r#"{"data":[],"links":{"self":"s"},"meta":null}"#;
        assert_eq!(Page::parse(end).unwrap().next(), None);
        let relative = r#"{"data":[],"links":{"next":"/admin/v1/orgs/o/domains?cursor=c"}}"#;
        assert_eq!(
            Page::parse(relative).unwrap().next(),
            Some(Position::Url(
                "https://api.atlassian.com/admin/v1/orgs/o/domains?cursor=c".into()
            ))
        );
    }

    #[test]
    fn the_guessed_next_is_the_parsed_one_for_api_pages() {
        let records: Vec<String> = (0..200)
            .map(|i| {
                format!(r#"{{"id":"e{i}","links":{{"self":"https://api.atlassian.com/e{i}"}}}}"#)
            })
            .collect();
        let data = records.join(",");
        for page in [
            format!(
                r#"{{"data":[{data}],"meta":{{"next":"c2","page_size":500}},"links":{{"self":"s","next":"https://api.atlassian.com/x?cursor=c2"}}}}"#
            ),
            format!(r#"{{"data":[{data}],"links":{{"next":null}},"meta":{{"next":"c3"}}}}"#),
            format!(r#"{{"data":[{data}],"links" : {{ "self":"s" }}}}"#),
            format!(
                r#"{{"data":[{data}],"links":{{"next":"/admin/v1/orgs/o/domains?cursor=c4"}}}}"#
            ),
        ] {
            assert_eq!(
                guess_next(&page),
                Page::parse(&page).unwrap().next(),
                "{page:.80}"
            );
        }
    }

    #[test]
    fn a_guess_can_be_wrong_but_never_fails() {
        // The envelope's links come first: the last `"links"` is a record's.
        let page = r#"{"links":{"next":"c9"},"data":[{"id":"a","links":{"next":"not-it"}}]}"#;
        assert_eq!(guess_next(page), Some(Position::Cursor("not-it".into())));
        assert_eq!(
            Page::parse(page).unwrap().next(),
            Some(Position::Cursor("c9".into()))
        );
        for odd in [
            "",
            "{",
            r#""links""#,
            r#""links":"#,
            r#"{"links":7}"#,
            "é\"links\":{\"next\":\"x",
        ] {
            let _ = guess_next(odd);
        }
    }

    /// The JSON text of the records `endpoint` lists in `body`.
    fn records<'a>(body: &'a str, endpoint: &Endpoint) -> Result<Vec<&'a str>, BodyFault> {
        let ranges = Page::parse(body)?.records(endpoint)?;
        Ok(ranges.into_iter().map(|r| &body[r]).collect())
    }

    #[test]
    fn data_is_a_list_except_for_the_org() {
        let users = Endpoint::UsersList(Segment::new("d-1").unwrap());
        let object = r#"{"data":{"id":"x"}}"#;
        assert_eq!(records(object, &users), Err(BodyFault::NotAList));
        assert_eq!(records(object, &Endpoint::Org).unwrap(), [r#"{"id":"x"}"#]);
        let list = r#"{"data":[{"id":"a"}, 7]}"#;
        assert_eq!(records(list, &users).unwrap(), [r#"{"id":"a"}"#, "7"]);
        assert_eq!(records(list, &Endpoint::Org), Err(BodyFault::ListForObject));
        assert!(matches!(Page::parse("<html>"), Err(BodyFault::NotAPage(_))));
        assert_eq!(records(r#"{"links":{}}"#, &users), Err(BodyFault::NoData));
    }

    #[test]
    fn a_page_that_is_not_quite_json_is_refused_whole() {
        for (body, why) in [
            (
                r#"{"data":[{"id":"a"},{"id":"b"]}"#,
                "not a page: expected `,` or `}` at byte 29",
            ),
            (
                r#"{"data":[{"id":"a"}]} trailing"#,
                "not a page: expected the end of the text at byte 22",
            ),
            (
                r#"{"data":[],"data":[{"id":"a"}]}"#,
                r#"not a page: "data" appears twice"#,
            ),
            (
                r#"{"data":[],"links":{"next":7}}"#,
                r#"not a page: "links": invalid type: integer `7`, expected a string at line 1 column 9"#,
            ),
        ] {
            assert_eq!(
                Page::parse(body).err().map(|e| e.to_string()).as_deref(),
                Some(why),
                "{body}"
            );
        }
        // `null` data, and envelope members the integration does not read.
        let page = Page::parse(r#"{"data":null,"links":null,"extra":[1,{"a":[]}]}"#).unwrap();
        assert_eq!(page.next(), None);
        assert_eq!(page.records(&Endpoint::Org), Err(BodyFault::NoData));
    }

    #[test]
    fn cursors_go_to_the_query_of_gets() {
        let dir = Segment::new("d-1").unwrap();
        let mut pager = Pager::new(&Endpoint::UsersList(dir), &org(), vec![], 10);
        let first = pager.request(None).unwrap();
        assert_eq!(
            first.url,
            "https://api.atlassian.com/admin/v2/orgs/org-1/directories/d-1/users?limit=100"
        );
        assert_eq!(first.body, None);
        let next = pager
            .request(Some(&Position::Cursor("Y3Vyc29yLTI=".into())))
            .unwrap();
        assert_eq!(
            next.url,
            "https://api.atlassian.com/admin/v2/orgs/org-1/directories/d-1/users?limit=100&cursor=Y3Vyc29yLTI%3D"
        );
    }

    #[test]
    fn cursors_go_to_the_body_of_searches() {
        let mut pager = Pager::new(&Endpoint::Workspaces, &org(), vec![], 10);
        let first = pager.request(None).unwrap();
        assert_eq!(body_json(&first), serde_json::json!({"limit": 100}));
        assert!(
            first
                .headers
                .contains(&("content-type".into(), "application/json".into()))
        );
        let next = pager.request(Some(&Position::Cursor("c2".into()))).unwrap();
        assert_eq!(
            next.url,
            "https://api.atlassian.com/admin/v2/orgs/org-1/workspaces"
        );
        // The cursor alone: no other property may come with it.
        assert_eq!(body_json(&next), serde_json::json!({"cursor": "c2"}));
        let via_url = pager
            .request(Some(&Position::Url(
                "https://api.atlassian.com/admin/v2/orgs/org-1/workspaces?cursor=c%2B3".into(),
            )))
            .unwrap();
        assert_eq!(body_json(&via_url)["cursor"], "c+3");
    }

    #[test]
    fn url_links_keep_the_first_page_parameters() {
        let from = ("from", "1700000000000".to_owned());
        let mut pager = Pager::new(&Endpoint::EventsStream, &org(), vec![from], 10);
        let first = pager.request(None).unwrap();
        assert_eq!(
            first.url,
            "https://api.atlassian.com/admin/v1/orgs/org-1/events-stream?limit=200&from=1700000000000"
        );
        let next = pager
            .request(Some(&Position::Url(
                "https://api.atlassian.com/admin/v1/orgs/org-1/events-stream?cursor=abc&limit=200"
                    .into(),
            )))
            .unwrap();
        assert_eq!(
            next.url,
            "https://api.atlassian.com/admin/v1/orgs/org-1/events-stream?cursor=abc&limit=200&from=1700000000000"
        );
    }

    #[test]
    fn cursors_are_never_links_because_of_their_first_character() {
        for cursor in ["/abc+def=", "/", "//x", "/admin/v1"] {
            assert_eq!(
                Position::parse(cursor),
                Some(Position::Cursor(cursor.into())),
                "{cursor}"
            );
        }
        assert_eq!(
            Position::parse("/admin/v1/orgs/o/domains?cursor=c"),
            Some(Position::Url(
                "https://api.atlassian.com/admin/v1/orgs/o/domains?cursor=c".into()
            ))
        );
        let mut pager = Pager::new(&Endpoint::ApiTokens, &org(), vec![], 10);
        let next = pager
            .request(Some(&Position::parse("/ab+c/d=").unwrap()))
            .unwrap();
        assert!(
            next.url.ends_with("/api-tokens?cursor=%2Fab%2Bc%2Fd%3D"),
            "{}",
            next.url
        );
    }

    #[test]
    fn v1_links_with_or_without_admin_are_followed() {
        for link in [
            "https://api.atlassian.com/admin/v1/orgs/org-1/domains?cursor=a",
            "https://api.atlassian.com/v1/orgs/org-1/domains?cursor=b",
        ] {
            let mut pager = Pager::new(&Endpoint::Domains, &org(), vec![], 10);
            let next = pager.request(Some(&Position::Url(link.into()))).unwrap();
            assert!(
                next.url
                    .starts_with("https://api.atlassian.com/admin/v1/orgs/org-1/domains?cursor="),
                "{}",
                next.url
            );
        }
    }

    #[test]
    fn a_smaller_page_size_restarts_the_chain() {
        let mut pager = Pager::new(
            &Endpoint::EventsStream,
            &org(),
            vec![("from", "5".into())],
            10,
        );
        assert_eq!(pager.page_size(), Some(200));
        pager.request(None).unwrap();
        let mut smaller = pager.with_page_size(100);
        let first = smaller.request(None).unwrap();
        assert_eq!(
            first.url,
            "https://api.atlassian.com/admin/v1/orgs/org-1/events-stream?from=5&limit=100"
        );
    }

    #[test]
    fn url_links_elsewhere_are_refused() {
        let elsewhere = |path: &str| LinkRefusal::OtherPath(path.to_owned());
        for (link, refusal) in [
            (
                "https://evil.example.com/admin/v1/orgs/org-1/domains?cursor=a",
                LinkRefusal::OtherOrigin("https://evil.example.com".into()),
            ),
            (
                "https://api.atlassian.com/admin/v1/orgs/org-1/users?cursor=a",
                elsewhere("/admin/v1/orgs/org-1/users"),
            ),
            (
                "https://api.atlassian.com/admin/v1/orgs/org-1/domains/../users",
                elsewhere("/admin/v1/orgs/org-1/domains/../users"),
            ),
        ] {
            let mut pager = Pager::new(&Endpoint::Domains, &org(), vec![], 10);
            let err = pager
                .request(Some(&Position::Url(link.into())))
                .unwrap_err();
            assert!(
                matches!(
                    &err,
                    Failure::ChainStopped {
                        stop: ChainStop::LinkRefused(why),
                        ..
                    } if *why == refusal
                ),
                "{link}: {err:?}"
            );
        }
    }

    #[test]
    fn repeats_and_endless_chains_stop() {
        let mut pager = Pager::new(&Endpoint::ApiTokens, &org(), vec![], 3);
        let a = Position::Cursor("a".into());
        pager.request(None).unwrap();
        pager.request(Some(&a)).unwrap();
        let err = pager.request(Some(&a)).unwrap_err();
        assert!(
            matches!(err, Failure::ChainStopped { stop: ChainStop::CursorRepeated(shown), .. } if shown == "a")
        );
        // The refusal took nothing: the third page is still allowed.
        pager.request(Some(&Position::Cursor("b".into()))).unwrap();
        let mut pager = Pager::new(&Endpoint::ApiTokens, &org(), vec![], 2);
        pager.request(None).unwrap();
        pager.request(Some(&Position::Cursor("1".into()))).unwrap();
        let err = pager
            .request(Some(&Position::Cursor("2".into())))
            .unwrap_err();
        assert!(matches!(
            err,
            Failure::ChainStopped {
                stop: ChainStop::TooLong(2),
                ..
            }
        ));
    }
}
