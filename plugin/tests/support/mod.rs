//! Test support: a scripted fake transport with a fake clock, a recording
//! sink, the fixtures (synthetic, on example.com) and a standard org wired
//! from them.

#![allow(dead_code)] // each test crate uses a different part of it

use std::collections::VecDeque;
use std::time::Duration;

use atlassian_cloud_admin::{
    ConfigEntry, Error, Evidence, Finding, FindingStatus, Integration, Level, Limits, Method,
    Request, Response, Sink, Summary, Transport, TransportError, Warning,
};
use serde_json::Value;

pub const ORG: &str = "6a1b2c3d-4e5f-6789-abcd-ef0123456789";
pub const D1: &str = "d1a2b3c4-0000-1111-2222-333344445555";
pub const D2: &str = "d2a2b3c4-0000-1111-2222-333344445555";
pub const JANE: &str = "5b10ac8d82e05b22cc7d4ef5";
pub const CAROL: &str = "557058:0c1d2e3f-carol";
pub const ERIN: &str = "5d0e-erin";
/// 2025-07-01T00:00:00Z, the fake clock's start.
pub const NOW_MS: i64 = 1_751_328_000_000;
pub const DAY_MS: i64 = 86_400_000;

pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `data` items of a fixture, as JSON values.
pub fn fixture_items(name: &str) -> Vec<Value> {
    let page: Value = serde_json::from_str(&fixture(name)).unwrap();
    page["data"].as_array().unwrap().clone()
}

pub fn v1(path: &str) -> String {
    format!("/admin/v1/orgs/{ORG}{path}")
}

pub fn v2(path: &str) -> String {
    format!("/admin/v2/orgs/{ORG}{path}")
}

pub fn tokens_path() -> String {
    api_access("/api-tokens")
}

pub fn api_access(path: &str) -> String {
    format!("/admin/api-access/v1/orgs/{ORG}{path}")
}

pub fn control(path: &str) -> String {
    format!("/admin/control/v1/orgs/{ORG}{path}")
}

pub fn auth_policies_path() -> String {
    format!("/admin/control/v1/orgs/{ORG}/users/auth-policies/bulk-fetch")
}

pub fn json(status: u16, body: &str) -> Result<Response, TransportError> {
    Ok(Response {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.as_bytes().to_vec(),
    })
}

pub fn ok(name: &str) -> Result<Response, TransportError> {
    json(200, &fixture(name))
}

pub fn with_header(
    answer: Result<Response, TransportError>,
    name: &str,
    value: &str,
) -> Result<Response, TransportError> {
    answer.map(|mut r| {
        r.headers.push((name.into(), value.into()));
        r
    })
}

/// What a request must look like, beyond method and path, to match a route.
#[derive(Clone)]
pub enum When {
    Always,
    /// The query holds this `name=value` pair, as encoded on the wire.
    Query(String),
    /// The JSON body's `cursor` is this.
    BodyCursor(String),
    /// The request carries no cursor at all (a first page).
    FirstPage,
    /// The JSON body has this member.
    BodyHas(&'static str),
}

struct Route {
    method: Method,
    path: String,
    when: When,
    /// Played in order; the last repeats.
    answers: VecDeque<Result<Response, TransportError>>,
}

fn path_and_query(url: &str) -> (&str, &str) {
    let rest = url
        .strip_prefix("https://api.atlassian.com")
        .unwrap_or_else(|| panic!("request off the API origin: {url}"));
    rest.split_once('?').unwrap_or((rest, ""))
}

fn body_cursor(request: &Request) -> Option<String> {
    let body: Value = serde_json::from_slice(request.body.as_deref()?).ok()?;
    body.get("cursor")?.as_str().map(str::to_owned)
}

impl When {
    fn matches(&self, request: &Request) -> bool {
        let (_, query) = path_and_query(&request.url);
        match self {
            When::Always => true,
            When::Query(pair) => query.split('&').any(|p| p == pair),
            When::BodyCursor(cursor) => body_cursor(request).as_deref() == Some(cursor),
            When::BodyHas(member) => request
                .body
                .as_deref()
                .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                .is_some_and(|b| b.get(member).is_some()),
            When::FirstPage => {
                !query.split('&').any(|p| p.starts_with("cursor="))
                    && body_cursor(request).is_none()
            }
        }
    }
}

/// A scripted Atlassian. Routes registered later take precedence, so a test
/// overrides the standard org by registering on top of it.
pub struct Fake {
    routes: Vec<Route>,
    /// Every `send_all` batch, with the fake time it was sent at.
    pub batches: Vec<(i64, Vec<Request>)>,
    pub now: i64,
    pub slept: Vec<Duration>,
    random: u64,
}

impl Fake {
    pub fn new() -> Fake {
        Fake {
            routes: Vec::new(),
            batches: Vec::new(),
            now: NOW_MS,
            slept: Vec::new(),
            random: 0x9E37_79B9_7F4A_7C15,
        }
    }

