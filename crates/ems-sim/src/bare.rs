//! A bare gossipsub node: the same transport, discovery and gossipsub parameters as a relay,
//! with neither validation nor store, so that the relay's own cost shows as a ratio. It finds
//! peers by the relay's own rules (`ems_relay::Discovery`): bootstrap peers, then a Kademlia
//! lookup only while it has fewer than `ems_relay::DISCOVERY_LOW` peers.
//!
//! It can also play a hostile peer ([`Bare::flood`]): it publishes frames no relay accepts.

use crate::recorder::Recorder;
use ems_relay::{Discovery, Gossip};
use futures::StreamExt;
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, kad, ping, Multiaddr, PeerId, Swarm};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
}

enum Command {
    Publish(Vec<u8>),
    Metrics(oneshot::Sender<String>),
    Peers(oneshot::Sender<usize>),
}

/// A running bare node.
#[derive(Debug, Clone)]
pub struct Bare {
    commands: mpsc::Sender<Command>,
    /// Its peer id.
    pub peer_id: PeerId,
}

/// The gossip message id of a bare node: SHA-256 of the data.
pub fn message_id(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Everything a bare node is started with.
pub struct BareConfig {
    /// Its transport.
    pub transport: ems_relay::TransportFactory,
    /// Listen address (`/memory/<port>`).
    pub listen: Multiaddr,
    /// Peers to dial at start, with `/p2p/<id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Topic, the relays' topic.
    pub topic: IdentTopic,
    /// Gossipsub parameters.
    pub gossip: Gossip,
    /// Heartbeat.
    pub heartbeat: Duration,
    /// Discovery's redial tick (as a relay's `Tuning::redial`).
    pub redial: Duration,
    /// Established connections at most (as a relay's `Tuning::max_connections`).
    pub max_connections: u32,
    /// Kademlia discovery on.
    pub discovery: bool,
    /// Where received messages are recorded (`None` for hostile nodes).
    pub recorder: Option<(Arc<Recorder>, usize)>,
}

impl Bare {
    /// Starts a bare node.
    pub fn start(config: BareConfig) -> anyhow::Result<Bare> {
        let key = Keypair::generate_ed25519();
        let peer_id = key.public().to_peer_id();
        let mut registry = Registry::default();
        let transport = config.transport.build(&key);
        let g = &config.gossip;
        let gossip_config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Anonymous)
            .message_id_fn(|m: &gossipsub::Message| message_id(&m.data).to_vec().into())
            .max_transmit_size(32 * 1024)
            .heartbeat_interval(config.heartbeat)
            .mesh_n(g.mesh_n)
            .mesh_n_low(g.mesh_n_low)
            .mesh_n_high(g.mesh_n_high)
            .mesh_outbound_min(g.mesh_outbound_min)
            .gossip_lazy(g.gossip_lazy)
            .flood_publish(g.flood_publish)
            .idontwant_message_size_threshold(g.idontwant_threshold)
            .build()
            .map_err(|e| anyhow::anyhow!("gossipsub config: {e}"))?;
        let mut gossipsub =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_config)
                .map_err(|e| anyhow::anyhow!("gossipsub: {e}"))?
                .with_metrics(
                    registry.sub_registry_with_prefix("libp2p_gossipsub"),
                    gossipsub::MetricsConfig::default(),
                );
        gossipsub.subscribe(&config.topic)?;
        let kad = config.discovery.then(|| ems_relay::kademlia(peer_id));
        let behaviour = Behaviour {
            limits: connection_limits::Behaviour::new(
                ConnectionLimits::default().with_max_established(Some(config.max_connections)),
            ),
            gossipsub,
            identify: identify::Behaviour::new(identify::Config::new(
                "/qrl/ems/1".into(),
                key.public(),
            )),
            ping: ping::Behaviour::default(),
            kad: Toggle::from(kad),
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|_| transport)?
            .with_behaviour(|_| behaviour)?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();
        swarm.listen_on(config.listen.clone())?;
        for addr in &config.bootstrap {
            if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
                let mut bare = addr.clone();
                bare.pop();
                if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                    kad.add_address(&peer, bare);
                }
            }
            let _ = swarm.dial(addr.clone());
        }
        let (commands, rx) = mpsc::channel(1024);
        let node = Node {
            swarm,
            bootstrap: config.bootstrap,
            discovery: Discovery::new(),
            topic: config.topic,
            registry,
            recorder: config.recorder,
        };
        tokio::spawn(node.run(rx, config.redial));
        Ok(Bare { commands, peer_id })
    }

    /// Publishes `data` (recorded as sent now).
    pub async fn publish(&self, data: Vec<u8>) {
        let _ = self.commands.send(Command::Publish(data)).await;
    }

    /// The node's gossipsub metrics, as Prometheus text.
    pub async fn metrics(&self) -> String {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Metrics(tx)).await.is_err() {
            return String::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Its connected peers (0 once it has stopped).
    pub async fn peers(&self) -> usize {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Peers(tx)).await.is_err() {
            return 0;
        }
        rx.await.unwrap_or_default()
    }

    /// Publishes `count` frames that fail validation (pseudo-random bytes of `len`), `per_sec`
    /// a second, in the background.
    pub fn flood(&self, len: usize, per_sec: u32, count: usize) {
        let salt = self.peer_id.to_bytes();
        self.repeat(per_sec, count, move |i| {
            let seed = Sha256::new()
                .chain_update((i as u64).to_be_bytes())
                .chain_update(&salt)
                .finalize();
            Some((0..len).map(|j| seed[j % 32] ^ (j as u8)).collect())
        });
    }

    /// Publishes `frames` again and again (replays), `per_sec` a second, in the background.
    pub fn replay(&self, frames: Vec<Vec<u8>>, per_sec: u32, count: usize) {
        self.repeat(per_sec, count, move |i| {
            frames.get(i % frames.len().max(1)).cloned()
        });
    }

    /// Publishes `make(i)` for `i` in `0..count`, `per_sec` a second, in the background.
    fn repeat(
        &self,
        per_sec: u32,
        count: usize,
        make: impl Fn(usize) -> Option<Vec<u8>> + Send + 'static,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1)));
            let mut tick = tokio::time::interval(period);
            for i in 0..count {
                tick.tick().await;
                if let Some(data) = make(i) {
                    me.publish(data).await;
                }
            }
        });
    }
}

