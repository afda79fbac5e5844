//! What a collection does with the pages it receives: reads their
//! envelopes (checking a guessed next page), turns their records into
//! evidence and findings, each record once, and hands the evidence to the
//! host. Apart from the run's chains and transport, so that this work runs
//! while the next round is in flight.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use super::audit::Audit;
use super::{ChainId, Flow, area};
use crate::api::{Endpoint, KIND_USER, Segment};
use crate::checkpoint::Checkpoint;
use crate::checks::{Access, Area, Tally};
use crate::contract::{Evidence, KindCount, Level, Source, Summary, Warning};
use crate::dates::parse_iso8601_ms;
use crate::failure::Failure;
use crate::fields;
use crate::fingerprint::fingerprint;
use crate::keys::Expiring;
use crate::manifest::EVIDENCE_KINDS;
use crate::pagination::{Page, Position};
use crate::transport::{Request, Sink};
use crate::upstream::malformed;

/// A record's evidence id: the API's own id; for role assignments, which
/// have none, `{accountId or groupId}:{resourceId}`.
pub(crate) fn record_id(endpoint: &Endpoint, record: &str) -> Option<String> {
    let field = |name: &str| {
        let [value] = fields::strings(record, [&[name]]);
        value.filter(|v| !v.is_empty()).map(Cow::into_owned)
    };
    match endpoint {
        Endpoint::Directories => field("directoryId"),
        Endpoint::UsersSearch(_)
        | Endpoint::UsersList(_)
        | Endpoint::OrgAdminsSearch
        | Endpoint::AuthPolicies(_) => field("accountId"),
        Endpoint::UsersCount => Some("users/count".to_owned()),
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
    let time = processed_at.or(time).and_then(|t| parse_iso8601_ms(&t));
    (id.filter(|id| !id.is_empty()).map(Cow::into_owned), time)
}

/// What a warning says of the run's evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gap {
    /// Something that should have been read was not: the run is partial.
    Incomplete,
    /// Worth knowing, but nothing is missing.
    Note,
}

impl Gap {
    /// [`Gap::Incomplete`] when `missing`, else [`Gap::Note`].
    pub(super) fn when(missing: bool) -> Gap {
        if missing { Gap::Incomplete } else { Gap::Note }
    }
}

/// Whether the user listing `endpoint` reports product access: every one
/// but the deprecated user list.
fn access(endpoint: &Endpoint) -> Access {
    if matches!(endpoint, Endpoint::UsersList(_)) {
        Access::Unreported
    } else {
        Access::Reported
    }
}

/// A page waiting for its records to be processed.
pub(super) struct Received {
    pub(super) chain: ChainId,
    pub(super) endpoint: Endpoint,
    pub(super) request: Request,
    pub(super) body: String,
    pub(super) read: Read,
}

/// How much of a received page was read on arrival.
pub(super) enum Read {
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

/// A processed page whose evidence is not yet handed to the host: each
/// record to emit, its id and where its JSON text lies in the body, which
/// the evidence then borrows.
struct Processed {
    kind: &'static str,
    request: Request,
    body: String,
    records: Vec<(String, Range<usize>)>,
}

impl Processed {
    fn evidence(&self) -> Vec<Evidence<'_>> {
        let source = Source {
            method: Cow::Borrowed(self.request.method.as_str()),
            url: Cow::Borrowed(&self.request.url),
        };
        self.records
            .iter()
            .map(|(id, range)| Evidence {
                kind: Cow::Borrowed(self.kind),
                id: Cow::Borrowed(id),
                source: source.clone(),
                data: Cow::Borrowed(&self.body[range.clone()]),
            })
            .collect()
    }
}

/// A guessed page read whole: how its chain really goes on.
pub(super) struct Checked {
    pub(super) chain: ChainId,
    pub(super) guess: Position,
    pub(super) flow: Flow,
    pub(super) records: u64,
}

