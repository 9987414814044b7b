//! The relay's libp2p behaviour: connection limits, gossipsub, identify, ping, Kademlia and
//! sync, composed.
//!
//! # Gossipsub
//! Anonymous mode (`MessageAuthenticity::Anonymous`, `ValidationMode::Anonymous`): an EMS frame
//! carries its own proof, and a `from` field or signature would tie a message to the node that
//! first sent it. The message id is the EMS digest (read from the frame without decoding it), so
//! gossipsub's duplicate cache, the relay's seen-set and the store agree on identity. Every message waits for the application's verdict
//! (`validate_messages`) before it is forwarded.
//!
//! # Peer scoring
//! Parameters, and why (see also `docs/relay.md`):
//! - P4, invalid messages: weight −10 per topic, squared counter, decay 0.95 per second. An
//!   honest relay forwards only what it validated, so invalid frames come from broken or
//!   hostile peers; one costs −10 (the gossip threshold), three cost −90 (below the graylist
//!   threshold of −80, so the peer's RPCs are ignored). A lone disagreement (a chain view a
//!   block behind) is forgiven in about a minute.
//! - P1, time in mesh: +0.01 per second, capped at +1, so a long-standing peer can absorb
//!   less than one invalid message.
//! - P2, first deliveries: +0.5 each, decay 0.9, cap +10: useful peers earn a little credit,
//!   never enough to hide a pattern of invalid frames.
//! - P3/P3b (mesh delivery deficit) off: EMS traffic is bursty and sparse; a quiet topic
//!   would otherwise punish honest peers for messages nobody sent.
//! - IP colocation: default (−5 above 10 peers per IP).
//! - Thresholds: gossip −10, publish −50, graylist −80 (the libp2p defaults). A peer below the
//!   graylist threshold is also disconnected and refused for `Tuning::ban` (`ban.rs`,
//!   through `blocked`).

use crate::ban::Bans;
use crate::config::Tuning;
use crate::limits::{self, PerIp};
use crate::peek;
use crate::sync::{SyncCodec, PROTOCOL, SYNC_STREAMS};
use ems_core::message::MAX_FRAME;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAuthenticity, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode,
};
use libp2p::identity::Keypair;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{allow_block_list, connection_limits, identify, kad, ping, request_response};
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Largest gossipsub RPC: control messages may take up to 16 KiB of one RPC (the gossipsub
/// default), plus one largest frame.
const MAX_RPC: usize = 32 * 1024;
/// Largest message on the EMS topic: one largest frame plus protobuf framing.
pub(crate) const MAX_TOPIC_MESSAGE: usize = MAX_FRAME + 512;
/// Identify protocol version.
const IDENTIFY_VERSION: &str = "/qrl/ems/1";

/// Gossipsub score below which a peer's RPCs are ignored, and the peer is banned (the libp2p
/// default).
pub(crate) const GRAYLIST: f64 = -80.0;

/// Everything a relay speaks.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    /// Banned peers, refused before any other behaviour sees them; blocking a peer closes its
    /// open connections.
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Early, so a connection over a limit is refused before any other behaviour sees it.
    pub(crate) limits: connection_limits::Behaviour,
    /// The per-IP limit, and banned addresses, refused before the handshake.
    pub(crate) per_ip: PerIp,
    pub(crate) gossipsub: gossipsub::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    /// Off when `Tuning::discovery` is off: no DHT queries, so no dials beyond the bootstrap
    /// peers.
    pub(crate) kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
}

impl Behaviour {
    /// The behaviour of a node with this key; gossipsub registers its metrics in `registry`.
    /// Inbound connections from an address in `bans` are refused.
    pub(crate) fn new(
        key: &Keypair,
        topic: &IdentTopic,
        tuning: &Tuning,
        bans: Arc<Mutex<Bans>>,
        registry: &mut Registry,
    ) -> Result<Self, String> {
        let peer_id = key.public().to_peer_id();
        let g = &tuning.gossip;
        let config = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Anonymous)
            .validate_messages()
            .message_id_fn(|m: &gossipsub::Message| message_id(&m.data))
            .max_transmit_size(MAX_RPC)
            .max_transmit_size_for_topic(MAX_TOPIC_MESSAGE, topic.hash())
            .heartbeat_interval(tuning.heartbeat)
            .mesh_n(g.mesh_n)
            .mesh_n_low(g.mesh_n_low)
            .mesh_n_high(g.mesh_n_high)
            .mesh_outbound_min(g.mesh_outbound_min)
            .gossip_lazy(g.gossip_lazy)
            .flood_publish(g.flood_publish)
            .idontwant_message_size_threshold(g.idontwant_threshold)
            .duplicate_cache_time(tuning.duplicate_cache)
            // A message waits in the message cache for its verdict; a verdict that comes after
            // it left the cache forwards nothing. Keep messages for the hold time plus a margin
            // (the default is 5 heartbeats), so a loaded node and a held frame still forward.
            .history_length(history_length(tuning))
            .build()
            .map_err(|e| format!("gossipsub config: {e}"))?;
        let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
            .map_err(|e| format!("gossipsub: {e}"))?
            .with_metrics(registry, gossipsub::MetricsConfig::default());
        gossipsub.with_peer_score(
            score_params(topic),
            PeerScoreThresholds {
                graylist_threshold: GRAYLIST,
                ..PeerScoreThresholds::default()
            },
        )?;
        gossipsub
            .subscribe(topic)
            .map_err(|e| format!("subscribing to {topic}: {e}"))?;

        let identify =
            identify::Behaviour::new(identify::Config::new(IDENTIFY_VERSION.into(), key.public()));
        let kad = tuning
            .discovery
            .then(|| crate::network::discovery::kademlia(peer_id));
        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(PROTOCOL, request_response::ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(tuning.sync_timeout)
                .with_max_concurrent_streams(SYNC_STREAMS),
        );
        Ok(Behaviour {
            blocked: allow_block_list::Behaviour::default(),
            limits: limits::connection_limits(tuning),
            per_ip: PerIp::new(tuning.max_connections_per_ip, bans),
            gossipsub,
            identify,
            ping: ping::Behaviour::default(),
            kad: Toggle::from(kad),
            sync,
        })
    }
}

/// Heartbeats a message stays in gossipsub's message cache: `hold` plus 3 s.
fn history_length(tuning: &Tuning) -> usize {
    let keep = tuning.hold + Duration::from_secs(3);
    let beats = keep.as_millis() / tuning.heartbeat.as_millis().max(1);
    usize::try_from(beats).unwrap_or(usize::MAX).clamp(5, 1_000)
}

fn score_params(topic: &IdentTopic) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.95,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        decay_interval: Duration::from_secs(1),
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic.hash(), topic_params);
    params
}

/// The gossipsub message id: the EMS digest for a frame; for bytes that are not a frame (to be
/// rejected, but they need an id to be reported), SHA2-256 of the bytes under a domain prefix.
fn message_id(data: &[u8]) -> MessageId {
    let id: [u8; 32] = match peek::digest(data) {
        Some(digest) => digest,
        None => Sha256::new()
            .chain_update(b"ems-undecodable")
            .chain_update(data)
            .finalize()
            .into(),
    };
    MessageId::from(id.to_vec())
}
