//! The validation pipeline, shared by the API, gossip and sync.
//!
//! Every frame is decoded and checked by [`ems_core::Validator`] (live context for the API and
//! gossip, history context for sync) off the swarm task. Gossip verdicts go back to gossipsub:
//! `Accept` forwards (unless `relay.enabled = false`), `Reject` (malformed, oversized, bad
//! proof, unknown or too old block, TTL too far) makes peer scoring penalise the sender,
//! `Ignore` (expired, chain unavailable, over the peer's rate, pipeline full) drops it without
//! blame. Valid messages are stored durably, then handed to subscribers.

use crate::error::{PublishError, StoreError};
use crate::metrics::{Metrics, Source};
use crate::network::{connected, Command, Event, Shared};
use crate::node::{unix_now, Published};
use crate::ratelimit::RateLimiter;
use crate::store::{Insert, Scan, Store};
use crate::sync::{self, MAX_FETCH, MAX_FETCH_BYTES, MAX_INVENTORY};
use crate::writer::Writer;
use ems_core::{ChainView, Context, Message, Reject, Validator};
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, Semaphore};

/// Gossip messages validated and stored concurrently.
const IN_FLIGHT: usize = 256;
/// A repeated sync round asks for what the peer received since the previous round began, less
/// this margin: the peer's clock may differ from ours by the clock skew, and a message may
/// have been in flight when the previous round scanned.
const RESYNC_MARGIN: u64 = 120;

/// The node's shared state, used by the handle, the dispatcher and the per-message tasks.
pub(crate) struct Core {
    pub(crate) validator: Validator,
    pub(crate) chain: Arc<dyn ChainView>,
    /// `None` when `store.enabled = false`, or after shutdown closed it.
    pub(crate) store: RwLock<Option<Arc<Store>>>,
    pub(crate) writer: Option<Writer>,
    pub(crate) accepted: broadcast::Sender<Arc<Message>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) commands: mpsc::Sender<Command>,
    /// When each peer was last asked for its inventory (this node's clock).
    pub(crate) synced: Mutex<HashMap<PeerId, u64>>,
    pub(crate) limiter: Mutex<RateLimiter>,
}

/// What is validated: a message the API decoded, or wire bytes from a peer.
enum Input<'a> {
    Decoded(Message),
    Bytes(&'a [u8]),
}

/// How a frame fared in the validator.
enum Verdict {
    Valid(Message),
    /// Not the sender's fault (or not provably): drop without penalty.
    Ignore(Reject),
    /// Invalid: penalise the sender.
    Reject(Reject),
}

impl Core {
    /// The store, if there is one and it is open.
    pub(crate) fn store(&self) -> Option<Arc<Store>> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn check(&self, input: Input<'_>, context: Context) -> Verdict {
        let started = Instant::now();
        let now = unix_now();
        let chain = self.chain.as_ref();
        let result = match input {
            Input::Decoded(msg) => self
                .validator
                .validate(&msg, chain, now, context)
                .map(|()| msg),
            Input::Bytes(bytes) => self.validator.validate_bytes(bytes, chain, now, context),
        };
        self.metrics
            .validation
            .observe(started.elapsed().as_secs_f64());
        // The validator grants the clock-skew allowance; a message whose TTL has passed by
        // this node's clock is not worth keeping or forwarding all the same.
        let result = result.and_then(|m| {
            if u64::from(m.ttl()) <= now {
                Err(Reject::Expired { ttl: m.ttl(), now })
            } else {
                Ok(m)
            }
        });
        match result {
            Ok(m) => Verdict::Valid(m),
            Err(r) => {
                self.metrics.rejected(r.code());
                match r {
                    Reject::Expired { .. } | Reject::ChainUnavailable(_) => Verdict::Ignore(r),
                    _ => Verdict::Reject(r),
                }
            }
        }
    }

    /// Stores a valid message (if the store is on); `Stored` means newly accepted.
    async fn keep(&self, msg: Arc<Message>) -> Result<Insert, StoreError> {
        match &self.writer {
            Some(writer) => writer.insert(msg, unix_now()).await,
            None => Ok(Insert::Stored),
        }
    }

    fn notify_subscribers(&self, msg: Arc<Message>, source: Source) {
        self.metrics.received(source);
        // No subscribers is not an error.
        let _ = self.accepted.send(msg);
    }

