//! The [`Node`] handle: what the daemon (and tests) call.

use crate::config::NodeConfig;
use crate::config::Task;
use crate::error::{PublishError, RelayError, StoreError};
pub use crate::ingest::Published;
use crate::ingest::{dispatch, Core};
use crate::metrics::Metrics;
use crate::network::{self, Command, Network, Shared};
use crate::node_key;
use crate::store::{Page, Position, Query, Scan, Store, MAX_PAGE};
use crate::subscription::{Filter, Subscription};
use crate::supervise::{Supervisor, TaskFailure};
use crate::writer::Writer;
use ems_core::{ChainView, Message, Policy};
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Commands and events queued between the swarm task and the rest of the node.
const QUEUE: usize = 4_096;
/// How long shutdown waits for readers still holding the store before closing it anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

use crate::clock::unix_now;

/// What `/v1/status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// This node's peer id.
    pub peer_id: String,
    /// Bound addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// Network name.
    pub network: String,
    /// Connected peers.
    pub peers: usize,
    /// The chain view.
    pub chain: ChainStatus,
    /// Store figures.
    pub store: StoreStatus,
}

/// The chain as the node sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ChainStatus {
    /// `devnet`, `static`, `qrl://host:port`.
    pub source: String,
    /// Head height, when the chain can answer.
    pub height: Option<u64>,
    /// Hex of the head's 4-byte hash prefix, when the chain can answer.
    pub head_prefix: Option<String>,
    /// Whether the chain source is healthy (see `ChainView::healthy`); when the chain cannot
    /// answer at all, every message is refused.
    pub healthy: bool,
}

/// Store figures.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct StoreStatus {
    /// Messages held.
    pub messages: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

struct Inner {
    core: Arc<Core>,
    peer_id: PeerId,
    shared: Arc<Shared>,
    network: String,
    policy: Policy,
    chain: Arc<dyn ChainView>,
    shutdown: watch::Sender<bool>,
    supervisor: Supervisor,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// A running relay. Cloning is cheap; every clone drives the same node.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("peer_id", &self.inner.peer_id)
            .field("network", &self.inner.network)
            .finish()
    }
}