/// A bare node's swarm and what it needs to run.
struct Node {
    swarm: Swarm<Behaviour>,
    bootstrap: Vec<Multiaddr>,
    discovery: Discovery,
    topic: IdentTopic,
    registry: Registry,
    recorder: Option<(Arc<Recorder>, usize)>,
}

impl Node {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>, redial: Duration) {
        let mut redial = tokio::time::interval(redial);
        redial.tick().await;
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => return,
                    Some(cmd) => self.command(cmd),
                },
                event = self.swarm.select_next_some() => self.event(event),
                _ = redial.tick() => self.discover(),
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish(data) => {
                let id = message_id(&data);
                if let Some((rec, me)) = &self.recorder {
                    rec.received(id, *me);
                }
                let topic = self.topic.clone();
                let _ = self.swarm.behaviour_mut().gossipsub.publish(topic, data);
            }
            Command::Metrics(reply) => {
                let mut out = String::new();
                let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
                let _ = reply.send(out);
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().count());
            }
        }
    }

    /// A redial tick, by the relay's rules.
    fn discover(&mut self) {
        let connected = self.swarm.connected_peers().count();
        let tick = self
            .discovery
            .tick(connected, self.swarm.behaviour_mut().kad.as_mut());
        if tick.redial_bootstrap {
            for addr in &self.bootstrap {
                let peer = match addr.iter().last() {
                    Some(libp2p::multiaddr::Protocol::P2p(peer)) => Some(peer),
                    _ => None,
                };
                if !peer.is_some_and(|p| self.swarm.is_connected(&p)) {
                    let _ = self.swarm.dial(addr.clone());
                }
            }
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                message,
                ..
            })) => {
                if let Some((rec, me)) = &self.recorder {
                    rec.received(message_id(&message.data), *me);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    Discovery::identified(kad, peer_id, info.listen_addrs);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => {
                let connected = self.swarm.connected_peers().count();
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    self.discovery.kad_event(&event, connected, kad);
                }
            }
            _ => {}
        }
    }
}
