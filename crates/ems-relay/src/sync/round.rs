//! Rounds with peers: reconciling item sets, fetching what is missing, and judging the
//! answers (methods of the node's `Core`).
//!
//! When a peer connects and every `Tuning::resync`, the node of the two whose peer id is the
//! smaller starts a round; the other waits for it (see `offer`). A node also starts a round
//! when a peer's gossip was skipped, and when it waited for the peer's round in vain. One
//! round runs per peer at a time, at most one per `Tuning::refetch` interval. Each answer
//! must carry the tag of the request it came back on, and each exchange must move the round
//! forward (the next message one not sent before); a round ends after [`MAX_EXCHANGES`], and
//! one that found no difference by then is a fault that cuts the peer off. An exchange the
//! peer answers `Busy` is sent again after a backoff, the round going on where it was. What the round
//! finds missing goes to the node-wide fetch window; what it finds the peer lacking is
//! offered to the peer when its exchanges are over. A peer that does not speak the protocol
//! gets no other round while it stays connected.
//!
//! A fetched frame that is new to this node is gossiped on, like a frame that arrived by
//! gossip, if it would also be valid live: so a healed partition converges at gossip speed
//! rather than at every node's next round. The seen-set decides what is new, so a frame is
//! announced once by each node, whichever way it came first.

