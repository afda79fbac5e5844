//! The collection: every list of the organization read as a cursor chain,
//! the independent chains in parallel, each page's records processed and
//! emitted while the next round is in flight.
//!
//! A page is handled in two steps. When it arrives, the next page is asked
//! for at once, from a guess read off the page's last bytes, where the API
//! puts its links. The page itself is read whole during the next round,
//! while that next page is on its way: its envelope is checked, which
//! confirms the guess (a wrong guess is dropped and the right page asked
//! for: [`chains`] keeps that bookkeeping and its invariant), and its
//! records (ids, findings, evidence) are processed. A long
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

mod audit;
mod chains;
mod records;

use std::collections::HashMap;

use crate::api::{Cost, EVENTS_MIN_LIMIT, Endpoint, Fallback, Segment};
use crate::checkpoint::Checkpoint;
use crate::checks::{Area, Tally};
use crate::config::Config;
use crate::contract::{Level, Summary};
use crate::dates::format_ms;
use crate::failure::Failure;
use crate::pagination::{BodyFault, Pager, Position, guess_next};
use crate::retry::RetryPolicy;
use crate::schedule::{Finished, Scheduler};
use crate::transport::{Request, Sink, Transport};
use crate::upstream::{malformed, remedy};
use audit::{Audit, OVERLAP_MS};
use chains::{Asked, ChainId, Chains, Ticket, is_role_chain};
use records::{Checked, Gap, Read, Received, Records};

pub(crate) use records::record_id;

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

/// What to do with a chain after a page.
enum Flow {
    Next(Position),
    End,
    Failed(Failure),
}

/// Which findings an endpoint's records feed.
fn area(endpoint: &Endpoint) -> Option<Area> {
    match endpoint {
        Endpoint::Directories
        | Endpoint::UsersSearch(_)
        | Endpoint::UsersList(_)
        | Endpoint::OrgAdminsSearch => Some(Area::Users),
        Endpoint::AuthPolicies(_) => Some(Area::AuthPolicies),
        Endpoint::ApiKeys => Some(Area::ApiKeys),
        Endpoint::UserRoles { .. } => Some(Area::AdminRoles),
        Endpoint::Domains => Some(Area::Domains),
        Endpoint::Policies | Endpoint::ControlPolicies => Some(Area::Policies),
        Endpoint::EventsStream => Some(Area::AuditLog),
        Endpoint::ApiTokens => Some(Area::ApiTokens),
        Endpoint::Org
        | Endpoint::UsersCount
        | Endpoint::GroupsSearch(_)
        | Endpoint::GroupsList(_)
        | Endpoint::GroupRoles { .. }
        | Endpoint::Workspaces => None,
    }
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
            | Endpoint::OrgAdminsSearch
            | Endpoint::GroupsSearch(_)
            | Endpoint::GroupsList(_)
    )
}

/// Runs a collection. See the module documentation.
pub fn collect(
    config: &Config,
    limits: &Limits,
    transport: &mut impl Transport,
    sink: &mut impl Sink,
    checkpoint: Option<String>,
) -> Result<Summary, Failure> {
    let now_ms = transport.now_ms();
    let mut run = Run {
        org: &config.org,
        limits,
        transport,
        scheduler: Scheduler::new(limits.max_in_flight, limits.retry.clone()),
        chains: Chains::default(),
        pages_taken: 0,
        refused: HashMap::new(),
        records: Records::new(sink, Tally::new(now_ms, config.max_org_admins), now_ms),
    };
    if let Some(text) = checkpoint {
        match Checkpoint::decode(&text) {
            Ok(previous) => run.records.audit = Audit::new(previous),
            Err(why) => run.records.warn(
                "audit log",
                format!("audit-log gap: {why}; the whole retained audit log was read instead, so events that fell out of retention since the previous run are missing."),
                None,
                Gap::Incomplete,
            ),
        }
    }
    run.start(Endpoint::Org, Vec::new(), None);
    run.drain()?;
    for endpoint in [
        Endpoint::Directories,
        Endpoint::Domains,
        Endpoint::ControlPolicies,
        Endpoint::Workspaces,
        Endpoint::ApiTokens,
        Endpoint::ApiKeys,
        Endpoint::OrgAdminsSearch,
    ] {
        run.start(endpoint, Vec::new(), None);
    }
    run.start_audit();
    // After the audit log, the longest chain: the count waits a round if need be.
    run.start(Endpoint::UsersCount, Vec::new(), None);
    run.drain()?;
    run.settled()?;
    Ok(run.records.finish(run.org))
}

