//! The node's sync state: the round with each peer, the fetch window, the peers' sync
//! scores, the serving limits, and the items snapshot they share.

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

/// Exchanges one round may take at most.
pub(crate) const MAX_EXCHANGES: u8 = 64;
/// Sync requests this node serves at once, for all peers.
pub(crate) const SERVING: usize = 4;
/// Peers whose serving budgets are tracked at most.
const TRACKED: usize = 4_096;
/// Digests wanted at most for a pending round to start (a connect starts one regardless).
pub(crate) const DRAINED: usize = 4_096;

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
    /// Missing digests this round found in the fetch window (added by it or before).
    pub(crate) found: usize,
    /// Differences this round found (digests either side lacks).
    pub(crate) differences: usize,
    /// When its latest request was sent.
    pub(crate) last: Instant,
}

impl Round {
    /// Records an outgoing message; `false` if the round sent the same one before.
    pub(crate) fn sends(&mut self, message: &[u8]) -> bool {
        self.sent.insert(Sha256::digest(message).into())
    }
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
}

/// Everything sync keeps (see the module documentation).
pub(crate) struct SyncState {
    inner: Mutex<Inner>,
    pub(crate) snapshots: Snapshots,
    /// Least time between two rounds with one peer (`Tuning::refetch`).
    interval: Duration,
    /// `Tuning::sync_timeout`: a round or fetch silent for twice as long is given up.
    timeout: Duration,
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
    /// The state of a node tuned by `tuning`; its counters are registered in `metrics`.
    pub(crate) fn new(tuning: &Tuning, metrics: &Metrics) -> SyncState {
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
                fetcher: Fetcher::default(),
                scores: Scores::default(),
            }),
            snapshots: Snapshots::default(),
            interval: tuning.refetch,
            timeout: tuning.sync_timeout,
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
                found: 0,
                differences: 0,
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

    /// Peers whose pending round may start now: none while the fetch window holds more than
    /// [`DRAINED`] digests (a round now would mostly list again what is being fetched).
    pub(crate) fn due(&self, now: Instant) -> Vec<PeerId> {
        let inner = self.lock();
        if inner.fetcher.wanted() > DRAINED {
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
        inner.fetcher.forget(peer);
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
        let sync = SyncState::new(&tuning, &Metrics::new());
        let (peer, now) = (PeerId::random(), Instant::now());
        let round = sync.begin(peer, now).expect("no round yet");
        sync.end(peer, round, true);
        assert_eq!(sync.due(now), vec![peer]);
        let digests: Vec<[u8; 32]> = (0..=DRAINED as u32)
            .map(|i| {
                let mut d = [0u8; 32];
                d[..4].copy_from_slice(&i.to_be_bytes());
                d
            })
            .collect();
        sync.lock().fetcher.announce(peer, &digests);
        assert!(
            sync.due(now).is_empty(),
            "the window holds more than DRAINED"
        );
        sync.lock().fetcher.forget(peer);
        let later = now + Duration::from_secs(1);
        sync.asks(later);
        assert_eq!(sync.lock().fetcher.wanted(), 0, "no holder left");
        assert_eq!(sync.due(later), vec![peer]);
    }
}
