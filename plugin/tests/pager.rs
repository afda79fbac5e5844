//! The pipelined collection checked against a plain sequential reader and
//! the organization's truth, on generated Atlassian-shaped servers.
//!
//! Each case is a seed. The seed chooses an organization (directories,
//! users in one or several of them, admins, groups, domains, policies,
//! audit events, workspaces, tokens) and, per list, how the server pages it:
//! a page size of the server's own choosing whatever `limit` asked,
//! `links` before or after `data`, and how the list ends (`next: null`,
//! `next` absent, or an empty last page). Transient faults (429, 503,
//! resets) land on any page, the last included; the collection's in-flight
//! cap and role-chain back-pressure vary, so chains finish in every order
//! and any list's final page can be the run's last exchange.
//!
//! Three readings must agree as multisets of `(kind, id)`: the collection,
//! a reference reader that asks one page at a time and follows `next`, and
//! the generator's truth. A persistent fault on one page must leave exactly
//! that list short, said in an incomplete warning.
//!
//! `WATCHDOG_PAGER_CASES=N` runs N seeds instead of the CI set (the long
//! mode: `WATCHDOG_PAGER_CASES=5000 cargo test -p atlassian-cloud-admin
//! --release --test pager`).

mod support;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use atlassian_cloud_admin::{
    Error, Limits, Method, Request, Response, RetryPolicy, Summary, Transport, TransportError,
};
use serde_json::{Value, json};
use support::{NOW_MS, ORG, Recorder, fixture_items, integration};

/// Seeds CI runs; each case is a few hundred requests against an in-memory
/// server, so the set runs in seconds.
const CI_CASES: u64 = 400;

const API: &str = "https://api.atlassian.com";
const ADMIN_ROLE: &str = "atlassian/org-admin";

/// SplitMix64: a seeded, reproducible stream of choices.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// How a list ends.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The last page says `"next": null`.
    Null,
    /// The last page has no `next` at all.
    Absent,
    /// The last page with records points at an empty page.
    EmptyPage,
}

/// How the server pages one list, whatever the client asked.
#[derive(Debug, Clone, Copy)]
struct Shape {
    page_size: usize,
    links_first: bool,
    end: End,
    /// v1 lists announce full URLs; v2 lists opaque cursors.
    full_urls: bool,
}

/// A transient or persistent failure of one page's request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    RateLimited,
    Unavailable,
    Reset,
}

/// One list the server holds.
struct List {
    method: Method,
    kind: &'static str,
    /// Each record's evidence id and JSON text.
    records: Vec<(String, String)>,
    shape: Shape,
    /// Faults still to answer, per page index, in order.
    faults: HashMap<usize, VecDeque<Fault>>,
    /// A page index that always fails.
    broken: Option<usize>,
}

/// The generated organization and the server answering for it.
struct Server {
    /// Keyed by path; role-assignment lists by the principal's path tail,
    /// since an admin in several directories is read from one of them.
    lists: BTreeMap<String, List>,
    truth: Multiset,
    /// The list a persistent fault breaks, if any, and the records the
    /// collection can still read from it.
    broken: Option<(String, usize)>,
}

type Multiset = BTreeMap<(String, String), usize>;

fn org_path() -> String {
    format!("/admin/v1/orgs/{ORG}")
}

fn v2(path: &str) -> String {
    format!("/admin/v2/orgs/{ORG}{path}")
}

/// `template` with its id field(s) set.
fn record(template: &Value, fields: &[(&str, Value)]) -> String {
    let mut value = template.clone();
    for (name, v) in fields {
        value[*name] = v.clone();
    }
    value.to_string()
}

fn org_record() -> (String, String) {
    let org = serde_json::from_str::<Value>(&support::fixture("org")).unwrap();
    (ORG.to_owned(), org["data"].to_string())
}

fn directory_record(id: &str) -> (String, String) {
    (
        id.to_owned(),
        json!({"directoryId": id, "name": "Example"}).to_string(),
    )
}

