//! A scripted sync peer: a bare libp2p swarm that speaks only `/qrl/ems/sync/2`, serving a
//! set of frames it holds in memory, honestly or in one of the hostile ways a test picks. It
//! never starts a round, except when flooding.

use super::bare_swarm;
use ems_core::Message;
use ems_relay::sync::{
    Request, Response, SyncCodec, Tag, MAX_OFFER, MAX_RECONCILE, MAX_RECONCILE_ANSWER, PROTOCOL,
};
use futures::StreamExt;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// How the peer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduct {
    /// Every answer as the protocol says.
    Honest,
    /// Honest answers, but every second one is never sent.
    DropHalf,
    /// Every answer carries another request's tag.
    Mismatched,
    /// Every reconcile answer is the same message (a fingerprint that never matches).
    Repeated,
    /// Every reconcile answer splits the whole range anew at a random point, with fingerprints
    /// that never match: the ranges never end.
    NeverEnding,
    /// Reconcile answers announce 2,000 digests it does not have; fetches get no frames.
    Announcing,
    /// Honest reconcile answers (so every round finds what it holds and the node lacks), but
    /// fetches get no frames: the same difference, round after round.
    Withholding,
    /// Answers the first reconcile request honestly and every later one `Busy`, as a peer
    /// whose serving budget ran out; offers are taken, fetches answered.
    BusyAfterFirst,
    /// Starts a round once connected and, once it is answered, offers the node 2,000 digests
    /// it does not have in each offer, part after part, past the parts a round may have;
    /// fetches get no frames.
    Flooding,
}

/// The peer, dialled to one node; its task ends when it is dropped.
pub struct SyncPeer {
    pub peer_id: PeerId,
    connected: Arc<AtomicBool>,
    /// Requests received (of either kind).
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SyncPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SyncPeer {
    /// Dials `target`, holding `messages` and answering as `conduct` says.
    pub async fn connect(target: Multiaddr, messages: &[Message], conduct: Conduct) -> SyncPeer {
        let key = libp2p::identity::Keypair::generate_ed25519();
        SyncPeer::connect_as(key, target, messages, conduct).await
    }

    /// [`SyncPeer::connect`] with a peer id smaller than `than`'s if `below` (the node then
    /// waits for this peer to start the rounds), else larger (the node starts them).
    pub async fn connect_ordered(
        than: PeerId,
        below: bool,
        target: Multiaddr,
        messages: &[Message],
        conduct: Conduct,
    ) -> SyncPeer {
        let key = loop {
            let key = libp2p::identity::Keypair::generate_ed25519();
            if (key.public().to_peer_id().to_bytes() < than.to_bytes()) == below {
                break key;
            }
        };
        SyncPeer::connect_as(key, target, messages, conduct).await
    }

    async fn connect_as(
        key: libp2p::identity::Keypair,
        target: Multiaddr,
        messages: &[Message],
        conduct: Conduct,
    ) -> SyncPeer {
        let frames: HashMap<[u8; 32], Vec<u8>> =
            messages.iter().map(|m| (m.digest(), m.encode())).collect();
        let mut items = NegentropyStorageVector::new();
        for m in messages {
            items
                .insert(u64::from(m.ttl()), Id::from_byte_array(m.digest()))
                .unwrap();
        }
        items.seal().unwrap();
        let behaviour = request_response::Behaviour::with_codec(
            SyncCodec,
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default(),
        );
        let mut swarm = bare_swarm(key, behaviour);
        swarm.dial(target).unwrap();
        let peer_id = *swarm.local_peer_id();
        let connected = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let (link, count) = (connected.clone(), requests.clone());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            // Flooding: the offer part sent last.
            let mut part = 0u8;
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::ConnectionEstablished { peer_id, .. }
                        if conduct == Conduct::Flooding =>
                    {
                        link.store(true, Ordering::SeqCst);
                        let mut client =
                            Negentropy::borrowed(&items, MAX_RECONCILE as u64).unwrap();
                        let message = client.initiate().unwrap();
                        let request = Request::Reconcile {
                            round: 1,
                            step: 0,
                            message,
                        };
                        swarm.behaviour_mut().send_request(&peer_id, request);
                    }
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        peer,
                        message: request_response::Message::Response { response, .. },
                        ..
                    }) if conduct == Conduct::Flooding => {
                        if let Response::Taken { part: taken, .. } = response {
                            part = taken.wrapping_add(1);
                        }
                        swarm.behaviour_mut().send_request(&peer, flood(part));
                    }
                    SwarmEvent::Behaviour(request_response::Event::Message {
                        message:
                            request_response::Message::Request {
                                request, channel, ..
                            },
                        ..
                    }) => {
                        n += 1;
                        count.fetch_add(1, Ordering::SeqCst);
                        if conduct == Conduct::DropHalf && n.is_multiple_of(2) {
                            drop(channel);
                            continue;
                        }
                        let response = match request {
                            Request::Reconcile { round, step, .. }
                                if conduct == Conduct::BusyAfterFirst && n > 1 =>
                            {
                                Response::Busy(Tag::Reconcile { round, step })
                            }
                            request => answer(conduct, &items, &frames, request, n),
                        };
                        let _ = swarm.behaviour_mut().send_response(channel, response);
                    }
                    SwarmEvent::ConnectionEstablished { .. } => link.store(true, Ordering::SeqCst),
                    SwarmEvent::ConnectionClosed {
                        num_established: 0, ..
                    } => link.store(false, Ordering::SeqCst),
                    _ => {}
                }
            }
        });
        SyncPeer {
            peer_id,
            connected,
            requests,
            task,
        }
    }

    /// Whether a connection to the node is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Requests the node made of this peer so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Offer `part` of round 1: 2,000 digests nobody has, never the last.