    /// `Node::publish`: validate (live), store durably, then gossip.
    pub(crate) async fn publish(&self, msg: Message) -> Result<Published, PublishError> {
        let msg = match self.check(Input::Decoded(msg), Context::Live) {
            Verdict::Valid(m) => Arc::new(m),
            Verdict::Ignore(r) | Verdict::Reject(r) => return Err(PublishError::Rejected(r)),
        };
        let digest = msg.digest();
        match self.keep(msg.clone()).await {
            Ok(Insert::Stored) => {
                self.notify_subscribers(msg.clone(), Source::Api);
                self.commands
                    .send(Command::Publish(msg.encode()))
                    .await
                    .map_err(|_| PublishError::Closed)?;
                Ok(Published {
                    digest,
                    duplicate: false,
                })
            }
            Ok(Insert::Duplicate) => Ok(Published {
                digest,
                duplicate: true,
            }),
            Ok(Insert::Full) => {
                self.metrics.rejected("store_full");
                Err(PublishError::StoreFull)
            }
            Err(StoreError::Closed) => Err(PublishError::Closed),
            Err(e) => Err(PublishError::Store(e)),
        }
    }

    async fn report(&self, id: MessageId, peer: PeerId, acceptance: MessageAcceptance) {
        let _ = self
            .commands
            .send(Command::Report {
                id,
                peer,
                acceptance,
            })
            .await;
    }

    /// One gossip message: verdict to gossipsub, then store and notify subscribers.
    async fn gossip(&self, peer: PeerId, id: MessageId, data: Vec<u8>, relay: bool) {
        let msg = match self.check(Input::Bytes(&data), Context::Live) {
            Verdict::Valid(m) => Arc::new(m),
            Verdict::Ignore(r) => {
                tracing::debug!(%peer, reason = %r, "gossip ignored");
                return self.report(id, peer, MessageAcceptance::Ignore).await;
            }
            Verdict::Reject(r) => {
                tracing::info!(%peer, reason = %r, "invalid gossip rejected");
                return self.report(id, peer, MessageAcceptance::Reject).await;
            }
        };
        // Forward first: the next hop does not wait for this node's fsync.
        let acceptance = if relay {
            MessageAcceptance::Accept
        } else {
            MessageAcceptance::Ignore
        };
        self.report(id, peer, acceptance).await;
        self.store_and_notify(msg, Source::Gossip).await;
    }

    async fn store_and_notify(&self, msg: Arc<Message>, source: Source) {
        match self.keep(msg.clone()).await {
            Ok(Insert::Stored) => self.notify_subscribers(msg, source),
            Ok(Insert::Duplicate) => {}
            Ok(Insert::Full) => {
                // Refuse-new policy: the message was valid and is still delivered live, but
                // this node does not keep it.
                self.metrics.rejected("store_full");
                self.notify_subscribers(msg, source);
            }
            Err(e) => tracing::warn!(error = %e, "storing a valid message failed"),
        }
    }

    /// Frames a peer handed over in sync: validated in the history context.
    async fn sync_frames(&self, peer: PeerId, frames: Vec<Vec<u8>>) {
        for frame in frames {
            match self.check(Input::Bytes(&frame), Context::History) {
                Verdict::Valid(m) => self.store_and_notify(Arc::new(m), Source::Sync).await,
                Verdict::Ignore(_) => {}
                Verdict::Reject(r) => tracing::info!(%peer, reason = %r, "invalid sync frame"),
            }
        }
    }

