//! The swarm task. It only moves events: what arrives goes to the ingest dispatcher, and the
//! verdicts, publishes and sync answers that come back are handed to the swarm.
//!
//! Backpressure: the swarm is polled only while the dispatcher's queue has room. When the node
//! is saturated it stops reading from its connections (TCP and yamux windows then slow the
//! senders) instead of discarding valid messages; commands (verdicts, publishes) keep flowing
//! meanwhile, so the pipeline drains.

pub(crate) mod discovery;
mod start;
mod sync_events;

use crate::ban::Bans;
use crate::behaviour::{Behaviour, BehaviourEvent, GRAYLIST};
use crate::limits::ip_of;
use crate::metrics::Metrics;
use crate::sync;
use crate::trim;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageId};
use libp2p::request_response::{self, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, Multiaddr, PeerId, Swarm};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How often connections over `max_connections` are looked at again (besides at each new
/// connection), for those that have aged past the grace period since.
const TRIM_EVERY: Duration = Duration::from_secs(1);

/// What the rest of the node asks of the swarm.
#[derive(Debug)]
pub(crate) enum Command {
    /// Gossip a validated, stored frame, unless every connected peer is among `holders`, the
    /// peers known to hold it (for a frame fetched by sync: the peer it came from, and the
    /// others that announced it).
    Publish { data: Vec<u8>, holders: Vec<PeerId> },
    /// The verdict on a gossip message.
    Report {
        id: MessageId,
        peer: PeerId,
        acceptance: MessageAcceptance,
    },
    /// Send a sync request.
    SyncRequest {
        peer: PeerId,
        request: sync::Request,
    },
    /// Answer a sync request.
    SyncRespond {
        channel: ResponseChannel<sync::Response>,
        response: sync::Response,
    },
    /// Disconnect and ban a peer whose sync score reached the threshold.
    Ban { peer: PeerId },
    /// A peer's gossipsub score.
    PeerScore {
        peer: PeerId,
        reply: oneshot::Sender<Option<f64>>,
    },
    /// Stop: close every connection and end the task.
    Shutdown,
}

/// What the swarm hands to the ingest dispatcher.
#[derive(Debug)]
pub(crate) enum Event {
    /// A gossip message waiting for its verdict.
    Gossip {
        peer: PeerId,
        /// The IP address the peer connected from, if known.
        ip: Option<IpAddr>,
        id: MessageId,
        data: Vec<u8>,
    },
    /// A first connection to a peer: time to sync with it.
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
    /// A peer asks for history.
    SyncRequest {
        peer: PeerId,
        request: sync::Request,
        channel: ResponseChannel<sync::Response>,
    },
    /// A peer answered our sync request tagged `sent`.
    SyncResponse {
        peer: PeerId,
        sent: sync::Tag,
        response: sync::Response,
    },
    /// Our sync request tagged `sent` brought no answer, for the reason `failure`.
    SyncFailed {
        peer: PeerId,
        sent: sync::Tag,
        failure: sync::Failure,
    },
}

impl Event {
    /// The peer the event comes from.
    pub(crate) fn peer(&self) -> Option<&PeerId> {
        match self {
            Event::Gossip { peer, .. }
            | Event::Connected(peer)
            | Event::SyncRequest { peer, .. }
            | Event::SyncResponse { peer, .. } => Some(peer),
            // Bookkeeping: the sync state forgets the peer, or gives the request up.
            Event::Disconnected(_) | Event::SyncFailed { .. } => None,
        }
    }
}

/// Figures the swarm task keeps current for `Node::status` without a round trip, and the bans,
/// which the swarm task sets and the gossip path and connection limits read.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Peers with at least one open connection.
    pub(crate) connected: Mutex<HashSet<PeerId>>,
    /// The IP address of each connected peer (its latest connection).
    pub(crate) ips: Mutex<HashMap<PeerId, IpAddr>>,
    pub(crate) listen_addrs: Mutex<Vec<Multiaddr>>,
    pub(crate) bans: Arc<Mutex<Bans>>,
}

/// The swarm, built and listening, not yet running.
pub(crate) struct Network {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    bootstrap: Vec<(Option<PeerId>, Multiaddr)>,
    redial: Duration,
    shared: Arc<Shared>,
    metrics: Arc<Metrics>,
    /// The established connections, trimmed back to `max_connections`.
    connections: trim::Manager,
    /// The tag of each sync request in flight, to match its answer or failure.
    sync_sent: HashMap<request_response::OutboundRequestId, sync::Tag>,
    /// When this node looks for peers (`network/discovery.rs`).
    discovery: discovery::Discovery,
}

