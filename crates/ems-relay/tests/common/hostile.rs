//! A scripted hostile peer: a bare libp2p swarm with gossipsub and nothing of the relay. It
//! publishes whatever bytes it is told to (no validation, no duplicate cache of its own: every
//! publish gets a fresh message id) and counts every copy of every frame it receives.

use super::{bare_swarm, chain, eventually, now, TestNode, DEADLINE};
use ems_core::{Message, Policy};
use ems_pow::{Algorithm, Proof};
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A hostile (or merely observing) gossipsub peer connected to one node.
pub struct HostilePeer {
    pub peer_id: PeerId,
    /// Its identity, so that it can dial again as the same peer.
    pub key: libp2p::identity::Keypair,
    frames: mpsc::Sender<Vec<u8>>,
    ready: Arc<AtomicBool>,
    connected: Arc<AtomicBool>,
    received: Arc<Mutex<HashMap<[u8; 32], usize>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HostilePeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A message id no other publish or receipt shares, so that this peer never deduplicates.
fn fresh_id(_: &gossipsub::Message) -> MessageId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    MessageId::from(NEXT.fetch_add(1, Ordering::Relaxed).to_be_bytes().to_vec())
}

impl HostilePeer {
    /// Dials `target` and subscribes to `topic`, with a new identity.
    pub async fn connect(target: Multiaddr, topic: &str) -> HostilePeer {
        HostilePeer::connect_as(libp2p::identity::Keypair::generate_ed25519(), target, topic).await
    }

    /// Dials `target` and subscribes to `topic` as the peer with identity `key`.
    pub async fn connect_as(
        key: libp2p::identity::Keypair,
        target: Multiaddr,
        topic: &str,
    ) -> HostilePeer {
        HostilePeer::connect_from(key, None, target, topic).await
    }

    /// [`HostilePeer::connect_as`], dialling from the loopback address `source` (for example
    /// 127.0.0.2; Linux routes all of 127.0.0.0/8 to loopback) instead of 127.0.0.1, so that
    /// the node sees the attacker at an address of its own: the swarm listens there and dials
    /// with port reuse, which binds the outgoing socket to that address.
    pub async fn connect_from(
        key: libp2p::identity::Keypair,
        source: Option<std::net::Ipv4Addr>,
        target: Multiaddr,
        topic: &str,
    ) -> HostilePeer {
        let topic = IdentTopic::new(topic);
        let config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Anonymous)
            .heartbeat_interval(Duration::from_millis(200))
            .message_id_fn(fresh_id)
            .max_transmit_size(64 * 1024)
            .build()
            .unwrap();
        let behaviour = gossipsub::Behaviour::<gossipsub::IdentityTransform>::new(
            MessageAuthenticity::Anonymous,
            config,
        )
        .unwrap();
        let mut swarm = bare_swarm(key.clone(), behaviour);
        swarm.behaviour_mut().subscribe(&topic).unwrap();
        if let Some(ip) = source {
            let addr: Multiaddr = format!("/ip4/{ip}/tcp/0").parse().unwrap();
            swarm.listen_on(addr).unwrap();
            // The dial reuses the listening port only once the listener is bound.
            while !matches!(
                swarm.select_next_some().await,
                SwarmEvent::NewListenAddr { .. }
            ) {}
        }
        swarm.dial(target).unwrap();
        let peer_id = *swarm.local_peer_id();
        let ready = Arc::new(AtomicBool::new(false));
        let connected = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(HashMap::new()));
        let (frames, mut rx) = mpsc::channel::<Vec<u8>>(1024);
        let (flag, link, counts) = (ready.clone(), connected.clone(), received.clone());
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    Some(data) = rx.recv() => {
                        // Refusals (no peers, too large) are part of what a test may script.
                        let _ = swarm.behaviour_mut().publish(topic.clone(), data);
                    }
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::Behaviour(gossipsub::Event::Subscribed { .. }) => {
                            flag.store(true, Ordering::SeqCst);
                        }
                        SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                            if let Ok(m) = Message::decode(&message.data) {
                                *counts.lock().unwrap().entry(m.digest()).or_insert(0) += 1;
                            }
                        }
                        SwarmEvent::ConnectionEstablished { .. } => link.store(true, Ordering::SeqCst),
                        SwarmEvent::ConnectionClosed { num_established: 0, .. } => {
                            link.store(false, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
            }
        });
        HostilePeer {
            peer_id,
            key,
            frames,
            ready,
            connected,
            received,
            task,
        }
    }

    /// Whether the node has told this peer it is subscribed to the topic.
    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Whether a connection to the node is open.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    /// Publishes `frame` as it is.
    pub async fn send(&self, frame: Vec<u8>) {
        self.frames.send(frame).await.unwrap();
    }

    /// Copies of the frame with this digest received so far.
    pub fn received(&self, digest: &[u8; 32]) -> usize {
        self.received
            .lock()
            .unwrap()
            .get(digest)
            .copied()
            .unwrap_or(0)
    }
}

/// A hostile peer with a new identity attached to `target` on `topic`, once each side knows
/// the other.
pub async fn attach(target: &TestNode, topic: &str) -> HostilePeer {
    let peer = HostilePeer::connect(target.addr().await, topic).await;
    eventually("the hostile peer sees the topic", DEADLINE, || async {
        peer.ready()
    })
    .await;
    eventually("the node scores the hostile peer", DEADLINE, || async {
        target.node().peer_score(&peer.peer_id).await.is_some()
    })
    .await;
    peer
}

/// A frame on the current block with a proof that was never mined: distinct for each `n`
/// (gossipsub deduplicates by digest, so a flood of one digest would be one frame).
pub fn unmined(policy: &Policy, algorithm: Algorithm, n: u64) -> Vec<u8> {
    let now = now();
    let head = chain(policy).head(now).unwrap();
    let mut id = [0xbb; 64];
    id[32..40].copy_from_slice(&n.to_be_bytes());
    let mut m = Message::new(id, vec![0x5a; 1_000], (now + 600) as u32, head.prefix).unwrap();
    m.set_pow(
        algorithm,
        Proof {
            nonce: n,
            hash: [0x11; 32],
        },
    );
    m.encode()
}

/// The resident set size of this test process, in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