    /// Answers a peer's sync request from the store.
    async fn serve(&self, request: sync::Request, channel: ResponseChannel<sync::Response>) {
        let store = self.store();
        let now = unix_now();
        let response = tokio::task::spawn_blocking(move || answer(store.as_deref(), request, now))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "sync answer task failed");
                empty_inventory()
            });
        let _ = self
            .commands
            .send(Command::SyncRespond { channel, response })
            .await;
    }

    async fn request(&self, peer: PeerId, request: sync::Request) {
        let _ = self
            .commands
            .send(Command::SyncRequest { peer, request })
            .await;
    }

    /// Asks `peer` for its inventory: all of it on a new connection (`full`), otherwise what it
    /// received since the previous round.
    async fn start_sync(&self, peer: PeerId, full: bool) {
        if self.writer.is_none() {
            return;
        }
        let now = unix_now();
        let previous = self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, now);
        let since = previous
            .filter(|_| !full)
            .map(|t| t.saturating_sub(RESYNC_MARGIN));
        self.request(peer, inventory(since, None)).await;
    }

    /// Continues a sync round with `peer` after its answer.
    async fn sync_response(&self, peer: PeerId, response: sync::Response) {
        match response {
            sync::Response::Inventory { digests, next } => {
                let Some(store) = self.store() else { return };
                let progress = !digests.is_empty();
                let missing = tokio::task::spawn_blocking(move || store.missing(&digests)).await;
                match missing {
                    Ok(Ok(missing)) => {
                        for chunk in missing.chunks(MAX_FETCH) {
                            let request = sync::Request::Fetch {
                                digests: chunk.to_vec(),
                            };
                            self.request(peer, request).await;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "sync lookup failed"),
                    Err(e) => tracing::warn!(error = %e, "sync lookup task failed"),
                }
                // A page without digests that still points further makes no progress: stop.
                if let (Some(next), true) = (next, progress) {
                    self.request(peer, inventory(None, Some(next))).await;
                }
            }
            sync::Response::Frames { frames } => self.sync_frames(peer, frames).await,
        }
    }
}

/// An inventory request for every tag, a full page.
fn inventory(since: Option<u64>, after: Option<crate::store::Position>) -> sync::Request {
    sync::Request::Inventory {
        tags: Vec::new(),
        since,
        after,
        limit: MAX_INVENTORY as u16,
    }
}

fn empty_inventory() -> sync::Response {
    sync::Response::Inventory {
        digests: Vec::new(),
        next: None,
    }
}

fn answer(store: Option<&Store>, request: sync::Request, now: u64) -> sync::Response {
    let Some(store) = store else {
        return empty_inventory();
    };
    match request {
        sync::Request::Inventory {
            tags,
            since,
            after,
            limit,
        } => {
            let scan = match Scan::new(tags, since, after, usize::from(limit), MAX_INVENTORY) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "sync inventory request refused");
                    return empty_inventory();
                }
            };
            match store.scan(&scan, now) {
                Ok((digests, next)) => sync::Response::Inventory { digests, next },
                Err(e) => {
                    tracing::warn!(error = %e, "sync inventory failed");
                    empty_inventory()
                }
            }
        }
        sync::Request::Fetch { digests } => match store.frames(&digests, now, MAX_FETCH_BYTES) {
            Ok(frames) => sync::Response::Frames { frames },
            Err(e) => {
                tracing::warn!(error = %e, "sync fetch failed");
                sync::Response::Frames { frames: Vec::new() }
            }
        },
    }
}

/// Takes events from the swarm task and runs each off it, gossip under a concurrency bound
/// and per-peer rate limits. Ends when the swarm task ends.
pub(crate) async fn dispatch(
    core: Arc<Core>,
    mut events: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    relay: bool,
    resync: Duration,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut rounds = tokio::time::interval(resync);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    rounds.tick().await;
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = rounds.tick() => {
                let peers = connected(&shared);
                core.synced
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .retain(|p, _| peers.contains(p));
                for peer in peers {
                    let core = core.clone();
                    tokio::spawn(async move { core.start_sync(peer, false).await });
                }
                continue;
            }
        };
        match event {
            Event::Gossip { peer, id, data } => {
                let allowed = core
                    .limiter
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .allow(peer, Instant::now());
                if !allowed {
                    core.metrics.rejected("rate_limited");
                    core.report(id, peer, MessageAcceptance::Ignore).await;
                    continue;
                }
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let core = core.clone();
                tokio::spawn(async move {
                    core.gossip(peer, id, data, relay).await;
                    drop(permit);
                });
            }
            Event::Connected(peer) => {
                let core = core.clone();
                tokio::spawn(async move { core.start_sync(peer, true).await });
            }
            Event::SyncRequest { request, channel } => {
                let core = core.clone();
                tokio::spawn(async move { core.serve(request, channel).await });
            }
            Event::SyncResponse { peer, response } => {
                let core = core.clone();
                tokio::spawn(async move { core.sync_response(peer, response).await });
            }
        }
    }
    tracing::debug!("dispatcher stopped");
}
