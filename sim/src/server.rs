//! The loopback HTTP/1.1 server, its request pipeline, and [`SimHandle`] to run it.
//!
//! Every request goes through the same steps: find its organization (see
//! [`SimHandle::start_orgs`]), count it, let that organization's faults decide, take a slot of
//! its rate-limit window, then either the fault's replacement, a 429 for an exhausted enforced
//! window, or the API's answer; then wait until the configured latency has passed since the
//! request arrived; finally the body is delivered as a body fault says, with `X-RateLimit-*`
//! headers on every response.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::api::{self, Call, Outcome};
use crate::auth::{Credentials, bearer_token};
use crate::body::SimBody;
use crate::clock::{iso_minutes, wall_now_ms};
use crate::config::Paging;
use crate::config::SimConfig;
use crate::cursor::Cursors;
use crate::errors::{ApiError, spring_forbidden};
use crate::faults::{BodyEffect, FaultEngine, Plan, Replacement};
use crate::pagination::{Paginator, links_first};
use crate::population::Population;
use crate::prng::mix;
use crate::ratelimit::{EVENTS_LIMIT, GENERAL_LIMIT, Quota, Window};
use crate::routes::{Endpoint, route};

/// Request bodies (search filters) larger than this are refused.
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// One organization the server serves: its truth (built on first use) and everything about
/// serving it that is the organization's own: key, faults, rate-limit windows, counters.
pub struct SimOrg {
    seed: u64,
    users: usize,
    events: usize,
    org_id: String,
    population: OnceLock<Arc<Population>>,
    credentials: Credentials,
    cursors: Cursors,
    latency: Duration,
    paging: Paging,
    faults: FaultEngine,
    general_window: Window,
    events_window: Window,
    events_max_limit: usize,
    guard: bool,
    served: AtomicU64,
    by_endpoint: [AtomicU64; Endpoint::ALL.len()],
}

impl SimOrg {
    /// Everything of `config` but its port, which is the listener's.
    fn new(config: SimConfig) -> SimOrg {
        let SimConfig {
            seed,
            users,
            events,
            api_key,
            key_expired,
            scopes,
            strict_scopes,
            latency,
            faults,
            port: _,
            paging,
            rate_limit,
            events_max_limit,
            guard,
        } = config;
        SimOrg {
            seed,
            users,
            events,
            org_id: Population::org_id_for(seed),
            population: OnceLock::new(),
            credentials: Credentials::new(api_key, key_expired, scopes, strict_scopes),
            cursors: Cursors::new(Population::cursor_key(seed)),
            latency,
            paging,
            faults: FaultEngine::new(faults),
            general_window: rate_limit
                .map_or_else(|| Window::new(GENERAL_LIMIT, false), Window::per_minute),
            events_window: Window::new(EVENTS_LIMIT, true),
            events_max_limit,
            guard,
            served: AtomicU64::new(0),
            by_endpoint: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The organization id (a UUID derived from the seed).
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The key this organization's requests must carry.
    pub fn api_key(&self) -> &str {
        self.credentials.api_key()
    }

    /// The truth being served, built on first use (by a request or by this call).
    pub fn population(&self) -> &Arc<Population> {
        self.population
            .get_or_init(|| Arc::new(Population::generate(self.seed, self.users, self.events)))
    }

    /// Appends `n` audit events after the existing ones; a poll cursor handed out before sees
    /// exactly these.
    pub fn append_events(&self, n: usize) {
        self.population().append_events(n);
    }

    /// Requests routed to this organization, including ones refused or failed by faults.
    pub fn requests_served(&self) -> u64 {
        self.served.load(Ordering::Acquire)
    }

    /// Requests routed to this organization for one endpoint (whatever their outcome).
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.by_endpoint[endpoint as usize].load(Ordering::Acquire)
    }
}

/// Why a set of organizations cannot be served together.
#[derive(Debug, thiserror::Error)]
pub enum OrgsError {
    #[error("no organization to serve")]
    None,
    #[error("two organizations have the id {0} (the same seed)")]
    DuplicateId(String),
    /// The key itself is not repeated here: it is a credential, if a synthetic one.
    #[error("organizations {0} and {1} have the same API key")]
    DuplicateKey(usize, usize),
}

/// Every organization, and how a request finds its own.
struct Server {
    orgs: Vec<SimOrg>,
    by_id: HashMap<String, usize>,
    by_key: HashMap<String, usize>,
}

impl Server {
    fn new(configs: Vec<SimConfig>) -> Result<Server, OrgsError> {
        if configs.is_empty() {
            return Err(OrgsError::None);
        }
        let orgs: Vec<SimOrg> = configs.into_iter().map(SimOrg::new).collect();
        let mut by_id = HashMap::with_capacity(orgs.len());
        let mut by_key = HashMap::with_capacity(orgs.len());
        for (i, org) in orgs.iter().enumerate() {
            if by_id.insert(org.org_id.clone(), i).is_some() {
                return Err(OrgsError::DuplicateId(org.org_id.clone()));
            }
            if let Some(first) = by_key.insert(org.api_key().to_owned(), i) {
                return Err(OrgsError::DuplicateKey(first, i));
            }
        }
        Ok(Server {
            orgs,
            by_id,
            by_key,
        })
    }