fn flood(part: u8) -> Request {
    let digests = (0..MAX_OFFER as u64)
        .map(|i| {
            let mut d = [0x99u8; 32];
            d[0] = part;
            d[8..16].copy_from_slice(&i.to_be_bytes());
            d
        })
        .collect();
    Request::Offer {
        round: 1,
        part,
        last: false,
        complete: false,
        digests,
    }
}

fn answer(
    conduct: Conduct,
    items: &NegentropyStorageVector,
    frames: &HashMap<[u8; 32], Vec<u8>>,
    request: Request,
    n: u64,
) -> Response {
    match (conduct, request) {
        (Conduct::Mismatched, request) => match request.tag() {
            Tag::Reconcile { round, .. } => Response::Frames {
                id: round,
                frames: vec![],
            },
            Tag::Fetch { id } => Response::Busy(Tag::Fetch {
                id: id.wrapping_add(1),
            }),
            Tag::Offer { round, part } => Response::Busy(Tag::Offer {
                round,
                part: part.wrapping_add(1),
            }),
        },
        (_, Request::Offer { round, part, .. }) => Response::Taken { round, part },
        (
            Conduct::Announcing | Conduct::Withholding | Conduct::Flooding,
            Request::Fetch { id, .. },
        ) => Response::Frames { id, frames: vec![] },
        (_, Request::Fetch { id, digests }) => Response::Frames {
            id,
            frames: digests
                .iter()
                .filter_map(|d| frames.get(d).cloned())
                .collect(),
        },
        (
            Conduct::Honest
            | Conduct::DropHalf
            | Conduct::Withholding
            | Conduct::Flooding
            | Conduct::BusyAfterFirst,
            Request::Reconcile {
                round,
                step,
                message,
            },
        ) => {
            let mut responder = Negentropy::borrowed(items, MAX_RECONCILE_ANSWER as u64).unwrap();
            let message = responder.reconcile(&message).unwrap();
            Response::Reconcile {
                round,
                step,
                message,
            }
        }
        (conduct, Request::Reconcile { round, step, .. }) => Response::Reconcile {
            round,
            step,
            message: hostile_message(conduct, n),
        },
    }
}

/// Negentropy messages (protocol 0x61) built by hand: a bound is a timestamp varint (0 =
/// infinity, else 1 + the delta), an id-prefix length and prefix; then a mode (1 fingerprint
/// with 16 bytes, 2 id list with a count and ids).
fn hostile_message(conduct: Conduct, n: u64) -> Vec<u8> {
    let mut m = vec![0x61];
    match conduct {
        Conduct::Repeated => {
            m.extend_from_slice(&[0x00, 0x00, 0x01]);
            m.extend_from_slice(&[0u8; 16]);
        }
        Conduct::NeverEnding => {
            // A split at a timestamp that changes each time, then the rest; no fingerprint
            // ever matches.
            let split = 1_000_000 + n * 7_919;
            m.extend_from_slice(&varint(split + 1));
            m.push(0x00);
            m.push(0x01);
            m.extend_from_slice(&n.to_be_bytes());
            m.extend_from_slice(&n.to_le_bytes());
            m.extend_from_slice(&[0x00, 0x00, 0x01]);
            m.extend_from_slice(&(!n).to_be_bytes());
            m.extend_from_slice(&n.to_be_bytes());
        }
        _ => {
            // The whole range as an id list of 2,000 digests nobody has.
            m.extend_from_slice(&[0x00, 0x00, 0x02]);
            m.extend_from_slice(&varint(2_000));
            for i in 0..2_000u64 {
                let mut d = [0x77u8; 32];
                d[..8].copy_from_slice(&n.to_be_bytes());
                d[8..16].copy_from_slice(&i.to_be_bytes());
                m.extend_from_slice(&d);
            }
        }
    }
    m
}

fn varint(mut n: u64) -> Vec<u8> {
    let mut out = vec![(n & 0x7f) as u8];
    n >>= 7;
    while n > 0 {
        out.push(0x80 | (n & 0x7f) as u8);
        n >>= 7;
    }
    out.reverse();
    out
}
