//! Finding peers beyond the bootstrap list, with Kademlia, only while a node has too few, and
//! ending every Kademlia query once it has enough (`docs/relay.md`, "Discovery"). Each
//! connection a relay opens lands on a relay that may hold all it keeps already, which then
//! trims some other connection; relays that dialled on after they had their peers made the
//! first discovery of N simulated relays cost about N² dials (`docs/performance.md`,
//! "Discovery that ends").

use super::{lock, Network};
use libp2p::{kad, Multiaddr, PeerId};
use std::num::NonZeroUsize;

/// Peers a relay looks for: once it has them, its lookup ends and it dials no more.
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
pub(super) const SETTLED_REDIAL_TICKS: u64 = 15;

/// Whether a node with `connected` peers, and a lookup `running` or not, starts one.
fn wants_lookup(connected: usize, running: bool) -> bool {
    connected < DISCOVERY_LOW && !running
}

/// Whether a node with `connected` peers and `dialing` dials in flight, while its lookup is
/// `running` or not, dials one more peer Kademlia just found: only to fill up to the target
/// during a lookup, and counting dials in flight, since a lookup reports peers by the dozen
/// within milliseconds, faster than connections complete.
fn wants_dial(connected: usize, dialing: usize, running: bool) -> bool {
    (running || connected < DISCOVERY_LOW) && connected.saturating_add(dialing) < DISCOVERY_TARGET
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

impl Network {
    /// One redial tick: redials the bootstrap peers if [`redials_bootstrap`] says so, ends
    /// every Kademlia query if this node has [`DISCOVERY_TARGET`] peers, and starts a DHT
    /// lookup for more if it has fewer than [`DISCOVERY_LOW`] and none of its own is running. (Kademlia also bootstraps by itself while its routing
    /// table holds fewer than 20 peers, as a node just started does.)
    pub(super) fn discover(&mut self) {
        self.ticks = self.ticks.wrapping_add(1);
        let connected = lock(&self.shared.connected).len();
        if redials_bootstrap(connected, self.ticks, self.redial_phase) {
            self.dial_bootstrap();
        }
        self.finish_lookup_if_enough(connected);
        if !wants_lookup(connected, self.discovering.is_some()) {
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        // The peers closest to a random key: a lookup ends once the dozen closest it hears of
        // have answered, and its peers are spread over the network, not clustered near us.
        let want = NonZeroUsize::new(DISCOVERY_TARGET).unwrap_or(NonZeroUsize::MIN);
        let id = kad.get_n_closest_peers(PeerId::random(), want);
        self.discovering = Some(id);
        self.metrics.discovery_lookups.inc();
    }

    /// Ends every Kademlia query once this node has enough peers: each further step dials
    /// peers that are most likely full already. That includes the bootstraps Kademlia starts
    /// by itself while its routing table holds fewer than 20 peers (libp2p-kad cannot be told
    /// not to): a step ended as soon as it is reported has sent nothing, since its requests go
    /// out only when the swarm is next polled. Relays use Kademlia for nothing but finding
    /// peers, so no other query is cut short.
    fn finish_lookup_if_enough(&mut self, connected: usize) {
        if !lookup_done(connected) {
            return;
        }
        self.discovering = None;
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            for mut query in kad.iter_queries_mut() {
                query.finish();
            }
        }
    }

    /// A peer told us (identify) where it listens: Kademlia can hand those addresses on. Only
    /// into a bucket with room (or one that holds the peer already): Kademlia answers an
    /// insert into a full bucket by dialling the bucket's oldest disconnected peer to see
    /// whether it is still there, and with connections trimmed and replaced all the time that
    /// was a dial for nearly every new connection (a steady 100–500 dials a second among 300
    /// simulated relays that had all the peers they wanted). Kademlia's own inserts of
    /// connected peers are off (`behaviour.rs`) for the same reason.
    pub(super) fn identified(&mut self, peer: PeerId, listen_addrs: Vec<Multiaddr>) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
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

    pub(super) fn kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated { peer, .. } => {
                let connected = lock(&self.shared.connected).len();
                let dialing = self
                    .swarm
                    .network_info()
                    .connection_counters()
                    .num_pending_outgoing() as usize;
                self.finish_lookup_if_enough(connected);
                if wants_dial(connected, dialing, self.discovering.is_some())
                    && !self.swarm.is_connected(&peer)
                    && peer != self.local_peer_id()
                {
                    if let Err(e) = self.swarm.dial(peer) {
                        tracing::debug!(%peer, error = %e, "discovered peer dial failed");
                    }
                }
            }
            kad::Event::OutboundQueryProgressed { id, step, .. } => {
                if step.last && self.discovering == Some(id) {
                    self.discovering = None;
                }
                // A bootstrap goes on to its next step right after reporting this one.
                let connected = lock(&self.shared.connected).len();
                self.finish_lookup_if_enough(connected);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_enough_peers_neither_looks_up_nor_dials_discovered_peers() {
        assert!(!wants_lookup(DISCOVERY_LOW, false));
        assert!(!wants_lookup(100, false));
        assert!(!wants_dial(DISCOVERY_LOW, 0, false));
        assert!(!wants_dial(DISCOVERY_TARGET, 0, true));
        assert!(lookup_done(DISCOVERY_TARGET));
    }

    #[test]
    fn a_lookup_starts_below_the_low_mark_and_fills_up_to_the_target() {
        assert!(wants_lookup(0, false));
        assert!(wants_lookup(DISCOVERY_LOW - 1, false));
        assert!(!wants_lookup(0, true));
        // Between the marks a node dials what its running lookup finds, and only then.
        assert!(wants_dial(DISCOVERY_TARGET - 1, 0, true));
        assert!(!wants_dial(DISCOVERY_TARGET - 1, 0, false));
        assert!(!lookup_done(DISCOVERY_TARGET - 1));
    }

    #[test]
    fn dials_in_flight_count_towards_the_target() {
        assert!(wants_dial(DISCOVERY_TARGET - 2, 1, true));
        assert!(!wants_dial(DISCOVERY_TARGET - 2, 2, true));
        assert!(!wants_dial(0, DISCOVERY_TARGET, true));
        assert!(!wants_dial(usize::MAX, usize::MAX, true));
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
    }
}
