//! The node's sync state: the round with each peer, the fetch window, the peers' sync
//! scores, the serving limits, and the items snapshot they share; and, for each peer, which
//! of the two starts rounds, the latest round of the peer's that this node answered and the
//! offers it took of it, and the rounds this node waits for.

use super::codec::{MAX_OFFER, MAX_OFFER_PARTS};
use super::fetch::{Ask, Fetcher};
use super::items::{Items, Snapshots};
use super::score::{Fault, Scores, THRESHOLD};
use crate::config::Tuning;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use libp2p::PeerId;
use negentropy::Negentropy;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Exchanges one round may take at most (a round that found no difference by then is a fault
/// of the peer's).
pub const MAX_EXCHANGES: u8 = 128;
/// `Busy` answers in a row after which a round stops waiting for the peer (it then ends as if
/// cut short: `abandon`).
pub(crate) const MAX_BUSY_IN_A_ROW: u8 = 6;
/// `Busy` answers one round takes at most, in all.
pub(crate) const MAX_BUSY: u8 = MAX_EXCHANGES;
/// The wait before an exchange answered `Busy` is sent again; it doubles with each `Busy`
/// answer in a row (0.25 s to 8 s).
pub(crate) const BUSY_BACKOFF: Duration = Duration::from_millis(250);
/// Sync requests this node serves at once, for all peers.
pub(crate) const SERVING: usize = 4;
/// Peers whose serving budgets are tracked at most.
const TRACKED: usize = 4_096;
/// Digests one round offers the peer at most (what it finds beyond, the peer's own round
/// fetches).
pub(crate) const MAX_OFFERED: usize = MAX_OFFER * MAX_OFFER_PARTS as usize;

/// The initiator's side of a round with one peer.
pub(crate) struct Round {
    pub(crate) id: u32,
    pub(crate) step: u8,
    /// A resync or refetch was asked for while it ran: another round follows.
    pub(crate) again: bool,
    /// Out while an answer is being processed.
    pub(crate) client: Option<Negentropy<'static, Items>>,
    /// SHA-256 of every message sent in this round: each must be new (strict progress).
    sent: HashSet<[u8; 32]>,
    /// The latest message sent: sent again, unchanged, if the peer answers it `Busy`.
    pub(crate) message: Vec<u8>,
    /// `Busy` answers to the latest message, and to the round in all.
    busy_in_a_row: u8,
    busy: u8,
    /// Missing digests this round found in the fetch window (added by it or before).
    pub(crate) found: usize,
    /// Differences this round found (digests either side lacks).
    pub(crate) differences: usize,
    /// Digests this round found the peer lacking, to offer it once its exchanges are over (at
    /// most [`MAX_OFFERED`]).
    pub(crate) have: Vec<[u8; 32]>,
    /// Whether it found more than it can offer.
    pub(crate) overflow: bool,
    /// Whether the offers, once sent, tell the peer that it needs no round of its own.
    pub(crate) complete: bool,
    /// Offers sent so far.
    pub(crate) parts: u8,
    /// When its latest request was sent (or will be sent again, after a `Busy` answer).
    pub(crate) last: Instant,
}

impl Round {
    /// Records an outgoing message; `false` if the round sent the same one before.
    pub(crate) fn sends(&mut self, message: &[u8]) -> bool {
        self.busy_in_a_row = 0;
        self.message = message.to_vec();
        self.sent.insert(Sha256::digest(message).into())
    }

    /// The peer answered the latest message `Busy` (its serving limits were reached): how long
    /// to wait before sending it again, with the reconciler's state kept, or `None` once the
    /// round has waited [`MAX_BUSY_IN_A_ROW`] times in a row or [`MAX_BUSY`] times in all.
    pub(crate) fn busy(&mut self) -> Option<Duration> {
        self.busy_in_a_row = self.busy_in_a_row.saturating_add(1);
        self.busy = self.busy.saturating_add(1);
        if self.busy_in_a_row > MAX_BUSY_IN_A_ROW || self.busy > MAX_BUSY {
            return None;
        }
        Some(BUSY_BACKOFF * (1 << (self.busy_in_a_row - 1)))
    }

    /// Records digests the peer lacks, up to [`MAX_OFFERED`].
    pub(crate) fn lacks(&mut self, digests: impl ExactSizeIterator<Item = [u8; 32]>) {
        let room = MAX_OFFERED - self.have.len();
        self.overflow |= digests.len() > room;
        self.have.extend(digests.take(room));
    }

    /// The next offer of this round: part, whether it is the last, and its digests.
    pub(crate) fn next_offer(&mut self) -> Option<(u8, bool, Vec<[u8; 32]>)> {
        let sent = usize::from(self.parts) * MAX_OFFER;
        if self.parts >= MAX_OFFER_PARTS || (self.parts > 0 && sent >= self.have.len()) {
            return None;
        }
        let end = self.have.len().min(sent + MAX_OFFER);
        let part = self.parts;
        self.parts += 1;
        Some((part, end == self.have.len(), self.have[sent..end].to_vec()))
    }
}

/// The latest round of a peer's that this node answered, and the offers of it taken.
#[derive(Debug)]
struct Served {
    round: u32,
    parts: u8,
    /// Its last offer was taken.
    over: bool,
}

/// Why an offer was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Not an offer of the latest round of the peer's that this node answered, or not the
    /// next part of it, or one past the last: a fault.
    Unexpected,
    /// The peer's digests already queued in the fetch window leave no room for this offer: it
    /// is answered `Busy`, without blame.
    Full,
}