impl Network {
    pub(crate) fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// One redial tick: redials the bootstrap peers, ends Kademlia's queries or starts a
    /// lookup, as [`discovery::Discovery::tick`] decides.
    fn discover(&mut self) {
        let connected = lock(&self.shared.connected).len();
        let tick = self
            .discovery
            .tick(connected, self.swarm.behaviour_mut().kad.as_mut());
        if tick.redial_bootstrap {
            self.dial_bootstrap();
        }
        if tick.lookup_started {
            self.metrics.discovery_lookups.inc();
        }
    }

    fn dial_bootstrap(&mut self) {
        for (peer, addr) in &self.bootstrap {
            if peer.is_some_and(|p| self.swarm.is_connected(&p)) {
                continue;
            }
            if let Err(e) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, error = %e, "bootstrap dial failed");
            }
        }
    }

    /// Runs until [`Command::Shutdown`] or until every command sender is gone.
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        events: mpsc::Sender<Event>,
    ) {
        let mut redial = tokio::time::interval(self.redial);
        redial.tick().await;
        let mut trim = tokio::time::interval(TRIM_EVERY);
        loop {
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None | Some(Command::Shutdown) => break,
                    Some(cmd) => self.command(cmd, &events),
                },
                event = futures::StreamExt::next(&mut self.swarm), if events.capacity() > 0 => {
                    match event {
                        Some(event) => self.swarm_event(event, &events),
                        None => break,
                    }
                }
                room = events.reserve(), if events.capacity() == 0 => {
                    // The dispatcher took an event: read again.
                    if room.is_err() {
                        break;
                    }
                }
                _ = redial.tick() => {
                    self.lift_ended_bans();
                    self.discover();
                }
                _ = trim.tick() => self.trim(),
            }
        }
        tracing::debug!("swarm task stopped");
    }

    /// Gossips a stored frame, unless every connected peer is known to hold it: gossipsub's
    /// publish cannot leave a peer out, so it would go back to peers that have it, every byte
    /// again for nothing (a node catching up sent its history back to the peers it fetched it
    /// from).
    fn publish(&mut self, data: Vec<u8>, holders: Vec<PeerId>) {
        if self.swarm.connected_peers().all(|p| holders.contains(p)) {
            return;
        }
        let topic = self.topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            // Stored already; peers that miss it get it through sync.
            tracing::debug!(error = %e, "gossip publish");
        }
    }

    fn command(&mut self, cmd: Command, events: &mpsc::Sender<Event>) {
        let behaviour = self.swarm.behaviour_mut();
        match cmd {
            Command::Publish { data, holders } => self.publish(data, holders),
            Command::Report {
                id,
                peer,
                acceptance,
            } => {
                let rejected = matches!(acceptance, MessageAcceptance::Reject);
                behaviour
                    .gossipsub
                    .report_message_validation_result(&id, &peer, acceptance);
                if rejected {
                    self.ban_if_graylisted(peer);
                }
            }
            Command::SyncRequest { peer, request } => self.sync_request(peer, request, events),
            Command::Ban { peer } => self.ban(peer, "its sync score reached the threshold"),
            Command::SyncRespond { channel, response } => {
                if behaviour.sync.send_response(channel, response).is_err() {
                    tracing::debug!("sync response dropped: the peer went away");
                }
            }
            Command::PeerScore { peer, reply } => {
                let _ = reply.send(behaviour.gossipsub.peer_score(&peer));
            }
            Command::Shutdown => {}
        }
    }

    /// Bans `peer` if its score is below the graylist threshold: its connections are closed
    /// and new ones refused until the ban ends, and its address too if this was one ban too
    /// many from it ([`Bans`]). Only a rejected frame lowers a score far enough, so this is
    /// checked after each rejection.
    fn ban_if_graylisted(&mut self, peer: PeerId) {
        let behaviour = self.swarm.behaviour_mut();
        let Some(score) = behaviour.gossipsub.peer_score(&peer) else {
            return;
        };
        if score >= GRAYLIST {
            return;
        }
        self.ban(
            peer,
            "its gossipsub score fell below the graylist threshold",
        );
    }

    /// Disconnects `peer` and refuses it until the ban ends, and its address too if this was
    /// one ban too many from it ([`Bans`]).
    fn ban(&mut self, peer: PeerId, why: &str) {
        let behaviour = self.swarm.behaviour_mut();
        let ip = lock(&self.shared.ips).get(&peer).copied();
        let (banned, peers, addresses) = {
            let mut bans = lock(&self.shared.bans);
            let banned = bans.ban(peer, ip, Instant::now());
            (banned, bans.len(), bans.addresses())
        };
        if !banned.peer {
            return;
        }
        if let Some(lifted) = banned.lifted {
            behaviour.blocked.unblock_peer(lifted);
        }
        behaviour.blocked.block_peer(peer);
        self.metrics.bans.inc();
        self.metrics.banned.set(peers as i64);
        self.metrics.banned_addresses.set(addresses as i64);
        tracing::info!(%peer, "peer banned: {why}");
        if let Some(address) = banned.address {
            self.metrics.address_bans.inc();
            tracing::info!(%address, "address banned: too many of its peers are banned");
        }
    }

    /// Lets peers and addresses whose ban has ended connect again.
    fn lift_ended_bans(&mut self) {
        let (ended, peers, addresses) = {
            let mut bans = lock(&self.shared.bans);
            let ended = bans.expire(Instant::now());
            (ended, bans.len(), bans.addresses())
        };
        for peer in ended {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            tracing::debug!(%peer, "ban ended");
        }
        self.metrics.banned.set(peers as i64);
        self.metrics.banned_addresses.set(addresses as i64);
    }

    /// Closes connections over `max_connections`, as `trim.rs` chooses them.
    fn trim(&mut self) {
        if !self.connections.over() {
            return;
        }
        let gossipsub = &self.swarm.behaviour().gossipsub;
        let mesh: HashSet<PeerId> = gossipsub.all_mesh_peers().copied().collect();
        let victims = self
            .connections
            .trim(&mesh, Instant::now(), &mut rand::rng());
        for connection in victims {
            if self.swarm.close_connection(connection) {
                self.metrics.connections_trimmed.inc();
                tracing::debug!(?connection, "connection closed: over max_connections");
            }
        }
    }

    fn swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>, events: &mpsc::Sender<Event>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let local = self.local_peer_id();
                let mut addrs = lock(&self.shared.listen_addrs);
                let full = address.with_p2p(local).unwrap_or_else(|a| a);
                if !addrs.contains(&full) {
                    addrs.push(full);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                let local = self.local_peer_id();
                let full = address.with_p2p(local).unwrap_or_else(|a| a);
                lock(&self.shared.listen_addrs).retain(|a| *a != full);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                num_established,
                endpoint,
                ..
            } => {
                self.connections
                    .opened(connection_id, peer_id, Instant::now());
                self.trim();
                if let Some(ip) = ip_of(endpoint.get_remote_address()) {
                    lock(&self.shared.ips).insert(peer_id, ip);
                }
                if num_established.get() > 1 {
                    return;
                }
                lock(&self.shared.connected).insert(peer_id);
                tracing::debug!(peer = %peer_id, "connected");
                forward(events, Event::Connected(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.connections.closed(connection_id);
                if num_established > 0 {
                    return;
                }
                lock(&self.shared.connected).remove(&peer_id);
                lock(&self.shared.ips).remove(&peer_id);
                tracing::debug!(peer = %peer_id, "disconnected");
                forward(events, Event::Disconnected(peer_id));
            }
            SwarmEvent::IncomingConnectionError {
                error: libp2p::swarm::ListenError::Denied { cause },
                send_back_addr,
                ..
            } => {
                self.metrics.connections_denied.inc();
                tracing::debug!(addr = %send_back_addr, %cause, "inbound connection refused");
            }
            SwarmEvent::Behaviour(event) => self.behaviour_event(event, events),
            _ => {}
        }
    }

    fn behaviour_event(&mut self, event: BehaviourEvent, events: &mpsc::Sender<Event>) {
        match event {
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let ip = lock(&self.shared.ips).get(&propagation_source).copied();
                let event = Event::Gossip {
                    peer: propagation_source,
                    ip,
                    id: message_id,
                    data: message.data,
                };
                // The swarm is polled only with room in the queue, so this cannot be full.
                if let Err(mpsc::error::TrySendError::Full(Event::Gossip { peer, id, .. })) =
                    events.try_send(event)
                {
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(&id, &peer, MessageAcceptance::Ignore);
                    self.metrics.rejected("overloaded");
                }
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    discovery::Discovery::identified(kad, peer_id, info.listen_addrs);
                }
            }
            BehaviourEvent::Kad(event) => {
                let connected = lock(&self.shared.connected).len();
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    self.discovery.kad_event(&event, connected, kad);
                }
            }
            BehaviourEvent::Sync(event) => self.sync_event(event, events),
            _ => {}
        }
    }
}

/// Hands an event to the dispatcher, dropping it if the queue is full (sync requests then
/// time out at the asker; a missed connection event only delays sync to the next connection).
fn forward(events: &mpsc::Sender<Event>, event: Event) {
    if events.try_send(event).is_err() {
        tracing::debug!("event queue full; event dropped");
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The peers connected now.
pub(crate) fn connected(shared: &Shared) -> Vec<PeerId> {
    lock(&shared.connected).iter().copied().collect()
}

/// Reads the listen addresses.
pub(crate) fn listen_addrs(shared: &Shared) -> Vec<Multiaddr> {
    lock(&shared.listen_addrs).clone()
}
