//! Rounds with peers: reconciling item sets, fetching what is missing, and judging the
//! answers (methods of the node's `Core`).
//!
//! A round starts when a peer connects, every `Tuning::resync`, and when a peer's gossip was
//! skipped; one runs per peer at a time, at most one per `Tuning::refetch` interval. Each
//! answer must carry the tag of the request it came back on, and each exchange must move the
//! round forward (the next message one not sent before); a round ends after
//! [`MAX_EXCHANGES`], and one that found no difference by then is a fault that cuts the peer
//! off. What the round finds missing goes to the node-wide fetch window. A peer that does not
//! speak the protocol gets no other round while it stays connected.
//!
//! A fetched frame that is new to this node is gossiped on, like a frame that arrived by
//! gossip, if it would also be valid live: so a healed partition converges at gossip speed
//! rather than at every node's next round. The seen-set decides what is new, so a frame is
//! announced once by each node, whichever way it came first.

use super::codec::{Request, Response, Tag, MAX_FETCH_BYTES, MAX_RECONCILE};
use super::score::Fault;
use super::state::MAX_EXCHANGES;
use super::Failure;
use crate::clock::unix_now;
use crate::gossip::Input;
use crate::ingest::Core;
use crate::metrics::Source;
use crate::network::Command;
use crate::peek;
use crate::verdict::Verdict;
use ems_core::message::MAX_FRAME;
use ems_core::{Context, Message};
use libp2p::PeerId;
use negentropy::{Id, Negentropy};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

impl Core {
    pub(super) async fn request(&self, peer: PeerId, request: Request) {
        let _ = self
            .commands()
            .send(Command::SyncRequest { peer, request })
            .await;
    }

    /// Items not within the clock skew of their TTL.
    pub(super) fn skew(&self) -> u64 {
        self.validator().policy().limits.clock_skew
    }