    /// The organization a request is for: the one its path names; for a path naming none
    /// known, the one whose key it carries (its API then answers 404 for the path); else the
    /// first, whose API answers 401 or 404. A request naming one organization with another's
    /// key is thus that organization's, and refused as a wrong key.
    fn resolve(&self, path: &str, authorization: Option<&HeaderValue>) -> &SimOrg {
        if let [only] = self.orgs.as_slice() {
            return only;
        }
        let index = route(path)
            .and_then(|r| self.by_id.get(r.org_id))
            .or_else(|| bearer_token(authorization).and_then(|key| self.by_key.get(key)))
            .copied()
            .unwrap_or(0);
        &self.orgs[index]
    }
}

/// The answer before delivery.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    retry_after_secs: Option<u64>,
    quota: Quota,
}

/// Returned to hyper to drop the connection without a response (the `reset` fault).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the reset fault")]
struct ResetByFault;

/// A running simulator. Dropping it stops the server; [`SimHandle::shutdown`] also waits.
pub struct SimHandle {
    addr: SocketAddr,
    server: Arc<Server>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// Generates the population, binds `127.0.0.1:{config.port}` (0 = an ephemeral port) and
    /// serves in a tokio task until shut down.
    pub async fn start(config: SimConfig) -> io::Result<SimHandle> {
        let sim = SimHandle::start_orgs(vec![config]).await?;
        let server = Arc::clone(&sim.server);
        tokio::task::spawn_blocking(move || {
            server.orgs[0].population();
        })
        .await
        .map_err(io::Error::other)?;
        Ok(sim)
    }

