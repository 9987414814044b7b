//! Finding peers beyond the bootstrap list, with Kademlia, only while a node has too few.
//!
//! Kademlia's own periodic bootstrap is off (`behaviour.rs`): each one looks up a random key in
//! every bucket and dials the closest peers it finds, about 25 a bucket, most of whom already
//! hold all the connections they keep and trim or refuse the new one. In a simulated network of
//! 100 relays started together, those lookups held 1.1–1.3 cores for the first 110 s and again
//! at every five-minute bootstrap, against 0.12–0.15 cores in between (`docs/performance.md`).
//! A relay with a dozen peers has nothing to gain from them (`docs/relay.md`, "Discovery").

use super::{lock, Network};
use libp2p::{kad, Multiaddr, PeerId};

/// Peers below which a relay looks for more: it dials the peers Kademlia discovers and starts
/// a DHT lookup (a Kademlia bootstrap) at each redial tick, one at a time.
pub(super) const DISCOVERY_TARGET: usize = 12;

/// Whether a node with `connected` peers, and a lookup `running` or not, starts one.
fn wants_lookup(connected: usize, running: bool) -> bool {
    connected < DISCOVERY_TARGET && !running
}

/// Whether a node with `connected` peers dials a peer Kademlia just found.
fn wants_dial(connected: usize) -> bool {
    connected < DISCOVERY_TARGET
}

impl Network {
    /// Starts a DHT lookup for more peers if this node has fewer than [`DISCOVERY_TARGET`] and
    /// none of its own is running. (Kademlia also bootstraps by itself while its routing table
    /// holds fewer than 20 peers, as a node just started does.)
    pub(super) fn discover(&mut self) {
        let connected = lock(&self.shared.connected).len();
        if !wants_lookup(connected, self.discovering.is_some()) {
            return;
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        match kad.bootstrap() {
            Ok(id) => {
                self.discovering = Some(id);
                self.metrics.discovery_lookups.inc();
            }
            Err(e) => tracing::debug!(error = %e, "no DHT lookup for peers"),
        }
    }

    /// A peer told us (identify) where it listens: Kademlia can hand those addresses on.
    pub(super) fn identified(&mut self, peer: PeerId, listen_addrs: Vec<Multiaddr>) {
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            for addr in listen_addrs {
                kad.add_address(&peer, addr);
            }
        }
    }

    pub(super) fn kad_event(&mut self, event: kad::Event) {
        match event {
            kad::Event::RoutingUpdated { peer, .. } => {
                let connected = lock(&self.shared.connected).len();
                if wants_dial(connected)
                    && !self.swarm.is_connected(&peer)
                    && peer != self.local_peer_id()
                {
                    if let Err(e) = self.swarm.dial(peer) {
                        tracing::debug!(%peer, error = %e, "discovered peer dial failed");
                    }
                }
            }
            kad::Event::OutboundQueryProgressed { id, step, .. }
                if step.last && self.discovering == Some(id) =>
            {
                self.discovering = None;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_with_a_dozen_peers_neither_looks_up_nor_dials_discovered_peers() {
        assert!(!wants_lookup(DISCOVERY_TARGET, false));
        assert!(!wants_lookup(100, false));
        assert!(!wants_dial(DISCOVERY_TARGET));
    }

    #[test]
    fn a_node_short_of_peers_looks_up_one_at_a_time_and_dials_what_it_finds() {
        assert!(wants_lookup(0, false));
        assert!(wants_lookup(DISCOVERY_TARGET - 1, false));
        assert!(!wants_lookup(0, true));
        assert!(wants_dial(DISCOVERY_TARGET - 1));
    }
}
