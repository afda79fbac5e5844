//! The open chains of a collection and their speculative paging: which
//! page each chain is at, which of its requests are current, and which were
//! asked on a guess that proved wrong.
//!
//! A page's successor is asked for as soon as the page arrives, from a
//! guess read off its last bytes ([`crate::pagination::guess_next`]); the
//! page is read whole a round later, which checks the guess. Every request
//! carries a [`Ticket`]: its chain and the chain's generation when it was
//! asked. The invariant this type keeps:
//!
//! - a chain has at most one request of its current generation in flight,
//!   asked for the position in `at`;
//! - a guess found wrong ([`Chains::supersede`]) ends the generation: the
//!   request asked on it is remembered as superseded and dropped when it
//!   arrives ([`Chains::is_current`]), and the chain is asked again for the
//!   page its last page really names, in the next generation.
//!
//! So a chain takes pages only in the order the API links them, whatever
//! was guessed. A guess is always checked before its answer is looked at:
//! the guessed page's predecessor is processed while the guessed request is
//! in flight, and the run applies the checks before the round's answers.

use std::collections::{HashMap, HashSet};

use crate::api::Endpoint;
use crate::failure::Failure;
use crate::pagination::{Pager, Position};
use crate::transport::Request;

pub(super) type ChainId = u64;

/// A request's key in the scheduler: its chain, and the chain's generation
/// when it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Ticket {
    chain: ChainId,
    generation: u32,
}

impl Ticket {
    pub(super) fn chain(&self) -> ChainId {
        self.chain
    }
}

/// A request a chain asks for, for the scheduler.
pub(super) struct Asked {
    pub(super) ticket: Ticket,
    pub(super) endpoint: Endpoint,
    pub(super) request: Request,
}

/// One list being paged.
pub(super) struct Chain {
    pub(super) endpoint: Endpoint,
    /// Pages taken into the chain.
    pub(super) pages: u32,
    /// Records its pages held.
    pub(super) records: u64,
    pager: Pager,
    /// The position of the page in flight; `None` for a list's first page.
    at: Option<Position>,
    generation: u32,
}

/// The open chains. See the module documentation.
#[derive(Default)]
pub(super) struct Chains {
    open: HashMap<ChainId, Chain>,
    next_id: ChainId,
    role_chains: usize,
    /// Requests asked on a wrong guess, dropped when they arrive.
    superseded: HashSet<Ticket>,
}

/// Role-assignment chains, which the back-pressure counts.
pub(super) fn is_role_chain(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::UserRoles { .. } | Endpoint::GroupRoles { .. }
    )
}

impl Chains {
    /// Opens a chain over `endpoint` whose first page is at `at`, and
    /// returns the request for that page; a position the pager refuses
    /// opens nothing.
    pub(super) fn open(
        &mut self,
        endpoint: Endpoint,
        mut pager: Pager,
        at: Option<Position>,
    ) -> Result<Asked, Failure> {
        let request = pager.request(at.as_ref())?;
        let id = self.next_id;
        self.next_id += 1;
        if is_role_chain(&endpoint) {
            self.role_chains += 1;
        }
        let chain = Chain {
            endpoint,
            pages: 0,
            records: 0,
            pager,
            at,
            generation: 0,
        };
        let asked = chain.asked(id, request);
        self.open.insert(id, chain);
        Ok(asked)
    }

    /// Asks a chain for the page at `position`, as its last page names it.
    /// `None` when the chain is closed.
    pub(super) fn ask(
        &mut self,
        id: ChainId,
        position: Position,
    ) -> Option<Result<Asked, Failure>> {
        let chain = self.open.get_mut(&id)?;
        Some(chain.pager.request(Some(&position)).map(|request| {
            chain.at = Some(position);
            chain.asked(id, request)
        }))
    }

    /// Asks a chain for the page at `guess`, before the page that names it
    /// was read whole. A guess the pager refuses (a repeat, a foreign link)
    /// is not asked for and changes nothing.
    pub(super) fn guess(&mut self, id: ChainId, guess: &Position) -> Option<Asked> {
        let chain = self.open.get_mut(&id)?;
        let request = chain.pager.request(Some(guess)).ok()?;
        chain.at = Some(guess.clone());
        Some(chain.asked(id, request))
    }

    /// Asks a chain for its first page again, with `size` records a page.
    /// `None` when the chain is closed or the pager refuses.
    pub(super) fn restart_with_page_size(&mut self, id: ChainId, size: u32) -> Option<Asked> {
        let chain = self.open.get_mut(&id)?;
        let mut pager = chain.pager.with_page_size(size);
        let request = pager.request(None).ok()?;
        chain.pager = pager;
        chain.at = None;
        Some(chain.asked(id, request))
    }

