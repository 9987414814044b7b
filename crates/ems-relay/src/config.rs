//! What a node is told at start.

use ems_core::Policy;
use libp2p::Multiaddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything [`crate::Node::start`] needs besides the chain.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Directory holding `store.redb` and `node.key` (the libp2p identity, created once).
    pub data_dir: PathBuf,
    /// Network name: gossip topic `/qrl/ems/1/<network>`.
    pub network: String,
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (and redial while disconnected), with `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// The node policy: relay and store switches, store budget, limits, proof of work.
    pub policy: Policy,
    /// Timing and limit knobs with production defaults; tests shorten some of them.
    pub tuning: Tuning,
}

impl NodeConfig {
    /// A configuration with the default policy and tuning, no listen address and no bootstrap
    /// peers.
    pub fn new(data_dir: impl Into<PathBuf>, network: impl Into<String>) -> Self {
        NodeConfig {
            data_dir: data_dir.into(),
            network: network.into(),
            listen: Vec::new(),
            bootstrap: Vec::new(),
            policy: Policy::default(),
            tuning: Tuning::default(),
        }
    }

    /// The gossipsub topic of this network.
    pub fn topic(&self) -> String {
        format!("/qrl/ems/1/{}", self.network)
    }
}

/// Knobs that are not node policy: protocol timings and per-peer limits.
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Gossipsub heartbeat (mesh maintenance, gossip emission). Default 1 s.
    pub heartbeat: Duration,
    /// Sustained gossip messages per second accepted from one peer; more are ignored.
    pub peer_rate: u32,
    /// Burst of gossip messages one peer may send above its sustained rate.
    pub peer_burst: u32,
    /// How often bootstrap peers that are not connected are redialled.
    pub redial: Duration,
    /// How often the node repeats history sync with every connected peer (asking only for what
    /// they received since the previous round, less a margin), so that messages lost to rate
    /// limits or overload are recovered without a reconnect.
    pub resync: Duration,
    /// Run Kademlia to discover peers beyond the bootstrap list, and dial them (up to a dozen
    /// connections). Default on; tests that need a fixed topology turn it off, which leaves
    /// the node connected to its bootstrap peers and whoever dials it.
    pub discovery: bool,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            heartbeat: Duration::from_secs(1),
            peer_rate: 1_000,
            peer_burst: 2_000,
            redial: Duration::from_secs(10),
            resync: Duration::from_secs(300),
            discovery: true,
        }
    }
}
