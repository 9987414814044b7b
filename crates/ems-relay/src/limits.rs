//! Connection limits: libp2p's `connection-limits` behaviour bounds the total (a hard cap a
//! little over `Tuning::max_connections`, which the connection manager in `trim.rs` trims back
//! to), pending and per-peer counts; [`PerIp`] adds what it lacks, a bound on inbound connections (pending and
//! established together) from one IP address, since a peer id costs nothing to mint and an
//! address does, and refuses addresses that are banned (`ban.rs`) before their handshake.

use crate::ban::Bans;
use crate::config::Tuning;
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenFailure,
    NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// libp2p's limits from the tuning: total established (`max_connections` plus the connection
/// manager's headroom, `trim.rs`), pending inbound and outbound, and per peer.
pub(crate) fn connection_limits(tuning: &Tuning) -> connection_limits::Behaviour {
    connection_limits::Behaviour::new(
        ConnectionLimits::default()
            .with_max_established(Some(crate::trim::hard_cap(tuning.max_connections)))
            .with_max_pending_incoming(Some(tuning.max_pending))
            .with_max_pending_outgoing(Some(tuning.max_pending))
            .with_max_established_per_peer(Some(2)),
    )
}

/// The IP address of a multiaddr, if it has one (`/ip4/..` or `/ip6/..` first).
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// Why [`PerIp`] refused a connection.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {limit} inbound connections (the per-IP limit)")]
pub(crate) struct TooManyFromIp {
    ip: IpAddr,
    limit: u32,
}

/// Why [`PerIp`] refused a connection from a banned address.
#[derive(Debug, thiserror::Error)]
#[error("{0} is banned: too many of its peers were banned")]
pub(crate) struct AddressBanned(IpAddr);

/// At most `limit` inbound connections, pending or established, from one IP address, and none
/// from a banned address.
pub(crate) struct PerIp {
    limit: u32,
    bans: Arc<Mutex<Bans>>,
    connections: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, u32>,
}

impl PerIp {
    pub(crate) fn new(limit: u32, bans: Arc<Mutex<Bans>>) -> Self {
        PerIp {
            limit,
            bans,
            connections: HashMap::new(),
            per_ip: HashMap::new(),
        }
    }

    fn release(&mut self, connection: ConnectionId) {
        let Some(ip) = self.connections.remove(&connection) else {
            return;
        };
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }
}

impl NetworkBehaviour for PerIp {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        let banned = self
            .bans
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .address_banned(ip);
        if banned {
            return Err(ConnectionDenied::new(AddressBanned(ip)));
        }
        let n = self.per_ip.entry(ip).or_default();
        if *n >= self.limit {
            let limit = self.limit;
            return Err(ConnectionDenied::new(TooManyFromIp { ip, limit }));
        }
        *n += 1;
        self.connections.insert(connection, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn addr(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_ip_gets_its_limit_and_a_closed_connection_frees_a_slot() {
        let bans = Arc::new(Mutex::new(Bans::new(Duration::from_secs(60), 1, false)));
        let mut limit = PerIp::new(2, bans);
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let a = addr("/ip4/10.0.0.1/tcp/5000");
        let b = addr("/ip4/10.0.0.2/tcp/5000");
        let ids: Vec<_> = (0..4)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        assert!(limit
            .handle_pending_inbound_connection(ids[0], &local, &a)
            .is_ok());
        assert!(limit
            .handle_pending_inbound_connection(ids[1], &local, &a)
            .is_ok());
        assert!(limit
            .handle_pending_inbound_connection(ids[2], &local, &a)
            .is_err());
        assert!(
            limit
                .handle_pending_inbound_connection(ids[3], &local, &b)
                .is_ok(),
            "another address has its own count"
        );
        limit.release(ids[0]);
        assert!(limit
            .handle_pending_inbound_connection(ids[2], &local, &a)
            .is_ok());
        for id in &ids {
            limit.release(*id);
        }
        assert!(limit.per_ip.is_empty() && limit.connections.is_empty());
    }

    #[test]
    fn a_banned_address_is_refused_and_others_are_not() {
        let bans = Arc::new(Mutex::new(Bans::new(Duration::from_secs(60), 1, false)));
        let mut limit = PerIp::new(8, bans.clone());
        let local = addr("/ip4/127.0.0.1/tcp/1");
        let a = addr("/ip4/10.0.0.1/tcp/5000");
        let b = addr("/ip4/10.0.0.2/tcp/5000");
        let id = || ConnectionId::new_unchecked(rand_id());
        assert!(limit
            .handle_pending_inbound_connection(id(), &local, &a)
            .is_ok());
        let ip = ip_of(&a);
        bans.lock()
            .unwrap()
            .ban(PeerId::random(), ip, Instant::now());
        assert!(limit
            .handle_pending_inbound_connection(id(), &local, &a)
            .is_err());
        assert!(limit
            .handle_pending_inbound_connection(id(), &local, &b)
            .is_ok());
        assert_eq!(
            limit.per_ip.get(&ip.unwrap()),
            Some(&1),
            "a refusal takes no slot"
        );
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1 << 40);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
