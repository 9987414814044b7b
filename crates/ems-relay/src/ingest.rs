//! The validation pipeline, shared by the API, gossip and sync.
//!
//! Every frame is decoded and checked by [`ems_core::Validator`] (live context for the API and
//! gossip, history context for sync) on the blocking pool, off the swarm task and the async
//! workers. Gossip goes through the defences in `gossip` first; its verdicts (`verdict`) go back
//! to gossipsub: `Accept` forwards (unless `relay.enabled = false`), `Reject` (certainly
//! invalid) makes peer scoring penalise the sender, `Ignore` (depends on this node's view, a
//! duplicate, over a budget) drops it without blame. Valid messages are stored durably, then
//! handed to subscribers.

use crate::ban::Bans;
use crate::clock::unix_now;
use crate::config::NodeConfig;
use crate::error::{PublishError, StoreError};
use crate::gossip::{Guard, Input};
use crate::metrics::{Metrics, Source};
use crate::network::{connected, Command, Event, Shared};
use crate::store::{Insert, Store};
use crate::sync::SyncState;
use crate::verdict::Verdict;
use crate::writer::Writer;
use ems_core::{ChainView, Context, Message, Validator};
use libp2p::gossipsub::{MessageAcceptance, MessageId};
use libp2p::PeerId;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Semaphore};

/// How often held frames, the seen-set and skipped peers are looked after.
const UPKEEP: Duration = Duration::from_millis(500);
/// Gossip messages validated and stored concurrently.
const IN_FLIGHT: usize = 256;
/// Messages a slow subscriber may fall behind by before it skips some.
const SUBSCRIBER_BUFFER: usize = 4_096;

/// The outcome of a successful [`Node::publish`](crate::Node::publish).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The message's digest.
    pub digest: [u8; 32],
    /// It was already stored (the API answers 200 instead of 202); nothing was gossiped.
    pub duplicate: bool,
    /// It is committed to this node's store and survives a crash. `false` only with the store
    /// off (`store.enabled = false`): the message was validated and relayed, not kept.
    pub stored: bool,
}

/// The node's shared state, used by the handle, the dispatcher and the per-message tasks.
/// Built only by [`Core::new`]; other modules read it through its methods.
pub(crate) struct Core {
    validator: Validator,
    chain: Arc<dyn ChainView>,
    /// `None` when `store.enabled = false`, or after shutdown closed it.
    store: RwLock<Option<Arc<Store>>>,
    writer: Option<Writer>,
    accepted: broadcast::Sender<Arc<Message>>,
    metrics: Arc<Metrics>,
    commands: mpsc::Sender<Command>,
    /// History sync: rounds, the fetch window, sync scores, serving limits.
    sync: SyncState,
    /// The gossip defences: seen-set, hold queue, budgets, the validation pool.
    guard: Guard,
    /// `relay.enabled`: valid gossip is forwarded.
    relay: bool,
}