#[cfg(test)]
use super::codec::MAX_RECONCILE_ANSWER;
use super::codec::{Request, Response, Tag, MAX_FETCH_BYTES, MAX_RECONCILE};
use super::items::Items;
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
use negentropy::{Negentropy, NegentropyStorageBase};
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
        let started = tokio::task::spawn_blocking(move || opening(items, MAX_RECONCILE)).await;
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
                match tag {
                    Tag::Fetch { .. } => self.sync().lock().fetcher.busy(peer),
                    Tag::Reconcile { round, step } => {
                        if self.again_later(peer, round, step) {
                            return;
                        }
                    }
                    Tag::Offer { .. } => {}
                }
                self.abandon(peer, tag).await;
            }
            Response::Reconcile {
                round,
                step,
                message,
            } => self.reconcile_step(peer, round, step, message).await,
            Response::Frames { id, frames } => self.fetched(peer, id, frames).await,
            Response::Taken { round, .. } => self.offer(peer, round).await,
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

    /// Exchange `step` of round `round` was answered `Busy`: its message is sent again after a
    /// backoff, the reconciler's state kept, so a round longer than the peer's serving budget
    /// goes on where it was rather than start over (`Round::busy` bounds the waits). `false`
    /// if the round has waited enough, or is gone.
    fn again_later(self: &Arc<Self>, peer: PeerId, round: u32, step: u8) -> bool {
        let wait = {
            let mut inner = self.sync().lock();
            let Some(r) = inner
                .rounds
                .get_mut(&peer)
                .filter(|r| r.id == round && r.step == step)
            else {
                return false;
            };
            let Some(wait) = r.busy() else { return false };
            r.last = Instant::now() + wait;
            wait
        };
        let core = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let message = {
                let inner = core.sync().lock();
                match inner.rounds.get(&peer) {
                    Some(r) if r.id == round && r.step == step => r.message.clone(),
                    _ => return,
                }
            };
            core.sync().count("exchanges_again", 1);
            let request = Request::Reconcile {
                round,
                step,
                message,
            };
            core.request(peer, request).await;
        });
        true
    }

    /// Gives up the request tagged `tag`: a round ends (and is tried again later), or offers
    /// what it found the peer lacking first; a round that was offering ends; a fetch's digests
    /// are asked again after a backoff.
    async fn abandon(self: &Arc<Self>, peer: PeerId, tag: Tag) {
        let sync = self.sync();
        match tag {
            Tag::Reconcile { round, .. } => {
                // What the round found the peer lacking so far is offered, as not complete
                // (the peer then starts its own round for the rest): a long round cut short
                // by the peer's serving limits would otherwise lose it, and start over. Another
                // round of this node's follows if it found messages to fetch, or nothing yet.
                let offers = {
                    let mut inner = sync.lock();
                    match inner.rounds.get_mut(&peer).filter(|r| r.id == round) {
                        Some(r) if !r.have.is_empty() => {
                            r.again |= r.found > 0;
                            r.complete = false;
                            true
                        }
                        _ => false,
                    }
                };
                if offers {
                    self.offer(peer, round).await;
                } else {
                    sync.end(peer, round, true);
                }
            }
            Tag::Fetch { id } => {
                sync.lock().fetcher.failed(id, peer, Instant::now());
            }
            // The round's own fetches go on; the offers stop. A peer waiting for the round
            // starts its own when its grace ends, as it would have without offers.
            Tag::Offer { round, .. } => sync.end(peer, round, false),
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
            (client, next, need, have)
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
        let differences = need.len() + have.len();
        let found = self
            .announce(peer, need.iter().map(|id| id.to_bytes()).collect())
            .await;
        // Digests left out of a full fetch window are found again by another round, once the
        // window has drained.
        let outcome = {
            let mut inner = sync.lock();
            let Some(r) = inner.rounds.get_mut(&peer).filter(|r| r.id == round) else {
                return;
            };
            r.found += found.wanted;
            r.again |= found.full;
            r.differences += differences;
            r.lacks(have.iter().map(|id| id.to_bytes()));
            match next {
                None => {
                    r.complete = !r.overflow;
                    Step::Done
                }
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
            Step::Done => self.offer(peer, round).await,
            Step::Exhausted { found, differences } => {
                // Cut at the limit: another round goes on later (once the fetch window has
                // drained) if this one found messages to fetch, new or wanted already, since
                // the ranges past the limit were not looked at; one that found no difference
                // at all was led in circles. What it found the peer lacking is offered, as
                // incomplete: the peer starts its own round for the rest.
                if differences == 0 {
                    sync.end(peer, round, false);
                    self.fault(peer, Fault::Endless).await;
                } else {
                    if found > 0 {
                        sync.again(peer, round);
                    }
                    self.offer(peer, round).await;
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

    /// Digests `peer` holds and this node may lack (found by a round, or offered by the
    /// peer): those not stored, not refused and not already wanted join the fetch window, as
    /// many as it has room for. Announcing again what it did not deliver when asked is a fault
    /// ([`Fault::Reannounced`]).
    pub(super) async fn announce(&self, peer: PeerId, digests: Vec<[u8; 32]>) -> Announced {
        let none = Announced {
            wanted: 0,
            full: false,
        };
        if digests.is_empty() {
            return none;
        }
        let Some(store) = self.store() else {
            return none;
        };
        let missing = tokio::task::spawn_blocking(move || store.missing(&digests)).await;
        let missing = match missing {
            Ok(Ok(missing)) => missing,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sync lookup failed");
                return none;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync lookup task failed");
                return none;
            }
        };
        let (announced, again) = {
            let mut inner = self.sync().lock();
            let again = inner.fetcher.reannounced(peer, &missing);
            inner.fetcher.announce(peer, &missing);
            let announced = Announced {
                wanted: inner.fetcher.wanted_of(&missing),
                full: inner.fetcher.full(),
            };
            (announced, again)
        };
        if again > 0 {
            self.fault(peer, Fault::Reannounced).await;
        }
        announced
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

    /// Periodic: fetches whose backoff ended, rounds put off by the interval, and rounds of
    /// this node's own with peers whose round it waited for in vain.
    pub(crate) async fn sync_upkeep(self: Arc<Self>) {
        self.pump().await;
        let now = Instant::now();
        let overdue = self.sync().overdue(now);
        self.sync().count("overdue", overdue.len() as u64);
        let mut peers = self.sync().due(now);
        peers.extend(overdue);
        for peer in peers {
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
        let judged =
            futures::future::join_all(frames.into_iter().map(|f| self.sync_frame(peer, f)));
        if judged.await.into_iter().any(|valid| !valid) {
            self.fault(peer, Fault::Invalid).await;
        }
    }

    /// One synced frame from `peer`; `false` if it is invalid everywhere (`Reject`).
    async fn sync_frame(self: &Arc<Self>, peer: PeerId, frame: Vec<u8>) -> bool {
        let (verdict, data) = self.judge(Input::Bytes(frame), Context::History).await;
        match verdict {
            Verdict::Valid(m) => {
                if self.remember(&m) {
                    // Forward first, as for gossip: the next hop does not wait for the fsync.
                    if self.relay() && self.live(&m) {
                        let mut holders = self.sync().lock().fetcher.holders(&m.digest()).to_vec();
                        if !holders.contains(&peer) {
                            holders.push(peer);
                        }
                        let publish = Command::Publish { data, holders };
                        let _ = self.commands().send(publish).await;
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

/// A new initiator over `items` and its opening message. The side that splits a range into
/// pieces under 32 items lists their ids; if the responder lists them, the initiator only
/// reads the list, but if the initiator does, the responder answers with its own list of the
/// same range, so each such range is listed twice. Ranges split 16 ways at each exchange,
/// alternately on each side: the opening is negentropy's (16 ranges) when that makes the
/// responder split the last, else one fingerprint of the whole set (the responder splits
/// first). At 1 M items a round costs a third less this way (`docs/performance.md`, Sync).
fn opening(
    items: Items,
    limit: usize,
) -> Result<(Negentropy<'static, Items>, Vec<u8>), negentropy::Error> {
    let whole = items.size()?;
    let one = one_fingerprint(whole);
    let fingerprint = one.then(|| items.fingerprint(0, whole)).transpose()?;
    let mut client = Negentropy::owned(items, limit as u64)?;
    let message = match fingerprint {
        None => client.initiate()?,
        Some(fingerprint) => {
            client.set_initiator();
            // Protocol 0x61; bound: timestamp infinity (0), no id prefix; mode fingerprint.
            let mut message = vec![negentropy::PROTOCOL_VERSION as u8, 0x00, 0x00, 0x01];
            message.extend_from_slice(&fingerprint.to_bytes());
            message
        }
    };
    Ok((client, message))
}

/// Whether a round over `n` items opens with one fingerprint: if the number of 16-way
/// splits before a range holds under 32 items is even (see [`opening`]).
fn one_fingerprint(n: usize) -> bool {
    let (mut n, mut splits) = (n, 0);
    while n >= 32 {
        n /= 16;
        splits += 1;
    }
    splits % 2 == 0
}

/// What [`Core::announce`] did with the digests a peer holds.
pub(super) struct Announced {
    /// How many of them the fetch window holds now (new or wanted before).
    wanted: usize,
    /// The window is full: some may have been left out, for a later round to find again.
    pub(super) full: bool,
}

/// What one exchange leads to.
enum Step {
    Done,
    Exhausted { found: usize, differences: usize },
    Repeated,
    Next(Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// Items `range` of a set whose TTLs are spread over 2,400 s, as a node's are.
    fn items(range: std::ops::Range<u32>) -> Items {
        sample(range, |_| true)
    }

    /// The items of `range` whose digest `keep` keeps.
    fn sample(range: std::ops::Range<u32>, keep: impl Fn(&[u8; 32]) -> bool) -> Items {
        Items::new(range.filter_map(|i| {
            let d: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            keep(&d).then_some((1_900_000_000 + i % 2_400, d))
        }))
    }

    /// What one round cost.
    #[derive(Debug, PartialEq)]
    struct Cost {
        /// Bytes the initiator sent, and the responder.
        up: usize,
        down: usize,
        exchanges: usize,
        /// Ids the initiator lacks, and holds alone.
        need: usize,
        have: usize,
    }

    /// Runs a round of `client` (opening with `message`) against `server`'s items, whose
    /// messages are at most `answer` bytes long.
    fn round(
        mut client: Negentropy<'static, Items>,
        mut message: Vec<u8>,
        server: &Items,
        answer: usize,
    ) -> Cost {
        let (mut up, mut down, mut have, mut need) = (0, 0, Vec::new(), Vec::new());
        for exchanges in 1.. {
            up += message.len();
            let mut responder = Negentropy::borrowed(server, answer as u64).unwrap();
            let answer = responder.reconcile(&message).unwrap();
            down += answer.len();
            match client
                .reconcile_with_ids(&answer, &mut have, &mut need)
                .unwrap()
            {
                Some(next) => message = next,
                None => {
                    let (need, have) = (need.len(), have.len());
                    return Cost {
                        up,
                        down,
                        exchanges,
                        need,
                        have,
                    };
                }
            }
        }
        unreachable!("a round ends")
    }

    fn standard(items: Items) -> (Negentropy<'static, Items>, Vec<u8>) {
        let mut client = Negentropy::owned(items, MAX_RECONCILE as u64).unwrap();
        let message = client.initiate().unwrap();
        (client, message)
    }

    #[test]
    fn the_opening_makes_the_responder_list_the_smallest_ranges() {
        // 8,000 items: 500 after one split, 31 after two: negentropy's opening would have the
        // initiator list them, and the responder answer each list with its own.
        assert!(one_fingerprint(8_000) && one_fingerprint(1_000_000) && one_fingerprint(0));
        assert!(!one_fingerprint(100_000) && !one_fingerprint(20_000) && !one_fingerprint(100));
        let (client, server) = (items(0..8_000), items(20..8_020));
        let (c, m) = opening(client.clone(), MAX_RECONCILE).unwrap();
        let ours = round(c, m, &server, MAX_RECONCILE_ANSWER);
        assert_eq!((ours.need, ours.have), (20, 20), "every difference found");
        let (c, m) = standard(client);
        let std = round(c, m, &server, MAX_RECONCILE_ANSWER);
        assert_eq!((std.need, std.have), (20, 20));
        assert!(
            (ours.up + ours.down) * 10 < (std.up + std.down) * 9,
            "{ours:?} against {std:?}"
        );

        // An odd number of splits: negentropy's own opening.
        let client = items(0..100);
        let (_, m) = opening(client.clone(), MAX_RECONCILE).unwrap();
        assert_eq!(m, standard(client).1);

        // Equal sets: one fingerprint, and the protocol byte back.
        let same = items(0..8_000);
        let (c, m) = opening(same.clone(), MAX_RECONCILE).unwrap();
        assert_eq!(m.len(), 20);
        let cost = round(c, m, &same, MAX_RECONCILE_ANSWER);
        let expected = Cost {
            up: 20,
            down: 1,
            exchanges: 1,
            need: 0,
            have: 0,
        };
        assert_eq!(cost, expected);
    }

    /// A message cut at its limit ends with one fingerprint of the rest, which the other side
    /// splits again from the top: with both limits at 64 KiB, a round over 100,000 items
    /// differing by 10 % took 66 exchanges and about 4.4 MB; with the responder's at 1 MiB
    /// (it lists the leaves) and the initiator's at 128 KiB, 6 exchanges and about 2.6 MB.
    #[test]
    fn the_message_limits_keep_a_large_round_from_being_cut_and_split_again() {
        let n = 101_000;
        let client = sample(0..n, |d| d[0] % 20 != 1);
        let server = sample(0..n, |d| d[0] % 20 != 0);
        let (c, m) = opening(client.clone(), MAX_RECONCILE).unwrap();
        let ours = round(c, m, &server, MAX_RECONCILE_ANSWER);
        let (c, m) = opening(client, 64 * 1024).unwrap();
        let small = round(c, m, &server, 64 * 1024);
        // Every difference found, each once.
        assert_eq!((ours.need, ours.have), (small.need, small.have));
        assert!(ours.need > 4_500 && ours.have > 4_500, "{ours:?}");
        assert!(
            ours.exchanges * 4 < small.exchanges,
            "{ours:?} against {small:?}"
        );
        assert!(
            (ours.up + ours.down) * 3 < (small.up + small.down) * 2,
            "{ours:?} against {small:?}"
        );
    }
}