pub(crate) struct Inner {
    next_id: u32,
    pub(crate) rounds: HashMap<PeerId, Round>,
    last_start: HashMap<PeerId, Instant>,
    /// Peers to start a round with as soon as the interval allows.
    pending: HashSet<PeerId>,
    /// Connected peers that do not speak the protocol: no round is started with them until
    /// they disconnect (at most [`TRACKED`]).
    unsupported: HashSet<PeerId>,
    pub(crate) fetcher: Fetcher,
    scores: Scores,
    /// Per peer, the latest round of its that this node answered.
    served: HashMap<PeerId, Served>,
    /// Peers whose round this node waits for instead of starting its own, and until when.
    awaiting: HashMap<PeerId, Awaiting>,
    /// When each peer's latest complete round ended (its last offer, complete, was taken).
    covered: HashMap<PeerId, Instant>,
}

/// A wait for a peer's round ([`SyncState::wants`]).
#[derive(Clone, Copy, Debug)]
struct Awaiting {
    /// This node starts its own round then (pushed back while the peer's round goes on).
    deadline: Instant,
    /// The latest the deadline may be pushed back to: the first deadline plus
    /// `Tuning::resync`, so that a peer keeping a round going slowly delays this node by no
    /// more than a resync.
    latest: Instant,
}

/// Everything sync keeps (see the module documentation).
pub(crate) struct SyncState {
    inner: Mutex<Inner>,
    pub(crate) snapshots: Snapshots,
    /// Least time between two rounds with one peer (`Tuning::refetch`).
    interval: Duration,
    /// `Tuning::sync_timeout`: a round or fetch silent for twice as long is given up.
    timeout: Duration,
    /// `Tuning::resync`.
    resync: Duration,
    /// This node's peer id: of two peers, the one whose id is the smaller starts the rounds.
    local: PeerId,
    pub(crate) exchanges: RateLimiter<PeerId>,
    pub(crate) bytes: RateLimiter<PeerId>,
    /// Peers whose reconcile request is being answered (one at a time each).
    pub(crate) reconciling: Mutex<HashSet<PeerId>>,
    pub(crate) serving: Arc<Semaphore>,
    /// `ems_sync_events_total{event}`.
    events: Family<[(&'static str, &'static str); 1], Counter>,
    /// `ems_sync_peers_cut_off_total{reason}`: the fault that took a peer to the threshold.
    cut_off: Family<[(&'static str, &'static str); 1], Counter>,
    /// `ems_sync_fault_points`: a peer's points after each fault charged to it.
    points: Histogram,
}