/// The lists that open no others: method, path, kind, a record to vary
/// and whether their links are full URLs.
fn simple_lists() -> [(Method, String, &'static str, Value, bool); 6] {
    let item = |name: &str| fixture_items(name)[0].clone();
    [
        (
            Method::Get,
            format!("/admin/v1/orgs/{ORG}/domains"),
            "atlassian.domain",
            item("domains-page1"),
            true,
        ),
        (
            Method::Get,
            format!("/admin/v1/orgs/{ORG}/policies"),
            "atlassian.policy",
            item("policies"),
            true,
        ),
        (
            Method::Get,
            format!("/admin/v1/orgs/{ORG}/events-stream"),
            "atlassian.event",
            item("events-page1"),
            true,
        ),
        (
            Method::Post,
            v2("/workspaces"),
            "atlassian.workspace",
            item("workspaces-page1"),
            false,
        ),
        (
            Method::Get,
            format!("/admin/api-access/v1/orgs/{ORG}/api-tokens"),
            "atlassian.api-token",
            item("tokens-page1"),
            false,
        ),
        (
            Method::Get,
            format!("/admin/api-access/v1/orgs/{ORG}/api-keys"),
            "atlassian.api-key",
            item("api-keys"),
            false,
        ),
    ]
}

fn shape(dice: &mut Dice, full_urls: bool) -> Shape {
    Shape {
        page_size: 1 + dice.below(9),
        links_first: dice.chance(50),
        end: [End::Null, End::Absent, End::EmptyPage][dice.below(3)],
        full_urls,
    }
}

impl Server {
    fn generate(seed: u64, persistent: bool) -> Server {
        let mut dice = Dice(seed);
        let mut server = Server::empty();
        let user = &fixture_items("users-d2")[0];
        let group = &fixture_items("groups-d1")[0];
        let role = &fixture_items("roles-jane")[0];
        server.add(
            &mut dice,
            Method::Get,
            &org_path(),
            "atlassian.org",
            vec![org_record()],
            true,
        );

        let directories: Vec<String> = (0..1 + dice.below(3)).map(|d| format!("dir-{d}")).collect();
        let dir_records = directories.iter().map(|d| directory_record(d)).collect();
        server.add(
            &mut dice,
            Method::Get,
            &v2("/directories"),
            "atlassian.directory",
            dir_records,
            false,
        );

        // Accounts, some in several directories; admins get role lists.
        let accounts = dice.below(40);
        let mut members: Vec<Vec<(String, String)>> = vec![Vec::new(); directories.len()];
        let mut admins = Vec::new();
        for a in 0..accounts {
            let id = format!("acct-{a}");
            let admin = dice.chance(15);
            let roles = if admin {
                json!([ADMIN_ROLE])
            } else {
                json!([])
            };
            let text = record(user, &[("accountId", json!(id)), ("platformRoles", roles)]);
            let home = dice.below(directories.len());
            members[home].push((id.clone(), text.clone()));
            if directories.len() > 1 && dice.chance(20) {
                let other = (home + 1 + dice.below(directories.len() - 1)) % directories.len();
                members[other].push((id.clone(), text.clone()));
            }
            // Every generated account is active and managed: its
            // authentication policy is asked for in bulk.
            server
                .truth
                .insert(("atlassian.auth-policy".into(), id.clone()), 1);
            if admin {
                admins.push((id.clone(), text.clone()));
                let roles = dice.below(4);
                server.add_roles(&mut dice, role, &format!("/users/{id}"), roles);
            }
        }
        // Org admins are also searched for org-wide.
        server.add(
            &mut dice,
            Method::Post,
            &v2("/directories/-/users/search"),
            "atlassian.user",
            admins,
            false,
        );
        let count = json!({ "count": accounts }).to_string();
        server.add(
            &mut dice,
            Method::Get,
            &v2("/directories/-/users/count"),
            "atlassian.user-count",
            vec![("users/count".into(), count)],
            false,
        );
        for (d, users) in directories.iter().zip(members) {
            server.add(
                &mut dice,
                Method::Post,
                &v2(&format!("/directories/{d}/users/search")),
                "atlassian.user",
                users,
                false,
            );
            let groups: Vec<(String, String)> = (0..dice.below(5))
                .map(|g| {
                    let id = format!("{d}-group-{g}");
                    (
                        id.clone(),
                        record(group, &[("id", json!(id)), ("directoryId", json!(d))]),
                    )
                })
                .collect();
            for (id, _) in &groups {
                let roles = dice.below(3);
                server.add_roles(&mut dice, role, &format!("/groups/{id}"), roles);
            }
            server.add(
                &mut dice,
                Method::Post,
                &v2(&format!("/directories/{d}/groups/search")),
                "atlassian.group",
                groups,
                false,
            );
        }

        for (method, path, kind, template, full_urls) in simple_lists() {
            // Mostly short lists, so that any chain may finish last.
            let n = if dice.chance(30) {
                dice.below(40)
            } else {
                dice.below(6)
            };
            let records = (0..n)
                .map(|i| {
                    let id = format!("{}-{i}", kind.rsplit('.').next().unwrap());
                    (id.clone(), record(&template, &[("id", json!(id))]))
                })
                .collect();
            server.add(&mut dice, method, &path, kind, records, full_urls);
        }
        if persistent {
            server.break_one(&mut dice);
        }
        server
    }

    fn empty() -> Server {
        Server {
            lists: BTreeMap::new(),
            truth: Multiset::new(),
            broken: None,
        }
    }

    fn add(
        &mut self,
        dice: &mut Dice,
        method: Method,
        path: &str,
        kind: &'static str,
        records: Vec<(String, String)>,
        full_urls: bool,
    ) {
        let shape = shape(dice, full_urls);
        let pages = records.len().div_ceil(shape.page_size) + 1;
        let mut faults: HashMap<usize, VecDeque<Fault>> = HashMap::new();
        for page in 0..pages {
            if dice.chance(12) {
                let fault = [Fault::RateLimited, Fault::Unavailable, Fault::Reset][dice.below(3)];
                faults
                    .entry(page)
                    .or_default()
                    .extend(std::iter::repeat_n(fault, 1 + dice.below(2)));
            }
        }
        for (id, _) in &records {
            self.truth.insert((kind.to_owned(), id.clone()), 1);
        }
        self.lists.insert(
            path.to_owned(),
            List {
                method,
                kind,
                records,
                shape,
                faults,
                broken: None,
            },
        );
    }

    /// The role-assignment list of the principal at `principal` (`/users/ID`
    /// or `/groups/ID`): `n` sites, with ids as the integration gives them.
    fn add_roles(&mut self, dice: &mut Dice, template: &Value, principal: &str, n: usize) {
        let id = principal.rsplit('/').next().unwrap();
        let roles = (0..n)
            .map(|r| {
                let resource = format!("ari:cloud:jira::site/site-{r}");
                (
                    format!("{id}:{resource}"),
                    record(template, &[("resourceId", json!(resource))]),
                )
            })
            .collect();
        let path = format!("{principal}/role-assignments");
        self.add(
            dice,
            Method::Get,
            &path,
            "atlassian.role-assignment",
            roles,
            false,
        );
    }

    /// Breaks one page of one list other than the org (whose failure ends
    /// the run) for good.
    fn break_one(&mut self, dice: &mut Dice) {
        let candidates: Vec<String> = self
            .lists
            .keys()
            .filter(|p| **p != org_path() && !p.ends_with("/users/count"))
            .cloned()
            .collect();
        let path = candidates[dice.below(candidates.len())].clone();
        let list = self.lists.get_mut(&path).unwrap();
        let pages = list.records.len().div_ceil(list.shape.page_size).max(1);
        let page = dice.below(pages);
        list.broken = Some(page);
        self.broken = Some((path, page * list.shape.page_size));
    }

    /// The list a request's path names: role lists by their tail.
    fn list_key(&self, path: &str) -> Option<String> {
        if self.lists.contains_key(path) {
            return Some(path.to_owned());
        }
        let tail = path
            .find("/users/")
            .or_else(|| path.find("/groups/"))
            .map(|i| &path[i..])?;
        let key = tail.to_owned();
        self.lists.contains_key(&key).then_some(key)
    }

    /// Answers one request as an Atlassian-shaped server would.
    fn answer(&mut self, request: &Request) -> Result<Response, TransportError> {
        let (path, query) = split(&request.url);
        if path.ends_with("/users/auth-policies/bulk-fetch") {
            return Ok(status(200, &auth_policies(request)));
        }
        let Some(key) = self.list_key(path) else {
            return Ok(status(
                404,
                r#"{"errors":[{"status":"404","title":"Not Found"}]}"#,
            ));
        };
        let list = self.lists.get_mut(&key).unwrap();
        assert_eq!(list.method, request.method, "{}", request.url);
        let page =
            cursor(request, query).map_or(0, |c| c.strip_prefix('p').unwrap().parse().unwrap());
        if list.broken == Some(page) {
            return Ok(status(
                503,
                r#"{"errors":[{"status":"503","title":"Service Unavailable"}]}"#,
            ));
        }
        if let Some(fault) = list.faults.get_mut(&page).and_then(VecDeque::pop_front) {
            return match fault {
                Fault::RateLimited => Ok(Response {
                    status: 429,
                    headers: vec![("retry-after".into(), "1".into())],
                    body: br#"{"errors":[{"status":"429","title":"Too Many Requests"}]}"#.to_vec(),
                }),
                Fault::Unavailable => Ok(status(503, r#"{"errors":[{"status":"503"}]}"#)),
                Fault::Reset => Err(TransportError::Network("connection reset by peer".into())),
            };
        }
        Ok(status(200, &list.page(path, page)))
    }
}

impl List {
    /// Page `index`: its records, then a `next` as the shape says.
    fn page(&self, path: &str, index: usize) -> String {
        if key_is_org(path) || path.ends_with("/users/count") {
            return format!(
                r#"{{"data":{},"links":{{"self":"{API}{path}"}}}}"#,
                self.records[0].1
            );
        }
        let size = self.shape.page_size;
        let from = (index * size).min(self.records.len());
        let to = (from + size).min(self.records.len());
        let data: Vec<&str> = self.records[from..to]
            .iter()
            .map(|(_, r)| r.as_str())
            .collect();
        let last_with_records = to == self.records.len();
        // Past the last records, an empty page follows when the shape says so.
        let next = (!last_with_records || (matches!(self.shape.end, End::EmptyPage) && from < to))
            .then_some(index + 1);
        let next = match next {
            Some(n) if self.shape.full_urls => format!(r#","next":"{API}{path}?cursor=p{n}""#),
            Some(n) => format!(r#","next":"p{n}""#),
            None if matches!(self.shape.end, End::Absent) => String::new(),
            None => r#","next":null"#.to_owned(),
        };
        let links = format!(r#""links":{{"self":"p{index}"{next}}}"#);
        let data = format!(r#""data":[{}]"#, data.join(","));
        if self.shape.links_first {
            format!("{{{links},{data}}}")
        } else {
            format!("{{{data},{links}}}")
        }
    }
}

/// The authentication policy of each account a bulk fetch asks for: 2SV
/// enforced, no single sign-on.
fn auth_policies(request: &Request) -> String {
    let body: Value = serde_json::from_slice(request.body.as_deref().unwrap()).unwrap();
    let data: Vec<Value> = body["userIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| json!({"accountId": id, "policy": {"ssoEnforced": false, "twoStepVerification": "enforced"}}))
        .collect();
    json!({"data": data, "links": {"next": null}}).to_string()
}

fn key_is_org(path: &str) -> bool {
    path == org_path()
}

fn status(status: u16, body: &str) -> Response {
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

fn split(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix(API)
        .unwrap_or_else(|| panic!("off the API origin: {url}"));
    rest.split_once('?').unwrap_or((rest, ""))
}

/// The cursor a request carries: in the query, or in a POST body.
fn cursor(request: &Request, query: &str) -> Option<String> {
    let in_query = query
        .split('&')
        .find_map(|p| p.strip_prefix("cursor="))
        .map(str::to_owned);
    let in_body = request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice::<Value>(b).ok())
        .and_then(|b| b.get("cursor")?.as_str().map(str::to_owned));
    in_query.or(in_body)
}

/// The server behind the integration's transport, on a fake clock.
struct Wire {
    server: Server,
    now: i64,
    /// The last request answered, and whether its page ended its list with
    /// records on it.
    last: Option<String>,
}

impl Transport for Wire {
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        meanwhile();
        self.now += 50;
        let answers = requests.iter().map(|r| self.server.answer(r)).collect();
        self.last = requests.last().map(|r| r.url.clone());
        answers
    }

    fn sleep(&mut self, duration: Duration) {
        self.now += duration.as_millis() as i64;
    }

    fn now_ms(&self) -> i64 {
        self.now
    }

    fn random_u64(&mut self) -> u64 {
        4
    }
}

/// The reference: one request at a time, each page read whole, `next`
/// followed to the end; lists found as the API documents them (directories
/// hold users and groups, admins and groups have role assignments).
fn read_sequentially(server: &mut Server) -> Multiset {
    let mut found = Multiset::new();
    let mut seen_accounts = HashSet::new();
    read_list(server, Method::Get, &org_path(), &mut found);
    let directories = read_list(server, Method::Get, &v2("/directories"), &mut found);
    for directory in directories {
        let d: Value = serde_json::from_str(&directory).unwrap();
        let d = d["directoryId"].as_str().unwrap();
        read_accounts(server, d, &mut found, &mut seen_accounts);
        for group in read_list(
            server,
            Method::Post,
            &v2(&format!("/directories/{d}/groups/search")),
            &mut found,
        ) {
            let group: Value = serde_json::from_str(&group).unwrap();
            let id = group["id"].as_str().unwrap();
            read_list(
                server,
                Method::Get,
                &v2(&format!("/directories/{d}/groups/{id}/role-assignments")),
                &mut found,
            );
        }
    }
    read_accounts(server, "-", &mut found, &mut seen_accounts);
    read_list(
        server,
        Method::Get,
        &v2("/directories/-/users/count"),
        &mut found,
    );
    for path in [
        format!("/admin/v1/orgs/{ORG}/domains"),
        format!("/admin/v1/orgs/{ORG}/policies"),
        format!("/admin/v1/orgs/{ORG}/events-stream"),
        format!("/admin/api-access/v1/orgs/{ORG}/api-tokens"),
        format!("/admin/api-access/v1/orgs/{ORG}/api-keys"),
    ] {
        read_list(server, Method::Get, &path, &mut found);
    }
    read_list(server, Method::Post, &v2("/workspaces"), &mut found);
    found
}

/// Reads the users search of directory `d`: each account seen for the
/// first time has its authentication policy read, and an admin its role
/// assignments.
fn read_accounts(
    server: &mut Server,
    d: &str,
    found: &mut Multiset,
    seen_accounts: &mut HashSet<String>,
) {
    let search = v2(&format!("/directories/{d}/users/search"));
    for user in read_list(server, Method::Post, &search, found) {
        let user: Value = serde_json::from_str(&user).unwrap();
        let id = user["accountId"].as_str().unwrap().to_owned();
        let admin = user["platformRoles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == ADMIN_ROLE);
        if seen_accounts.insert(id.clone()) {
            found.insert(("atlassian.auth-policy".into(), id.clone()), 1);
            if admin {
                let roles = v2(&format!("/directories/{d}/users/{id}/role-assignments"));
                read_list(server, Method::Get, &roles, found);
            }
        }
    }
}

/// Reads one list to its end (or to a page that fails for good), adding
/// each record's `(kind, id)` once; returns the records' JSON texts.
fn read_list(server: &mut Server, method: Method, path: &str, found: &mut Multiset) -> Vec<String> {
    let mut texts = Vec::new();
    let mut at: Option<String> = None;
    loop {
        let url = format!("{API}{path}");
        let body = (method == Method::Post).then(|| {
            let cursor = at.as_ref().map_or(json!({}), |c| json!({ "cursor": c }));
            cursor.to_string().into_bytes()
        });
        let url = match (&at, method) {
            (Some(c), Method::Get) => format!("{url}?cursor={c}"),
            _ => url,
        };
        let request = Request {
            method,
            url,
            headers: Vec::new(),
            body,
        };
        let response = loop {
            match server.answer(&request) {
                Ok(r) if r.status == 200 => break Some(r),
                Ok(r) if r.status == 503 && is_broken(server, path, &at) => break None,
                _ => continue,
            }
        };
        let Some(response) = response else {
            return texts;
        };
        let page: Value = serde_json::from_slice(&response.body).unwrap();
        let key = server.list_key(path).unwrap();
        let kind = server.lists[&key].kind;
        let items = match &page["data"] {
            Value::Array(items) => items.clone(),
            object => vec![object.clone()],
        };
        for item in items {
            let id = evidence_id(kind, path, &item);
            let entry = found.entry((kind.to_owned(), id)).or_default();
            if *entry == 0 {
                *entry = 1;
                texts.push(item.to_string());
            }
        }
        match page["links"].get("next").and_then(Value::as_str) {
            Some(next) => at = Some(next.rsplit("cursor=").next().unwrap().to_owned()),
            None => return texts,
        }
    }
}

fn is_broken(server: &Server, path: &str, at: &Option<String>) -> bool {
    let Some(key) = server.list_key(path) else {
        return false;
    };
    let page = at.as_deref().map_or(0, |c| c[1..].parse().unwrap());
    server.lists[&key].broken == Some(page)
}

/// The evidence id the integration gives a record of `kind` read at `path`.
fn evidence_id(kind: &str, path: &str, item: &Value) -> String {
    let field = |name: &str| item[name].as_str().unwrap().to_owned();
    match kind {
        "atlassian.directory" => field("directoryId"),
        "atlassian.user" => field("accountId"),
        "atlassian.user-count" => "users/count".to_owned(),
        "atlassian.role-assignment" => {
            let principal = path.rsplit('/').nth(1).unwrap();
            format!("{principal}:{}", field("resourceId"))
        }
        _ => field("id"),
    }
}

fn limits(dice: &mut Dice) -> Limits {
    Limits {
        max_in_flight: 1 + dice.below(8),
        max_pages_per_chain: 1_000,
        max_role_chains: 1 + dice.below(4),
        retry: RetryPolicy::default(),
    }
}

/// One case: the collection's emitted `(kind, id)` multiset and summary.
fn collect(seed: u64, persistent: bool) -> (Result<Summary, Error>, Multiset, Option<String>) {
    let mut wire = Wire {
        server: Server::generate(seed, persistent),
        now: NOW_MS,
        last: None,
    };
    let mut sink = Recorder::default();
    let limits = limits(&mut Dice(seed ^ 0x5EED));
    let result = integration(limits).collect(&mut wire, &mut sink, None);
    let mut emitted = Multiset::new();
    for e in sink.evidence() {
        *emitted
            .entry((e.kind.to_string(), e.id.to_string()))
            .or_default() += 1;
    }
    (result, emitted, wire.last)
}

fn cases() -> u64 {
    std::env::var("WATCHDOG_PAGER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(CI_CASES)
}

fn counts_match(summary: &Summary, emitted: &Multiset) {
    for count in &summary.counts {
        let n: usize = emitted
            .iter()
            .filter(|((k, _), _)| *k == count.kind)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(count.count, n as u64, "count of {}", count.kind);
    }
}

#[test]
fn the_pipelined_collection_emits_what_a_sequential_reader_reads() {
    let mut last_pages = 0;
    for seed in 0..cases() {
        let (result, emitted, last) = collect(seed, false);
        let summary = result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let incomplete: Vec<_> = summary.warnings.iter().filter(|w| w.incomplete).collect();
        assert!(incomplete.is_empty(), "seed {seed}: {incomplete:#?}");
        let mut server = Server::generate(seed, false);
        let truth = server.truth.clone();
        let sequential = read_sequentially(&mut server);
        assert_eq!(
            sequential, truth,
            "seed {seed}: the reference reader against the truth"
        );
        assert_eq!(
            emitted, truth,
            "seed {seed}: the collection against the truth"
        );
        counts_match(&summary, &emitted);
        if last.is_some_and(|url| !url.contains("events-stream")) {
            last_pages += 1;
        }
    }
    // The generator reaches the case that lost records: a list other than
    // the audit log ending the run.
    assert!(
        last_pages > 0,
        "no case ended on another list than the audit log"
    );
}

#[test]
fn a_page_that_fails_for_good_leaves_only_its_list_short_and_says_so() {
    for seed in 0..cases() / 2 {
        let (result, emitted, _) = collect(seed, true);
        let server = Server::generate(seed, true);
        let (path, readable) = server.broken.clone().unwrap();
        let list = &server.lists[&path];
        if path == v2("/directories")
            || list.kind == "atlassian.user"
            || list.kind == "atlassian.group"
        {
            // Lists that open other lists: what they lose cascades; the
            // reference reader stops at the same page.
            let mut reference = Server::generate(seed, true);
            let sequential = read_sequentially(&mut reference);
            let summary = result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(
                summary.warnings.iter().any(|w| w.incomplete),
                "seed {seed}: no incomplete warning"
            );
            assert_eq!(emitted, sequential, "seed {seed}: broken {path}");
            continue;
        }
        let summary = result.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let lost: HashSet<&String> = list.records[readable..].iter().map(|(id, _)| id).collect();
        let expected: Multiset = server
            .truth
            .keys()
            .filter(|(kind, id)| !(kind == list.kind && lost.contains(id)))
            .map(|k| (k.clone(), 1))
            .collect();
        assert_eq!(emitted, expected, "seed {seed}: broken {path}");
        assert!(
            summary
                .warnings
                .iter()
                .any(|w| w.incomplete && w.message.contains("could not be read completely")),
            "seed {seed}: broken {path} without an incomplete warning: {:#?}",
            summary.warnings
        );
        counts_match(&summary, &emitted);
    }
}

/// The report that opened this test: a users search answering 7 records a
/// page whatever `limit` asked, `links` after `data`, its last page (2
/// records, `next: null`) the run's last exchange. The accounts are
/// unmanaged, so no page asks for authentication policies after it.
#[test]
fn seven_record_pages_with_links_after_data_lose_nothing_when_they_end_the_run() {
    let mut dice = Dice(11);
    let mut server = Server::empty();
    server.add(
        &mut dice,
        Method::Get,
        &org_path(),
        "atlassian.org",
        vec![org_record()],
        true,
    );
    server.add(
        &mut dice,
        Method::Get,
        &v2("/directories"),
        "atlassian.directory",
        vec![directory_record("dir-0")],
        false,
    );
    let user = &fixture_items("users-d2")[0];
    let users: Vec<(String, String)> = (0..37)
        .map(|a| {
            let id = format!("acct-{a}");
            (
                id.clone(),
                record(
                    user,
                    &[
                        ("accountId", json!(id)),
                        ("platformRoles", json!([])),
                        ("claimStatus", json!("unmanaged")),
                    ],
                ),
            )
        })
        .collect();
    let search = v2("/directories/dir-0/users/search");
    server.add(
        &mut dice,
        Method::Post,
        &search,
        "atlassian.user",
        users,
        false,
    );
    server.add(
        &mut dice,
        Method::Post,
        &v2("/directories/-/users/search"),
        "atlassian.user",
        Vec::new(),
        false,
    );
    let count = ("users/count".to_owned(), json!({"count": 37}).to_string());
    server.add(
        &mut dice,
        Method::Get,
        &v2("/directories/-/users/count"),
        "atlassian.user-count",
        vec![count],
        false,
    );
    server.add(
        &mut dice,
        Method::Post,
        &v2("/directories/dir-0/groups/search"),
        "atlassian.group",
        Vec::new(),
        false,
    );
    for (method, path, kind, _, full_urls) in simple_lists() {
        server.add(&mut dice, method, &path, kind, Vec::new(), full_urls);
    }
    for (key, list) in server.lists.iter_mut() {
        list.faults.clear();
        list.shape = Shape {
            page_size: if *key == search { 7 } else { 100 },
            links_first: false,
            end: End::Null,
            full_urls: list.shape.full_urls,
        };
    }
    let truth = server.truth.clone();
    let mut wire = Wire {
        server,
        now: NOW_MS,
        last: None,
    };
    let mut sink = Recorder::default();
    let summary = integration(Limits::default())
        .collect(&mut wire, &mut sink, None)
        .unwrap();
    assert!(
        wire.last.as_deref().unwrap().ends_with("/users/search"),
        "{:?}",
        wire.last
    );
    let mut emitted = Multiset::new();
    for e in sink.evidence() {
        *emitted
            .entry((e.kind.to_string(), e.id.to_string()))
            .or_default() += 1;
    }
    assert_eq!(
        emitted
            .keys()
            .filter(|(k, _)| k == "atlassian.user")
            .count(),
        37
    );
    assert_eq!(emitted, truth);
    counts_match(&summary, &emitted);
}
