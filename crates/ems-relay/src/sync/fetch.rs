//! The node-wide fetch window: which missing messages are being fetched, from whom.
//!
//! Every digest a round finds missing enters one set shared by all peers, so each missing
//! message is fetched once, from the first peer that announced it, however many peers offer
//! it. Requests carry at most [`MAX_FETCH`] digests; at most [`PER_PEER`] are in flight to one
//! peer and [`IN_ALL`] in all. A peer's own window starts at [`PER_PEER`], narrows by one at each
//! `Busy` answer (to one request at least) and widens by one after [`WIDEN_AFTER`] answers that
//! are not `Busy`, so a node keeps about as many requests in flight to a peer as that peer
//! admits at once. A request that fails (timeout, the peer busy or gone) puts its
//! digests back after a backoff (1 s, doubling to 30 s), to be asked of another peer that
//! announced them; a digest the peer answered without is no longer asked of it. A digest is
//! given up after [`MAX_ATTEMPTS`] or when no peer that announced it is left; a later round
//! finds it again if it is still missing.

use super::codec::MAX_FETCH;
use hashlink::LinkedHashSet;
use libp2p::PeerId;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Fetch requests in flight to one peer at most.
pub(crate) const PER_PEER: usize = 8;
/// Answers (not `Busy`) from a peer whose window is narrowed before it widens by one.
pub(crate) const WIDEN_AFTER: usize = 32;
/// Fetch requests in flight in all at most.
pub(crate) const IN_ALL: usize = 32;
/// Missing digests tracked at most by default (`Tuning::sync_window`); what a round finds
/// beyond is dropped, and another round finds it again once the window has drained. About 130
/// bytes each.
pub(crate) const MAX_WANTED: usize = 262_144;
/// Digests delivered and stored lately, remembered so that a round whose store lookup ran
/// before they were stored does not want them again.
const SETTLED: usize = 65_536;
/// Tries of one digest before it is given up.
pub(crate) const MAX_ATTEMPTS: u32 = 6;
/// Peers remembered as holding one digest.
const HOLDERS: usize = 4;
/// Digests remembered per peer as announced by it and then not delivered.
const BROKEN: usize = 1_024;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How many fetch requests may be in flight to one peer (see the module documentation).
#[derive(Clone, Copy, Debug)]
struct Window {
    size: usize,
    /// Answers (not `Busy`) since the size last changed.
    answered: usize,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            size: PER_PEER,
            answered: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Queued,
    InFlight,
    Waiting,
    /// Delivered, being validated and stored: not asked again meanwhile.
    Arrived,
}

#[derive(Debug)]
struct Want {
    state: State,
    /// Peers that announced it, the next to ask first.
    holders: Vec<PeerId>,
    attempts: u32,
}

/// One fetch request to send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) peer: PeerId,
    pub(crate) id: u32,
    pub(crate) digests: Vec<[u8; 32]>,
}

/// What an answer did against what was asked.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// What the request asked for.
    pub(crate) asked: HashSet<[u8; 32]>,
    /// Asked for and not delivered.
    pub(crate) undelivered: usize,
    /// Delivered without being asked for (in this request).
    pub(crate) unasked: usize,
}

/// The window (see the module documentation).
#[derive(Debug)]
pub(crate) struct Fetcher {
    /// Digests wanted at most (`Tuning::sync_window`).
    max_wanted: usize,
    wanted: HashMap<[u8; 32], Want>,
    /// Digests each peer announced, to be asked of it in order (entries no longer queued are
    /// skipped when reached).
    queues: HashMap<PeerId, VecDeque<[u8; 32]>>,
    in_flight: HashMap<u32, (PeerId, Instant, Vec<[u8; 32]>)>,
    per_peer: HashMap<PeerId, usize>,
    /// Peers whose window is not [`PER_PEER`] or is widening back to it.
    windows: HashMap<PeerId, Window>,
    retry: BinaryHeap<Reverse<(Instant, [u8; 32])>>,
    settled: LinkedHashSet<[u8; 32]>,
    /// Digests each connected peer announced and then answered without (the latest
    /// [`BROKEN`]): never asked of it again, and a fault if it announces them again.
    broken: HashMap<PeerId, LinkedHashSet<[u8; 32]>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher::new(MAX_WANTED)
    }
}