impl Core {
    /// The shared state of node `peer_id` configured by `config`: its store (if on) and the
    /// writer that owns its inserts, its metrics, the queue of commands to the swarm task, and
    /// the bans that task keeps.
    // Each argument is a part `Node::start` built on its own, in that order.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: &NodeConfig,
        chain: Arc<dyn ChainView>,
        store: Option<Arc<Store>>,
        writer: Option<Writer>,
        metrics: Arc<Metrics>,
        commands: mpsc::Sender<Command>,
        bans: Arc<Mutex<Bans>>,
        peer_id: PeerId,
    ) -> Core {
        Core {
            validator: Validator::new(config.policy.clone()),
            chain,
            store: RwLock::new(store),
            writer,
            accepted: broadcast::channel(SUBSCRIBER_BUFFER).0,
            sync: SyncState::new(&config.tuning, &metrics, peer_id),
            metrics,
            commands,
            guard: Guard::new(&config.tuning, bans),
            relay: config.policy.relay.enabled,
        }
    }

    /// The validator of this node's policy.
    pub(crate) fn validator(&self) -> &Validator {
        &self.validator
    }

    /// The chain view frames are validated against.
    pub(crate) fn chain(&self) -> &dyn ChainView {
        self.chain.as_ref()
    }

    /// The node's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The queue of commands to the swarm task.
    pub(crate) fn commands(&self) -> &mpsc::Sender<Command> {
        &self.commands
    }

    /// A new receiver of every message this node accepts from now on.
    pub(crate) fn subscribe_accepted(&self) -> broadcast::Receiver<Arc<Message>> {
        self.accepted.subscribe()
    }

    /// The gossip defences.
    pub(crate) fn guard(&self) -> &Guard {
        &self.guard
    }

    /// History sync's state.
    pub(crate) fn sync(&self) -> &SyncState {
        &self.sync
    }

    /// `relay.enabled`: valid gossip is forwarded.
    pub(crate) fn relay(&self) -> bool {
        self.relay
    }

    /// The node keeps messages (it has a store and its writer).
    pub(crate) fn stores(&self) -> bool {
        self.writer.is_some()
    }

    /// Takes the store out for shutdown: from now on the node has none.
    pub(crate) fn close_store(&self) -> Option<Arc<Store>> {
        self.store.write().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// The store, if there is one and it is open.
    pub(crate) fn store(&self) -> Option<Arc<Store>> {
        self.store.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stores a valid message (if the store is on); `Stored` means newly accepted.
    async fn keep(&self, msg: Arc<Message>) -> Result<Insert, StoreError> {
        match &self.writer {
            Some(writer) => writer.insert(msg, unix_now()).await,
            None => Ok(Insert::Stored),
        }
    }

    /// Whether the store holds `digest` now (`false` with the store off or failing).
    async fn holds(&self, digest: [u8; 32]) -> bool {
        let Some(store) = self.store() else {
            return false;
        };
        let now = unix_now();
        tokio::task::spawn_blocking(move || matches!(store.get(&digest, now), Ok(Some(_))))
            .await
            .unwrap_or(false)
    }

    fn notify_subscribers(&self, msg: Arc<Message>, source: Source) {
        self.metrics.received(source);
        // No subscribers is not an error.
        let _ = self.accepted.send(msg);
    }

    /// `Node::publish`: validate (live), store durably, then gossip.
    pub(crate) async fn publish(self: &Arc<Self>, msg: Message) -> Result<Published, PublishError> {
        let digest = msg.digest();
        let msg = match self.judge(Input::Decoded(msg), Context::Live).await.0 {
            Verdict::Valid(m) => Arc::new(m),
            Verdict::Hold(r) | Verdict::Ignore(r) | Verdict::Reject(r) => {
                if matches!(r, ems_core::Reject::StaleBlockhash { .. }) {
                    // Counted here: a held gossip frame is not (yet) refused.
                    self.metrics.rejected(r.code());
                }
                return Err(PublishError::Rejected(r));
            }
        };
        if self.seen(&digest) {
            // Accepted before (perhaps relayed without being stored): subscribers not notified again.
            return Ok(Published {
                digest,
                duplicate: true,
                stored: self.holds(digest).await,
            });
        }
        match self.keep(msg.clone()).await {
            Ok(Insert::Stored) => {
                self.remember(&msg);
                self.notify_subscribers(msg.clone(), Source::Api);
                if self
                    .commands
                    .send(Command::Publish {
                        data: msg.encode(),
                        holders: Vec::new(),
                    })
                    .await
                    .is_err()
                {
                    // Shutdown began after the commit: the message is durable all the same,
                    // and peers get it from this node's history by sync once it is back.
                    tracing::info!(
                        digest = %hex::encode(digest),
                        "stored while stopping; not gossiped"
                    );
                }
                Ok(Published {
                    digest,
                    duplicate: false,
                    stored: self.writer.is_some(),
                })
            }
            Ok(Insert::Duplicate) => Ok(Published {
                digest,
                duplicate: true,
                stored: true,
            }),
            Ok(Insert::Full) => {
                self.metrics.rejected("store_full");
                Err(PublishError::StoreFull)
            }
            Err(StoreError::Closed) => Err(PublishError::Closed),
            Err(e) => Err(PublishError::Store(e)),
        }
    }

    pub(crate) async fn report(&self, id: MessageId, peer: PeerId, acceptance: MessageAcceptance) {
        let _ = self
            .commands
            .send(Command::Report {
                id,
                peer,
                acceptance,
            })
            .await;
    }

    pub(crate) async fn store_and_notify(&self, msg: Arc<Message>, source: Source) {
        match self.keep(msg.clone()).await {
            Ok(Insert::Stored) => self.notify_subscribers(msg, source),
            Ok(Insert::Duplicate) => {}
            Ok(Insert::Full) => {
                // It paid less per byte-second than everything stored: still valid, so still
                // delivered live, but this node does not keep it.
                self.metrics.rejected("store_full");
                self.notify_subscribers(msg, source);
            }
            Err(e) => tracing::warn!(error = %e, "storing a valid message failed"),
        }
    }
}

/// Takes events from the swarm task and runs each off it, gossip under a concurrency bound
/// (waiting for a slot slows the swarm down: no valid frame is dropped for rate). Ends when the
/// swarm task ends.
pub(crate) async fn dispatch(
    core: Arc<Core>,
    mut events: mpsc::Receiver<Event>,
    shared: Arc<Shared>,
    resync: Duration,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut rounds = tokio::time::interval(resync);
    rounds.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    rounds.tick().await;
    let mut upkeep = tokio::time::interval(UPKEEP);
    upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = rounds.tick() => {
                for peer in connected(&shared) {
                    let core = core.clone();
                    tokio::spawn(async move { core.sync_with(peer).await });
                }
                continue;
            }
            _ = upkeep.tick() => {
                tokio::spawn(core.clone().upkeep(connected(&shared)));
                tokio::spawn(core.clone().sync_upkeep());
                continue;
            }
        };
        // What a peer banned since sent, and is still queued, costs nothing more.
        if event.peer().is_some_and(|p| core.guard().banned(p)) {
            if let Event::Gossip { peer, id, .. } = event {
                core.drop_banned(peer, id);
            }
            continue;
        }
        match event {
            Event::Gossip { peer, ip, id, data } => {
                // Waiting here is the backpressure: the queue fills, the swarm reads slower.
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let core = core.clone();
                tokio::spawn(async move {
                    core.gossip(peer, ip, id, data).await;
                    drop(permit);
                });
            }
            Event::Connected(peer) => {
                let core = core.clone();
                tokio::spawn(async move { core.sync_with(peer).await });
            }
            Event::Disconnected(peer) => core.sync().forget(peer),
            Event::SyncRequest {
                peer,
                request,
                channel,
            } => {
                let core = core.clone();
                tokio::spawn(async move { core.serve(peer, request, channel).await });
            }
            Event::SyncResponse {
                peer,
                sent,
                response,
            } => {
                let core = core.clone();
                tokio::spawn(async move { core.sync_response(peer, sent, response).await });
            }
            Event::SyncFailed {
                peer,
                sent,
                failure,
            } => {
                let core = core.clone();
                tokio::spawn(async move { core.sync_failed(peer, sent, failure).await });
            }
        }
    }
    tracing::debug!("dispatcher stopped");
}
