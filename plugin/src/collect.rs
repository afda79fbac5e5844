//! The collection: every list of the organization read as a cursor chain,
//! the independent chains in parallel, each page's records processed and
//! emitted while the next round is in flight.
//!
//! A page is handled in two steps. When it arrives, the next page is asked
//! for at once, from a guess read off the page's last bytes, where the API
//! puts its links. The page itself is read whole during the next round,
//! while that next page is on its way: its envelope is checked, which
//! confirms the guess (a wrong guess is dropped and the right page asked
//! for), and its records (ids, findings, evidence) are processed. A long
//! chain such as the audit log then costs the network's time or the
//! processing's a page, whichever is longer, not both. Pages whose records
//! open chains (directories, users, groups) are read whole on arrival
//! instead, so the chains they open go out in the next round and the
//! back-pressure below sees them.
//!
//! Order: the org object first and alone (it is the credential check: a 401
//! or 404 there ends the run before anything else is asked). Then the
//! directories, domains, policies, audit log, workspaces and API tokens start
//! together; each directory adds a users chain and a groups chain, each
//! admin-role holder a role-assignment chain, each group one too. Every
//! round sends the next page of every ready chain (up to the in-flight cap);
//! users and groups chains pause while many role-assignment chains are open,
//! so the set of open chains stays bounded however large the org.
//!
//! Memory: a page at a time, plus the findings' aggregates, 16 bytes per
//! emitted record to refuse duplicates (an account can appear in several
//! directories), and a bounded window of recent audit-log ids. Audit events
//! are not remembered one by one: the stream does not repeat them within a
//! run, and the window catches any overlap with the previous run.
//!
//! Failures: a list that cannot be read becomes a warning naming the resource
//! and the typed cause, marked incomplete, and the findings that need it turn
//! `Unknown`; the rest goes on. Only a 401 or 404 on the org and a refused
//! emit end the run with an error.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::rc::Rc;

use crate::api::{Endpoint, KIND_USER, Segment};
use crate::checkpoint::Checkpoint;
use crate::checks::{Area, Tally};
use crate::config::Config;
use crate::contract::{Error, Evidence, KindCount, Level, Source, Summary, Warning};
use crate::dates::{format_ms, parse_iso_ms};
use crate::fields;
use crate::fingerprint::fingerprint;
use crate::manifest::EVIDENCE_KINDS;
use crate::pagination::{NOT_UTF8, Page, Pager, Position, guess_next};
use crate::retry::RetryPolicy;
use crate::schedule::{Finished, Scheduler};
use crate::transport::{Request, Sink, Transport};
use crate::upstream::{malformed, remedy};

/// How far before the last processed event a time-based resume starts, to
/// absorb events processed slightly out of order.
const OVERLAP_MS: i64 = 5 * 60 * 1000;
/// The most recent audit-log ids carried in a checkpoint for de-duplication.
const MAX_RECENT_IDS: usize = 1000;

/// Tunables of a collection; the defaults suit production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Requests sent together in one round: the host's in-flight cap.
    pub max_in_flight: usize,
    /// Pages one chain may read before it is stopped as endless.
    pub max_pages_per_chain: u32,
    /// Open role-assignment chains above which users and groups chains pause.
    pub max_role_chains: usize,
    pub retry: RetryPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_in_flight: 8,
            // 20 000 pages: 2 million users at 100 a page, 10 million events at 500.
            max_pages_per_chain: 20_000,
            max_role_chains: 256,
            retry: RetryPolicy::default(),
        }
    }
}

type ChainId = u64;

/// A request's key in the scheduler: its chain, and the chain's generation
/// when it was asked. A wrong guess at a next page starts a new generation;
/// what was asked on the guess is dropped when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Ticket {
    chain: ChainId,
    generation: u32,
}

/// One list being paged.
struct Chain {
    endpoint: Endpoint,
    pager: Pager,
    /// The position of the page in flight; `None` for a list's first page.
    at: Option<Position>,
    generation: u32,
    pages: u32,
    records: u64,
}

/// What to do with a chain after a page.
enum Flow {
    Next(Position),
    End,
    Failed(Error),
}

