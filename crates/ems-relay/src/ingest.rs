//! The validation pipeline, shared by the API, gossip and sync.
//!
//! Every frame is decoded and checked by [`ems_core::Validator`] (live context for the API and
//! gossip, history context for sync) off the swarm task. Gossip verdicts go back to gossipsub:
//! `Accept` forwards (unless `relay.enabled = false`), `Reject` (malformed, oversized, bad
//! proof, unknown or too old block, TTL too far) makes peer scoring penalise the sender,
//! `Ignore` (expired, chain unavailable, over the peer's rate, pipeline full) drops it without
//! blame. Valid messages are stored durably, then handed to subscribers.

use crate::clock::unix_now;
use crate::error::{PublishError, StoreError};
use crate::metrics::{Metrics, Source};
use crate::network::{Command, Event};
use crate::ratelimit::RateLimiter;
use crate::store::{Insert, Store};
use crate::writer::Writer;
use ems_core::{ChainView, Context, Message, Reject, Validator};
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::PeerId;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::sync::{broadcast, mpsc, Semaphore};

/// Gossip messages validated and stored concurrently.
const IN_FLIGHT: usize = 256;
/// Messages a slow subscriber may fall behind by before it skips some.
const SUBSCRIBER_BUFFER: usize = 4_096;

/// The outcome of a successful [`crate::Node::publish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's digest.
    pub digest: [u8; 32],
    /// It was already stored (the API answers 200 instead of 202); nothing was gossiped.
    pub duplicate: bool,
}

/// The node's shared state, used by the handle, the dispatcher, the sync rounds and the
/// per-message tasks.
pub(crate) struct Core {
    validator: Validator,
    chain: Arc<dyn ChainView>,
    /// `None` when `store.enabled = false`, or after shutdown closed it.
    store: RwLock<Option<Arc<Store>>>,
    writer: Option<Writer>,
    accepted: broadcast::Sender<Arc<Message>>,
    metrics: Arc<Metrics>,
    commands: mpsc::Sender<Command>,
    limiter: Mutex<RateLimiter>,
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
    /// The state of a node validating with `validator` against `chain`, keeping messages in
    /// `store` through `writer` (both `None` when the store is off), and handing the swarm
    /// its work through `commands`.
    pub(crate) fn new(
        validator: Validator,
        chain: Arc<dyn ChainView>,
        store: Option<(Arc<Store>, Writer)>,
        metrics: Arc<Metrics>,
        commands: mpsc::Sender<Command>,
        limiter: RateLimiter,
    ) -> Core {
        let (store, writer) = store.map_or((None, None), |(s, w)| (Some(s), Some(w)));
        Core {
            validator,
            chain,
            store: RwLock::new(store),
            writer,
            accepted: broadcast::channel(SUBSCRIBER_BUFFER).0,
            metrics,
            commands,
            limiter: Mutex::new(limiter),
        }
    }

    /// The store, if there is one and it is open.
    pub(crate) fn store(&self) -> Option<Arc<Store>> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether this node keeps messages (and so syncs history).
    pub(crate) fn keeps_messages(&self) -> bool {
        self.writer.is_some()
    }

    /// Takes the store out for shutdown; readers that still hold it finish their call.
    pub(crate) fn close_store(&self) -> Option<Arc<Store>> {
        self.store.write().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// A receiver of every message accepted from now on.
    pub(crate) fn accepted(&self) -> broadcast::Receiver<Arc<Message>> {
        self.accepted.subscribe()
    }

    /// The node's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Hands `cmd` to the swarm task; `false` once it has stopped.
    pub(crate) async fn command(&self, cmd: Command) -> bool {
        self.commands.send(cmd).await.is_ok()
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

    fn announce(&self, msg: Arc<Message>, source: Source) {
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
                self.announce(msg.clone(), Source::Api);
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

    /// One gossip message: verdict to gossipsub, then store and announce.
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
        self.store_and_announce(msg, Source::Gossip).await;
    }

    async fn store_and_announce(&self, msg: Arc<Message>, source: Source) {
        match self.keep(msg.clone()).await {
            Ok(Insert::Stored) => self.announce(msg, source),
            Ok(Insert::Duplicate) => {}
            Ok(Insert::Full) => {
                // Refuse-new policy: the message was valid and is still delivered live, but
                // this node does not keep it.
                self.metrics.rejected("store_full");
                self.announce(msg, source);
            }
            Err(e) => tracing::warn!(error = %e, "storing a valid message failed"),
        }
    }

    /// Frames a peer handed over in sync: validated in the history context, then stored.
    pub(crate) async fn history(&self, peer: PeerId, frames: Vec<Vec<u8>>) {
        for frame in frames {
            match self.check(Input::Bytes(&frame), Context::History) {
                Verdict::Valid(m) => self.store_and_announce(Arc::new(m), Source::Sync).await,
                Verdict::Ignore(_) => {}
                Verdict::Reject(r) => tracing::info!(%peer, reason = %r, "invalid sync frame"),
            }
        }
    }
}

/// Takes gossip from the swarm task and validates each message off it, under a concurrency
/// bound and per-peer rate limits. Ends when the swarm task ends.
pub(crate) async fn dispatch(core: Arc<Core>, mut events: mpsc::Receiver<Event>, relay: bool) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(event) = events.recv().await {
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
        }
    }
    tracing::debug!("dispatcher stopped");
}
