//! The gossip path: what a frame from a peer goes through before gossipsub is told what to do
//! with it, and what bounds the cost a peer can impose.
//!
//! ```text
//!  frame ─► budget left? ─► seen? ─► Argon2id budget? ─► validate (blocking pool) ─► verdict
//!  (sender banned, wherever it waits: dropped unvalidated, `rejected{reason="banned"}`)
//!             │ no            │ yes     │ no                                    Valid: Accept, keep
//!             ▼               ▼         ▼                                       Hold: wait for the head
//!          Ignore, refetch  Ignore,   Ignore, refetch                           Ignore / Reject
//!          from the peer    charged   from the peer
//! ```
//!
//! Budgets bound waste (invalid frames, duplicates, frames held in vain) and Argon2id work,
//! per peer and per IP address. Valid frames are never refused for their rate: when the node
//! is saturated the swarm reads more slowly (`network`). What a budget made this node skip is
//! asked of the peer by a sync round within `Tuning::refetch`, and so is what it dropped unread
//! (a budget, a ban) of [`REFETCH_OTHERS`] other peers: gossipsub has taken the message's id,
//! so later copies from honest peers are dropped as duplicates, and the sender may be a peer
//! that forwards gossip but does not answer sync, or one banned since.

use crate::ban::Bans;
use crate::clock::unix_now;
use crate::config::{Budget, Tuning};
use crate::hold::{Held, HoldQueue};
use crate::ingest::Core;
use crate::metrics::Source;
use crate::network::Command;
use crate::peek;
use crate::ratelimit::RateLimiter;
use crate::seen::Seen;
use crate::verdict::{judge, Verdict};
use ems_core::Algorithm;
use ems_core::{BlockRef, Context, Message, Reject};
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::PeerId;
use rand::seq::SliceRandom;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Peers and addresses whose budgets are tracked at once (least recently active evicted).
const TRACKED: usize = 4_096;

/// Peers besides the senders asked by a refetch after a frame was dropped unread, drawn at
/// random: with a tenth of a relay's peers hostile, both are hostile one time in a hundred.
pub(crate) const REFETCH_OTHERS: usize = 2;

/// A peer's budget and its address's, taken together.
struct PairedBudget {
    peer: RateLimiter<PeerId>,
    ip: RateLimiter<IpAddr>,
}

impl PairedBudget {
    fn new(peer: Budget, ip: Budget) -> Self {
        PairedBudget {
            peer: RateLimiter::new(peer.rate, peer.burst, TRACKED),
            ip: RateLimiter::new(ip.rate, ip.burst, TRACKED),
        }
    }

    fn has(&self, peer: PeerId, ip: Option<IpAddr>, now: Instant) -> bool {
        self.peer.has(&peer, 1.0, now) && ip.is_none_or(|ip| self.ip.has(&ip, 1.0, now))
    }

    /// Takes a token from both; false if either had none.
    fn take(&self, peer: PeerId, ip: Option<IpAddr>, now: Instant) -> bool {
        let by_peer = self.peer.take(peer, 1.0, now);
        let by_ip = ip.is_none_or(|ip| self.ip.take(ip, 1.0, now));
        by_peer && by_ip
    }
}

/// State of the gossip defences, shared by every gossip task.
pub(crate) struct Guard {
    seen: Mutex<Seen>,
    hold: Mutex<HoldQueue>,
    hold_for: Duration,
    waste: PairedBudget,
    argon2: PairedBudget,
    /// Peers whose frames were skipped since the last refetch.
    skipped: Mutex<HashSet<PeerId>>,
    /// A frame was skipped or dropped unread since the last refetch: other peers are asked
    /// too.
    unread: AtomicBool,
    /// Validations running at once on the blocking pool.
    verifiers: Arc<Semaphore>,
    /// The head at the last upkeep, to notice when it moves.
    head: Mutex<Option<BlockRef>>,
    /// One upkeep at a time.
    upkeep: tokio::sync::Mutex<()>,
    refetch: Duration,
    last_refetch: Mutex<Instant>,
    /// The node's bans (set by the swarm task): a banned peer's queued frames are dropped.
    bans: Arc<Mutex<Bans>>,
}