impl SyncState {
    /// The state of node `local` tuned by `tuning`; its counters are registered in `metrics`.
    pub(crate) fn new(tuning: &Tuning, metrics: &Metrics, local: PeerId) -> SyncState {
        let (e, b) = (tuning.sync_exchanges, tuning.sync_bytes);
        let (events, cut_off) = (Family::default(), Family::default());
        let points = Histogram::new([1.0, 10.0, 25.0, 50.0, 75.0, THRESHOLD]);
        metrics.with_registry(|r| {
            r.register(
                "ems_sync_events",
                "History sync: rounds, exchanges, fetch requests and frames, faults by kind, \
                 peers cut off, requests served and refused as busy",
                events.clone(),
            );
            r.register(
                "ems_sync_peers_cut_off",
                "Peers disconnected and banned for their sync answers, by the fault that took \
                 their sync score to the threshold",
                cut_off.clone(),
            );
            r.register(
                "ems_sync_fault_points",
                "A peer's sync score (points, cut off at 100) after each fault charged to it",
                points.clone(),
            );
        });
        SyncState {
            inner: Mutex::new(Inner {
                next_id: 0,
                rounds: HashMap::new(),
                last_start: HashMap::new(),
                pending: HashSet::new(),
                unsupported: HashSet::new(),
                fetcher: Fetcher::new(tuning.sync_window),
                scores: Scores::default(),
                served: HashMap::new(),
                awaiting: HashMap::new(),
                covered: HashMap::new(),
            }),
            snapshots: Snapshots::default(),
            interval: tuning.refetch,
            timeout: tuning.sync_timeout,
            resync: tuning.resync,
            local,
            exchanges: RateLimiter::new(e.rate, e.burst, TRACKED),
            bytes: RateLimiter::new(b.rate, b.burst, TRACKED),
            reconciling: Mutex::default(),
            serving: Arc::new(Semaphore::new(SERVING)),
            events,
            cut_off,
            points,
        }
    }

