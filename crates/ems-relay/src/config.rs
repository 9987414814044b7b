//! What a node is told at start.

use ems_core::Policy;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// The transport, when not TCP + Noise + Yamux (`None`, the default). The network
    /// simulator (`crates/ems-sim`) runs a thousand nodes in one process over an in-memory
    /// transport with emulated latency, bandwidth and loss.
    pub transport: Option<TransportFactory>,
}

/// An authenticated, multiplexed libp2p transport.
pub type BoxedTransport = Boxed<(PeerId, StreamMuxerBox)>;

/// Builds a node's transport from its identity key.
#[derive(Clone)]
pub struct TransportFactory(Arc<dyn Fn(&Keypair) -> BoxedTransport + Send + Sync>);

impl TransportFactory {
    /// Wraps a function from the node's key to its transport.
    pub fn new(build: impl Fn(&Keypair) -> BoxedTransport + Send + Sync + 'static) -> Self {
        TransportFactory(Arc::new(build))
    }

    /// The transport for a node with this key.
    pub fn build(&self, key: &Keypair) -> BoxedTransport {
        (self.0)(key)
    }
}

impl std::fmt::Debug for TransportFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportFactory")
    }
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
            transport: None,
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
    /// Gossipsub mesh and forwarding parameters.
    pub gossip: Gossip,
}

/// Gossipsub parameters chosen by measurement (`crates/ems-sim`; reasons in `docs/relay.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gossip {
    /// D: peers in the mesh, each of which receives every message in full.
    pub mesh_n: usize,
    /// D_low: below this, the heartbeat grafts peers.
    pub mesh_n_low: usize,
    /// D_high: above this, the heartbeat prunes peers.
    pub mesh_n_high: usize,
    /// D_out: outbound peers the mesh keeps (an eclipse defence); below `mesh_n_low` and at
    /// most `mesh_n / 2`.
    pub mesh_outbound_min: usize,
    /// D_lazy: peers outside the mesh that receive IHAVE gossip each heartbeat.
    pub gossip_lazy: usize,
    /// Send a message this node publishes to every peer on the topic, not just its mesh.
    pub flood_publish: bool,
    /// Messages at least this large make the node send IDONTWANT to its mesh peers on
    /// receipt, so that they do not send it a copy too.
    pub idontwant_threshold: usize,
}

impl Default for Gossip {
    fn default() -> Self {
        Gossip {
            mesh_n: 6,
            mesh_n_low: 5,
            mesh_n_high: 12,
            mesh_outbound_min: 2,
            gossip_lazy: 6,
            flood_publish: true,
            idontwant_threshold: 1_000,
        }
    }
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
            gossip: Gossip::default(),
        }
    }
}