impl Fetcher {
    /// An empty window that wants at most `max_wanted` digests at once.
    pub(crate) fn new(max_wanted: usize) -> Self {
        Fetcher {
            max_wanted,
            wanted: HashMap::new(),
            queues: HashMap::new(),
            in_flight: HashMap::new(),
            per_peer: HashMap::new(),
            windows: HashMap::new(),
            retry: BinaryHeap::new(),
            settled: LinkedHashSet::new(),
            broken: HashMap::new(),
        }
    }

    /// Whether it wants at most a 64th of the digests it may (4,096 by default): a round
    /// put off until then skips what was fetched, instead of listing it again.
    pub(crate) fn drained(&self) -> bool {
        self.wanted.len() <= self.max_wanted / 64
    }

    /// The peers known to hold `digest` (those that announced it, while it is wanted), the next
    /// to ask first.
    pub(crate) fn holders(&self, digest: &[u8; 32]) -> &[PeerId] {
        self.wanted
            .get(digest)
            .map_or(&[], |w| w.holders.as_slice())
    }

    /// Whether it wants as many digests as it may: what a round finds beyond is left out.
    pub(crate) fn full(&self) -> bool {
        self.wanted.len() >= self.max_wanted
    }

    /// Digests `peer` holds and this node lacks. Returns how many were not wanted before.
    /// Digests `peer` announced before and did not deliver are skipped (see
    /// [`Fetcher::reannounced`]).
    pub(crate) fn announce(&mut self, peer: PeerId, digests: &[[u8; 32]]) -> usize {
        let mut new = 0;
        self.queues.entry(peer).or_default();
        let broken = self.broken.get(&peer);
        for d in digests {
            if self.settled.contains(d) || broken.is_some_and(|b| b.contains(d)) {
                continue;
            }
            if let Some(want) = self.wanted.get_mut(d) {
                if !want.holders.contains(&peer) && want.holders.len() < HOLDERS {
                    want.holders.push(peer);
                }
                continue;
            }
            if self.full() {
                break;
            }
            self.wanted.insert(
                *d,
                Want {
                    state: State::Queued,
                    holders: vec![peer],
                    attempts: 0,
                },
            );
            self.queues.entry(peer).or_default().push_back(*d);
            new += 1;
        }
        new
    }

    /// How many of `digests` are wanted (queued, in flight, waiting or arrived).
    pub(crate) fn wanted_of(&self, digests: &[[u8; 32]]) -> usize {
        digests
            .iter()
            .filter(|d| self.wanted.contains_key(*d))
            .count()
    }

    /// Digests wanted in all.
    #[cfg(test)]
    pub(crate) fn wanted(&self) -> usize {
        self.wanted.len()
    }

    /// Digests queued to be asked of `peer` (an upper bound: entries asked of another peer
    /// meanwhile are dropped only when reached).
    pub(crate) fn queued(&self, peer: PeerId) -> usize {
        self.queues.get(&peer).map_or(0, VecDeque::len)
    }

    /// How many of `digests` `peer` announced before and then did not deliver when asked.
    pub(crate) fn reannounced(&self, peer: PeerId, digests: &[[u8; 32]]) -> usize {
        self.broken
            .get(&peer)
            .map_or(0, |b| digests.iter().filter(|d| b.contains(*d)).count())
    }

