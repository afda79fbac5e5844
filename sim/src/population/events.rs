//! The audit log: events made on demand from `(seed, index)`, never stored.
//!
//! Event `index` is processed at `first + index × step`, so the log is sorted by `processedAt`
//! by construction, any position is found by arithmetic, and a million events cost no memory.
//! The initial events fill the 180 days before [`NOW_MS`]; appended events continue at the
//! same pace after it, so they always sort after every existing event.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use super::Population;
use super::generate::stream;
use super::model::{User, UserStatus};
use crate::PUBLIC_ORIGIN;
use crate::clock::{DAY_MS, NOW_MS, iso_millis};
use crate::prng::SplitMix64;

/// How far back the initial events reach.
const SPAN_MS: i64 = 180 * DAY_MS;

/// What the audit log records. Action names follow the notes' example (`user_added_to_group`);
/// the full catalogue is unconfirmed, so the rest are plausible names in the same style.
#[derive(Debug, Clone, Copy)]
enum Action {
    LoggedIn,
    AddedToGroup,
    RemovedFromGroup,
    ProductAccessGranted,
    Invited,
    Deactivated,
    TokenCreated,
    TokenRevoked,
    PolicyUpdated,
}

impl Action {
    /// Relative frequencies, in percent.
    const MIX: [(Action, u64); 9] = [
        (Action::LoggedIn, 40),
        (Action::AddedToGroup, 15),
        (Action::RemovedFromGroup, 8),
        (Action::ProductAccessGranted, 12),
        (Action::Invited, 8),
        (Action::Deactivated, 3),
        (Action::TokenCreated, 6),
        (Action::TokenRevoked, 3),
        (Action::PolicyUpdated, 5),
    ];

    fn name(self) -> &'static str {
        match self {
            Action::LoggedIn => "user_logged_in",
            Action::AddedToGroup => "user_added_to_group",
            Action::RemovedFromGroup => "user_removed_from_group",
            Action::ProductAccessGranted => "product_access_granted",
            Action::Invited => "user_invited",
            Action::Deactivated => "user_deactivated",
            Action::TokenCreated => "api_token_created",
            Action::TokenRevoked => "api_token_revoked",
            Action::PolicyUpdated => "policy_updated",
        }
    }

    fn by_admin(self) -> bool {
        !matches!(
            self,
            Action::LoggedIn | Action::TokenCreated | Action::TokenRevoked
        )
    }

    fn roll(rng: &mut SplitMix64) -> Action {
        let mut roll = rng.below(100);
        for (action, share) in Action::MIX {
            if roll < share {
                return action;
            }
            roll -= share;
        }
        unreachable!("the shares add up to 100")
    }
}

/// Where requests come from: documentation address ranges (RFC 5737) only.
const NETWORKS: [&str; 3] = ["192.0.2", "198.51.100", "203.0.113"];
const LOCATIONS: [(&str, &str, &str, &str); 5] = [
    ("Berlin", "Berlin", "Germany", "52.52,13.40"),
    ("London", "England", "United Kingdom", "51.51,-0.13"),
    ("New York", "New York", "United States", "40.71,-74.01"),
    ("Tokyo", "Tokyo", "Japan", "35.68,139.69"),
    ("Sydney", "New South Wales", "Australia", "-33.87,151.21"),
];

/// The log's shape: how many events exist and who acts in them.
pub(super) struct EventLog {
    total: AtomicUsize,
    first_ms: i64,
    step_ms: i64,
    /// Actors of administrative actions: the org admins (all users if there are none).
    admins: Vec<usize>,
    /// Actors of self-service actions: active users (all users if there are none).
    members: Vec<usize>,
}

impl EventLog {
    /// An organization without users has nothing to audit, so its log starts empty.
    pub(super) fn new(users: &[User], initial: usize) -> EventLog {
        let indices = |keep: &dyn Fn(&User) -> bool| -> Vec<usize> {
            let chosen: Vec<usize> = (0..users.len()).filter(|&i| keep(&users[i])).collect();
            if chosen.is_empty() {
                (0..users.len()).collect()
            } else {
                chosen
            }
        };
        EventLog {
            total: AtomicUsize::new(if users.is_empty() { 0 } else { initial }),
            first_ms: NOW_MS - SPAN_MS,
            step_ms: (SPAN_MS / initial.max(1) as i64).max(1),
            admins: indices(&|u| u.org_admin),
            members: indices(&|u| u.status == UserStatus::Active),
        }
    }

    pub(super) fn count(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Adds `n` events after the existing ones (none if the organization has no users).
    pub(super) fn append(&self, n: usize) {
        if !self.members.is_empty() {
            self.total.fetch_add(n, Ordering::AcqRel);
        }
    }

    pub(super) fn processed_ms(&self, index: usize) -> i64 {
        self.first_ms + index as i64 * self.step_ms
    }

    /// The index of the first event processed at or after `ms` (possibly past the end).
    pub(super) fn first_at_or_after(&self, ms: i64) -> usize {
        let offset = u64::try_from(ms.saturating_sub(self.first_ms)).unwrap_or(0);
        usize::try_from(offset.div_ceil(self.step_ms as u64)).unwrap_or(usize::MAX)
    }
}

/// One event as `events-stream` and `events` return it.
#[derive(Serialize)]
pub(crate) struct Event<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    attributes: Attributes<'a>,
    links: SelfLink,
    message: Message,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Attributes<'a> {
    time: String,
    processed_at: String,
    action: &'static str,
    actor: Actor<'a>,
    context: Vec<Reference<'a>>,
    container: [Container<'a>; 1],
    location: Location,
}

#[derive(Serialize)]
struct Actor<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<Auth<'a>>,
    links: SelfLink,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Auth<'a> {
    auth_type: &'static str,
    token_id: &'a str,
    token_label: &'a str,
}