    pub fn on(
        &mut self,
        method: Method,
        path: &str,
        when: When,
        answers: Vec<Result<Response, TransportError>>,
    ) -> &mut Fake {
        assert!(!answers.is_empty());
        self.routes.push(Route {
            method,
            path: path.to_owned(),
            when,
            answers: answers.into(),
        });
        self
    }

    pub fn get(&mut self, path: &str, answer: Result<Response, TransportError>) -> &mut Fake {
        self.on(Method::Get, path, When::Always, vec![answer])
    }

    pub fn post(&mut self, path: &str, answer: Result<Response, TransportError>) -> &mut Fake {
        self.on(Method::Post, path, When::Always, vec![answer])
    }

    /// Every request, in the order sent.
    pub fn requests(&self) -> Vec<&Request> {
        self.batches.iter().flat_map(|(_, b)| b).collect()
    }

    /// The requests whose path is `path`, with their send times.
    pub fn sent_to(&self, path: &str) -> Vec<(i64, &Request)> {
        self.batches
            .iter()
            .flat_map(|(t, b)| b.iter().map(move |r| (*t, r)))
            .filter(|(_, r)| path_and_query(&r.url).0 == path)
            .collect()
    }

    fn answer(&mut self, request: &Request) -> Result<Response, TransportError> {
        let (path, _) = path_and_query(&request.url);
        let route = self
            .routes
            .iter_mut()
            .rev()
            .find(|r| r.method == request.method && r.path == path && r.when.matches(request));
        match route {
            Some(route) if route.answers.len() > 1 => route.answers.pop_front().unwrap(),
            Some(route) => route.answers[0].clone(),
            None => json(
                404,
                &format!(
                    r#"{{"errors":[{{"status":"404","title":"Not Found","detail":"no fake route for {} {}"}}]}}"#,
                    request.method.as_str(),
                    request.url
                ),
            ),
        }
    }
}

impl Transport for Fake {
    /// Runs `meanwhile` first: the fake answers at once, so nothing is on
    /// its way while it runs.
    fn send_all(
        &mut self,
        requests: Vec<Request>,
        meanwhile: &mut dyn FnMut(),
    ) -> Vec<Result<Response, TransportError>> {
        meanwhile();
        let answers = requests.iter().map(|r| self.answer(r)).collect();
        self.batches.push((self.now, requests));
        // A round trip takes 50 ms of fake time.
        self.now += 50;
        answers
    }

    fn sleep(&mut self, duration: Duration) {
        self.slept.push(duration);
        self.now += duration.as_millis() as i64;
    }

    fn now_ms(&self) -> i64 {
        self.now
    }

    fn random_u64(&mut self) -> u64 {
        // xorshift64: deterministic jitter.
        self.random ^= self.random << 13;
        self.random ^= self.random >> 7;
        self.random ^= self.random << 17;
        self.random
    }
}

/// A sink that keeps everything, or refuses the first batch.
#[derive(Default)]
pub struct Recorder {
    pub batches: Vec<Vec<Evidence<'static>>>,
    pub logs: Vec<(Level, String)>,
    pub refuse_with: Option<Error>,
}

impl Recorder {
    pub fn evidence(&self) -> Vec<&Evidence<'static>> {
        self.batches.iter().flatten().collect()
    }

    pub fn of_kind(&self, kind: &str) -> Vec<&Evidence<'static>> {
        self.evidence()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.of_kind(kind)
            .iter()
            .map(|e| e.id.to_string())
            .collect()
    }
}

impl Sink for Recorder {
    fn emit(&mut self, batch: Vec<Evidence<'_>>) -> Result<(), Error> {
        if let Some(error) = &self.refuse_with {
            return Err(error.clone());
        }
        self.batches
            .push(batch.into_iter().map(Evidence::into_owned).collect());
        Ok(())
    }

    fn log(&mut self, level: Level, message: &str) {
        self.logs.push((level, message.to_owned()));
    }
}

