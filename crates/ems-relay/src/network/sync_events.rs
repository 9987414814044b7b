//! Sync events of the swarm: requests to serve, and the answers and failures of this node's
//! requests, each matched to the tag of the request it belongs to; and this node's requests,
//! sent only to connected peers.

use super::{forward, Event, Network};
use crate::sync::{Failure, Request, Response, Tag};
use libp2p::request_response::{self, Message, OutboundFailure};
use tokio::sync::mpsc;

impl Network {
    /// Sends a sync request to `peer` if it is connected. A request to a peer no longer
    /// connected (its round began as it left, or was retried after) is not sent: the
    /// request-response behaviour would dial the peer, and a round retried after each failed
    /// dial would dial it every `Tuning::refetch` for as long as it stays away, or stays full.
    /// Instead the round ends with the connection (the peer is forgotten again; its next
    /// connection starts a new round), and a fetch fails at once, to be asked of another peer.
    pub(super) fn sync_request(
        &mut self,
        peer: libp2p::PeerId,
        request: Request,
        events: &mpsc::Sender<Event>,
    ) {
        let tag = request.tag();
        if !self.swarm.is_connected(&peer) {
            tracing::debug!(%peer, "sync request not sent: the peer is not connected");
            let event = match tag {
                Tag::Reconcile { .. } | Tag::Offer { .. } => Event::Disconnected(peer),
                Tag::Fetch { .. } => Event::SyncFailed {
                    peer,
                    sent: tag,
                    failure: Failure::Lost,
                },
            };
            forward(events, event);
            return;
        }
        let id = self.swarm.behaviour_mut().sync.send_request(&peer, request);
        self.sync_sent.insert(id, tag);
    }

    pub(super) fn sync_event(
        &mut self,
        event: request_response::Event<Request, Response>,
        events: &mpsc::Sender<Event>,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => forward(
                    events,
                    Event::SyncRequest {
                        peer,
                        request,
                        channel,
                    },
                ),
                Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(sent) = self.sync_sent.remove(&request_id) {
                        let event = Event::SyncResponse {
                            peer,
                            sent,
                            response,
                        };
                        forward(events, event);
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                let failure = match &error {
                    // The codec refused the answer: a fault of the peer's.
                    OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        Failure::Invalid
                    }
                    OutboundFailure::UnsupportedProtocols => Failure::Unsupported,
                    _ => Failure::Lost,
                };
                if let Some(sent) = self.sync_sent.remove(&request_id) {
                    let event = Event::SyncFailed {
                        peer,
                        sent,
                        failure,
                    };
                    forward(events, event);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;
    use crate::metrics::Metrics;
    use std::sync::Arc;

    /// A round or a fetch that outlives its peer's connection is not sent (the request-response
    /// behaviour would dial the peer): the round ends with the connection, the fetch fails at
    /// once, to be asked of another holder.
    #[tokio::test]
    async fn sync_requests_to_a_peer_not_connected_are_not_sent_and_end_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NodeConfig::new(dir.path(), "test");
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        config.tuning.discovery = false;
        let key = libp2p::identity::Keypair::generate_ed25519();
        let mut net = Network::start(key, &config, Arc::new(Metrics::new()))
            .await
            .unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let gone = libp2p::PeerId::random();

        let round = Request::Reconcile {
            round: 7,
            step: 0,
            message: vec![0x61],
        };
        net.sync_request(gone, round, &tx);
        assert!(matches!(rx.try_recv(), Ok(Event::Disconnected(p)) if p == gone));

        let fetch = Request::Fetch {
            id: 9,
            digests: vec![[1; 32]],
        };
        net.sync_request(gone, fetch, &tx);
        assert!(matches!(
            rx.try_recv(),
            Ok(Event::SyncFailed {
                peer,
                sent: Tag::Fetch { id: 9 },
                failure: Failure::Lost,
            }) if peer == gone
        ));
        assert!(net.sync_sent.is_empty(), "a request was sent");
        assert!(rx.try_recv().is_err());
    }
}
