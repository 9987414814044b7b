//! Sync events of the swarm: requests to serve, and the answers and failures of this node's
//! requests, each matched to the tag of the request it belongs to.

use super::{forward, Event, Network};
use crate::sync::{Failure, Request, Response};
use libp2p::request_response::{self, Message, OutboundFailure};
use tokio::sync::mpsc;

impl Network {
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
