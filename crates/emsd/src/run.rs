//! `emsd run`: start the relay and its API, publish `node.json`, and stop cleanly on a signal.
//!
//! Order of work: build the chain view; start the [`Node`] (opens the store, binds p2p); bind
//! the API; write `DATA_DIR/node.json` so scripts can wire nodes together; serve until
//! SIGTERM/SIGINT. Then the API stops accepting and finishes in-flight requests (each frame it
//! acknowledged is already committed), live streams close, and the node commits what is queued
//! and closes the store.
//!
//! Supervision: if a core task of the node (swarm, dispatcher, writer) or the API server ends
//! while no stop was asked for, the daemon logs the task's name and exits non-zero
//! ([`RunError::TaskFailed`]), so that systemd (`Restart=on-failure`) starts it again: a node
//! that answers `503` forever or silently stops relaying helps nobody. For the test that shows
//! it, `EMSD_FAULT_INJECT=swarm|dispatcher|writer` aborts that task shortly after start.

use crate::api::{self, ApiState, RateLimiter};
use crate::config::{ChainSource, Config, ConfigError};
use crate::shutdown::{self, Shutdown, ShutdownSignal};
use ems_chain::{DevnetChain, QrlChain};
use ems_core::ChainView;
use ems_core::StaticChain;
use ems_relay::{Node, NodeConfig, RelayError, Task, TaskFailure};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How long in-flight API requests may take to finish after a stop signal
/// (`contrib/emsd.service` allows this plus 20 s for the store before SIGKILL).
pub const DRAIN: Duration = Duration::from_secs(10);
/// The fault-injection variable: the core task it names is aborted shortly after start.
pub const FAULT_ENV: &str = "EMSD_FAULT_INJECT";
/// How long the p2p listeners may take to report their bound addresses.
const LISTEN_WAIT: Duration = Duration::from_secs(10);

/// `DATA_DIR/node.json`, written once the node listens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The libp2p peer id.
    pub peer_id: String,
    /// Bound p2p addresses, each ending in `/p2p/<peer id>`: use one as `--bootstrap`.
    pub listen_addrs: Vec<String>,
    /// The API's base URL, e.g. `http://127.0.0.1:19101`.
    pub api: String,
    /// The daemon's process id, so a script can tell this run's file from a stale one.
    pub pid: u32,
}