    /// Starts a round with `peer`, unless one runs or the last began too recently (it then
    /// follows later).
    pub(crate) async fn start_sync(self: &Arc<Self>, peer: PeerId) {
        if !self.stores() {
            return;
        }
        let sync = self.sync();
        let Some(round) = sync.begin(peer, Instant::now()) else {
            return;
        };
        let Some(store) = self.store() else {
            sync.end(peer, round, false);
            return;
        };
        let items = match sync.snapshots.get(store, unix_now(), self.skew()).await {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "sync items could not be read");
                sync.end(peer, round, false);
                return;
            }
        };
        let started = tokio::task::spawn_blocking(move || {
            let mut client = Negentropy::owned(items, MAX_RECONCILE as u64)?;
            let message = client.initiate()?;
            Ok::<_, negentropy::Error>((client, message))
        })
        .await;
        let (client, message) = match started {
            Ok(Ok(started)) => started,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sync round could not start");
                sync.end(peer, round, false);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync round task failed");
                sync.end(peer, round, false);
                return;
            }
        };
        {
            let mut inner = sync.lock();
            let Some(r) = inner.rounds.get_mut(&peer).filter(|r| r.id == round) else {
                return;
            };
            r.sends(&message);
            r.client = Some(client);
        }
        sync.count("rounds", 1);
        sync.count("exchanges", 1);
        let request = Request::Reconcile {
            round,
            step: 0,
            message,
        };
        self.request(peer, request).await;
    }

    /// `peer` answered the request tagged `sent`.
    pub(crate) async fn sync_response(
        self: &Arc<Self>,
        peer: PeerId,
        sent: Tag,
        response: Response,
    ) {
        if response.tag() != sent {
            self.fault(peer, Fault::Mismatch).await;
            self.abandon(peer, sent).await;
            return;
        }
        match response {
            Response::Busy(tag) => {
                self.sync().count("busy", 1);
                if let Tag::Fetch { .. } = tag {
                    self.sync().lock().fetcher.busy(peer);
                }
                self.abandon(peer, tag).await;
            }
            Response::Reconcile {
                round,
                step,
                message,
            } => self.reconcile_step(peer, round, step, message).await,
            Response::Frames { id, frames } => self.fetched(peer, id, frames).await,
        }
    }

    /// The request tagged `sent` to `peer` brought no answer (see [`Failure`]).
    pub(crate) async fn sync_failed(self: &Arc<Self>, peer: PeerId, sent: Tag, failure: Failure) {
        match (failure, sent) {
            (Failure::Unsupported, Tag::Reconcile { round, .. }) => {
                self.sync().unsupported(peer, round);
                return;
            }
            (Failure::Invalid, _) => self.fault(peer, Fault::Invalid).await,
            (Failure::Lost | Failure::Unsupported, _) => {}
        }
        self.abandon(peer, sent).await;
    }

    /// Gives up the request tagged `tag`: a round ends (and is tried again later), a fetch's
    /// digests are asked again after a backoff.
    async fn abandon(self: &Arc<Self>, peer: PeerId, tag: Tag) {
        let sync = self.sync();
        match tag {
            Tag::Reconcile { round, .. } => sync.end(peer, round, true),
            Tag::Fetch { id } => {
                sync.lock().fetcher.failed(id, peer, Instant::now());
            }
        }
        self.pump().await;
    }

    /// One exchange of round `round`: the reconciler reads the peer's message; the missing
    /// digests it finds go to the fetch window; its next message, if any, is sent.
    async fn reconcile_step(
        self: &Arc<Self>,
        peer: PeerId,
        round: u32,
        step: u8,
        message: Vec<u8>,
    ) {
        let sync = self.sync();
        let client = {
            let mut inner = sync.lock();
            inner
                .rounds
                .get_mut(&peer)
                .filter(|r| r.id == round && r.step == step)
                .and_then(|r| r.client.take())
        };
        // The tag matched the request, so only a round ended meanwhile (a disconnect) has none.
        let Some(mut client) = client else { return };
        let result = tokio::task::spawn_blocking(move || {
            let (mut have, mut need) = (Vec::new(), Vec::new());
            let next = client.reconcile_with_ids(&message, &mut have, &mut need);
            (client, next, need, have.len())
        })
        .await;
        let Ok((client, next, need, have)) = result else {
            sync.end(peer, round, true);
            return;
        };
        let next = match next {
            Ok(next) => next,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "invalid reconcile answer");
                sync.end(peer, round, false);
                self.fault(peer, Fault::Invalid).await;
                return;
            }
        };
        let differences = need.len() + have;
        let found = self.announce(peer, need).await;
        let outcome = {
            let mut inner = sync.lock();
            let Some(r) = inner.rounds.get_mut(&peer).filter(|r| r.id == round) else {
                return;
            };
            r.found += found;
            r.differences += differences;
            match next {
                None => Step::Done,
                Some(_) if step + 1 >= MAX_EXCHANGES => Step::Exhausted {
                    found: r.found,
                    differences: r.differences,
                },
                Some(message) if !r.sends(&message) => Step::Repeated,
                Some(message) => {
                    r.step = step + 1;
                    r.last = Instant::now();
                    r.client = Some(client);
                    Step::Next(message)
                }
            }
        };
        match outcome {
            Step::Done => sync.end(peer, round, false),
            Step::Exhausted { found, differences } => {
                // Cut at the limit: another round goes on later (once the fetch window has
                // drained) if this one found messages to fetch, new or wanted already, since
                // the ranges past the limit were not looked at; one that found no difference
                // at all was led in circles.
                sync.end(peer, round, found > 0);
                if differences == 0 {
                    self.fault(peer, Fault::Endless).await;
                }
            }
            Step::Repeated => {
                sync.end(peer, round, false);
                self.fault(peer, Fault::NoProgress).await;
            }
            Step::Next(message) => {
                sync.count("exchanges", 1);
                let step = step + 1;
                self.request(
                    peer,
                    Request::Reconcile {
                        round,
                        step,
                        message,
                    },
                )
                .await;
            }
        }
        self.pump().await;
    }

    /// Digests `peer` holds and this node may lack: those not stored, not refused and not
    /// already wanted join the fetch window. Returns how many of them the window now holds
    /// (new or wanted before). Announcing again what it did not deliver when asked is a fault
    /// ([`Fault::Reannounced`]).
    async fn announce(&self, peer: PeerId, need: Vec<Id>) -> usize {
        if need.is_empty() {
            return 0;
        }
        let Some(store) = self.store() else { return 0 };
        let digests: Vec<[u8; 32]> = need.iter().map(|id| id.to_bytes()).collect();
        let missing = tokio::task::spawn_blocking(move || store.missing(&digests)).await;
        let missing = match missing {
            Ok(Ok(missing)) => missing,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sync lookup failed");
                return 0;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync lookup task failed");
                return 0;
            }
        };
        let (wanted, again) = {
            let mut inner = self.sync().lock();
            let again = inner.fetcher.reannounced(peer, &missing);
            inner.fetcher.announce(peer, &missing);
            (inner.fetcher.wanted_of(&missing), again)
        };
        if again > 0 {
            self.fault(peer, Fault::Reannounced).await;
        }
        wanted
    }

    /// Sends the fetch requests the window allows now.
    pub(crate) async fn pump(&self) {
        let asks = self.sync().asks(Instant::now());
        self.sync().count("fetch_requests", asks.len() as u64);
        for ask in asks {
            let request = Request::Fetch {
                id: ask.id,
                digests: ask.digests,
            };
            self.request(ask.peer, request).await;
        }
    }

    /// Periodic: fetches whose backoff ended, and rounds put off by the interval.
    pub(crate) async fn sync_upkeep(self: Arc<Self>) {
        self.pump().await;
        for peer in self.sync().due(Instant::now()) {
            let core = self.clone();
            tokio::spawn(async move { core.start_sync(peer).await });
        }
    }

    /// The answer to fetch request `id`: frames asked for are validated and stored; frames
    /// not asked for, and digests asked for and missing, are faults.
    async fn fetched(self: &Arc<Self>, peer: PeerId, id: u32, frames: Vec<Vec<u8>>) {
        let digests: Vec<Option<[u8; 32]>> = frames.iter().map(|f| peek::digest(f)).collect();
        let got: HashSet<[u8; 32]> = digests.iter().flatten().copied().collect();
        // The server stops before its byte limit: an answer too full for one more frame of
        // the largest size may lack the rest for size alone.
        let full = frames.iter().map(Vec::len).sum::<usize>() + MAX_FRAME > MAX_FETCH_BYTES;
        let delivery = self
            .sync()
            .lock()
            .fetcher
            .delivered(id, peer, &got, full, Instant::now());
        // The tag matched a request in flight; only a request given up meanwhile has none.
        let Some(delivery) = delivery else { return };
        if delivery.unasked > 0 || got.len() < frames.len() {
            self.fault(peer, Fault::Invalid).await;
        }
        if delivery.undelivered > 0 {
            self.fault(peer, Fault::Undelivered(delivery.undelivered))
                .await;
        }
        self.pump().await;
        let mut seen = HashSet::new();
        let asked: Vec<Vec<u8>> = frames
            .into_iter()
            .zip(digests)
            .filter_map(|(f, d)| {
                let d = d?;
                (delivery.asked.contains(&d) && seen.insert(d)).then_some(f)
            })
            .collect();
        self.sync().count("fetched", asked.len() as u64);
        self.sync_frames(peer, asked).await;
        self.sync().lock().fetcher.settled(&delivery.asked);
    }

    /// Frames a peer handed over in sync, validated concurrently (so the writer commits them
    /// together) in the history context; each one new to this node is gossiped on (if it is
    /// live, see [`Core::live`]), then stored. An invalid frame is a fault.
    pub(crate) async fn sync_frames(self: &Arc<Self>, peer: PeerId, frames: Vec<Vec<u8>>) {
        let judged = futures::future::join_all(frames.into_iter().map(|f| self.sync_frame(f)));
        if judged.await.into_iter().any(|valid| !valid) {
            self.fault(peer, Fault::Invalid).await;
        }
    }

    /// One synced frame; `false` if it is invalid everywhere (`Reject`).
    async fn sync_frame(self: &Arc<Self>, frame: Vec<u8>) -> bool {
        let (verdict, data) = self.judge(Input::Bytes(frame), Context::History).await;
        match verdict {
            Verdict::Valid(m) => {
                if self.remember(&m) {
                    // Forward first, as for gossip: the next hop does not wait for the fsync.
                    if self.relay() && self.live(&m) {
                        let _ = self.commands().send(Command::Publish(data)).await;
                    }
                    self.store_and_notify(Arc::new(m), Source::Sync).await;
                }
                true
            }
            Verdict::Hold(_) | Verdict::Ignore(_) => true,
            Verdict::Reject(r) => {
                tracing::info!(reason = %r, "invalid sync frame");
                false
            }
        }
    }

    /// Charges `fault` to `peer`; past the threshold the peer is disconnected and banned.
    pub(super) async fn fault(&self, peer: PeerId, fault: Fault) {
        let sync = self.sync();
        sync.count(fault.name(), 1);
        tracing::debug!(%peer, fault = fault.name(), "sync fault");
        if sync.charge(peer, fault, Instant::now()) {
            sync.count("cut_off", 1);
            sync.forget(peer);
            tracing::info!(%peer, fault = fault.name(), "sync peer cut off: its sync score reached the threshold");
            let _ = self.commands().send(Command::Ban { peer }).await;
        }
    }

    /// Whether a message valid as history is also valid live: its block is among the newest
    /// `block_depth` (the validator's own rule; everything else the two contexts check alike).
    /// Only such frames are gossiped on; an older one would be refused by the peers, and held
    /// against this node.
    fn live(&self, msg: &Message) -> bool {
        self.validator()
            .blockhash_is_live(msg, self.chain(), unix_now())
    }
}

/// What one exchange leads to.
enum Step {
    Done,
    Exhausted { found: usize, differences: usize },
    Repeated,
    Next(Vec<u8>),
}