impl Guard {
    pub(crate) fn new(tuning: &Tuning, bans: Arc<Mutex<Bans>>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Guard {
            seen: Mutex::new(Seen::new(tuning.seen_capacity)),
            hold: Mutex::new(HoldQueue::new(tuning.hold_capacity)),
            hold_for: tuning.hold,
            waste: PairedBudget::new(tuning.waste_per_peer, tuning.waste_per_ip),
            argon2: PairedBudget::new(tuning.argon2_per_peer, tuning.argon2_per_ip),
            skipped: Mutex::default(),
            unread: AtomicBool::new(false),
            verifiers: Arc::new(Semaphore::new(cores)),
            head: Mutex::new(None),
            upkeep: tokio::sync::Mutex::new(()),
            refetch: tuning.refetch,
            last_refetch: Mutex::new(Instant::now()),
            bans,
        }
    }

    /// Whether `peer` is banned now.
    pub(crate) fn banned(&self, peer: &PeerId) -> bool {
        lock(&self.bans).is_banned(peer)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What is validated: a message the API decoded, or wire bytes (handed back with the verdict).
pub(crate) enum Input {
    Decoded(Message),
    Bytes(Vec<u8>),
}

impl Core {
    /// Validates on the blocking pool (at most one validation per core at once), counting
    /// the time and any refusal.
    pub(crate) async fn judge(
        self: &Arc<Self>,
        input: Input,
        context: Context,
    ) -> (Verdict, Vec<u8>) {
        let permit = self.verifier().await;
        self.judge_with(permit, input, context).await
    }

    /// A turn on the blocking pool (`None` only if the pool is closed, which it never is).
    async fn verifier(&self) -> Option<OwnedSemaphorePermit> {
        self.guard().verifiers.clone().acquire_owned().await.ok()
    }

    /// [`Core::judge`] with its turn on the blocking pool taken already.
    async fn judge_with(
        self: &Arc<Self>,
        permit: Option<OwnedSemaphorePermit>,
        input: Input,
        context: Context,
    ) -> (Verdict, Vec<u8>) {
        let core = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let started = Instant::now();
            let (msg, data) = match input {
                Input::Decoded(m) => (Ok(m), Vec::new()),
                Input::Bytes(data) => (Message::decode(&data).map_err(Reject::from), data),
            };
            let verdict = judge(core.validator(), msg, core.chain(), unix_now(), context);
            core.metrics()
                .validation
                .observe(started.elapsed().as_secs_f64());
            (verdict, data)
        });
        let (verdict, data) = match task.await {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "validation task failed");
                let r = Reject::ChainUnavailable(ems_core::ChainError::Unavailable(e.to_string()));
                (Verdict::Ignore(r), Vec::new())
            }
        };
        match &verdict {
            Verdict::Ignore(r) | Verdict::Reject(r) => self.metrics().rejected(r.code()),
            Verdict::Valid(_) | Verdict::Hold(_) => {}
        }
        (verdict, data)
    }

    /// Frames held and digests remembered, for the metrics.
    pub(crate) fn guard_sizes(&self) -> (usize, usize) {
        (
            lock(&self.guard().hold).len(),
            lock(&self.guard().seen).len(),
        )
    }

    /// Whether a valid message with this digest was accepted and could still be live.
    pub(crate) fn seen(&self, digest: &[u8; 32]) -> bool {
        lock(&self.guard().seen).contains(digest)
    }

    /// Records an accepted message in the seen-set; false if it was there already (another
    /// copy won the race), in which case it must not be accepted again.
    pub(crate) fn remember(&self, msg: &Message) -> bool {
        let now = unix_now();
        let limits = &self.validator().policy().limits;
        let height = match self.chain().find(msg.blockhash(), now) {
            Ok(Some(block)) => block.height.saturating_add(limits.block_depth),
            _ => u64::MAX,
        };
        let time = u64::from(msg.ttl()).saturating_add(limits.clock_skew);
        lock(&self.guard().seen).insert(msg.digest(), time, height)
    }

    /// Drops a frame whose sender has been banned since it arrived, unvalidated. Gossipsub is
    /// told without waiting (if its command queue is full, the frame leaves gossipsub's cache
    /// at its history length all the same).
    pub(crate) fn drop_banned(&self, peer: PeerId, id: MessageId) {
        self.metrics().rejected("banned");
        self.guard().unread.store(true, Ordering::Relaxed);
        let _ = self.commands().try_send(Command::Report {
            id,
            peer,
            acceptance: MessageAcceptance::Ignore,
        });
    }

    /// A frame skipped for cost: ask the peer for what it received, soon.
    fn skip(&self, peer: PeerId, reason: &'static str) {
        self.metrics().rejected(reason);
        lock(&self.guard().skipped).insert(peer);
        self.guard().unread.store(true, Ordering::Relaxed);
    }

    /// One gossip frame, from arrival to verdict (and storage, when valid).
    pub(crate) async fn gossip(
        self: Arc<Self>,
        peer: PeerId,
        ip: Option<IpAddr>,
        id: MessageId,
        data: Vec<u8>,
    ) {
        let now = Instant::now();
        let guard = &self.guard();
        if !guard.waste.has(peer, ip, now) {
            self.skip(peer, "over_budget");
            return self.report(id, peer, MessageAcceptance::Ignore).await;
        }
        if let Ok(digest) = <[u8; 32]>::try_from(id.0.as_slice()) {
            if self.seen(&digest) {
                self.metrics().rejected("duplicate");
                guard.waste.take(peer, ip, now);
                return self.report(id, peer, MessageAcceptance::Ignore).await;
            }
        }
        let argon2 = peek::algorithm(&data) == Some(Algorithm::Argon2id.id())
            && self.validator().policy().accepts(Algorithm::Argon2id);
        if argon2 && !guard.argon2.take(peer, ip, now) {
            self.skip(peer, "over_budget");
            return self.report(id, peer, MessageAcceptance::Ignore).await;
        }
        // The wait for a turn is where a flood queues up: a sender banned meanwhile costs no
        // validation.
        let permit = self.verifier().await;
        if guard.banned(&peer) {
            return self.drop_banned(peer, id);
        }
        let (verdict, data) = self
            .judge_with(permit, Input::Bytes(data), Context::Live)
            .await;
        self.conclude(
            Held {
                peer,
                ip,
                id,
                data,
                until: now + guard.hold_for,
            },
            verdict,
        )
        .await;
    }

    /// Acts on a verdict: tells gossipsub, keeps what is valid, holds what waits for a block.
    async fn conclude(self: &Arc<Self>, frame: Held, verdict: Verdict) {
        let (peer, ip, id) = (frame.peer, frame.ip, frame.id.clone());
        match verdict {
            Verdict::Valid(m) => {
                if !self.remember(&m) {
                    self.metrics().rejected("duplicate");
                    return self.report(id, peer, MessageAcceptance::Ignore).await;
                }
                // Forward first: the next hop does not wait for this node's fsync.
                let acceptance = if self.relay() {
                    MessageAcceptance::Accept
                } else {
                    MessageAcceptance::Ignore
                };
                self.report(id, peer, acceptance).await;
                self.store_and_notify(Arc::new(m), Source::Gossip).await;
            }
            Verdict::Hold(r) => {
                let held = lock(&self.guard().hold).push(frame);
                if !held {
                    tracing::debug!(%peer, reason = %r, "hold queue full; frame skipped");
                    self.guard().waste.take(peer, ip, Instant::now());
                    self.skip(peer, "hold_full");
                    self.report(id, peer, MessageAcceptance::Ignore).await;
                }
            }
            Verdict::Ignore(r) => {
                tracing::debug!(%peer, reason = %r, "gossip ignored");
                if matches!(r, Reject::ChainUnavailable(_)) {
                    // Possibly valid: ask again once the chain answers.
                    lock(&self.guard().skipped).insert(peer);
                }
                self.report(id, peer, MessageAcceptance::Ignore).await;
            }
            Verdict::Reject(r) => {
                tracing::info!(%peer, reason = %r, "invalid gossip rejected");
                self.guard().waste.take(peer, ip, Instant::now());
                self.report(id, peer, MessageAcceptance::Reject).await;
            }
        }
    }

    /// Periodic upkeep: forget what left the live window, validate held frames again when the
    /// head moved, give up those past their deadline, and ask peers whose frames were skipped
    /// for what they received, and some other of the `connected` peers for what was dropped
    /// unread.
    pub(crate) async fn upkeep(self: Arc<Self>, connected: Vec<PeerId>) {
        let Ok(_one) = self.guard().upkeep.try_lock() else {
            return;
        };
        let banned = lock(&self.guard().hold).remove(|peer| self.guard().banned(peer));
        for frame in banned {
            self.drop_banned(frame.peer, frame.id);
        }
        let now = unix_now();
        let head = self.chain().head(now).ok();
        if let Some(head) = head {
            lock(&self.guard().seen).prune(now, head.height);
        }
        let moved = {
            let mut last = lock(&self.guard().head);
            let moved = head.is_some() && *last != head;
            *last = head;
            moved
        };
        if moved {
            let held = lock(&self.guard().hold).take_all();
            for frame in held {
                let (verdict, data) = self.judge(Input::Bytes(frame.data), Context::Live).await;
                let frame = Held { data, ..frame };
                self.conclude(frame, verdict).await;
            }
        }
        let expired = lock(&self.guard().hold).expired(Instant::now());
        for frame in expired {
            self.metrics().rejected("held_expired");
            self.guard()
                .waste
                .take(frame.peer, frame.ip, Instant::now());
            self.report(frame.id, frame.peer, MessageAcceptance::Ignore)
                .await;
        }
        {
            let mut last = lock(&self.guard().last_refetch);
            if last.elapsed() < self.guard().refetch {
                return;
            }
            *last = Instant::now();
        }
        let skipped: Vec<PeerId> = lock(&self.guard().skipped).drain().collect();
        let others = if self.guard().unread.swap(false, Ordering::Relaxed) {
            others(
                &connected,
                &skipped,
                |p| self.guard().banned(p),
                &mut rand::rng(),
            )
        } else {
            Vec::new()
        };
        let asked = skipped.into_iter().filter(|p| !self.guard().banned(p));
        for peer in asked.chain(others) {
            self.start_sync(peer).await;
        }
    }
}