    /// Counts `n` events of kind `event`.
    pub(crate) fn count(&self, event: &'static str, n: u64) {
        self.events.get_or_create(&[("event", event)]).inc_by(n);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves a round with `peer` and returns its id, unless one runs (it is then repeated
    /// when it ends) or the previous one began less than the interval ago (it is then started
    /// by [`SyncState::due`]).
    pub(crate) fn begin(&self, peer: PeerId, now: Instant) -> Option<u32> {
        let mut inner = self.lock();
        if inner.unsupported.contains(&peer) {
            return None;
        }
        let stale = now.checked_sub(self.timeout * 2);
        if let Some(round) = inner.rounds.get_mut(&peer) {
            if stale.is_none_or(|stale| round.last >= stale) {
                round.again = true;
                return None;
            }
        }
        if inner
            .last_start
            .get(&peer)
            .is_some_and(|t| now.saturating_duration_since(*t) < self.interval)
        {
            inner.pending.insert(peer);
            return None;
        }
        inner.pending.remove(&peer);
        inner.last_start.insert(peer, now);
        let id = inner.next_id();
        inner.rounds.insert(
            peer,
            Round {
                id,
                step: 0,
                again: false,
                client: None,
                sent: HashSet::new(),
                message: Vec::new(),
                busy_in_a_row: 0,
                busy: 0,
                found: 0,
                differences: 0,
                have: Vec::new(),
                overflow: false,
                complete: false,
                parts: 0,
                last: now,
            },
        );
        Some(id)
    }

    /// Ends round `id` with `peer`; another is started later if one was asked for meanwhile or
    /// `again`.
    pub(crate) fn end(&self, peer: PeerId, id: u32, again: bool) {
        let mut inner = self.lock();
        if inner.rounds.get(&peer).is_some_and(|r| r.id == id) {
            if let Some(round) = inner.rounds.remove(&peer) {
                if round.again || again {
                    inner.pending.insert(peer);
                }
            }
        }
    }

    /// Round `id` with `peer` is to be followed by another when it ends.
    pub(crate) fn again(&self, peer: PeerId, id: u32) {
        if let Some(r) = self.lock().rounds.get_mut(&peer).filter(|r| r.id == id) {
            r.again = true;
        }
    }

    /// Starts a round with `peer` once the fetch window has drained ([`SyncState::due`]).
    pub(crate) fn later(&self, peer: PeerId) {
        self.lock().pending.insert(peer);
    }

    /// Round `id` with `peer` found that the peer does not speak the protocol: it ends, and no
    /// other starts while the peer stays connected.
    pub(crate) fn unsupported(&self, peer: PeerId, id: u32) {
        let mut inner = self.lock();
        if inner.rounds.get(&peer).is_some_and(|r| r.id == id) {
            inner.rounds.remove(&peer);
        }
        inner.pending.remove(&peer);
        if inner.unsupported.len() < TRACKED {
            inner.unsupported.insert(peer);
        }
    }

    /// Peers whose pending round may start now: none until the fetch window has drained
    /// (`Fetcher::drained`: a round now would mostly list again what is being fetched; a
    /// connect starts one regardless).
    pub(crate) fn due(&self, now: Instant) -> Vec<PeerId> {
        let inner = self.lock();
        if !inner.fetcher.drained() {
            return Vec::new();
        }
        inner
            .pending
            .iter()
            .filter(|p| {
                !inner.rounds.contains_key(p)
                    && inner
                        .last_start
                        .get(p)
                        .is_none_or(|t| now.saturating_duration_since(*t) >= self.interval)
            })
            .copied()
            .collect()
    }

    /// Fetch requests to send now.
    pub(crate) fn asks(&self, now: Instant) -> Vec<Ask> {
        let mut inner = self.lock();
        let Inner {
            fetcher, next_id, ..
        } = &mut *inner;
        if let Some(stale) = now.checked_sub(self.timeout * 2) {
            fetcher.expire(stale, now);
        }
        fetcher.next(now, &mut || {
            *next_id = next_id.wrapping_add(1);
            *next_id
        })
    }

    /// Charges a fault to `peer`; whether it is to be cut off now.
    pub(crate) fn charge(&self, peer: PeerId, fault: Fault, now: Instant) -> bool {
        let (cut, points) = {
            let mut inner = self.lock();
            let cut = inner.scores.charge(peer, fault, now);
            (cut, inner.scores.points(peer, now))
        };
        if cut {
            self.points.observe(THRESHOLD);
            self.cut_off
                .get_or_create(&[("reason", fault.name())])
                .inc();
        } else {
            self.points.observe(points);
        }
        cut
    }

    /// `peer` is gone: its round ends, nothing more is fetched from it.
    pub(crate) fn forget(&self, peer: PeerId) {
        let mut inner = self.lock();
        inner.rounds.remove(&peer);
        inner.pending.remove(&peer);
        inner.unsupported.remove(&peer);
        inner.last_start.remove(&peer);
        inner.served.remove(&peer);
        inner.awaiting.remove(&peer);
        inner.covered.remove(&peer);
        inner.fetcher.forget(peer);
    }

    /// Whether this node starts the rounds with `peer`: the smaller peer id of the two does.
    pub(crate) fn initiates(&self, peer: PeerId) -> bool {
        self.local.to_bytes() < peer.to_bytes()
    }

    /// How long this node waits for the round of a peer that starts the rounds before it starts
    /// its own: twice `Tuning::sync_timeout`, the time after which a silent round of its own is
    /// given up.
    pub(crate) fn grace(&self) -> Duration {
        self.timeout * 2
    }

    /// A connection or a resync tick wants this node and `peer` reconciled: whether this node
    /// starts a round now. It does if it starts the rounds with `peer`. Otherwise it waits for
    /// the peer's round: not at all if a complete one ended within the last `Tuning::resync`
    /// and [grace](SyncState::grace) (the peer's own resync covers this one), else until the
    /// grace has passed (then [`SyncState::overdue`] starts its own).
    pub(crate) fn wants(&self, peer: PeerId, now: Instant) -> bool {
        if self.initiates(peer) {
            return true;
        }
        let mut inner = self.lock();
        if inner.unsupported.contains(&peer) {
            return false;
        }
        let recent = now.checked_sub(self.resync + self.grace());
        if inner
            .covered
            .get(&peer)
            .is_some_and(|t| recent.is_none_or(|recent| *t >= recent))
        {
            return false;
        }
        if inner.awaiting.len() >= TRACKED && !inner.awaiting.contains_key(&peer) {
            return true;
        }
        let deadline = now + self.grace();
        inner.awaiting.entry(peer).or_insert(Awaiting {
            deadline,
            latest: deadline + self.resync,
        });
        false
    }

    /// Peers whose round this node waited for in vain: it starts its own with each now.
    pub(crate) fn overdue(&self, now: Instant) -> Vec<PeerId> {
        let mut inner = self.lock();
        let late: Vec<PeerId> = inner
            .awaiting
            .iter()
            .filter(|(_, wait)| wait.deadline <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in &late {
            inner.awaiting.remove(p);
        }
        late
    }

    /// An exchange of a round of `peer`'s reached this node (answered or not): if this node
    /// waits for the peer's round, it waits a [grace](SyncState::grace) from now. The round is
    /// going on, only slowly (a large difference, or exchanges held back by a budget), and a
    /// round of this node's own would find the same difference again.
    pub(crate) fn round_goes_on(&self, peer: PeerId, now: Instant) {
        let grace = self.grace();
        if let Some(wait) = self.lock().awaiting.get_mut(&peer) {
            wait.deadline = wait.deadline.max(now + grace).min(wait.latest);
        }
    }

    /// This node answered an exchange of `peer`'s round `round`: offers of that round may
    /// follow (those of an earlier round no longer may).
    pub(crate) fn answered(&self, peer: PeerId, round: u32) {
        let mut inner = self.lock();
        if inner.served.get(&peer).is_some_and(|s| s.round == round) {
            return;
        }
        if inner.served.len() >= TRACKED && !inner.served.contains_key(&peer) {
            return;
        }
        inner.served.insert(
            peer,
            Served {
                round,
                parts: 0,
                over: false,
            },
        );
    }

    /// Takes offer `part` of `peer`'s round `round`, of `n` digests, if it is the next offer
    /// of the latest round of the peer's that this node answered, and the digests the peer
    /// already has queued in the fetch window leave room for it (at most [`MAX_OFFERED`]).
    pub(crate) fn take_offer(
        &self,
        peer: PeerId,
        round: u32,
        part: u8,
        last: bool,
        n: usize,
    ) -> Result<(), Refusal> {
        let mut inner = self.lock();
        let queued = inner.fetcher.queued(peer);
        let Some(served) = inner.served.get_mut(&peer) else {
            return Err(Refusal::Unexpected);
        };
        if served.round != round || served.parts != part || served.over || part >= MAX_OFFER_PARTS {
            return Err(Refusal::Unexpected);
        }
        if queued + n > MAX_OFFERED {
            return Err(Refusal::Full);
        }
        served.parts += 1;
        served.over = last;
        Ok(())
    }

    /// `peer`'s round ended with its last offer: if `complete`, this node needs no round of its
    /// own with `peer` now (it stops waiting, and a resync within the next `Tuning::resync` is
    /// covered); if not, whether it starts its own now (it does unless it is cut off from
    /// rounds with the peer).
    pub(crate) fn offered(&self, peer: PeerId, complete: bool, now: Instant) -> bool {
        let mut inner = self.lock();
        inner.awaiting.remove(&peer);
        if !complete {
            return true;
        }
        if inner.covered.len() < TRACKED || inner.covered.contains_key(&peer) {
            inner.covered.insert(peer, now);
        }
        false
    }
}

impl Inner {
    fn next_id(&mut self) -> u32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pending_round_waits_for_the_fetch_window_to_drain() {
        let tuning = Tuning {
            refetch: Duration::ZERO,
            ..Tuning::default()
        };
        let sync = SyncState::new(&tuning, &Metrics::new(), PeerId::random());
        let (peer, now) = (PeerId::random(), Instant::now());
        let round = sync.begin(peer, now).expect("no round yet");
        sync.end(peer, round, true);
        assert_eq!(sync.due(now), vec![peer]);
        let digests: Vec<[u8; 32]> = (0..=(tuning.sync_window / 64) as u32)
            .map(|i| {
                let mut d = [0u8; 32];
                d[..4].copy_from_slice(&i.to_be_bytes());
                d
            })
            .collect();
        sync.lock().fetcher.announce(peer, &digests);
        assert!(
            sync.due(now).is_empty(),
            "the window holds more than a 64th of its room"
        );
        sync.lock().fetcher.forget(peer);
        let later = now + Duration::from_secs(1);
        sync.asks(later);
        assert_eq!(sync.lock().fetcher.wanted(), 0, "no holder left");
        assert_eq!(sync.due(later), vec![peer]);
    }

    fn digests(n: usize, seed: u8) -> Vec<[u8; 32]> {
        (0..n as u32)
            .map(|i| {
                let mut d = [seed; 32];
                d[..4].copy_from_slice(&i.to_be_bytes());
                d
            })
            .collect()
    }

    #[test]
    fn a_round_offers_what_the_peer_lacks_in_parts_and_says_when_it_could_not_offer_all() {
        let sync = SyncState::new(&Tuning::default(), &Metrics::new(), PeerId::random());
        let (peer, now) = (PeerId::random(), Instant::now());
        let id = sync.begin(peer, now).expect("no round yet");
        let mut inner = sync.lock();
        let round = inner.rounds.get_mut(&peer).expect("begun");
        assert_eq!(round.id, id);
        // Nothing lacking: one empty offer, the last.
        assert_eq!(round.next_offer(), Some((0, true, vec![])));
        assert_eq!(round.next_offer(), None);

        round.parts = 0;
        round.lacks(digests(MAX_OFFER + 1, 1).into_iter());
        assert!(!round.overflow);
        let (part, last, first) = round.next_offer().expect("part 0");
        assert_eq!((part, last, first.len()), (0, false, MAX_OFFER));
        assert_eq!(
            round.next_offer(),
            Some((1, true, digests(MAX_OFFER + 1, 1)[MAX_OFFER..].to_vec()))
        );
        assert_eq!(round.next_offer(), None);

        // More than a round may offer: the first MAX_OFFERED, in MAX_OFFER_PARTS parts.
        round.parts = 0;
        round.lacks(digests(MAX_OFFERED, 2).into_iter());
        assert!(round.overflow);
        assert_eq!(round.have.len(), MAX_OFFERED);
        let parts: Vec<_> = std::iter::from_fn(|| round.next_offer()).collect();
        assert_eq!(parts.len(), usize::from(MAX_OFFER_PARTS));
        assert!(parts.iter().all(|(_, _, d)| d.len() == MAX_OFFER));
        assert_eq!(parts.iter().filter(|(_, last, _)| *last).count(), 1);
    }

    #[test]
    fn a_busy_exchange_is_sent_again_after_a_doubling_wait_within_bounds() {
        let sync = SyncState::new(&Tuning::default(), &Metrics::new(), PeerId::random());
        let peer = PeerId::random();
        sync.begin(peer, Instant::now()).expect("no round yet");
        let mut inner = sync.lock();
        let round = inner.rounds.get_mut(&peer).expect("begun");
        assert!(round.sends(b"first"));
        assert_eq!(round.message, b"first");
        let waits: Vec<_> = std::iter::from_fn(|| round.busy()).collect();
        assert_eq!(
            waits.len(),
            usize::from(MAX_BUSY_IN_A_ROW),
            "then it gives up"
        );
        assert_eq!(waits[0], BUSY_BACKOFF);
        assert_eq!(waits[5], BUSY_BACKOFF * 32);

        // An answer in between starts the count in a row again; the count in all goes on.
        let mut total = usize::from(MAX_BUSY_IN_A_ROW) + 1;
        for i in 0u32.. {
            assert!(round.sends(&i.to_be_bytes()));
            match round.busy() {
                Some(wait) => assert_eq!(wait, BUSY_BACKOFF),
                None => break,
            }
            total += 1;
        }
        assert_eq!(total, usize::from(MAX_BUSY), "at most MAX_BUSY in all");
    }

    #[test]
    fn an_offer_is_taken_only_as_the_next_part_of_a_round_answered_and_within_room() {
        let sync = SyncState::new(&Tuning::default(), &Metrics::new(), PeerId::random());
        let peer = PeerId::random();
        assert_eq!(
            sync.take_offer(peer, 7, 0, false, 1),
            Err(Refusal::Unexpected),
            "no round of the peer's answered"
        );
        sync.answered(peer, 7);
        assert_eq!(
            sync.take_offer(peer, 6, 0, false, 1),
            Err(Refusal::Unexpected)
        );
        assert_eq!(
            sync.take_offer(peer, 7, 1, false, 1),
            Err(Refusal::Unexpected)
        );
        assert_eq!(sync.take_offer(peer, 7, 0, false, 1), Ok(()));
        assert_eq!(
            sync.take_offer(peer, 7, 0, false, 1),
            Err(Refusal::Unexpected),
            "again"
        );
        // The digests queued to be asked of the peer leave no room: Busy, and the part may
        // come again.
        sync.lock()
            .fetcher
            .announce(peer, &digests(MAX_OFFERED - 10, 3));
        assert_eq!(sync.take_offer(peer, 7, 1, false, 11), Err(Refusal::Full));
        assert_eq!(sync.take_offer(peer, 7, 1, false, 10), Ok(()));
        sync.lock().fetcher.forget(peer);
        for part in 2..MAX_OFFER_PARTS - 1 {
            assert_eq!(sync.take_offer(peer, 7, part, false, 1), Ok(()));
        }
        assert_eq!(
            sync.take_offer(peer, 7, MAX_OFFER_PARTS - 1, true, 1),
            Ok(())
        );
        assert_eq!(
            sync.take_offer(peer, 7, MAX_OFFER_PARTS, false, 1),
            Err(Refusal::Unexpected),
            "past the last"
        );
        // The peer's next round may offer again.
        sync.answered(peer, 8);
        assert_eq!(sync.take_offer(peer, 8, 0, true, 0), Ok(()));
    }

    /// Two peer ids, the smaller (the one that starts rounds) first.
    fn ordered_pair() -> (PeerId, PeerId) {
        let (a, b) = (PeerId::random(), PeerId::random());
        if a.to_bytes() < b.to_bytes() {
            (a, b)
        } else {
            (b, a)
        }
    }

    #[test]
    fn of_two_peers_the_smaller_id_starts_and_the_other_waits_the_grace_unless_covered() {
        let tuning = Tuning::default();
        let (small, large) = ordered_pair();
        let starts = SyncState::new(&tuning, &Metrics::new(), small);
        let waits = SyncState::new(&tuning, &Metrics::new(), large);
        let now = Instant::now();
        assert!(starts.initiates(large) && !waits.initiates(small));
        assert!(starts.wants(large, now));
        assert!(!waits.wants(small, now));
        let grace = waits.grace();
        assert!(waits.overdue(now + grace / 2).is_empty());
        // A second trigger while waiting keeps the first deadline.
        assert!(!waits.wants(small, now + grace / 2));
        assert_eq!(waits.overdue(now + grace), vec![small]);
        assert!(waits.overdue(now + grace).is_empty(), "once");

        // A complete round of the peer's covers this node until the peer's next resync.
        assert!(!waits.wants(small, now));
        assert!(!waits.offered(small, true, now));
        assert!(waits.overdue(now + grace).is_empty(), "no longer waiting");
        let resync = tuning.resync;
        assert!(!waits.wants(small, now + resync));
        assert!(waits.overdue(now + resync + grace).is_empty(), "covered");
        assert!(!waits.wants(small, now + resync + grace * 2));
        assert_eq!(waits.overdue(now + resync + grace * 3), vec![small]);
        // An incomplete one: this node starts its own at once.
        assert!(waits.offered(small, false, now));
    }

    #[test]
    fn a_wait_for_a_peers_round_lasts_a_grace_past_its_last_exchange_within_a_resync() {
        let tuning = Tuning::default();
        let (small, large) = ordered_pair();
        let waits = SyncState::new(&tuning, &Metrics::new(), large);
        let now = Instant::now();
        let grace = waits.grace();
        assert!(!waits.wants(small, now));
        // The peer's round goes on: each exchange of it pushes the wait back.
        waits.round_goes_on(small, now + grace / 2);
        assert!(
            waits.overdue(now + grace).is_empty(),
            "a slow round is waited for"
        );
        assert_eq!(waits.overdue(now + grace * 3 / 2), vec![small]);

        // A peer answering just within each grace delays this node by a resync at most.
        assert!(!waits.wants(small, now));
        let latest = now + grace + tuning.resync;
        let mut at = now;
        while at < latest {
            assert!(waits.overdue(at).is_empty());
            waits.round_goes_on(small, at);
            at += grace / 2;
        }
        assert_eq!(waits.overdue(latest), vec![small]);
    }
}
