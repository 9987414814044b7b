//! One round per connection: the initiator hands over what the peer lacks (methods of the
//! node's `Core`).
//!
//! A round's initiator learns both what it lacks (it fetches it) and what the peer lacks.
//! When its exchanges are over it sends the peer the latter, in offers of at most
//! [`MAX_OFFER`] digests, one at a time, at most [`MAX_OFFER_PARTS`] a round; the last says
//! whether the round was complete (it ended with every difference found, and everything the
//! peer lacks fitted in the offers). The peer fetches the offered digests through its
//! node-wide fetch window, from the initiator, like digests its own round found, so it needs
//! no round of its own: the reconciliation is paid once per connection, not twice.
//!
//! Of two peers, the one whose peer id is the smaller starts the rounds on connect and at each
//! resync; the other waits for them. It does not wait for good: if no complete round of the
//! peer's has reached it within the grace (twice `Tuning::sync_timeout`, counted from the last
//! exchange of the peer's round that reached it, within a `Tuning::resync`), or the peer's last
//! offer says its round was not complete, it starts its own. So a peer that claims to start
//! the rounds and then does nothing, or fails, delays this node's catch-up by the grace, and
//! one whose round crawls by a resync, no more.
//!
//! Offers are hostile input. One is taken only if it is the next part of the latest round of
//! the peer's that this node answered (an exchange of which cost the peer a token of its
//! exchange budget), within the parts a round may have; otherwise it is a fault
//! ([`Fault::Invalid`]). It is answered `Busy` if the digests already queued to be asked of
//! that peer leave no room for it within one round's worth ([`MAX_OFFERED`]), so a peer that
//! offers and never delivers holds a bounded share of the fetch window. Its digests go through
//! the same lookup and the same fetch window as a round's: each missing message is fetched
//! once, and digests offered and not delivered cost the peer as announced ones do.

use super::codec::Request;
#[cfg(doc)]
use super::codec::{MAX_OFFER, MAX_OFFER_PARTS};
use super::score::Fault;
use super::state::Refusal;
#[cfg(doc)]
use super::state::MAX_OFFERED;
use crate::ingest::Core;
use libp2p::PeerId;
use std::sync::Arc;
use std::time::Instant;

impl Core {
    /// A connection or a resync tick wants this node and `peer` reconciled: this node starts a
    /// round if it starts the rounds with `peer`, else it waits for the peer's (see the module
    /// documentation).
    pub(crate) async fn sync_with(self: &Arc<Self>, peer: PeerId) {
        if self.stores() && self.sync().wants(peer, Instant::now()) {
            self.start_sync(peer).await;
        }
    }

    /// Sends the next offer of round `round` with `peer`, or ends the round once its last
    /// offer was taken.
    pub(super) async fn offer(self: &Arc<Self>, peer: PeerId, round: u32) {
        let sync = self.sync();
        let next = {
            let mut inner = sync.lock();
            let Some(r) = inner.rounds.get_mut(&peer).filter(|r| r.id == round) else {
                return;
            };
            r.next_offer().map(|(part, last, digests)| {
                r.last = Instant::now();
                Request::Offer {
                    round,
                    part,
                    last,
                    complete: last && r.complete,
                    digests,
                }
            })
        };
        match next {
            Some(request) => {
                if let Request::Offer { digests, .. } = &request {
                    sync.count("offers", 1);
                    sync.count("offered", digests.len() as u64);
                }
                self.request(peer, request).await;
            }
            None => sync.end(peer, round, false),
        }
    }

    /// `peer` offers digests its round `round` found this node lacking: `None` if the offer is
    /// a fault (it gets no answer), else whether it was taken (`false`: answer `Busy`).
    pub(super) async fn take_offer(
        self: &Arc<Self>,
        peer: PeerId,
        round: u32,
        part: u8,
        last: bool,
        complete: bool,
        digests: Vec<[u8; 32]>,
    ) -> Option<bool> {
        let sync = self.sync();
        match sync.take_offer(peer, round, part, last, digests.len()) {
            Err(Refusal::Unexpected) => {
                tracing::debug!(%peer, round, part, "unexpected sync offer");
                self.fault(peer, Fault::Invalid).await;
                return None;
            }
            Err(Refusal::Full) => return Some(false),
            Ok(()) => {}
        }
        sync.count("offers_taken", 1);
        sync.count("offered_digests", digests.len() as u64);
        let full = self.announce(peer, digests).await.full;
        // An incomplete round's rest is found by a round of this node's: at once, or, if the
        // fetch window is full (the offer may not have fitted), once it has drained.
        if last && sync.offered(peer, complete && !full, Instant::now()) {
            if full {
                sync.later(peer);
            } else {
                let core = self.clone();
                tokio::spawn(async move { core.start_sync(peer).await });
            }
        }
        self.pump().await;
        Some(true)
    }
}
