//! Building the swarm: the transport, the behaviour, bound listeners and the first dials.

use super::{lock, Network, Shared};
use crate::ban::Bans;
use crate::behaviour::Behaviour;
use crate::config::{BoxedTransport, NodeConfig};
use crate::error::RelayError;
use crate::metrics::Metrics;
use libp2p::core::{upgrade, Transport as _};
use libp2p::gossipsub::IdentTopic;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{noise, tcp, yamux};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `Node::start` waits for its listeners to bind.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

impl Network {
    /// Builds the swarm, binds every listen address (waiting until each reports its actual
    /// address), and dials the bootstrap peers.
    pub(crate) async fn start(
        key: libp2p::identity::Keypair,
        config: &NodeConfig,
        metrics: Arc<Metrics>,
    ) -> Result<Network, RelayError> {
        let topic = IdentTopic::new(config.topic());
        let tuning = config.tuning.clone();
        let net = |e: &dyn std::fmt::Display| RelayError::Network(e.to_string());
        let behaviour_topic = topic.clone();
        let bans = Arc::new(Mutex::new(Bans::new(
            tuning.ban,
            tuning.address_ban_after,
            tuning.ban_loopback,
        )));
        let shared = Arc::new(Shared {
            connected: Mutex::default(),
            ips: Mutex::default(),
            listen_addrs: Mutex::default(),
            bans: bans.clone(),
        });
        let transport = match &config.transport {
            Some(factory) => factory.build(&key),
            None => tcp_transport(&key).map_err(|e| net(&e))?,
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_other_transport(|_| transport)
            .map_err(|e| net(&e))?
            .with_behaviour(|key| {
                metrics
                    .with_registry(|registry| {
                        let registry = registry.sub_registry_with_prefix("libp2p_gossipsub");
                        Behaviour::new(key, &behaviour_topic, &tuning, bans, registry)
                    })
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
            })
            .map_err(|e| net(&e))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
            .build();

        let mut pending = HashSet::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| RelayError::Network(format!("listening on {addr}: {e}")))?;
            pending.insert(id);
        }
        let local = *swarm.local_peer_id();
        let deadline = tokio::time::Instant::now() + LISTEN_TIMEOUT;
        while !pending.is_empty() {
            let event = tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut swarm))
                .await
                .map_err(|_| RelayError::Network("listeners did not bind within 10 s".into()))?;
            match event {
                Some(SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                }) => {
                    pending.remove(&listener_id);
                    lock(&shared.listen_addrs).push(address.with_p2p(local).unwrap_or_else(|a| a));
                }
                Some(SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                }) if pending.contains(&listener_id) => {
                    return Err(RelayError::Network(format!("listener closed: {reason:?}")));
                }
                Some(SwarmEvent::ListenerError { error, .. }) => {
                    return Err(RelayError::Network(format!("listener failed: {error}")));
                }
                Some(_) => {}
                None => return Err(RelayError::Network("swarm ended".into())),
            }
        }

        let mut bootstrap = Vec::new();
        for addr in &config.bootstrap {
            let peer = match addr.iter().last() {
                Some(Protocol::P2p(peer)) => Some(peer),
                _ => None,
            };
            if let Some(peer) = peer {
                let mut bare = addr.clone();
                bare.pop();
                if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                    kad.add_address(&peer, bare);
                }
            }
            bootstrap.push((peer, addr.clone()));
        }
        let mut network = Network {
            swarm,
            topic,
            bootstrap,
            redial: config.tuning.redial,
            shared,
            metrics,
            connections: crate::trim::Manager::new(
                config.tuning.max_connections,
                config.tuning.connection_grace,
            ),
            sync_sent: Default::default(),
            discovery: super::discovery::Discovery::new(),
        };
        network.dial_bootstrap();
        Ok(network)
    }
}

/// TCP (no Nagle), Noise, Yamux: the production transport.
fn tcp_transport(key: &libp2p::identity::Keypair) -> Result<BoxedTransport, noise::Error> {
    Ok(
        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .upgrade(upgrade::Version::V1Lazy)
            .authenticate(noise::Config::new(key)?)
            .multiplex(yamux::Config::default())
            .boxed(),
    )
}