impl Node {
    /// Opens the store (purging what expired while the node was down), loads or creates the
    /// node key, binds the listen addresses, dials the bootstrap peers, and starts the swarm,
    /// the validation pipeline, the writer and the expiry sweeper.
    pub async fn start(config: NodeConfig, chain: Arc<dyn ChainView>) -> Result<Node, RelayError> {
        config
            .policy
            .check()
            .map_err(|e| RelayError::Config(e.to_string()))?;
        if config.network.is_empty() || config.network.contains('/') {
            return Err(RelayError::Config(format!(
                "network name {:?} must be non-empty and contain no '/'",
                config.network
            )));
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|source| RelayError::Io {
            what: "creating data directory",
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let key = node_key::load_or_create(&config.data_dir.join("node.key"))?;
        let metrics = Arc::new(Metrics::new());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let supervisor = Supervisor::new(config.tuning.inject_fault);
        let mut tasks = Vec::new();

        let (store, writer) = if config.policy.store.enabled {
            let path = config.data_dir.join("store.redb");
            let now = unix_now();
            let (store, purged) = tokio::task::spawn_blocking(move || Store::open(&path, now))
                .await
                .map_err(|e| StoreError::Worker(e.to_string()))??;
            metrics.expired.inc_by(purged);
            if purged > 0 {
                tracing::info!(
                    purged,
                    "deleted messages that expired while the node was down"
                );
            }
            let store = Arc::new(store);
            let (writer, task) = Writer::spawn(
                store.clone(),
                config.policy.store.max_bytes,
                metrics.clone(),
                shutdown_rx,
            );
            tasks.push(supervisor.watch(Task::Writer, task));
            (Some(store), Some(writer))
        } else {
            (None, None)
        };

        let network = Network::start(key, &config, metrics.clone()).await?;
        let peer_id = network.local_peer_id();
        let shared = network.shared();
        let (commands, commands_rx) = mpsc::channel(QUEUE);
        let (events, events_rx) = mpsc::channel(QUEUE);
        let core = Arc::new(Core::new(
            &config,
            chain.clone(),
            store,
            writer,
            metrics,
            commands,
            shared.bans.clone(),
            peer_id,
        ));
        let swarm = tokio::spawn(network.run(commands_rx, events));
        tasks.push(supervisor.watch(Task::Swarm, swarm));
        let dispatcher = tokio::spawn(dispatch(
            core.clone(),
            events_rx,
            shared.clone(),
            config.tuning.resync,
        ));
        tasks.push(supervisor.watch(Task::Dispatcher, dispatcher));
        tracing::info!(%peer_id, network = %config.network, "relay started");
        Ok(Node {
            inner: Arc::new(Inner {
                core,
                peer_id,
                shared,
                network: config.network,
                policy: config.policy,
                chain,
                shutdown,
                supervisor,
                tasks: Mutex::new(tasks),
            }),
        })
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// The addresses actually bound, each with `/p2p/<peer id>`.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        network::listen_addrs(&self.inner.shared)
    }

    /// Validates `msg` (live context), stores it durably (committed before this returns), then
    /// gossips it. A message already stored is reported as a duplicate and not gossiped again.
    pub async fn publish(&self, msg: Message) -> Result<Published, PublishError> {
        // Validation runs on the blocking pool.
        self.inner.core.publish(msg).await
    }

    /// A stream of messages newly accepted from now on (from the API, gossip or sync).
    pub fn subscribe(&self, filter: Filter) -> Subscription {
        Subscription::new(self.inner.core.subscribe_accepted(), filter)
    }

    fn store(&self) -> Result<Option<Arc<Store>>, RelayError> {
        match self.inner.core.store() {
            Some(store) => Ok(Some(store)),
            None if *self.inner.shutdown.borrow() => Err(RelayError::Closed),
            None => Ok(None),
        }
    }

    /// The stored, unexpired message with this digest.
    pub async fn get(&self, digest: &[u8; 32]) -> Result<Option<Message>, RelayError> {
        let Some(store) = self.store()? else {
            return Ok(None);
        };
        let digest = *digest;
        let now = unix_now();
        Ok(blocking(move || store.get(&digest, now)).await?)
    }

    /// Stored, unexpired messages matching `q`, a page at a time.
    pub async fn query(&self, q: Query) -> Result<Page, RelayError> {
        let after = q.cursor.as_deref().map(Position::from_cursor).transpose()?;
        let scan = Scan::new(q.tags, q.since, after, q.limit, MAX_PAGE)?;
        let Some(store) = self.store()? else {
            return Ok(Page::default());
        };
        let now = unix_now();
        Ok(blocking(move || {
            let (digests, next) = store.scan(&scan, now)?;
            Ok(Page {
                messages: store.load(&digests, now)?,
                next_cursor: next.map(|p| p.to_cursor()),
            })
        })
        .await?)
    }

    /// Identity, peers, chain and store figures.
    pub async fn status(&self) -> Status {
        let (messages, bytes) = self.store_figures();
        Status {
            peer_id: self.inner.peer_id.to_string(),
            listen_addrs: self
                .listen_addrs()
                .await
                .iter()
                .map(ToString::to_string)
                .collect(),
            network: self.inner.network.clone(),
            peers: self.peers(),
            chain: self.chain_status(),
            store: StoreStatus { messages, bytes },
        }
    }

    fn peers(&self) -> usize {
        network::connected(&self.inner.shared).len()
    }

    fn store_figures(&self) -> (u64, u64) {
        self.inner.core.store().map_or((0, 0), |s| s.stats())
    }

    fn chain_status(&self) -> ChainStatus {
        let chain = &self.inner.chain;
        let now = unix_now();
        match chain.head(now) {
            Ok(head) => ChainStatus {
                source: chain.source(),
                height: Some(head.height),
                head_prefix: Some(hex::encode(head.prefix)),
                healthy: chain.healthy(now),
            },
            Err(e) => {
                tracing::debug!(error = %e, "chain unavailable");
                ChainStatus {
                    source: chain.source(),
                    height: None,
                    head_prefix: None,
                    healthy: false,
                }
            }
        }
    }

    /// The chain view messages are validated against.
    pub fn chain(&self) -> &Arc<dyn ChainView> {
        &self.inner.chain
    }

    /// The node policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// A connected peer's gossipsub score (`None` if unknown or the node is shut down).
    pub async fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .core
            .commands()
            .send(Command::PeerScore { peer: *peer, reply })
            .await
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Counts an HTTP API connection the daemon refused at a connection cap, under `reason`
    /// (`ems_api_connections_refused_total`).
    pub fn count_api_refusal(&self, reason: &'static str) {
        self.inner
            .core
            .metrics()
            .api_refused
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    /// Prometheus text exposition (names in `INTERFACES.md`).
    pub fn metrics(&self) -> String {
        let m = self.inner.core.metrics();
        let (messages, bytes) = self.store_figures();
        m.stored.set(saturating_i64(messages));
        m.store_bytes.set(saturating_i64(bytes));
        m.peers.set(saturating_i64(self.peers() as u64));
        let (held, seen) = self.inner.core.guard_sizes();
        m.held.set(saturating_i64(held as u64));
        m.seen.set(saturating_i64(seen as u64));
        let chain = self.chain_status();
        m.chain_height.set(chain.height.map_or(0, saturating_i64));
        m.chain_healthy.set(i64::from(chain.healthy));
        m.encode()
    }

    /// Resolves when a core task (swarm, dispatcher, writer) has ended while the node was not
    /// shutting down; never otherwise. The node no longer works: its owner should exit non-zero
    /// so that it is restarted.
    pub async fn failed(&self) -> TaskFailure {
        self.inner.supervisor.failed().await
    }

    /// Stops accepting, closes every connection, commits the writes already queued, and closes
    /// the store.
    pub async fn shutdown(self) {
        let inner = &self.inner;
        inner.supervisor.stopping();
        let _ = inner.core.commands().send(Command::Shutdown).await;
        inner.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *inner.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "relay task failed during shutdown");
            }
        }
        let store = inner.core.close_store();
        if let Some(mut store) = store {
            // Readers finish their current call, then the last reference closes the file.
            let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
            loop {
                match Arc::try_unwrap(store) {
                    Ok(store) => {
                        drop(store);
                        break;
                    }
                    Err(still_shared) if tokio::time::Instant::now() < deadline => {
                        store = still_shared;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(_) => {
                        tracing::warn!("store still in use at shutdown; it closes when released");
                        break;
                    }
                }
            }
        }
        tracing::info!(peer_id = %inner.peer_id, "relay stopped");
    }
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))?
}