/// Audit-log bookkeeping for the checkpoint.
struct Audit {
    /// The checkpoint this run started from.
    previous: Checkpoint,
    previous_ids: HashSet<String>,
    /// The stream's first request resumes at the checkpoint's position, so a
    /// 400 means the position was rejected.
    resuming_at_position: bool,
    /// Where the next run resumes.
    next: Option<Position>,
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
    fn new(previous: Checkpoint) -> Audit {
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
    fn sighting(&mut self, id: &str, time: Option<i64>) -> bool {
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
    fn page_end(&mut self, next: Option<Position>, at: Option<Position>, empty: bool) -> Flow {
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
    fn page_processed(&mut self) {
        if !self.page_ids.is_empty() {
            self.last_page_ids = std::mem::take(&mut self.page_ids);
        }
    }

    /// The checkpoint for the next run; `None` when there is nothing to say.
    fn checkpoint(&self) -> Option<String> {
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

/// Which findings an endpoint's records feed.
fn area(endpoint: &Endpoint) -> Option<Area> {
    match endpoint {
        Endpoint::Directories | Endpoint::UsersSearch(_) | Endpoint::UsersList(_) => {
            Some(Area::Users)
        }
        Endpoint::UserRoles { .. } => Some(Area::AdminRoles),
        Endpoint::Domains => Some(Area::Domains),
        Endpoint::Policies => Some(Area::Policies),
        Endpoint::EventsStream => Some(Area::AuditLog),
        Endpoint::ApiTokens => Some(Area::ApiTokens),
        Endpoint::Org
        | Endpoint::GroupsSearch(_)
        | Endpoint::GroupsList(_)
        | Endpoint::GroupRoles { .. }
        | Endpoint::Workspaces => None,
    }
}

fn is_role_chain(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::UserRoles { .. } | Endpoint::GroupRoles { .. }
    )
}

/// Chains whose records open other chains.
fn opens_chains(endpoint: &Endpoint) -> bool {
    *endpoint == Endpoint::Directories || opens_role_chains(endpoint)
}

/// Chains whose records open role-assignment chains: held back while too
/// many of those are open.
fn opens_role_chains(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::UsersSearch(_)
            | Endpoint::UsersList(_)
            | Endpoint::GroupsSearch(_)
            | Endpoint::GroupsList(_)
    )
}

/// A record's evidence id: the API's own id; for role assignments, which
/// have none, `{accountId or groupId}:{resourceId}`.
pub(crate) fn record_id(endpoint: &Endpoint, record: &str) -> Option<String> {
    let field = |name: &str| {
        let [value] = fields::strings(record, [&[name]]);
        value.filter(|v| !v.is_empty()).map(Cow::into_owned)
    };
    match endpoint {
        Endpoint::Directories => field("directoryId"),
        Endpoint::UsersSearch(_) | Endpoint::UsersList(_) => field("accountId"),
        Endpoint::UserRoles {
            account: principal, ..
        }
        | Endpoint::GroupRoles {
            group: principal, ..
        } => field("resourceId").map(|r| format!("{}:{r}", principal.raw())),
        _ => field("id"),
    }
}

/// A record's evidence id and, for an audit event, when it was processed
/// (else when it happened): an event's are read together, in one pass.
fn identify(endpoint: &Endpoint, record: &str) -> (Option<String>, Option<i64>) {
    if *endpoint != Endpoint::EventsStream {
        return (record_id(endpoint, record), None);
    }
    let [id, processed_at, time] = fields::strings(
        record,
        [
            &["id"],
            &["attributes", "processedAt"],
            &["attributes", "time"],
        ],
    );
    let time = processed_at.or(time).and_then(|t| parse_iso_ms(&t));
    (id.filter(|id| !id.is_empty()).map(Cow::into_owned), time)
}

/// Runs a collection. See the module documentation.
pub fn collect(
    config: &Config,
    limits: &Limits,
    transport: &mut impl Transport,
    sink: &mut impl Sink,
    checkpoint: Option<String>,
) -> Result<Summary, Error> {
    let now_ms = transport.now_ms();
    let mut run = Run {
        org: &config.org,
        limits,
        transport,
        scheduler: Scheduler::new(limits.max_in_flight, limits.retry.clone()),
        chains: HashMap::new(),
        next_id: 0,
        role_chains: 0,
        superseded: HashSet::new(),
        records: Records {
            sink,
            tally: Tally::new(now_ms, config.max_org_admins),
            warnings: Vec::new(),
            counts: BTreeMap::new(),
            emitted: HashSet::new(),
            audit: Audit::new(Checkpoint::default()),
            received: Vec::new(),
            unsent: Vec::new(),
            opened: Vec::new(),
            checked: Vec::new(),
        },
    };
    if let Some(text) = checkpoint {
        match Checkpoint::decode(&text) {
            Ok(previous) => run.records.audit = Audit::new(previous),
            Err(why) => run.records.warn(
                "audit log",
                format!("audit-log gap: {why}; the whole retained audit log was read instead, so events that fell out of retention since the previous run are missing."),
                None,
                true,
            ),
        }
    }
    run.start(Endpoint::Org, Vec::new(), None);
    run.drain()?;
    for endpoint in [
        Endpoint::Directories,
        Endpoint::Domains,
        Endpoint::Policies,
        Endpoint::Workspaces,
        Endpoint::ApiTokens,
    ] {
        run.start(endpoint, Vec::new(), None);
    }
    run.start_audit();
    run.drain()?;
    Ok(run.records.finish(run.org))
}

/// The chains and the requests of a collection.
struct Run<'a, T: Transport, S: Sink> {
    org: &'a Segment,
    limits: &'a Limits,
    transport: &'a mut T,
    scheduler: Scheduler<Ticket>,
    chains: HashMap<ChainId, Chain>,
    next_id: ChainId,
    role_chains: usize,
    /// Requests asked on a wrong guess, dropped when they arrive.
    superseded: HashSet<Ticket>,
    records: Records<'a, S>,
}

/// A page waiting for its records to be processed.
struct Received {
    chain: ChainId,
    endpoint: Endpoint,
    request: Request,
    body: String,
    read: Read,
}

/// How much of a received page was read on arrival.
enum Read {
    /// Its envelope: where each record's JSON text lies in the body.
    Envelope(Vec<Range<usize>>),
    /// Only a guess at its next page, already asked for; the page is read
    /// whole when it is processed, which checks the guess. `at` is the
    /// page's own position.
    Guessed {
        guess: Position,
        at: Option<Position>,
    },
}

/// A guessed page read whole: how its chain really goes on.
struct Checked {
    chain: ChainId,
    guess: Position,
    flow: Flow,
    records: u64,
}

/// What the records of a collection feed: evidence on its way to the host,
/// the findings, the audit-log bookkeeping, the warnings, and the chains
/// the records open. Apart from [`Run`], so that records are processed
/// while the run's transport carries the next round.
struct Records<'a, S: Sink> {
    sink: &'a mut S,
    tally: Tally,
    warnings: Vec<Warning>,
    counts: BTreeMap<&'static str, u64>,
    /// Fingerprints of emitted records, to emit an account seen in several
    /// directories once.
    emitted: HashSet<u128>,
    audit: Audit,
    /// Pages waiting for their records to be processed, in arrival order.
    received: Vec<Received>,
    /// Processed pages' evidence not yet handed to the host.
    unsent: Vec<Vec<Evidence>>,
    /// Chains that processed records opened; the run starts them after the
    /// round.
    opened: Vec<Endpoint>,
    /// Guesses checked by processing, for the run to confirm or correct
    /// after the round.
    checked: Vec<Checked>,
}

impl<T: Transport, S: Sink> Run<'_, T, S> {
    /// Opens a chain over `endpoint` whose first page is at `at`.
    fn start(
        &mut self,
        endpoint: Endpoint,
        extra: Vec<(&'static str, String)>,
        at: Option<Position>,
    ) {
        let mut pager = Pager::new(&endpoint, self.org, extra, self.limits.max_pages_per_chain);
        match pager.request(at.as_ref()) {
            Ok(request) => {
                let id = self.next_id;
                self.next_id += 1;
                if is_role_chain(&endpoint) {
                    self.role_chains += 1;
                }
                let ticket = Ticket {
                    chain: id,
                    generation: 0,
                };
                self.scheduler.submit(ticket, endpoint.clone(), request);
                self.chains.insert(
                    id,
                    Chain {
                        endpoint,
                        pager,
                        at,
                        generation: 0,
                        pages: 0,
                        records: 0,
                    },
                );
            }
            Err(error) if endpoint == Endpoint::EventsStream && at.is_some() => {
                self.audit_gap(error)
            }
            Err(error) => self.incomplete(&endpoint, 0, error),
        }
    }

    /// Opens the audit-log chain: at the checkpoint's position, else shortly
    /// before its last processed event, else from the start of what the API
    /// retains.
    fn start_audit(&mut self) {
        let audit = &mut self.records.audit;
        self.records.tally.audit_resumed(!audit.previous.is_empty());
        match (
            audit.previous.next.clone(),
            audit.previous.last_processed_ms,
        ) {
            (Some(position), _) => {
                audit.resuming_at_position = true;
                self.start(Endpoint::EventsStream, Vec::new(), Some(position));
            }
            (None, Some(ms)) => {
                let from = ms.saturating_sub(OVERLAP_MS).to_string();
                self.start(Endpoint::EventsStream, vec![("from", from)], None);
            }
            (None, None) => self.start_full_audit_window(),
        }
    }

    /// Reads the whole audit log the API retains. A fixed horizon would be
    /// measured against the clock, so what a first run reads would depend on
    /// the day it runs; the API's own retention is the window.
    fn start_full_audit_window(&mut self) {
        self.records.audit.resuming_at_position = false;
        self.start(Endpoint::EventsStream, Vec::new(), None);
    }

    /// The checkpoint's position was refused: say from when events may be
    /// missing, and read everything retained instead.
    fn audit_gap(&mut self, cause: Error) {
        let records = &mut self.records;
        let since = records
            .audit
            .previous
            .last_processed_ms
            .map_or_else(|| "the previous run".to_owned(), format_ms);
        records.warn(
            "audit log",
            format!("audit-log gap: Atlassian refused the saved audit-log position, so the whole retained audit log was read again; events processed after {since} that fell out of retention in the meantime are missing, and events before it repeat earlier runs."),
            Some(cause),
            true,
        );
        records.audit.next = None;
        records.tally.audit_resumed(false);
        self.start_full_audit_window();
    }

    /// Runs rounds until every chain has ended and every page's records
    /// are processed and emitted.
    ///
    /// The records of a round's pages are processed and go to the host
    /// while the next round's requests are in flight (see the module
    /// documentation). A batch the host refuses still ends the run, one
    /// round later.
    fn drain(&mut self) -> Result<(), Error> {
        loop {
            self.check_guesses();
            for endpoint in std::mem::take(&mut self.records.opened) {
                self.start(endpoint, Vec::new(), None);
            }
            if self.scheduler.is_idle() {
                if self.records.received.is_empty() {
                    return Ok(());
                }
                // Nothing left to wait for: the last pages, whose records
                // may still open chains.
                self.records.process_received()?;
                continue;
            }
            let chains = &self.chains;
            let roles_full = self.role_chains >= self.limits.max_role_chains;
            let records = &mut self.records;
            let mut refused = Ok(());
            let round = self.scheduler.round(
                &mut *self.transport,
                |ticket| {
                    !roles_full
                        || !chains
                            .get(&ticket.chain)
                            .is_some_and(|c| opens_role_chains(&c.endpoint))
                },
                &mut || refused = records.process_received(),
            );
            refused?;
            for line in &round.retrying {
                self.records.sink.log(Level::Info, line);
            }
            // Before the answers: one asked on a wrong guess is dropped.
            self.check_guesses();
            for finished in round.finished {
                self.finished(finished)?;
            }
        }
    }

    fn finished(&mut self, finished: Finished<Ticket>) -> Result<(), Error> {
        let Finished {
            key: ticket,
            endpoint,
            request,
            outcome,
        } = finished;
        if self.superseded.remove(&ticket) {
            return Ok(());
        }
        let id = ticket.chain;
        match outcome {
            Ok(response) => match self.receive(id, endpoint, request, response.body)? {
                None => {}
                Some(Flow::Next(position)) => self.advance(id, position),
                Some(Flow::End) => self.end(id),
                Some(Flow::Failed(error)) => self.fail(id, error),
            },
            Err(error) => self.failed_request(id, &endpoint, error)?,
        }
        Ok(())
    }
    /// A request that failed for good: fatal for the org's credential
    /// check, a fallback or a fresh audit window where one exists, else an
    /// incomplete list.
    fn failed_request(
        &mut self,
        id: ChainId,
        endpoint: &Endpoint,
        error: Error,
    ) -> Result<(), Error> {
        let first_page = self.chains.get(&id).is_some_and(|c| c.pages == 0);
        if first_page {
            if *endpoint == Endpoint::Org
                && matches!(error, Error::Unauthorized(_) | Error::NotFound(_))
            {
                return Err(error);
            }
            if let Some(fallback) = endpoint.fallback()
                && matches!(error, Error::Forbidden { .. } | Error::NotFound(_))
            {
                self.remove(id);
                self.fall_back(endpoint, fallback, error);
                return Ok(());
            }
            if *endpoint == Endpoint::EventsStream
                && self.records.audit.resuming_at_position
                && matches!(error, Error::Upstream { status: 400, .. })
            {
                self.remove(id);
                self.audit_gap(error);
                return Ok(());
            }
        }
        self.fail(id, error);
        Ok(())
    }

    fn fall_back(&mut self, refused: &Endpoint, fallback: Endpoint, cause: Error) {
        let message = if refused.kind() == KIND_USER {
            self.records.tally.incomplete(Area::ProductAccess);
            format!(
                "the user search was refused, so users are read from the user list, which reports neither product access nor group membership: findings that need them are Unknown. {}",
                remedy(&cause)
            )
        } else {
            format!(
                "the group search was refused, so groups are read from the deprecated group list, which stops working after June 30, 2027. {}",
                remedy(&cause)
            )
        };
        self.records
            .warn(&refused.resource(), message, Some(cause), false);
        self.start(fallback, Vec::new(), None);
    }

    fn advance(&mut self, id: ChainId, position: Position) {
        let Some(chain) = self.chains.get_mut(&id) else {
            return;
        };
        match chain.pager.request(Some(&position)) {
            Ok(request) => {
                chain.at = Some(position);
                let ticket = Ticket {
                    chain: id,
                    generation: chain.generation,
                };
                self.scheduler
                    .submit(ticket, chain.endpoint.clone(), request);
            }
            Err(error) => self.fail(id, error),
        }
    }

    fn remove(&mut self, id: ChainId) -> Option<Chain> {
        let chain = self.chains.remove(&id)?;
        if is_role_chain(&chain.endpoint) {
            self.role_chains -= 1;
        }
        Some(chain)
    }

    fn end(&mut self, id: ChainId) {
        if let Some(chain) = self.remove(id) {
            let level = if is_role_chain(&chain.endpoint) {
                Level::Debug
            } else {
                Level::Info
            };
            self.records.sink.log(
                level,
                &format!(
                    "{}: {} records in {} pages",
                    chain.endpoint.resource(),
                    chain.records,
                    chain.pages
                ),
            );
        }
    }

    fn fail(&mut self, id: ChainId, error: Error) {
        if let Some(chain) = self.remove(id) {
            self.incomplete(&chain.endpoint, chain.records, error);
        }
    }

    /// Reports a list that could not be read to its end.
    fn incomplete(&mut self, endpoint: &Endpoint, records: u64, error: Error) {
        if let Some(area) = area(endpoint) {
            self.records.tally.incomplete(area);
        }
        let message = format!(
            "could not be read completely ({records} records read): {error}. {}",
            remedy(&error)
        );
        self.records
            .warn(&endpoint.resource(), message, Some(error), true);
    }

    /// Takes a page: asks for the next one on a guess and queues the page
    /// to be read whole later (`None`), or reads its envelope now and says
    /// how its chain goes on, when there is no usable guess or the page's
    /// records open chains. Errors are fatal.
    fn receive(
        &mut self,
        id: ChainId,
        endpoint: Endpoint,
        request: Request,
        body: Vec<u8>,
    ) -> Result<Option<Flow>, Error> {
        let Ok(body) = String::from_utf8(body) else {
            return Ok(Some(Flow::Failed(malformed(&request, NOT_UTF8))));
        };
        let Some(chain) = self.chains.get_mut(&id) else {
            return Err(Error::Internal(format!(
                "a page arrived for a closed chain ({})",
                request.url
            )));
        };
        chain.pages += 1;
        let at = chain.at.clone();
        if endpoint != Endpoint::Org
            && !opens_chains(&endpoint)
            && let Some(guess) = guess_next(&body)
            // A guess the chain refuses (a repeat, a foreign link) is not
            // asked for: the page is read now and says what is wrong.
            && let Ok(next) = chain.pager.request(Some(&guess))
        {
            chain.at = Some(guess.clone());
            let ticket = Ticket {
                chain: id,
                generation: chain.generation,
            };
            self.scheduler.submit(ticket, endpoint.clone(), next);
            self.records.received.push(Received {
                chain: id,
                endpoint,
                request,
                body,
                read: Read::Guessed { guess, at },
            });
            return Ok(None);
        }
        let (records, flow) = self.records.envelope(&endpoint, &request, &body, at);
        chain.records += records.len() as u64;
        let page = Received {
            chain: id,
            endpoint,
            request,
            body,
            read: Read::Envelope(records),
        };
        // A page whose records open chains is processed at once: the chains
        // it opens then go out in the next round, and count for the
        // back-pressure on role-assignment chains before its list asks for
        // more.
        if opens_chains(&page.endpoint) {
            self.records.process(page);
        } else {
            self.records.received.push(page);
        }
        Ok(Some(flow))
    }

    /// Confirms or corrects the guesses that processing checked. A wrong
    /// guess starts the chain's next generation, so that what was asked on
    /// it is dropped when it arrives, and the chain goes on as the page
    /// really says.
    fn check_guesses(&mut self) {
        for checked in std::mem::take(&mut self.records.checked) {
            let Checked {
                chain: id,
                guess,
                flow,
                records,
            } = checked;
            let Some(chain) = self.chains.get_mut(&id) else {
                continue;
            };
            chain.records += records;
            if matches!(&flow, Flow::Next(next) if *next == guess) {
                continue;
            }
            self.superseded.insert(Ticket {
                chain: id,
                generation: chain.generation,
            });
            chain.generation += 1;
            match flow {
                Flow::Next(position) => self.advance(id, position),
                Flow::End => self.end(id),
                Flow::Failed(error) => self.fail(id, error),
            }
        }
    }
}

/// Where each of `records`, slices of `body`, lies in it.
fn offsets(body: &str, records: &[&str]) -> Vec<Range<usize>> {
    let base = body.as_ptr() as usize;
    records
        .iter()
        .map(|record| {
            let start = record.as_ptr() as usize - base;
            start..start + record.len()
        })
        .collect()
}

impl<S: Sink> Records<'_, S> {
    fn warn(&mut self, resource: &str, message: String, cause: Option<Error>, incomplete: bool) {
        self.sink
            .log(Level::Warn, &format!("{resource}: {message}"));
        self.warnings.push(Warning {
            resource: resource.to_owned(),
            message,
            cause,
            incomplete,
        });
    }

