//! Finding peers beyond the bootstrap list, with Kademlia, only while a node has too few, and
//! ending every Kademlia query once it has enough (`docs/relay.md`, "Discovery"). Each
//! connection a relay opens lands on a relay that may hold all it keeps already, which then
//! trims some other connection; relays that dialled on after they had their peers made the
//! first discovery of N simulated relays cost about N² dials (`docs/performance.md`,
//! "Discovery that ends").
//!
//! [`kademlia`] and [`Discovery`] are public so that other libp2p nodes that join the relays'
//! network (the simulator's bare gossipsub nodes) find peers by the same rules.

use libp2p::kad::{self, store::MemoryStore};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use std::num::NonZeroUsize;

/// The relays' Kademlia protocol (separate from the IPFS DHT).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/qrl/ems/kad/1");

/// Peers a relay looks for: once it has them, every Kademlia query it holds is ended.
pub const DISCOVERY_TARGET: usize = 12;

/// Peers below which a relay starts a DHT lookup (at a redial tick, one at a time). The gap to
/// [`DISCOVERY_TARGET`] is hysteresis: every connection a lookup opens can push a full relay
/// over its cap and make it trim a connection of some third relay; if that relay then looked
/// for peers as soon as it fell below the target, one lookup would start the next, and the
/// network would never stop dialling (300 simulated relays at a cap of 32 kept on at 150–500
/// dials a second).
pub const DISCOVERY_LOW: usize = 8;

/// A relay with at least [`DISCOVERY_LOW`] peers still redials its bootstrap peers, once every
/// this many redial ticks (30 s at the default 2 s), so that a partition heals through them; a
/// relay short of peers redials them at every tick. (Every relay redialled them every 2 s
/// before, so that a popular bootstrap relay, which trims what it cannot keep, took a dial every
/// 2 s from every relay that listed it.)
pub const SETTLED_REDIAL_TICKS: u64 = 15;

/// Kademlia as relays run it, for the node `peer_id`.
///
/// - No periodic bootstrap: each one looks up a random key in every bucket and dials the
///   closest peers it finds, most of whom are full and trim or refuse the new connection.
///   [`Discovery`] looks for peers only while the node has too few.
/// - Manual routing-table inserts: peers enter the table from identify, only where a bucket
///   has room ([`Discovery::identified`]), since an insert into a full bucket dials its oldest
///   peer.
/// - Server mode: relays answer DHT queries even before they have confirmed a public address.
pub fn kademlia(peer_id: PeerId) -> kad::Behaviour<MemoryStore> {
    let mut config = kad::Config::new(KAD_PROTOCOL);
    config.set_periodic_bootstrap_interval(None);
    config.set_kbucket_inserts(kad::BucketInserts::Manual);
    let mut kad = kad::Behaviour::with_config(peer_id, MemoryStore::new(peer_id), config);
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// What a node does at one redial tick ([`Discovery::tick`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryTick {
    /// Redial the bootstrap peers it is not connected to.
    pub redial_bootstrap: bool,
    /// A DHT lookup for more peers was started.
    pub lookup_started: bool,
}

/// When a node looks for peers: its lookup in progress and its redial ticks.
#[derive(Debug)]
pub struct Discovery {
    /// The DHT lookup this node started to find peers, until its last step.
    lookup: Option<kad::QueryId>,
    /// Redial ticks so far.
    ticks: u64,
    /// The tick, of every [`SETTLED_REDIAL_TICKS`], at which this node redials its bootstrap
    /// peers once it has enough.
    phase: u64,
}

impl Default for Discovery {
    fn default() -> Self {
        Self::new()
    }
}

impl Discovery {
    /// A node's discovery, its settled redial tick drawn at random.
    pub fn new() -> Self {
        Self::with_phase(rand::random())
    }

    fn with_phase(phase: u64) -> Self {
        Discovery {
            lookup: None,
            ticks: 0,
            phase,
        }
    }

