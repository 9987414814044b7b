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

/// A token bucket's size: `rate` per second sustained, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Tokens per second.
    pub rate: u32,
    /// Tokens held at most.
    pub burst: u32,
}

/// A core task of the node, as named in logs and in [`crate::TaskFailure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// The libp2p swarm.
    Swarm,
    /// The ingest dispatcher (gossip verdicts, sync rounds).
    Dispatcher,
    /// The store's writer and expiry sweeper.
    Writer,
}

impl Task {
    /// The name logs use: `swarm`, `dispatcher`, `writer`.
    pub fn name(self) -> &'static str {
        match self {
            Task::Swarm => "swarm",
            Task::Dispatcher => "dispatcher",
            Task::Writer => "writer",
        }
    }

    /// The task called `name`.
    pub fn from_name(name: &str) -> Option<Task> {
        [Task::Swarm, Task::Dispatcher, Task::Writer]
            .into_iter()
            .find(|t| t.name() == name)
    }
}

/// Knobs that are not node policy: protocol timings and the limits on what a peer can make
/// this node spend. Valid messages are never limited by rate: a saturated node reads more
/// slowly instead (`docs/relay.md`, "Limits").
#[derive(Clone, Debug)]
pub struct Tuning {
    /// Gossipsub heartbeat (mesh maintenance, gossip emission). Default 1 s.
    pub heartbeat: Duration,
    /// How long gossipsub remembers a message id (its duplicate cache). Default 60 s. The
    /// relay's own seen-set covers the rest of a message's live window.
    pub duplicate_cache: Duration,
    /// Waste one peer may cause: invalid frames, duplicates, frames held for a block that
    /// never came; one token each. Over it, the peer's gossip is skipped unread (and fetched
    /// again by sync). Default 100/s, burst 500.
    pub waste_per_peer: Budget,
    /// The same, for all peers behind one IP address. Default 400/s, burst 2 000.
    pub waste_per_ip: Budget,
    /// Argon2id proofs verified per second for one peer (about 0.26 ms each). Over it, the
    /// peer's Argon2id frames are skipped and fetched again by sync. Default 200/s, burst 400.
    pub argon2_per_peer: Budget,
    /// The same, for all peers behind one IP address. Default 400/s, burst 800.
    pub argon2_per_ip: Budget,
    /// Message digests remembered as seen (valid ones, until their block leaves the live
    /// window or their TTL passes), so that no message is forwarded twice. Default 262 144
    /// (about 20 MB).
    pub seen_capacity: usize,
    /// How long a frame naming a block this node does not know yet is held, waiting for the
    /// chain view to catch up, before it is dropped without penalty. Default 12 s.
    pub hold: Duration,
    /// Frames held at most (each at most 8 KiB); per peer, a quarter of it. Default 1 024.
    pub hold_capacity: usize,
    /// How soon a peer whose frames were skipped (over a budget, or the hold queue full) is
    /// asked for what it received since. Default 2 s.
    pub refetch: Duration,
    /// Established connections the node settles at. Default 128. It accepts up to an eighth
    /// more (at least 2 more), so that a newcomer finds room at a full relay, and closes the
    /// excess down to this number: connections at least `connection_grace` old, gossipsub
    /// mesh peers last, otherwise at random (`trim.rs`; `docs/relay.md`, "Connections").
    pub max_connections: u32,
    /// How long a new connection is safe from being closed to bring the node back to
    /// `max_connections`. Default 15 s: longer than `sync_timeout` (10 s), so that a
    /// newcomer's first sync round ends before its connection can be closed, and than the
    /// 10 s in which a healed partition converges, so that links made across at the heal last
    /// through it; short enough that the headroom over `max_connections` frees again soon
    /// (an eighth of it admits that many newcomers per grace period at a full relay).
    pub connection_grace: Duration,
    /// Pending (handshaking) connections at most, each way. Default 32.
    pub max_pending: u32,
    /// Inbound connections (pending or established) from one IP address. Default 8.
    pub max_connections_per_ip: u32,
    /// How long a peer whose gossipsub score fell below the graylist threshold is disconnected
    /// and refused (`ban.rs`). Zero turns bans off (the peer is only graylisted). Default
    /// 10 minutes: its score has decayed back by then.
    pub ban: Duration,
    /// Peers banned at once that connected from one address (an IPv4 address or an IPv6 /64)
    /// after which the address itself is refused new inbound connections for `ban`
    /// (`ban.rs`); connections already open from it stay. Zero never bans an address.
    /// Default 3.
    pub address_ban_after: usize,
    /// Whether loopback addresses can be banned too. Default off: local tools, and every
    /// node of a test, share 127.0.0.1; tests of address bans turn it on.
    pub ban_loopback: bool,
    /// The redial tick. Default 2 s. Below 8 peers a node redials its unconnected bootstrap
    /// peers at every tick; with more, at one tick in 15 of its own (`docs/relay.md`,
    /// "Discovery"). After a partition heals, a node that still has peers on its own side dials
    /// across only at such a redial, so with many nodes, each on its own tick, one tick is
    /// most of the wait before sync can start (`docs/relay.md`, "Reconnecting").
    pub redial: Duration,
    /// How often the node repeats history sync with every connected peer (asking only for what
    /// they received since the previous round, less a margin), so that messages lost to
    /// overload are recovered without a reconnect.
    pub resync: Duration,
    /// Reconcile requests one peer may make of this node per second (`docs/relay.md`, "Sync").
    /// Over it, the peer is answered `Busy`. Default 8/s, burst 32 (a round takes a few).
    pub sync_exchanges: Budget,
    /// Bytes of frames and reconcile answers one peer may have of this node per second. Over
    /// it, the peer is answered `Busy` and tries again later. Default 8 MiB/s, burst 16 MiB;
    /// a burst under [`crate::sync::MAX_RECONCILE_ANSWER`] would answer every reconcile request
    /// `Busy`.
    pub sync_bytes: Budget,
    /// Digests the node wants to fetch at once, from all its peers (its fetch window;
    /// `docs/relay.md`, "Sync": Fetching). A round that finds more leaves the rest to another
    /// round, started once the window has drained. Default 262,144 (8 MiB of digests).
    pub sync_window: usize,
    /// How long a sync request waits for its answer before it is given up (a fetch is then
    /// asked of another peer). Default 10 s.
    pub sync_timeout: Duration,
    /// Run Kademlia to discover peers beyond the bootstrap list, and dial them (up to a dozen
    /// connections). Default on; tests that need a fixed topology turn it off, which leaves
    /// the node connected to its bootstrap peers and whoever dials it.
    pub discovery: bool,
    /// Gossipsub mesh and forwarding parameters.
    pub gossip: Gossip,
    /// Fault injection for supervision tests: the named core task is aborted shortly after
    /// start, as if it had crashed. `None` (the default) in every real deployment; `emsd`
    /// sets it only from the `EMSD_FAULT_INJECT` environment variable
    /// (`docs/operations.md`).
    pub inject_fault: Option<Task>,
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
    /// receipt, so that they do not send it a copy too. Default 2,048 bytes: in the simulator
    /// IDONTWANT cost about 380 bytes of control per relay and message and saved about 0.2
    /// duplicate copies, so it pays for frames above about 1,900 bytes (`docs/relay.md`).
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
            idontwant_threshold: 2_048,
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            heartbeat: Duration::from_secs(1),
            duplicate_cache: Duration::from_secs(60),
            waste_per_peer: Budget {
                rate: 100,
                burst: 500,
            },
            waste_per_ip: Budget {
                rate: 400,
                burst: 2_000,
            },
            argon2_per_peer: Budget {
                rate: 200,
                burst: 400,
            },
            argon2_per_ip: Budget {
                rate: 400,
                burst: 800,
            },
            seen_capacity: 262_144,
            hold: Duration::from_secs(12),
            hold_capacity: 1_024,
            refetch: Duration::from_secs(2),
            max_connections: 128,
            connection_grace: Duration::from_secs(15),
            max_pending: 32,
            max_connections_per_ip: 8,
            ban: Duration::from_secs(600),
            address_ban_after: 3,
            ban_loopback: false,
            redial: Duration::from_secs(2),
            resync: Duration::from_secs(300),
            sync_exchanges: Budget { rate: 8, burst: 32 },
            sync_bytes: Budget {
                rate: 8 << 20,
                burst: 16 << 20,
            },
            sync_timeout: Duration::from_secs(10),
            sync_window: crate::sync::MAX_WANTED,
            discovery: true,
            gossip: Gossip::default(),
            inject_fault: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/relay.md`, "Reconnecting": everything unexpired is on every node within 10 s of
    /// a heal only if the first connection across comes soon enough to leave time for the
    /// handshakes, the sync round, the fetch and the gossip on (about 2 s at 100 ms links,
    /// `ems-sim --scenario partition`); among many nodes redialling at ticks of their own, the
    /// first redial across comes within about one tick.
    #[test]
    fn the_redial_interval_leaves_room_for_sync_within_the_heal_goal() {
        let heal_goal = Duration::from_secs(10);
        let after_connecting = Duration::from_secs(2);
        let redial = Tuning::default().redial;
        assert!(
            redial + after_connecting <= heal_goal / 2,
            "redial {redial:?}"
        );
    }

    /// `Tuning::connection_grace`: a new connection is not closed to trim the node back to
    /// `max_connections` before its first sync round could end, nor before a healed partition
    /// should have converged over it.
    #[test]
    fn the_connection_grace_outlasts_a_first_sync_round_and_the_heal_goal() {
        let t = Tuning::default();
        let heal_goal = Duration::from_secs(10);
        assert!(
            t.connection_grace > t.sync_timeout,
            "{:?}",
            t.connection_grace
        );
        assert!(t.connection_grace >= heal_goal, "{:?}", t.connection_grace);
    }
}