/// An org answering every endpoint from the fixtures: two directories (Jane
/// in both), two pages of users in the first, v1 URL links for domains and
/// events, v2 cursors in queries and bodies, and the "-" directory that
/// `validate` probes.
pub fn standard_org() -> Fake {
    let mut f = Fake::new();
    f.get(&v1(""), ok("org"));
    f.get(&v2("/directories"), ok("directories"));
    let search = |d: &str| v2(&format!("/directories/{d}/users/search"));
    f.on(
        Method::Post,
        &search(D1),
        When::FirstPage,
        vec![ok("users-d1-page1")],
    );
    f.on(
        Method::Post,
        &search(D1),
        When::BodyCursor("Y3Vyc29yLTI=".into()),
        vec![ok("users-d1-page2")],
    );
    f.post(&search(D2), ok("users-d2"));
    f.post(&search("-"), ok("users-d1-page1"));
    f.on(
        Method::Post,
        &search("-"),
        When::BodyHas("roleIds"),
        vec![ok("users-org-admins")],
    );
    f.post(&auth_policies_path(), ok("auth-policies"));
    f.get(&v2("/directories/-/users/count"), ok("users-count"));
    f.get(
        &format!("/admin/api-access/v1/orgs/{ORG}/api-keys"),
        ok("api-keys"),
    );
    f.get(
        &v2(&format!("/directories/{D1}/users")),
        ok("users-list-d1"),
    );
    f.get(&v2("/directories/-/users"), ok("users-list-d1"));
    f.post(
        &v2(&format!("/directories/{D1}/groups/search")),
        ok("groups-d1"),
    );
    f.post(
        &v2(&format!("/directories/{D2}/groups/search")),
        ok("empty-v2"),
    );
    f.post(&v2("/directories/-/groups/search"), ok("groups-d1"));
    f.get(&v2("/directories/-/groups"), ok("groups-d1"));
    for d in [D1, D2, "-"] {
        f.get(
            &v2(&format!("/directories/{d}/users/{JANE}/role-assignments")),
            ok("roles-jane"),
        );
        f.get(
            &v2(&format!("/directories/{d}/users/{ERIN}/role-assignments")),
            ok("roles-erin"),
        );
        f.get(
            &v2(&format!("/directories/{d}/groups/g-123/role-assignments")),
            ok("roles-group-123"),
        );
        f.get(
            &v2(&format!(
                "/directories/{d}/groups/g-org-admins/role-assignments"
            )),
            ok("empty-v2"),
        );
    }
    f.on(
        Method::Get,
        &v1("/domains"),
        When::FirstPage,
        vec![ok("domains-page1")],
    );
    f.on(
        Method::Get,
        &v1("/domains"),
        When::Query("cursor=ZG9tLTI%3D".into()),
        vec![ok("domains-page2")],
    );
    f.get(&v1("/policies"), ok("policies"));
    f.get(&control("/policies"), ok("policies"));
    f.get(&api_access("/api-keys"), ok("api-keys"));
    f.on(
        Method::Get,
        &v1("/events-stream"),
        When::FirstPage,
        vec![ok("events-page1")],
    );
    f.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=Yy0y".into()),
        vec![ok("events-page2")],
    );
    f.on(
        Method::Get,
        &v1("/events-stream"),
        When::Query("cursor=Yy0z".into()),
        vec![ok("events-tail")],
    );
    f.on(
        Method::Post,
        &v2("/workspaces"),
        When::FirstPage,
        vec![ok("workspaces-page1")],
    );
    f.on(
        Method::Post,
        &v2("/workspaces"),
        When::BodyCursor("d3MtMg==".into()),
        vec![ok("workspaces-page2")],
    );
    f.on(
        Method::Get,
        &tokens_path(),
        When::FirstPage,
        vec![ok("tokens-page1")],
    );
    f.on(
        Method::Get,
        &tokens_path(),
        When::Query("cursor=dG9rLTI%3D".into()),
        vec![ok("tokens-page2")],
    );
    f
}

pub fn integration(limits: Limits) -> Integration {
    let mut integration = Integration::with_limits(limits);
    integration
        .configure(vec![ConfigEntry {
            name: "org-id".into(),
            value: ORG.into(),
        }])
        .unwrap();
    integration
}

/// Collects from `fake` with production limits.
pub fn collect(fake: &mut Fake, checkpoint: Option<String>) -> (Result<Summary, Error>, Recorder) {
    let mut sink = Recorder::default();
    let result = integration(Limits::default()).collect(fake, &mut sink, checkpoint);
    (result, sink)
}

pub fn finding<'a>(summary: &'a Summary, id: &str) -> &'a Finding {
    summary
        .findings
        .iter()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no finding {id}"))
}

pub fn status(summary: &Summary, id: &str) -> FindingStatus {
    finding(summary, id).status
}

pub fn warning<'a>(summary: &'a Summary, resource: &str) -> &'a Warning {
    summary
        .warnings
        .iter()
        .find(|w| w.resource == resource)
        .unwrap_or_else(|| panic!("no warning about {resource}: {:#?}", summary.warnings))
}

pub fn count(summary: &Summary, kind: &str) -> u64 {
    summary
        .counts
        .iter()
        .find(|c| c.kind == kind)
        .map(|c| c.count)
        .unwrap_or_else(|| panic!("no count for {kind}"))
}