    /// Reads a page's envelope: where its records lie, and how its chain
    /// goes on after the page read at `at`. A page that cannot be read has
    /// no records and fails its chain.
    fn envelope(
        &mut self,
        endpoint: &Endpoint,
        request: &Request,
        body: &str,
        at: Option<Position>,
    ) -> (Vec<Range<usize>>, Flow) {
        let read = Page::parse(body).and_then(|page| {
            let records = page.records(endpoint)?;
            Ok((offsets(body, &records), page.next()))
        });
        match read {
            Err(why) => (Vec::new(), Flow::Failed(malformed(request, &why))),
            Ok((records, next)) => {
                let flow = match endpoint {
                    Endpoint::Org => Flow::End,
                    Endpoint::EventsStream => self.audit.page_end(next, at, records.is_empty()),
                    _ => next.map_or(Flow::End, Flow::Next),
                };
                (records, flow)
            }
        }
    }

    /// Processes every received page, then hands their evidence to the
    /// host, in order, until a batch is refused.
    fn process_received(&mut self) -> Result<(), Error> {
        for page in std::mem::take(&mut self.received) {
            self.process(page);
        }
        for batch in self.unsent.drain(..) {
            self.sink.emit(batch)?;
        }
        Ok(())
    }

    /// Turns a page's records into evidence and findings, each record once;
    /// a page received on a guess is read whole first, which checks it.
    fn process(&mut self, page: Received) {
        let Received {
            chain,
            endpoint,
            request,
            body,
            read,
        } = page;
        let records = match read {
            Read::Envelope(records) => records,
            Read::Guessed { guess, at } => {
                let (records, flow) = self.envelope(&endpoint, &request, &body, at);
                self.checked.push(Checked {
                    chain,
                    guess,
                    flow,
                    records: records.len() as u64,
                });
                records
            }
        };
        let kind = endpoint.kind();
        let source = Source {
            method: request.method.as_str().to_owned(),
            url: request.url.clone(),
        };
        let mut batch = Vec::with_capacity(records.len());
        let mut without_id = 0;
        for range in records {
            let record = &body[range];
            let (Some(id), time) = identify(&endpoint, record) else {
                without_id += 1;
                continue;
            };
            let first_sighting = if endpoint == Endpoint::EventsStream {
                self.audit.sighting(&id, time)
            } else {
                self.emitted.insert(fingerprint(&[kind, &id]))
            };
            if !first_sighting {
                continue;
            }
            self.observe(&endpoint, &id, record);
            batch.push(Evidence {
                kind: kind.to_owned(),
                id,
                source: source.clone(),
                data: record.to_owned(),
            });
        }
        if without_id > 0 {
            if let Some(area) = area(&endpoint) {
                self.tally.incomplete(area);
            }
            self.warn(
                &endpoint.resource(),
                format!(
                    "{without_id} records of {} had no id and could not be emitted.",
                    request.url
                ),
                None,
                true,
            );
        }
        let emitted = batch.len() as u64;
        if endpoint == Endpoint::EventsStream {
            self.tally.events(emitted);
            self.audit.page_processed();
        }
        *self.counts.entry(kind).or_default() += emitted;
        if !batch.is_empty() {
            self.unsent.push(batch);
        }
    }

