//! The `qrl` backend: block-hash freshness and the lattice key store from a real qrl-node over
//! its public gRPC API.
//!
//! ```text
//!  qrl-node PublicAPI ◄── GetLatestData (≤ 100 headers a call) ── refresh task (tokio)
//!        ▲                                                           │ checks, links, splices
//!        │                                                           ▼
//!        └── GetLatticePKsByAddress ◄── lattice_entries()     Window + Health (in memory)
//!                                                                    ▲
//!                                         ChainView::head / find ────┘  (never waits on I/O)
//! ```
//!
//! [`QrlChain::start`] returns at once and connects in the background. The refresh task keeps the
//! header of every block of the last `window_secs` (prefix, time, full hashes for linking), polls
//! at half the measured block interval, follows reorgs (a new header whose parent hash does not
//! match what is cached makes it fetch back until the two agree), and reconnects with backoff.
//! When the node fails or its head stops moving, cached blocks are served for `grace`, then
//! `head`/`find` answer [`ChainError::Unavailable`] until a refresh succeeds again. Each change of
//! state is logged once.

mod client;
mod endpoint;
mod error;
#[cfg(fuzzing)]
pub mod fuzzing;
mod health;
mod keys;
pub mod proto;
mod refresh;
mod window;

pub use endpoint::QrlEndpoint;
pub use error::QrlError;
pub use health::QrlState;
pub use keys::{committed_by, KeyStore, LatticeEntry, PK1_MAX, PK2_MAX, PK3_MAX};

use client::Client;
use ems_core::{BlockRef, BundleBody, ChainError, ChainView, QrlAddress};
use health::Health;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use window::Window;

/// `chain.qrl.*`: how far the backend trusts its node. Seconds throughout.
///
/// ```toml
/// [chain.qrl]
/// grace = 120        # cached blocks are served this long after the node fails or stalls
/// timeout = 5        # bound on each call to the node, connecting included (at least 1)
/// stall_after = 0    # no new block for this long is a stuck node; 0: ten block intervals, >= 10 s
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QrlConfig {
    /// `chain.qrl.grace`: seconds cached blocks are still served once the node fails or stops
    /// producing blocks; then validation refuses with `chain_unavailable`.
    pub grace: u64,
    /// `chain.qrl.timeout`: seconds each call to the node may take, connecting included (0 is
    /// read as 1).
    pub timeout: u64,
    /// `chain.qrl.stall_after`: seconds without a new block after which the node counts as
    /// stuck; 0: ten measured block intervals, at least ten seconds.
    pub stall_after: u64,
}

impl Default for QrlConfig {
    fn default() -> Self {
        QrlConfig {
            grace: 120,
            timeout: 5,
            stall_after: 0,
        }
    }
}

/// What the backend reports for status pages and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrlStatus {
    /// `qrl://HOST:PORT`.
    pub source: String,
    /// The cached head's height, once a block was fetched.
    pub height: Option<u64>,
    /// The cached head's 4-byte prefix.
    pub head_prefix: Option<[u8; 4]>,
    /// What the backend does with its source now.
    pub state: QrlState,
    /// True while the node answers and its head moves.
    pub healthy: bool,
    /// The current problem (a failed call, a garbage answer, a stuck head), if any.
    pub problem: Option<String>,
    /// Headers held in memory.
    pub blocks_cached: usize,
}

/// A [`ChainView`] backed by a qrl-node, refreshed in the background, plus the node's lattice
/// key store.
#[derive(Debug)]
pub struct QrlChain {
    shared: Arc<Shared>,
    refresh: tokio::task::AbortHandle,
}

/// What the handle and the refresh task share.
#[derive(Debug)]
struct Shared {
    endpoint: QrlEndpoint,
    /// Seconds of blocks kept.
    window_secs: u64,
    config: QrlConfig,
    state: RwLock<Cache>,
    client: Mutex<Option<Client>>,
}

/// The blocks and the health record, behind one lock so answers are consistent.
#[derive(Debug, Default)]
struct Cache {
    window: Window,
    health: Health,
}