/// The chains and the requests of a collection.
struct Run<'a, T: Transport, S: Sink> {
    org: &'a Segment,
    limits: &'a Limits,
    transport: &'a mut T,
    scheduler: Scheduler<Ticket>,
    chains: Chains,
    /// Pages taken into a chain (queued or processed at once): each must be
    /// processed before the run ends.
    pages_taken: u64,
    /// Why each list read through a fallback left its preferred endpoint,
    /// by resource: a list neither reads is reported with both causes.
    refused: HashMap<String, Failure>,
    records: Records<'a, S>,
}

impl<T: Transport, S: Sink> Run<'_, T, S> {
    /// Opens a chain over `endpoint` whose first page is at `at`.
    fn start(
        &mut self,
        endpoint: Endpoint,
        extra: Vec<(&'static str, String)>,
        at: Option<Position>,
    ) {
        let pager = Pager::new(&endpoint, self.org, extra, self.limits.max_pages_per_chain);
        let resuming = at.is_some();
        match self.chains.open(endpoint.clone(), pager, at) {
            Ok(asked) => self.submit(asked),
            Err(error) if endpoint == Endpoint::EventsStream && resuming => self.audit_gap(error),
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
    fn audit_gap(&mut self, cause: Failure) {
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
            Gap::Incomplete,
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
    fn drain(&mut self) -> Result<(), Failure> {
        loop {
            self.check_guesses();
            for endpoint in std::mem::take(&mut self.records.opened) {
                self.start(endpoint, Vec::new(), None);
            }
            if self.scheduler.is_idle() {
                if self.records.is_settled() {
                    return Ok(());
                }
                // Nothing left to wait for: the last pages, whose records
                // may still open chains, and evidence not yet handed over.
                self.records.process_received()?;
                continue;
            }
            let chains = &self.chains;
            let roles_full = self.chains.role_chains() >= self.limits.max_role_chains;
            let records = &mut self.records;
            let mut refused = Ok(());
            let round = self.scheduler.round(
                &mut *self.transport,
                |ticket| {
                    !roles_full
                        || !chains
                            .get(ticket.chain())
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

    /// The end-of-run invariant: every page a chain took was processed and
    /// its evidence handed to the host, and no chain is left open. A run
    /// that breaks it is an internal error, never a complete run.
    fn settled(&self) -> Result<(), Failure> {
        let processed = self.records.pages_processed();
        let mut broken = Vec::new();
        if processed != self.pages_taken {
            broken.push(format!(
                "{} pages received, {processed} processed",
                self.pages_taken
            ));
        }
        if !self.records.is_settled() {
            broken.push("evidence left unsent".to_owned());
        }
        if !self.chains.is_empty() || !self.scheduler.is_idle() {
            broken.push(format!("{} lists still open", self.chains.len()));
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(Failure::Internal(format!(
                "the collection ended with pages not processed: {}",
                broken.join("; ")
            )))
        }
    }

    fn finished(&mut self, finished: Finished<Ticket>) -> Result<(), Failure> {
        let Finished {
            key: ticket,
            endpoint,
            request,
            outcome,
        } = finished;
        if !self.chains.is_current(&ticket) {
            return Ok(());
        }
        let id = ticket.chain();
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
        error: Failure,
    ) -> Result<(), Failure> {
        let first_page = self.chains.get(id).is_some_and(|c| c.pages == 0);
        if first_page {
            if *endpoint == Endpoint::Org
                && matches!(error, Failure::Unauthorized(_) | Failure::NotFound(_))
            {
                return Err(error);
            }
            // A refusal moves the list to its next endpoint; one that costs
            // nothing is also taken when the preferred endpoint keeps
            // answering with a server error (the Control API's policy
            // operations "may be temporarily disabled", with an answer the
            // notes do not give). Rate limits are the key's, not the
            // endpoint's: they do not move it.
            if let Some(fallback) = endpoint.fallback()
                && (matches!(error, Failure::Forbidden { .. } | Failure::NotFound(_))
                    || (fallback.cost == Cost::Nothing && error.is_upstream()))
            {
                self.chains.close(id);
                self.fall_back(endpoint, fallback, error);
                return Ok(());
            }
            if *endpoint == Endpoint::ApiKeys && matches!(error, Failure::NotFound(_)) {
                // The key list's path is unconfirmed: its absence costs the
                // expiry notice, not evidence any finding needs.
                self.chains.close(id);
                self.records.warn(
                    &endpoint.resource(),
                    format!("the API-key list is not available ({error}), so key expiry cannot be checked: note the expiry date of the key WatchDog uses and renew it before then."),
                    Some(error),
                    Gap::Note,
                );
                return Ok(());
            }
            if *endpoint == Endpoint::EventsStream
                && self.records.audit.resuming_at_position
                && matches!(error, Failure::Status { status: 400, .. })
            {
                self.chains.close(id);
                self.audit_gap(error);
                return Ok(());
            }
            if *endpoint == Endpoint::EventsStream
                && matches!(error, Failure::Status { status: 400, .. })
                && self.smaller_pages(id, &error)
            {
                return Ok(());
            }
        }
        self.fail(id, error);
        Ok(())
    }

    /// The audit log refused its first page with a 400: perhaps the page
    /// size, whose maximum is undocumented (notes §0). The chain starts
    /// again asking for half as many, down to [`EVENTS_MIN_LIMIT`]; whether
    /// it did is returned.
    fn smaller_pages(&mut self, id: ChainId, cause: &Failure) -> bool {
        let Some(size) = self.chains.page_size(id).filter(|s| *s > EVENTS_MIN_LIMIT) else {
            return false;
        };
        let smaller = (size / 2).max(EVENTS_MIN_LIMIT);
        let Some(asked) = self.chains.restart_with_page_size(id, smaller) else {
            return false;
        };
        self.submit(asked);
        self.records.sink.log(
            Level::Warn,
            &format!("audit log: a page size of {size} was refused ({cause}); asking for {smaller} a page"),
        );
        true
    }

    /// Moves a list whose preferred endpoint refused the key to the next
    /// endpoint of the capability map, saying what that costs.
    fn fall_back(&mut self, refused: &Endpoint, fallback: Fallback, cause: Failure) {
        let resource = refused.resource();
        match fallback.cost {
            Cost::Nothing => self.records.sink.log(
                Level::Info,
                &format!(
                    "{resource}: {cause}; read through {} instead",
                    fallback.endpoint.url(self.org)
                ),
            ),
            Cost::NoProductAccess => {
                self.records.tally.incomplete(Area::ProductAccess);
                let message = format!(
                    "the user search was refused, so users are read from the deprecated user list (it stops working after June 30, 2027), which reports neither product access nor group membership: findings that need them are Unknown. {}",
                    remedy(&cause)
                );
                self.records
                    .warn(&resource, message, Some(cause.clone()), Gap::Note);
            }
            Cost::Deprecated => {
                let message = format!(
                    "the group search was refused, so groups are read from the deprecated group list, which stops working after June 30, 2027. {}",
                    remedy(&cause)
                );
                self.records
                    .warn(&resource, message, Some(cause.clone()), Gap::Note);
            }
        }
        self.refused.insert(resource, cause);
        self.start(fallback.endpoint, Vec::new(), None);
    }

    fn advance(&mut self, id: ChainId, position: Position) {
        match self.chains.ask(id, position) {
            None => {}
            Some(Ok(asked)) => self.submit(asked),
            Some(Err(error)) => self.fail(id, error),
        }
    }

    /// Hands a chain's request to the scheduler.
    fn submit(&mut self, asked: Asked) {
        self.scheduler
            .submit(asked.ticket, asked.endpoint, asked.request);
    }

    fn end(&mut self, id: ChainId) {
        if let Some(chain) = self.chains.close(id) {
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

    fn fail(&mut self, id: ChainId, error: Failure) {
        if let Some(chain) = self.chains.close(id) {
            self.incomplete(&chain.endpoint, chain.records, error);
        }
    }

    /// Reports a list that could not be read to its end. One the
    /// organization's plan does not offer is no gap: its findings do not
    /// apply.
    fn incomplete(&mut self, endpoint: &Endpoint, records: u64, error: Failure) {
        if records == 0
            && error.refused_by_plan()
            && let Some(area) = area(endpoint)
        {
            self.records.tally.not_offered(area);
            let message = format!(
                "not offered by the organization's plan: {error}. {}",
                remedy(&error)
            );
            self.records
                .warn(&endpoint.resource(), message, Some(error), Gap::Note);
            return;
        }
        if let Some(area) = area(endpoint) {
            self.records.tally.incomplete(area);
        }
        // The count only checks the listings: without it nothing is missing.
        let gap = Gap::when(*endpoint != Endpoint::UsersCount);
        let mut message = format!(
            "could not be read completely ({records} records read): {error}. {}",
            remedy(&error)
        );
        if let Some(first) = self.refused.get(&endpoint.resource()) {
            message.push_str(&format!(
                " The preferred endpoint refused too: {first}. {}",
                remedy(first)
            ));
        }
        self.records
            .warn(&endpoint.resource(), message, Some(error), gap);
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
    ) -> Result<Option<Flow>, Failure> {
        let Ok(body) = String::from_utf8(body) else {
            return Ok(Some(Flow::Failed(malformed(&request, BodyFault::NotUtf8))));
        };
        let Some(at) = self.chains.took_page(id) else {
            return Err(Failure::Internal(format!(
                "a page arrived for a closed chain ({})",
                request.url
            )));
        };
        if endpoint != Endpoint::Org
            && !opens_chains(&endpoint)
            && let Some(guess) = guess_next(&body)
            // A guess the chain refuses (a repeat, a foreign link) is not
            // asked for: the page is read now and says what is wrong.
            && let Some(asked) = self.chains.guess(id, &guess)
        {
            self.submit(asked);
            self.pages_taken += 1;
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
        if matches!(flow, Flow::Failed(_)) {
            return Ok(Some(flow));
        }
        if let Some(chain) = self.chains.get_mut(id) {
            chain.records += records.len() as u64;
        }
        self.pages_taken += 1;
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

    /// Confirms or corrects the guesses that processing checked: after a
    /// wrong one, what was asked on it is superseded (see [`chains`]) and
    /// the chain goes on as the page really says.
    fn check_guesses(&mut self) {
        for checked in std::mem::take(&mut self.records.checked) {
            let Checked {
                chain: id,
                guess,
                flow,
                records,
            } = checked;
            let Some(chain) = self.chains.get_mut(id) else {
                continue;
            };
            chain.records += records;
            if matches!(&flow, Flow::Next(next) if *next == guess) {
                continue;
            }
            self.chains.supersede(id);
            match flow {
                Flow::Next(position) => self.advance(id, position),
                Flow::End => self.end(id),
                Flow::Failed(error) => self.fail(id, error),
            }
        }
    }
}