    /// Serves every organization of `configs` on one listener, bound to the first one's
    /// port (the others' `port` is unused). Each organization has its own seed (hence id),
    /// key, size, latency, faults and rate-limit windows; requests reach one by the org id
    /// in their path (see [`SimHandle::org`]). Populations are built on first use, so a
    /// thousand organizations start at once. Ids and keys must be distinct.
    pub async fn start_orgs(configs: Vec<SimConfig>) -> io::Result<SimHandle> {
        let port = configs.first().map_or(0, |c| c.port);
        let server =
            Server::new(configs).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let server = Arc::new(server);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept(listener, Arc::clone(&server), stopped));
        Ok(SimHandle {
            addr,
            server,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every organization served, in the order of the configurations.
    pub fn orgs(&self) -> &[SimOrg] {
        &self.server.orgs
    }

    /// The first organization (the only one of [`SimHandle::start`]).
    fn first(&self) -> &SimOrg {
        &self.server.orgs[0]
    }

    /// The first organization's id (a UUID derived from the seed).
    pub fn org_id(&self) -> &str {
        self.first().org_id()
    }

    /// The truth the first organization serves.
    pub fn population(&self) -> &Arc<Population> {
        self.first().population()
    }

    /// Appends `n` audit events to the first organization's log; a poll cursor handed out
    /// before sees exactly these.
    pub fn append_events(&self, n: usize) {
        self.first().append_events(n);
    }

    /// Requests received, every organization's, including ones refused, failed by faults or
    /// to unknown paths.
    pub fn requests_served(&self) -> u64 {
        self.orgs().iter().map(SimOrg::requests_served).sum()
    }

    /// Requests received for one endpoint (whatever their outcome), every organization's.
    pub fn requests_to(&self, endpoint: Endpoint) -> u64 {
        self.orgs()
            .iter()
            .map(|org| org.requests_to(endpoint))
            .sum()
    }

    /// Stops accepting, drops every open connection (stalled ones included) and waits for the
    /// server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts connections until told to stop; dropping the set of connection tasks aborts them.
async fn accept(listener: TcpListener, server: Arc<Server>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off briefly rather than spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let server = Arc::clone(&server);
                connections.spawn(async move {
                    let service = service_fn(move |request| handle(Arc::clone(&server), request));
                    // Errors here are the client's or the reset fault's doing; nothing to report.
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// A request id for error bodies: deterministic in the request's sequence number.
fn request_id(seed: u64, number: u64) -> String {
    format!("{:08x}-{:06}", mix(seed, number) as u32, number % 1_000_000)
}

/// One request through the pipeline the module doc describes.
async fn handle(
    server: Arc<Server>,
    request: Request<Incoming>,
) -> Result<Response<SimBody>, ResetByFault> {
    let arrived = tokio::time::Instant::now();
    let org = server.resolve(request.uri().path(), request.headers().get(AUTHORIZATION));
    let number = org.served.fetch_add(1, Ordering::AcqRel) + 1;
    let path = request.uri().path().to_owned();
    let endpoint = route(&path).map(|r| r.endpoint);
    if let Some(endpoint) = endpoint {
        org.by_endpoint[endpoint as usize].fetch_add(1, Ordering::AcqRel);
    }
    let plan = org.faults.plan(&path);
    // The latency is the time from the request to its answer, as a client measures it:
    // building the answer happens within it, not after it. Otherwise every large page
    // (500 audit events take milliseconds to render) would take longer than the latency
    // asked for, and a benchmark against the latency would measure the simulator.
    let delay = org.latency + plan.delay;
    let wait = || async {
        if !delay.is_zero() {
            tokio::time::sleep_until(arrived + delay).await;
        }
    };
    if plan.replacement == Some(Replacement::Reset) {
        wait().await;
        return Err(ResetByFault);
    }
    let quota = if endpoint == Some(Endpoint::Events) {
        org.events_window.take()
    } else {
        org.general_window.take()
    };
    let (outcome, retry_after_secs, quota) = match plan.replacement {
        Some(Replacement::RateLimited {
            retry_after_secs,
            send_retry_after,
        }) => (
            Outcome::Error(ApiError::rate_limited()),
            send_retry_after.then_some(retry_after_secs),
            Quota {
                remaining: 0,
                reset_ms: wall_now_ms() + retry_after_secs as i64 * 1000,
                ..quota
            },
        ),
        Some(Replacement::ServerError(status)) => {
            (Outcome::Error(ApiError::server(status)), None, quota)
        }
        Some(Replacement::Forbid) => (Outcome::Forbidden, None, quota),
        // The gateway's limiter announces its reset only in `X-RateLimit-Reset`.
        _ if quota.exceeded => (
            Outcome::Error(ApiError::rate_limited()),
            (endpoint == Some(Endpoint::Events)).then(|| quota.retry_after_secs()),
            quota,
        ),
        _ => (answer(org, request, &path, &plan).await, None, quota),
    };
    let id = request_id(org.seed, number);
    let (status, body) = match outcome {
        Outcome::Json(body) => (StatusCode::OK, body),
        Outcome::Error(error) => (error.status, error.body(&id)),
        Outcome::Forbidden => (StatusCode::FORBIDDEN, spring_forbidden(&path, &id)),
    };
    wait().await;
    Ok(deliver(
        Reply {
            status,
            body,
            retry_after_secs,
            quota,
        },
        plan.body,
    ))
}

/// The API's answer to a request that no fault replaced.
async fn answer(org: &SimOrg, request: Request<Incoming>, path: &str, plan: &Plan) -> Outcome {
    let (parts, body) = request.into_parts();
    let Ok(collected) = Limited::new(body, MAX_REQUEST_BODY).collect().await else {
        return Outcome::Error(ApiError::bad_request(format!(
            "request body unreadable or over {MAX_REQUEST_BODY} bytes"
        )));
    };
    let body = collected.to_bytes();
    let call = Call {
        method: &parts.method,
        path,
        query: parts.uri.query(),
        authorization: parts.headers.get(AUTHORIZATION),
        host: parts.headers.get(HOST).and_then(|h| h.to_str().ok()),
        body: &body,
    };
    let paginator = Paginator {
        cursors: &org.cursors,
        repeat_cursor: plan.repeat_cursor,
        max_page: org.paging.max_page,
    };
    let outcome = api::respond(
        org.population(),
        &org.credentials,
        &call,
        paginator,
        plan.link_origin.as_ref(),
        org.events_max_limit,
        org.guard,
    );
    match outcome {
        Outcome::Json(body) if org.paging.links_first => Outcome::Json(links_first(body)),
        outcome => outcome,
    }
}

/// The HTTP response for a reply, its body delivered as `effect` says.
fn deliver(reply: Reply, effect: Option<BodyEffect>) -> Response<SimBody> {
    let body = SimBody::new(reply.body, effect);
    let mut response = Response::builder()
        .status(reply.status)
        .header(CONTENT_TYPE, "application/json")
        .header(CONTENT_LENGTH, body.declared_len())
        .header("x-ratelimit-limit", reply.quota.limit)
        .header("x-ratelimit-remaining", reply.quota.remaining)
        .header("x-ratelimit-reset", iso_minutes(reply.quota.reset_ms));
    if let Some(secs) = reply.retry_after_secs {
        response = response.header(RETRY_AFTER, secs);
    }
    response.body(body).expect("status and headers are valid")
}
