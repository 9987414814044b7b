//! [`Relay`]: an `ems-relay` node on a runtime of its own, driven by blocking calls.
//!
//! The host keeps its own threads and event loop (a Twisted reactor, Go's scheduler): the relay
//! runs its swarm, validation and store on `threads` worker threads named `ems-relay`, and each
//! call blocks the calling thread only until its answer is ready. Bindings release their
//! interpreter lock around every call.

use crate::config::RelayConfig;
use crate::{Code, Error};
use ems_core::{ChainView, Message};
use ems_relay::{Filter, Node, Published};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// How long [`Relay::stop`] lets runtime threads finish after the node has shut down.
const RUNTIME_GRACE: Duration = Duration::from_secs(5);

struct Running {
    runtime: Arc<Runtime>,
    node: Node,
}

/// A running relay (see the module docs). Every method takes `&self`, so one handle can be
/// shared between host threads; after [`stop`](Self::stop) calls fail with
/// [`Code::ShuttingDown`].
pub struct Relay {
    running: Mutex<Option<Running>>,
    peer_id: String,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("peer_id", &self.peer_id)
            .finish()
    }
}

fn stopped() -> Error {
    Error::new(Code::ShuttingDown, "the relay is stopped")
}

impl Relay {
    /// Starts a relay that validates against `chain`: opens its store, binds its listen
    /// addresses and dials its bootstrap peers. Returns once it listens.
    pub fn start(config: &RelayConfig, chain: Arc<dyn ChainView>) -> Result<Relay, Error> {
        let node_config = config.node_config()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .thread_name("ems-relay")
            .enable_all()
            .build()
            .map_err(|e| Error::new(Code::Internal, format!("starting the runtime: {e}")))?;
        let node = runtime.block_on(Node::start(node_config, chain))?;
        Ok(Relay {
            peer_id: node.peer_id().to_string(),
            running: Mutex::new(Some(Running {
                runtime: Arc::new(runtime),
                node,
            })),
        })
    }

    fn running(&self) -> Result<(Arc<Runtime>, Node), Error> {
        let guard = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let r = guard.as_ref().ok_or_else(stopped)?;
        Ok((r.runtime.clone(), r.node.clone()))
    }

    /// This node's libp2p peer id.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Validates wire bytes (live context), stores them durably, then gossips them.
    pub fn publish(&self, wire: &[u8]) -> Result<Published, Error> {
        let msg = Message::decode(wire)?;
        let (rt, node) = self.running()?;
        Ok(rt.block_on(node.publish(msg))?)
    }

    /// The stored, unexpired frame with this digest.
    pub fn get(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, Error> {
        let (rt, node) = self.running()?;
        Ok(rt.block_on(node.get(digest))?.map(|m| m.encode()))
    }

    /// Messages accepted from now on whose `ID0` is one of `tags` (every message when empty).
    pub fn subscribe(&self, tags: Vec<[u8; 32]>) -> Result<Subscription, Error> {
        let (rt, node) = self.running()?;
        let filter = if tags.is_empty() {
            Filter::All
        } else {
            Filter::Tags(tags)
        };
        let inner = {
            let _entered = rt.enter();
            node.subscribe(filter)
        };
        Ok(Subscription {
            runtime: rt,
            inner: Mutex::new(Some(inner)),
            closed: Notify::new(),
            closing: AtomicBool::new(false),
        })
    }

    /// What `/v1/status` reports, as JSON: peer id, listen addresses, peers, chain, store.
    pub fn status(&self) -> Result<serde_json::Value, Error> {
        let (rt, node) = self.running()?;
        let status = rt.block_on(node.status());
        serde_json::to_value(status).map_err(|e| Error::new(Code::Internal, e.to_string()))
    }

    /// Prometheus text exposition of the relay's metrics.
    pub fn metrics(&self) -> Result<String, Error> {
        let (rt, node) = self.running()?;
        let _entered = rt.enter();
        Ok(node.metrics())
    }

    /// Stops the relay: closes connections, commits queued writes, closes the store and ends
    /// the runtime's threads. Calling it again does nothing.
    pub fn stop(&self) {
        let taken = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(Running { runtime, node }) = taken else {
            return;
        };
        runtime.block_on(node.shutdown());
        // Subscriptions hold the runtime too; the last holder ends its threads.
        if let Ok(runtime) = Arc::try_unwrap(runtime) {
            runtime.shutdown_timeout(RUNTIME_GRACE);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Messages a relay accepts, read by blocking calls (see [`Relay::subscribe`]).
pub struct Subscription {
    runtime: Arc<Runtime>,
    inner: Mutex<Option<ems_relay::Subscription>>,
    /// Wakes a waiting `next` when the host closes the subscription.
    closed: Notify,
    /// Set by `close`, so that every later `next` returns at once.
    closing: AtomicBool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// What a wait on a [`Subscription`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// A message, as wire bytes.
    Message(Vec<u8>),
    /// Nothing arrived in time.
    Timeout,
    /// The relay stopped (or the subscription was closed): nothing more will arrive.
    Closed,
}

impl Subscription {
    /// Waits up to `timeout` (forever when `None`) for the next message.
    pub fn next(&self, timeout: Option<Duration>) -> Next {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sub) = guard.as_mut() else {
            return Next::Closed;
        };
        let got = self.runtime.block_on(async {
            let wait = async {
                match timeout {
                    Some(t) => tokio::time::timeout(t, sub.next()).await.ok(),
                    None => Some(sub.next().await),
                }
            };
            tokio::select! {
                got = wait => Some(got),
                () = self.closed.notified() => None,
            }
        });
        let got = got.map(|g| g.map(|m| m.map(|m| m.encode())));
        match got {
            Some(None) => Next::Timeout,
            Some(Some(Some(frame))) => Next::Message(frame),
            Some(Some(None)) | None => {
                *guard = None;
                Next::Closed
            }
        }
    }

    /// Ends the subscription; a [`next`](Self::next) waiting on another thread returns
    /// [`Next::Closed`] at once, and so does every later one.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.closed.notify_one();
    }
}