/// What the records of a collection feed: evidence on its way to the host,
/// the findings, the audit-log bookkeeping, the warnings, and the chains
/// the records open. Apart from [`super::Run`], so that records are processed
/// while the run's transport carries the next round.
pub(super) struct Records<'a, S: Sink> {
    pub(super) sink: &'a mut S,
    pub(super) tally: Tally,
    warnings: Vec<Warning>,
    counts: BTreeMap<&'static str, u64>,
    /// Fingerprints of emitted records, to emit an account seen in several
    /// directories once.
    emitted: HashSet<u128>,
    pub(super) audit: Audit,
    /// Pages waiting for their records to be processed, in arrival order.
    pub(super) received: Vec<Received>,
    /// Processed pages whose evidence is not yet handed to the host.
    unsent: Vec<Processed>,
    /// Chains that processed records opened; the run starts them after the
    /// round.
    pub(super) opened: Vec<Endpoint>,
    /// Active managed accounts of the page being processed whose
    /// authentication policies are still to be asked for.
    auth_batch: Vec<String>,
    /// Guesses checked by processing, for the run to confirm or correct
    /// after the round.
    pub(super) checked: Vec<Checked>,
    /// Pages processed so far, for the end-of-run invariant.
    processed: u64,
    /// The organization's API keys that expire soon.
    keys: Expiring,
}