/// Up to [`REFETCH_OTHERS`] of the `connected` peers, at random, neither `skipped` nor banned.
fn others<R: rand::Rng + ?Sized>(
    connected: &[PeerId],
    skipped: &[PeerId],
    banned: impl Fn(&PeerId) -> bool,
    rng: &mut R,
) -> Vec<PeerId> {
    let mut candidates: Vec<PeerId> = connected
        .iter()
        .filter(|p| !skipped.contains(p) && !banned(p))
        .copied()
        .collect();
    candidates.shuffle(rng);
    candidates.truncate(REFETCH_OTHERS);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refetch_asks_others_than_the_senders_and_never_a_banned_peer() {
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        let skipped = [peers[0], peers[1]];
        let banned = peers[2];
        for _ in 0..50 {
            let asked = others(&peers, &skipped, |p| *p == banned, &mut rand::rng());
            assert_eq!(asked.len(), REFETCH_OTHERS);
            assert!(asked.iter().all(|p| peers[3..].contains(p)), "{asked:?}");
            assert_ne!(asked[0], asked[1]);
        }
        // Fewer candidates than asked for: all of them; none: nobody.
        assert_eq!(
            others(&peers[..4], &skipped, |p| *p == banned, &mut rand::rng()),
            vec![peers[3]]
        );
        assert!(others(&peers[..2], &skipped, |_| false, &mut rand::rng()).is_empty());
    }
}