    /// Requests to send now, within the window; `ids` numbers them.
    pub(crate) fn next(&mut self, now: Instant, ids: &mut impl FnMut() -> u32) -> Vec<Ask> {
        while let Some(Reverse((due, digest))) = self.retry.peek().copied() {
            if due > now {
                break;
            }
            self.retry.pop();
            self.requeue(digest);
        }
        let mut asks = Vec::new();
        let peers: Vec<PeerId> = self.queues.keys().copied().collect();
        for peer in peers {
            let window = self.window(peer);
            while self.in_flight.len() < IN_ALL
                && self.per_peer.get(&peer).copied().unwrap_or(0) < window
            {
                let batch = self.batch(peer);
                if batch.is_empty() {
                    break;
                }
                let id = ids();
                self.in_flight.insert(id, (peer, now, batch.clone()));
                *self.per_peer.entry(peer).or_default() += 1;
                asks.push(Ask {
                    peer,
                    id,
                    digests: batch,
                });
            }
        }
        asks
    }

    /// How many requests may be in flight to `peer` now.
    fn window(&self, peer: PeerId) -> usize {
        self.windows.get(&peer).map_or(PER_PEER, |w| w.size)
    }

    /// `peer` answered a fetch request `Busy`: it admits fewer at once than were in flight, so
    /// its window narrows by one (to one request at least). The request itself is given up by
    /// [`Fetcher::failed`].
    pub(crate) fn busy(&mut self, peer: PeerId) {
        let w = self.windows.entry(peer).or_default();
        w.size = w.size.saturating_sub(1).max(1);
        w.answered = 0;
    }

    /// `peer` answered a fetch request with frames: after [`WIDEN_AFTER`] of those, a narrowed
    /// window widens by one, up to [`PER_PEER`].
    fn answered(&mut self, peer: PeerId) {
        let Some(w) = self.windows.get_mut(&peer) else {
            return;
        };
        w.answered += 1;
        if w.answered >= WIDEN_AFTER {
            w.size += 1;
            w.answered = 0;
        }
        if w.size >= PER_PEER {
            self.windows.remove(&peer);
        }
    }

    /// Up to [`MAX_FETCH`] queued digests of `peer`'s queue, marked in flight.
    fn batch(&mut self, peer: PeerId) -> Vec<[u8; 32]> {
        let mut batch = Vec::new();
        let Some(queue) = self.queues.get_mut(&peer) else {
            return batch;
        };
        while batch.len() < MAX_FETCH {
            let Some(d) = queue.pop_front() else { break };
            if let Some(want) = self.wanted.get_mut(&d) {
                if want.state == State::Queued {
                    want.state = State::InFlight;
                    batch.push(d);
                }
            }
        }
        batch
    }

    /// A waiting digest whose backoff ended: queued for the first holder still connected.
    fn requeue(&mut self, digest: [u8; 32]) {
        let Some(want) = self.wanted.get_mut(&digest) else {
            return;
        };
        if want.state != State::Waiting {
            return;
        }
        match want.holders.iter().find(|p| self.queues.contains_key(p)) {
            Some(peer) => {
                want.state = State::Queued;
                self.queues.entry(*peer).or_default().push_back(digest);
            }
            None => {
                self.wanted.remove(&digest);
            }
        }
    }

    /// The answer to request `id` from `peer` held the frames with `got`; `full`: it was too
    /// near the answer's byte limit for another frame, so what it lacks was cut for size (asked
    /// again without blame). `None` if no such request is in flight to that peer.
    pub(crate) fn delivered(
        &mut self,
        id: u32,
        peer: PeerId,
        got: &HashSet<[u8; 32]>,
        full: bool,
        now: Instant,
    ) -> Option<Delivery> {
        let asked = self.take(id, peer)?;
        self.answered(peer);
        let mut delivery = Delivery::default();
        for d in &asked {
            if got.contains(d) {
                if let Some(want) = self.wanted.get_mut(d) {
                    want.state = State::Arrived;
                }
            } else if full {
                self.back_off(*d, now);
            } else {
                delivery.undelivered += 1;
                let broken = self.broken.entry(peer).or_default();
                if broken.len() >= BROKEN {
                    broken.pop_front();
                }
                broken.insert(*d);
                // It said it holds it and did not hand it over: not asked of it again.
                if let Some(want) = self.wanted.get_mut(d) {
                    want.holders.retain(|p| *p != peer);
                }
                self.back_off(*d, now);
            }
        }
        delivery.asked = asked.into_iter().collect();
        delivery.unasked = got.iter().filter(|d| !delivery.asked.contains(*d)).count();
        Some(delivery)
    }