    /// One redial tick of a node with `connected` peers: whether it redials its bootstrap
    /// peers ([`redials_bootstrap`]); ends every Kademlia query if it has [`DISCOVERY_TARGET`]
    /// peers; and starts a DHT lookup for more if it has fewer than [`DISCOVERY_LOW`] and none
    /// of its own is running. (Kademlia also bootstraps by itself while its routing table holds
    /// fewer than 20 peers, as a node just started does; that query is ended the same way.)
    pub fn tick(
        &mut self,
        connected: usize,
        kad: Option<&mut kad::Behaviour<MemoryStore>>,
    ) -> DiscoveryTick {
        self.ticks = self.ticks.wrapping_add(1);
        let mut tick = DiscoveryTick {
            redial_bootstrap: redials_bootstrap(connected, self.ticks, self.phase),
            lookup_started: false,
        };
        let Some(kad) = kad else {
            return tick;
        };
        self.finish_if_enough(connected, kad);
        if wants_lookup(connected, self.lookup.is_some()) {
            // The peers closest to a random key: a lookup ends once the dozen closest it hears
            // of have answered, and its peers are spread over the network, not clustered near
            // us.
            let want = NonZeroUsize::new(DISCOVERY_TARGET).unwrap_or(NonZeroUsize::MIN);
            self.lookup = Some(kad.get_n_closest_peers(PeerId::random(), want));
            tick.lookup_started = true;
        }
        tick
    }

    /// A Kademlia event of a node with `connected` peers: a lookup's last step ends it, and
    /// any step ends every query once the node has enough peers (a bootstrap goes on to its
    /// next step right after reporting one).
    pub fn kad_event(
        &mut self,
        event: &kad::Event,
        connected: usize,
        kad: &mut kad::Behaviour<MemoryStore>,
    ) {
        if let kad::Event::OutboundQueryProgressed { id, step, .. } = event {
            if step.last && self.lookup == Some(*id) {
                self.lookup = None;
            }
            self.finish_if_enough(connected, kad);
        }
    }

    /// Ends every Kademlia query once this node has enough peers: each further step dials
    /// peers that are most likely full already. That includes the bootstraps Kademlia starts
    /// by itself while its routing table holds fewer than 20 peers (libp2p-kad cannot be told
    /// not to): a step ended as soon as it is reported has sent nothing, since its requests go
    /// out only when the swarm is next polled. Relays use Kademlia for nothing but finding
    /// peers, so no other query is cut short.
    fn finish_if_enough(&mut self, connected: usize, kad: &mut kad::Behaviour<MemoryStore>) {
        if !lookup_done(connected) {
            return;
        }
        self.lookup = None;
        for mut query in kad.iter_queries_mut() {
            query.finish();
        }
    }

    /// A peer told us (identify) where it listens: Kademlia can hand those addresses on. Only
    /// into a bucket with room (or one that holds the peer already): Kademlia answers an
    /// insert into a full bucket by dialling the bucket's oldest disconnected peer to see
    /// whether it is still there, and with connections trimmed and replaced all the time that
    /// was a dial for nearly every new connection (a steady 100–500 dials a second among 300
    /// simulated relays that had all the peers they wanted). Kademlia's own inserts of
    /// connected peers are off ([`kademlia`]) for the same reason.
    pub fn identified(
        kad: &mut kad::Behaviour<MemoryStore>,
        peer: PeerId,
        listen_addrs: Vec<Multiaddr>,
    ) {
        let room = kad.kbucket(peer).is_some_and(|bucket| {
            bucket.num_entries() < kad::K_VALUE.get()
                || bucket
                    .iter()
                    .any(|entry| entry.node.key.preimage() == &peer)
        });
        if room {
            for addr in listen_addrs {
                kad.add_address(&peer, addr);
            }
        }
    }
}

/// Whether a node with `connected` peers, and a lookup `running` or not, starts one.
fn wants_lookup(connected: usize, running: bool) -> bool {
    connected < DISCOVERY_LOW && !running
}