    /// Feeds one new record to the findings and notes the chains it opens.
    fn observe(&mut self, endpoint: &Endpoint, id: &str, record: &str) {
        match endpoint {
            Endpoint::Directories => match Segment::new(id) {
                Ok(directory) => {
                    self.opened.push(Endpoint::UsersSearch(directory.clone()));
                    self.opened.push(Endpoint::GroupsSearch(directory));
                }
                Err(why) => {
                    self.tally.incomplete(Area::Users);
                    self.warn(
                        "directories",
                        format!("the users and groups of a directory cannot be read: {why}"),
                        None,
                        true,
                    );
                }
            },
            Endpoint::UsersSearch(directory) | Endpoint::UsersList(directory) => {
                let expanded = matches!(endpoint, Endpoint::UsersSearch(_));
                if self.tally.user(id, record, expanded) {
                    match Segment::new(id) {
                        Ok(account) => self.opened.push(Endpoint::UserRoles {
                            directory: directory.clone(),
                            account,
                        }),
                        Err(why) => {
                            self.tally.incomplete(Area::AdminRoles);
                            self.warn(
                                &endpoint.resource(),
                                format!("the role assignments of an admin cannot be read: {why}"),
                                None,
                                true,
                            );
                        }
                    }
                }
            }
            Endpoint::GroupsSearch(directory) | Endpoint::GroupsList(directory) => {
                match Segment::new(id) {
                    Ok(group) => self.opened.push(Endpoint::GroupRoles {
                        directory: directory.clone(),
                        group,
                    }),
                    Err(why) => self.warn(
                        &endpoint.resource(),
                        format!("the role assignments of a group cannot be read: {why}"),
                        None,
                        true,
                    ),
                }
            }
            Endpoint::UserRoles { account, .. } => self.tally.user_roles(account.raw(), record),
            Endpoint::GroupRoles { group, .. } => self.tally.group_roles(group.raw(), record),
            Endpoint::Domains => self.tally.domain(id, record),
            Endpoint::Policies => self.tally.policy(record),
            Endpoint::ApiTokens => self.tally.api_token(id, record),
            Endpoint::Org | Endpoint::EventsStream | Endpoint::Workspaces => {}
        }
    }

    fn finish(mut self, org: &Segment) -> Summary {
        if self.tally.audit_log_empty() {
            self.warn(
                "audit log",
                "the audit log returned no events at all: the organization audit log needs Atlassian Guard (formerly Atlassian Access).".to_owned(),
                None,
                false,
            );
        }
        let counts = EVIDENCE_KINDS
            .iter()
            .map(|(kind, _)| KindCount {
                kind: (*kind).to_owned(),
                count: self.counts.get(kind).copied().unwrap_or(0),
            })
            .collect();
        let findings = self.tally.findings(org.raw());
        self.sink.log(
            Level::Info,
            &format!("collection done: {} warnings", self.warnings.len()),
        );
        Summary {
            counts,
            findings,
            warnings: self.warnings,
            checkpoint: self.audit.checkpoint(),
        }
    }
}