    /// The page size a chain asks for, if it sets one.
    pub(super) fn page_size(&self, id: ChainId) -> Option<u32> {
        self.open.get(&id)?.pager.page_size()
    }

    /// A page arrived for a chain: counts it and returns the page's
    /// position. `None` when the chain is closed.
    pub(super) fn took_page(&mut self, id: ChainId) -> Option<Option<Position>> {
        let chain = self.open.get_mut(&id)?;
        chain.pages += 1;
        Some(chain.at.clone())
    }

    /// The guess at a chain's next page was wrong: what was asked on it
    /// will be dropped on arrival. Returns whether the chain was open.
    pub(super) fn supersede(&mut self, id: ChainId) -> bool {
        let Some(chain) = self.open.get_mut(&id) else {
            return false;
        };
        self.superseded.insert(chain.ticket(id));
        chain.generation += 1;
        true
    }

    /// Whether an answer is to be taken: false, once, for one asked on a
    /// wrong guess.
    pub(super) fn is_current(&mut self, ticket: &Ticket) -> bool {
        !self.superseded.remove(ticket)
    }

    pub(super) fn get(&self, id: ChainId) -> Option<&Chain> {
        self.open.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: ChainId) -> Option<&mut Chain> {
        self.open.get_mut(&id)
    }

    /// Closes a chain. Only a chain with no current request in flight is
    /// closed (at its last answer, or after [`Chains::supersede`]): an
    /// answer for a closed chain is a bug.
    pub(super) fn close(&mut self, id: ChainId) -> Option<Chain> {
        let chain = self.open.remove(&id)?;
        if is_role_chain(&chain.endpoint) {
            self.role_chains -= 1;
        }
        Some(chain)
    }

    /// Open role-assignment chains, for the back-pressure on the chains
    /// that open them.
    pub(super) fn role_chains(&self) -> usize {
        self.role_chains
    }

    pub(super) fn len(&self) -> usize {
        self.open.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

impl Chain {
    fn ticket(&self, id: ChainId) -> Ticket {
        Ticket {
            chain: id,
            generation: self.generation,
        }
    }

    /// `request`, asked in the chain's current generation.
    fn asked(&self, id: ChainId, request: Request) -> Asked {
        Asked {
            ticket: self.ticket(id),
            endpoint: self.endpoint.clone(),
            request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Segment;

    fn chains_with_one(endpoint: Endpoint) -> (Chains, Asked) {
        let org = Segment::new("org-1").unwrap();
        let mut chains = Chains::default();
        let pager = Pager::new(&endpoint, &org, Vec::new(), 100);
        let first = chains.open(endpoint, pager, None).unwrap();
        (chains, first)
    }

    #[test]
    fn what_was_asked_on_a_wrong_guess_is_dropped_once_and_the_chain_asks_again() {
        let (mut chains, first) = chains_with_one(Endpoint::ApiTokens);
        let id = first.ticket.chain();
        assert!(chains.is_current(&first.ticket));
        assert_eq!(chains.took_page(id), Some(None));
        let guessed = chains.guess(id, &Position::Cursor("guess".into())).unwrap();
        assert_eq!(
            guessed.ticket, first.ticket,
            "a guess is the same generation"
        );

        // Reading the first page whole says the guess was wrong.
        assert!(chains.supersede(id));
        let corrected = chains
            .ask(id, Position::Cursor("real".into()))
            .unwrap()
            .unwrap();
        assert_ne!(corrected.ticket, guessed.ticket);
        assert!(
            corrected.request.url.contains("cursor=real"),
            "{}",
            corrected.request.url
        );
        assert!(
            !chains.is_current(&guessed.ticket),
            "the guessed answer is dropped"
        );
        assert!(chains.is_current(&guessed.ticket), "only once");
        assert!(chains.is_current(&corrected.ticket));
        assert_eq!(
            chains.took_page(id),
            Some(Some(Position::Cursor("real".into())))
        );
    }

    #[test]
    fn a_refused_guess_changes_nothing() {
        let (mut chains, first) = chains_with_one(Endpoint::ApiTokens);
        let id = first.ticket.chain();
        chains.took_page(id);
        let foreign = Position::Url("https://api.example.com/elsewhere?cursor=a".into());
        assert!(chains.guess(id, &foreign).is_none());
        assert_eq!(chains.took_page(id), Some(None), "still at the first page");
    }

    #[test]
    fn role_chains_are_counted_while_open() {
        let endpoint = Endpoint::UserRoles {
            directory: Segment::all_directories(),
            account: Segment::new("a-1").unwrap(),
        };
        let (mut chains, first) = chains_with_one(endpoint);
        assert_eq!(chains.role_chains(), 1);
        assert!(chains.close(first.ticket.chain()).is_some());
        assert_eq!(chains.role_chains(), 0);
        assert!(chains.is_empty());
    }
}