/// Whether a lookup of a node with `connected` peers has done its work.
fn lookup_done(connected: usize) -> bool {
    connected >= DISCOVERY_TARGET
}

/// Whether a node with `connected` peers redials its unconnected bootstrap peers at redial
/// tick number `tick`, `phase` being its own tick of the [`SETTLED_REDIAL_TICKS`] (drawn at
/// random at start, so that relays started together do not all redial in the same tick, and a
/// partition heals within a tick or two, through whichever relay's turn comes first).
fn redials_bootstrap(connected: usize, tick: u64, phase: u64) -> bool {
    connected < DISCOVERY_LOW || tick % SETTLED_REDIAL_TICKS == phase % SETTLED_REDIAL_TICKS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_enough_peers_does_not_look_up() {
        assert!(!wants_lookup(DISCOVERY_LOW, false));
        assert!(!wants_lookup(100, false));
        assert!(lookup_done(DISCOVERY_TARGET));
        assert!(lookup_done(usize::MAX));
    }

    #[test]
    fn a_lookup_starts_below_the_low_mark_and_runs_until_the_target() {
        assert!(wants_lookup(0, false));
        assert!(wants_lookup(DISCOVERY_LOW - 1, false));
        assert!(!wants_lookup(0, true));
        assert!(!lookup_done(DISCOVERY_TARGET - 1));
    }

    #[test]
    fn one_lookup_at_a_time_ended_once_the_node_has_enough_peers() {
        let mut kad = kademlia(PeerId::random());
        let mut discovery = Discovery::with_phase(0);
        assert!(discovery.tick(0, Some(&mut kad)).lookup_started);
        assert!(discovery.lookup.is_some());
        // Still running: no second lookup, however few peers.
        assert!(!discovery.tick(0, Some(&mut kad)).lookup_started);
        // Between the marks a running lookup goes on, and none starts.
        assert!(!discovery.tick(DISCOVERY_LOW, Some(&mut kad)).lookup_started);
        assert!(discovery.lookup.is_some());
        // At the target it is ended.
        assert!(
            !discovery
                .tick(DISCOVERY_TARGET, Some(&mut kad))
                .lookup_started
        );
        assert!(discovery.lookup.is_none());
        // Short of peers again: a new lookup.
        assert!(
            discovery
                .tick(DISCOVERY_LOW - 1, Some(&mut kad))
                .lookup_started
        );
    }

    #[test]
    fn without_kademlia_a_node_only_redials() {
        let mut discovery = Discovery::with_phase(0);
        let tick = discovery.tick(0, None);
        assert!(tick.redial_bootstrap);
        assert!(!tick.lookup_started);
    }

    #[test]
    fn a_settled_node_redials_its_bootstrap_peers_only_every_fifteenth_tick_in_its_phase() {
        for phase in [0, 7, SETTLED_REDIAL_TICKS - 1, u64::MAX] {
            let ticks: Vec<u64> = (1..=3 * SETTLED_REDIAL_TICKS)
                .filter(|&tick| redials_bootstrap(DISCOVERY_LOW, tick, phase))
                .collect();
            assert_eq!(ticks.len(), 3, "phase {phase}: {ticks:?}");
            assert!(ticks
                .iter()
                .all(|t| t % SETTLED_REDIAL_TICKS == phase % SETTLED_REDIAL_TICKS));
        }
        assert!((1..=SETTLED_REDIAL_TICKS).all(|tick| redials_bootstrap(
            DISCOVERY_LOW - 1,
            tick,
            3
        )));
        // The same through `Discovery`: a settled node's redials come at its phase.
        let mut discovery = Discovery::with_phase(4);
        let redials: Vec<u64> = (1..=2 * SETTLED_REDIAL_TICKS)
            .filter(|_| discovery.tick(DISCOVERY_TARGET, None).redial_bootstrap)
            .collect();
        assert_eq!(redials.len(), 2);
    }
}