impl<'a, S: Sink> Records<'a, S> {
    /// Records for a run that emits to `sink` and finds with `tally`,
    /// starting the audit log from no checkpoint.
    pub(super) fn new(sink: &'a mut S, tally: Tally, now_ms: i64) -> Records<'a, S> {
        Records {
            keys: Expiring::new(now_ms),
            sink,
            tally,
            warnings: Vec::new(),
            counts: BTreeMap::new(),
            emitted: HashSet::new(),
            audit: Audit::new(Checkpoint::default()),
            received: Vec::new(),
            unsent: Vec::new(),
            opened: Vec::new(),
            auth_batch: Vec::new(),
            checked: Vec::new(),
            processed: 0,
        }
    }

    /// Whether every received page is processed, its evidence handed to
    /// the host, and what processing found (guesses checked, chains
    /// opened) taken up by the run.
    pub(super) fn is_settled(&self) -> bool {
        self.received.is_empty()
            && self.unsent.is_empty()
            && self.checked.is_empty()
            && self.opened.is_empty()
    }

    /// How many pages [`Records::process`] has taken.
    pub(super) fn pages_processed(&self) -> u64 {
        self.processed
    }

    pub(super) fn warn(
        &mut self,
        resource: &str,
        message: String,
        cause: Option<Failure>,
        gap: Gap,
    ) {
        self.sink
            .log(Level::Warn, &format!("{resource}: {message}"));
        self.warnings.push(Warning {
            resource: resource.to_owned(),
            message,
            cause: cause.map(Into::into),
            incomplete: gap == Gap::Incomplete,
        });
    }

    /// Reads a page's envelope: where its records lie, and how its chain
    /// goes on after the page read at `at`. A page that cannot be read has
    /// no records and fails its chain.
    pub(super) fn envelope(
        &mut self,
        endpoint: &Endpoint,
        request: &Request,
        body: &str,
        at: Option<Position>,
    ) -> (Vec<Range<usize>>, Flow) {
        let read = Page::parse(body).and_then(|page| {
            let next = page.next();
            Ok((page.records(endpoint)?, next))
        });
        match read {
            Err(fault) => (Vec::new(), Flow::Failed(malformed(request, fault))),
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
    pub(super) fn process_received(&mut self) -> Result<(), Failure> {
        for page in std::mem::take(&mut self.received) {
            self.process(page);
        }
        for page in self.unsent.drain(..) {
            self.sink.emit(page.evidence()).map_err(Failure::Host)?;
        }
        Ok(())
    }

    /// Turns a page's records into evidence and findings, each record once;
    /// a page received on a guess is read whole first, which checks it.
    pub(super) fn process(&mut self, page: Received) {
        let Received {
            chain,
            endpoint,
            request,
            body,
            read,
        } = page;
        self.processed += 1;
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
        let mut emitted = Vec::with_capacity(records.len());
        let mut without_id = 0;
        for range in records {
            let record = &body[range.clone()];
            let (Some(id), time) = identify(&endpoint, record) else {
                without_id += 1;
                continue;
            };
            let first_sighting = if endpoint == Endpoint::EventsStream {
                self.audit.sighting(&id, time)
            } else {
                self.emitted.insert(fingerprint(&[kind, &id]))
            };
            if first_sighting {
                self.observe(&endpoint, &id, record);
                emitted.push((id, range));
            } else if kind == KIND_USER {
                // The same account in another directory: one subject, with
                // this directory's data too (never emitted twice).
                self.tally.user(&id, record, access(&endpoint));
            }
        }
        if !self.auth_batch.is_empty() {
            let batch = std::mem::take(&mut self.auth_batch);
            self.opened.push(Endpoint::AuthPolicies(batch));
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
                Gap::Incomplete,
            );
        }
        let count = emitted.len() as u64;
        if endpoint == Endpoint::EventsStream {
            self.tally.events(count);
            self.audit.page_processed();
        }
        *self.counts.entry(kind).or_default() += count;
        if !emitted.is_empty() {
            self.unsent.push(Processed {
                kind,
                request,
                body,
                records: emitted,
            });
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
                        Gap::Incomplete,
                    );
                }
            },
            Endpoint::OrgAdminsSearch => {
                self.user(&Segment::all_directories(), endpoint, id, record)
            }
            Endpoint::UsersSearch(directory) | Endpoint::UsersList(directory) => {
                self.user(directory, endpoint, id, record)
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
                        Gap::Incomplete,
                    ),
                }
            }
            Endpoint::UserRoles { account, .. } => self.tally.user_roles(account.raw(), record),
            Endpoint::GroupRoles { group, .. } => self.tally.group_roles(group.raw(), record),
            Endpoint::Domains => self.tally.domain(id, record),
            Endpoint::Policies | Endpoint::ControlPolicies => self.tally.policy(record),
            Endpoint::ApiTokens => self.tally.api_token(id, record),
            Endpoint::ApiKeys => {
                self.keys.observe(id, record);
                self.tally.api_key();
            }
            Endpoint::AuthPolicies(_) => self.tally.auth_policy(id, record),
            Endpoint::UsersCount => self.tally.user_count(record),
            Endpoint::Org | Endpoint::EventsStream | Endpoint::Workspaces => {}
        }
    }

    /// A user as one directory (`-`: the org-wide admin search) lists it:
    /// to the findings, to the page's authentication-policy batch when it
    /// is an active managed account seen first, and its role assignments
    /// read when it holds an admin role.
    fn user(&mut self, directory: &Segment, endpoint: &Endpoint, id: &str, record: &str) {
        let seen = self.tally.user(id, record, access(endpoint));
        if seen.needs_auth_policy {
            self.auth_batch.push(id.to_owned());
        }
        if !seen.admin {
            return;
        }
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
                    Gap::Incomplete,
                );
            }
        }
    }

    pub(super) fn finish(mut self, org: &Segment) -> Summary {
        if let Some(message) = self.keys.warning() {
            self.warn("organization API keys", message, None, Gap::Note);
        }
        if let Some((listed, counted)) = self.tally.users_uncounted() {
            self.warn(
                "users",
                format!("the listings found {listed} accounts but Atlassian counts {counted} (users/count): some accounts may be missing from this run, or were added or removed while it ran."),
                None,
                Gap::when(listed < counted),
            );
            if listed < counted {
                self.tally.incomplete(Area::Users);
            }
        }
        if self.tally.audit_log_empty() {
            self.warn(
                "audit log",
                "the audit log returned no events at all: the organization audit log needs Atlassian Guard (formerly Atlassian Access).".to_owned(),
                None,
                Gap::Note,
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