    /// Delivered digests are stored (or refused) now: no longer wanted.
    pub(crate) fn settled<'a>(&mut self, digests: impl IntoIterator<Item = &'a [u8; 32]>) {
        for d in digests {
            if self
                .wanted
                .get(d)
                .is_some_and(|w| w.state == State::Arrived)
            {
                self.wanted.remove(d);
                if self.settled.len() >= SETTLED {
                    self.settled.pop_front();
                }
                self.settled.insert(*d);
            }
        }
    }

    /// Request `id` to `peer` brought nothing (timeout, busy, closed, refused): its digests are
    /// asked again later, of another holder first. Whether it was in flight.
    pub(crate) fn failed(&mut self, id: u32, peer: PeerId, now: Instant) -> bool {
        let Some(asked) = self.take(id, peer) else {
            return false;
        };
        for d in asked {
            if let Some(want) = self.wanted.get_mut(&d) {
                want.holders.retain(|p| *p != peer);
                want.holders.push(peer);
            }
            self.back_off(d, now);
        }
        true
    }

    fn take(&mut self, id: u32, peer: PeerId) -> Option<Vec<[u8; 32]>> {
        if self.in_flight.get(&id).is_none_or(|(p, _, _)| *p != peer) {
            return None;
        }
        let (_, _, asked) = self.in_flight.remove(&id)?;
        if let Some(n) = self.per_peer.get_mut(&peer) {
            *n = n.saturating_sub(1);
        }
        Some(asked)
    }

    fn back_off(&mut self, digest: [u8; 32], now: Instant) {
        let Some(want) = self.wanted.get_mut(&digest) else {
            return;
        };
        want.attempts += 1;
        if want.attempts >= MAX_ATTEMPTS || want.holders.is_empty() {
            self.wanted.remove(&digest);
            return;
        }
        want.state = State::Waiting;
        let delay = BACKOFF_FIRST
            .saturating_mul(1 << (want.attempts - 1).min(5))
            .min(BACKOFF_MAX);
        self.retry.push(Reverse((now + delay, digest)));
    }

    /// `peer` disconnected: nothing more is asked of it (its requests in flight fail on their
    /// own and are retried elsewhere).
    pub(crate) fn forget(&mut self, peer: PeerId) {
        self.broken.remove(&peer);
        self.windows.remove(&peer);
        if let Some(queue) = self.queues.remove(&peer) {
            for d in queue {
                if let Some(want) = self.wanted.get_mut(&d) {
                    want.holders.retain(|p| *p != peer);
                    if want.state == State::Queued {
                        want.state = State::Waiting;
                        self.retry.push(Reverse((Instant::now(), d)));
                    }
                }
            }
        }
        if self.per_peer.get(&peer).is_some_and(|n| *n == 0) {
            self.per_peer.remove(&peer);
        }
    }

    /// Requests in flight since before `before` (their answer or failure was lost: the swarm
    /// dropped the event) fail, so the window does not shrink for good.
    pub(crate) fn expire(&mut self, before: Instant, now: Instant) {
        let stale: Vec<(u32, PeerId)> = self
            .in_flight
            .iter()
            .filter(|(_, (_, sent, _))| *sent < before)
            .map(|(id, (peer, _, _))| (*id, *peer))
            .collect();
        for (id, peer) in stale {
            self.failed(id, peer, now);
        }
    }

    #[cfg(test)]
    /// Whether this digest is wanted (queued, in flight or waiting).
    pub(crate) fn wants(&self, digest: &[u8; 32]) -> bool {
        self.wanted_of(&[*digest]) == 1
    }

    #[cfg(test)]
    /// Digests wanted, and requests in flight.
    pub(crate) fn load(&self) -> (usize, usize) {
        (self.wanted.len(), self.in_flight.len())
    }
}

#[cfg(test)]
mod tests;