#[derive(Serialize)]
struct Reference<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Container<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    links: OrgLink<'a>,
}

#[derive(Serialize)]
struct OrgLink<'a> {
    #[serde(rename = "self")]
    href: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    ip: String,
    geo: &'static str,
    country_name: &'static str,
    region_name: &'static str,
    city: &'static str,
}

#[derive(Serialize)]
struct SelfLink {
    #[serde(rename = "self")]
    href: String,
}

#[derive(Serialize)]
struct Message {
    content: String,
    format: &'static str,
}

impl Population {
    /// Builds event `index`. `index` must be below [`Population::event_count`].
    pub(crate) fn event_record(&self, index: usize) -> Event<'_> {
        let log = &self.events;
        let users = self.users();
        let mut rng = SplitMix64::for_item(self.seed(), stream::EVENTS, index as u64);
        let id = rng.uuid();
        let processed_ms = log.processed_ms(index);
        let time_ms = processed_ms - rng.between(200, 4_000);
        let mut action = Action::roll(&mut rng);
        if self.api_tokens().is_empty()
            && matches!(action, Action::TokenCreated | Action::TokenRevoked)
        {
            action = Action::LoggedIn;
        }
        let pool = if action.by_admin() {
            &log.admins
        } else {
            &log.members
        };
        let tokens = self.api_tokens();
        let mut actor = &users[*rng.pick(pool)];
        let mut auth = None;
        let (context, content) = match action {
            Action::LoggedIn => {
                // One login in ten is an API call made with one of the user's API tokens.
                if !tokens.is_empty() && rng.percent(10) {
                    let token = rng.pick(tokens);
                    actor = &users[token.owner];
                    auth = Some(Auth {
                        auth_type: "api-token",
                        token_id: &token.id,
                        token_label: token.label,
                    });
                }
                (vec![user_ref(actor)], format!("{} logged in", actor.name))
            }
            Action::AddedToGroup | Action::RemovedFromGroup => {
                let target = rng.pick(users);
                let group = rng.pick(self.groups());
                let (verb, preposition) = match action {
                    Action::AddedToGroup => ("added", "to"),
                    _ => ("removed", "from"),
                };
                (
                    vec![
                        user_ref(target),
                        Reference {
                            id: &group.id,
                            kind: "groups",
                        },
                    ],
                    format!(
                        "{} {verb} {} {preposition} {}",
                        actor.name, target.name, group.name
                    ),
                )
            }
            Action::ProductAccessGranted => {
                let target = rng.pick(users);
                let workspace = rng.pick(&self.workspaces()[..2]);
                (
                    vec![
                        user_ref(target),
                        Reference {
                            id: &workspace.id,
                            kind: "workspaces",
                        },
                    ],
                    format!(
                        "{} granted {} access to {}",
                        actor.name, target.name, workspace.host_url
                    ),
                )
            }
            Action::Invited | Action::Deactivated => {
                let target = rng.pick(users);
                let verb = match action {
                    Action::Invited => "invited",
                    _ => "deactivated",
                };
                (
                    vec![user_ref(target)],
                    format!("{} {verb} {}", actor.name, target.name),
                )
            }
            Action::TokenCreated | Action::TokenRevoked => {
                let token = rng.pick(tokens);
                actor = &users[token.owner];
                let verb = match action {
                    Action::TokenCreated => "created",
                    _ => "revoked",
                };
                (
                    vec![Reference {
                        id: &token.id,
                        kind: "api-tokens",
                    }],
                    format!("{} {verb} API token {}", actor.name, token.label),
                )
            }
            Action::PolicyUpdated => {
                let policy = rng.pick(self.policies());
                (
                    vec![Reference {
                        id: &policy.id,
                        kind: "policies",
                    }],
                    format!("{} updated policy {}", actor.name, policy.name),
                )
            }
        };
        let (city, region_name, country_name, geo) = *rng.pick(&LOCATIONS);
        let ip = format!("{}.{}", rng.pick(&NETWORKS), rng.between(1, 254));
        Event {
            links: SelfLink {
                href: format!("{}/events/{id}", self.org_url()),
            },
            id,
            kind: "events",
            attributes: Attributes {
                time: iso_millis(time_ms),
                processed_at: iso_millis(processed_ms),
                action: action.name(),
                actor: Actor {
                    id: &actor.account_id,
                    name: &actor.name,
                    email: actor.visible_email(),
                    auth,
                    links: SelfLink {
                        href: format!("{PUBLIC_ORIGIN}/users/{}/manage/profile", actor.account_id),
                    },
                },
                context,
                container: [Container {
                    id: self.org_id(),
                    kind: "orgs",
                    links: OrgLink {
                        href: self.org_url(),
                    },
                }],
                location: Location {
                    ip,
                    geo,
                    country_name,
                    region_name,
                    city,
                },
            },
            message: Message {
                content,
                format: "simple",
            },
        }
    }
}

fn user_ref(user: &User) -> Reference<'_> {
    Reference {
        id: &user.account_id,
        kind: "users",
    }
}