impl NodeInfo {
    /// Where the file lives in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("node.json")
    }

    /// Waits (polling, up to `within`) for the `node.json` in `data_dir` written by process
    /// `pid`, so a stale file from an earlier run is never taken for this one.
    pub fn wait(data_dir: &Path, pid: u32, within: Duration) -> Result<NodeInfo, String> {
        let path = Self::path(data_dir);
        let deadline = std::time::Instant::now() + within;
        loop {
            let found = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| serde_json::from_str::<NodeInfo>(&text).ok())
                .filter(|info| info.pid == pid);
            if let Some(info) = found {
                return Ok(info);
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "no node.json from process {pid} after {} s",
                    within.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Why the daemon stopped with an error (exit code 1; configuration errors are 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be created or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The relay could not start.
    #[error("relay: {0}")]
    Relay(#[from] RelayError),
    /// The API address cannot be bound.
    #[error("API address {addr}: {source}")]
    ApiBind {
        /// `api.addr`.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A core task ended while the node was running.
    #[error(transparent)]
    TaskFailed(#[from] TaskFailure),
    /// Signal handlers could not be installed, or the API server failed.
    #[error("{what}: {source}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs a node until SIGTERM or SIGINT; returns once everything is committed and closed.
pub async fn run(config: Config) -> Result<(), RunError> {
    let (shutdown, signal) = Shutdown::new();
    let watcher = tokio::spawn(async move {
        match shutdown::os_signal().await {
            Ok(name) => tracing::info!(signal = name, "stopping: draining requests"),
            Err(e) => tracing::error!(error = %e, "cannot watch for signals; stopping"),
        }
        shutdown.trigger();
    });
    let result = serve(config, signal).await;
    watcher.abort();
    result
}

/// Runs a node until `stop` fires.
pub async fn serve(config: Config, stop: ShutdownSignal) -> Result<(), RunError> {
    let chain = chain_view(&config)?;
    let dir = &config.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| RunError::DataDir {
        path: dir.clone(),
        source,
    })?;
    let info_path = NodeInfo::path(dir);
    remove_stale(&info_path)?;

    let node = Node::start(node_config(&config)?, chain).await?;
    let listener = tokio::net::TcpListener::bind(config.api.addr)
        .await
        .map_err(|source| RunError::ApiBind {
            addr: config.api.addr,
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| RunError::ApiBind {
        addr: config.api.addr,
        source,
    })?;

    let info = NodeInfo {
        peer_id: node.peer_id().to_string(),
        listen_addrs: bound_addrs(&node, !config.listen.is_empty()).await,
        api: format!("http://{api_addr}"),
        pid: std::process::id(),
    };
    write_atomic(&info_path, &info)?;
    tracing::info!(
        peer_id = %info.peer_id,
        listen_addrs = ?info.listen_addrs,
        api = %info.api,
        network = %config.network,
        chain = %config.chain.source,
        data_dir = %dir.display(),
        "node listening"
    );

    let state = ApiState::new(
        node.clone(),
        RateLimiter::new(
            config.api.rate_limit,
            config.api.rate_burst,
            api::MAX_CLIENTS,
        ),
        config.api.token.clone(),
        stop.clone(),
    );
    let limits = api::ConnLimits {
        header_timeout: Duration::from_secs(config.api.header_timeout),
        max_connections: config.api.max_connections,
        max_per_client: config.api.max_connections_per_client,
    };
    let mut server = tokio::spawn(api::serve(listener, state, limits, stop.clone()));
    let ended_first = tokio::select! {
        // Stop first: the API server ends on the same signal, often before this task runs
        // again, and its end is then no failure (checked again below).
        biased;
        () = stop.clone().wait() => None,
        failure = node.failed() => {
            tracing::error!(
                task = failure.task.name(),
                reason = %failure.reason,
                "core task failed; exiting so that the service manager restarts the node"
            );
            server.abort();
            let _ = std::fs::remove_file(&info_path);
            return Err(failure.into());
        }
        ended = &mut server => Some(ended),
    };
    let drained = match ended_first {
        // The server ended while nobody asked it to stop.
        Some(ended) if !stop.is_triggered() => {
            let reason = match ended {
                Ok(Ok(())) => "it returned".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            tracing::error!(task = "api", %reason, "API server ended unexpectedly; exiting");
            node.shutdown().await;
            let _ = std::fs::remove_file(&info_path);
            return Err(RunError::Io {
                what: "API server ended unexpectedly",
                source: std::io::Error::other(reason),
            });
        }
        // Asked to stop, and the server had already drained.
        Some(ended) => Ok(ended),
        None => tokio::time::timeout(DRAIN, server).await,
    };
    match drained {
        Ok(Ok(Ok(()))) => tracing::info!("API drained"),
        Ok(Ok(Err(e))) => tracing::error!(error = %e, "API server failed"),
        Ok(Err(e)) => tracing::error!(error = %e, "API server task failed"),
        Err(_) => tracing::warn!(
            seconds = DRAIN.as_secs(),
            "API requests still running at the drain deadline"
        ),
    }
    node.shutdown().await;
    let _ = std::fs::remove_file(&info_path);
    tracing::info!("stopped");
    Ok(())
}

/// The chain view `chain.source` names.
fn chain_view(config: &Config) -> Result<Arc<dyn ChainView>, RunError> {
    let window = config.limits.max_ttl + config.limits.clock_skew;
    Ok(match config.chain_source()? {
        ChainSource::Devnet => Arc::new(DevnetChain::new(&config.chain.devnet, window)),
        ChainSource::Static(blocks) => Arc::new(StaticChain::from_blocks(blocks)),
        ChainSource::Qrl(endpoint) => QrlChain::start(endpoint, window, &config.chain.qrl),
    })
}

/// The relay's configuration from the daemon's.
pub fn node_config(config: &Config) -> Result<NodeConfig, ConfigError> {
    let mut node = NodeConfig::new(&config.data_dir, &config.network);
    node.listen = config.listen_addrs()?;
    node.bootstrap = config.bootstrap_addrs()?;
    node.policy = config.policy();
    node.tuning.inject_fault = fault_injection()?;
    Ok(node)
}

/// The task [`FAULT_ENV`] names, if set (tests only; `docs/operations.md`).
fn fault_injection() -> Result<Option<Task>, ConfigError> {
    match std::env::var(FAULT_ENV) {
        Err(_) => Ok(None),
        Ok(name) => match Task::from_name(&name) {
            Some(task) => {
                tracing::warn!(task = %name, "{FAULT_ENV} is set: the task will be aborted");
                Ok(Some(task))
            }
            None => Err(ConfigError::Invalid {
                key: FAULT_ENV.to_string(),
                reason: format!("{name:?} is not swarm, dispatcher or writer"),
                origin: "the environment".to_string(),
            }),
        },
    }
}

/// The node's bound addresses; waits (bounded) for the listeners to report them.
async fn bound_addrs(node: &Node, listening: bool) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + LISTEN_WAIT;
    loop {
        let addrs = node.listen_addrs().await;
        if !addrs.is_empty() || !listening || tokio::time::Instant::now() >= deadline {
            return addrs.iter().map(ToString::to_string).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn remove_stale(path: &Path) -> Result<(), RunError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RunError::DataDir {
            path: path.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes `node.json` whole or not at all (readable by all, as before: it holds no secret).
fn write_atomic(path: &Path, info: &NodeInfo) -> Result<(), RunError> {
    let text = serde_json::to_string_pretty(info).expect("NodeInfo serializes");
    ems_client::file::write_atomic(path, text.as_bytes(), 0o644).map_err(|source| {
        RunError::DataDir {
            path: path.to_owned(),
            source,
        }
    })
}