impl QrlChain {
    /// Starts the backend for `endpoint`, keeping the blocks of the last `window_secs` (the
    /// policy's `max_ttl` plus `clock_skew`, so history validation finds every block it needs):
    /// returns at once, connects and fetches in a background task that ends when the returned
    /// handle is dropped. Must be called inside a Tokio runtime.
    pub fn start(endpoint: QrlEndpoint, window_secs: u64, config: &QrlConfig) -> Arc<QrlChain> {
        let shared = Arc::new(Shared {
            endpoint,
            window_secs,
            config: config.clone(),
            state: RwLock::default(),
            client: Mutex::default(),
        });
        let refresh = tokio::spawn(refresh::run(shared.clone())).abort_handle();
        Arc::new(QrlChain { shared, refresh })
    }

    /// The node's endpoint.
    pub fn endpoint(&self) -> &QrlEndpoint {
        &self.shared.endpoint
    }

    /// Height, head, health and the current problem at `now` (unix seconds).
    pub fn status(&self, now: u64) -> QrlStatus {
        let cache = self.shared.read();
        let tip = cache.window.tip().map(window::Header::block_ref);
        let state = self.shared.state_at(&cache, now);
        QrlStatus {
            source: self.shared.endpoint.to_string(),
            height: tip.map(|b| b.height),
            head_prefix: tip.map(|b| b.prefix),
            state,
            healthy: state == QrlState::Healthy,
            problem: cache.health.problem().map(str::to_string),
            blocks_cached: cache.window.len(),
        }
    }

    /// Every lattice entry `address` published, newest first (asks the node; not cached).
    pub async fn lattice_entries(
        &self,
        address: &QrlAddress,
    ) -> Result<Vec<LatticeEntry>, QrlError> {
        let mut client = self.shared.client()?;
        keys::lattice_entries(&mut client, &address.0).await
    }

    /// The lattice entry by which `address` commits to `body`; see [`committed_by`].
    pub async fn commitment(
        &self,
        address: &QrlAddress,
        body: &BundleBody,
    ) -> Result<Option<LatticeEntry>, QrlError> {
        Ok(committed_by(self.lattice_entries(address).await?, body))
    }
}

impl Drop for QrlChain {
    fn drop(&mut self) {
        self.refresh.abort();
    }
}

impl ChainView for QrlChain {
    fn source(&self) -> String {
        self.shared.endpoint.to_string()
    }

    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        let cache = self.shared.serving(now)?;
        cache
            .window
            .tip()
            .map(window::Header::block_ref)
            .ok_or_else(|| self.shared.unavailable("no block fetched yet"))
    }

    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        Ok(self.shared.serving(now)?.window.find(prefix))
    }

    fn healthy(&self, now: u64) -> bool {
        self.shared.state_at(&self.shared.read(), now) == QrlState::Healthy
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn state_at(&self, cache: &Cache, now: u64) -> QrlState {
        cache
            .health
            .state(now, cache.window.tip().is_some(), self.config.grace)
    }

    /// The cache, if it may be served at `now`.
    fn serving(&self, now: u64) -> Result<std::sync::RwLockReadGuard<'_, Cache>, ChainError> {
        let cache = self.read();
        match self.state_at(&cache, now) {
            QrlState::Healthy | QrlState::Degraded => Ok(cache),
            QrlState::Connecting => Err(self.unavailable("no block fetched yet")),
            QrlState::Unavailable => {
                let why = cache.health.problem().unwrap_or("no healthy refresh");
                Err(self.unavailable(why))
            }
        }
    }

    fn unavailable(&self, why: &str) -> ChainError {
        ChainError::Unavailable(format!("{}: {why}", self.endpoint))
    }

    /// The current client, created (connecting lazily) if there is none.
    fn client(&self) -> Result<Client, QrlError> {
        let mut slot = self.client.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let client = Client::lazy(&self.endpoint, self.timeout())?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// The bound on each call.
    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout.max(1))
    }

    /// Forgets the client so the next call reconnects from scratch.
    fn reset_client(&self) {
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
