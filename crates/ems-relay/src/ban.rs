//! Peers, and then addresses, sent away for a while.
//!
//! A peer whose gossipsub score falls below the graylist threshold is disconnected and refused
//! for [`Tuning::ban`](crate::Tuning::ban). Graylisting alone leaves the peer connected:
//! gossipsub ignores its RPCs, but the node still decrypts and frames every byte it sends.
//! Cutting the connection stops that cost at the transport, and what the peer sent before the
//! ban and is still queued here is dropped unvalidated (`ingest`, `gossip`).
//!
//! A peer id costs nothing to mint, so a banned flooder can come back at once under a new one.
//! Repeated bans therefore cost the address: once
//! [`Tuning::address_ban_after`](crate::Tuning::address_ban_after) peers that connected from one
//! address are banned at the same time (that is, within one ban duration), new inbound
//! connections from that address are refused before their handshake for the ban duration.
//! An address is an IPv4 address or an IPv6 /64 (what one host is usually given). Connections
//! already open from it stay: peers behind one NAT are not cut off for a neighbour's sins, they
//! only cannot connect anew while it lasts. Loopback is never banned unless
//! [`Tuning::ban_loopback`](crate::Tuning::ban_loopback) says so: local tools and a test's
//! nodes all share 127.0.0.1.
//!
//! Both lists are bounded: past [`MAX_BANNED`] peers (or [`MAX_BANNED_ADDRESSES`] addresses)
//! the ban that would end first is lifted early, so an attacker minting identities cannot grow
//! the node's memory (the per-IP connection limit and budgets still hold it).

use libp2p::PeerId;
use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Peers banned at once, at most (about 150 bytes each).
pub(crate) const MAX_BANNED: usize = 4_096;
/// Addresses banned at once, at most (about 100 bytes each).
pub(crate) const MAX_BANNED_ADDRESSES: usize = 1_024;

/// Keys that each stay until a deadline, at most `capacity` of them.
#[derive(Debug)]
struct Expiring<K> {
    capacity: usize,
    until: HashMap<K, Instant>,
    /// The same entries ordered by end time, so expiry and eviction take the earliest.
    by_end: BTreeSet<(Instant, K)>,
}

impl<K: Copy + Ord + Hash> Expiring<K> {
    fn new(capacity: usize) -> Self {
        Expiring {
            capacity,
            until: HashMap::new(),
            by_end: BTreeSet::new(),
        }
    }

    fn contains(&self, key: &K) -> bool {
        self.until.contains_key(key)
    }

    /// Adds `key` (absent) until `end`; returns the key evicted early to make room, if any.
    fn insert(&mut self, key: K, end: Instant) -> Option<K> {
        let mut evicted = None;
        if self.until.len() >= self.capacity {
            if let Some((_, first)) = self.by_end.pop_first() {
                self.until.remove(&first);
                evicted = Some(first);
            }
        }
        self.until.insert(key, end);
        self.by_end.insert((end, key));
        evicted
    }

    /// Removes and returns the keys whose deadline has come by `now`.
    fn expire(&mut self, now: Instant) -> Vec<K> {
        let mut ended = Vec::new();
        while let Some(&(end, key)) = self.by_end.first() {
            if end > now {
                break;
            }
            self.by_end.pop_first();
            self.until.remove(&key);
            ended.push(key);
        }
        ended
    }

    fn len(&self) -> usize {
        self.until.len()
    }
}

/// The address a ban applies to: an IPv4 address, or the /64 of an IPv6 one.
pub(crate) fn address_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// What [`Bans::ban`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Banned {
    /// The peer was newly banned (false: banned already, or bans are off).
    pub(crate) peer: bool,
    /// A peer whose ban was lifted early to make room.
    pub(crate) lifted: Option<PeerId>,
    /// The address now banned because of this ban, if it was the last one it took.
    pub(crate) address: Option<IpAddr>,
}

/// The banned peers and addresses, and when each ban ends.
#[derive(Debug)]
pub(crate) struct Bans {
    duration: Duration,
    /// Peers banned at once from one address that ban the address; 0: never.
    address_after: usize,
    loopback: bool,
    peers: Expiring<PeerId>,
    /// The address each banned peer connected from, when known.
    origin: HashMap<PeerId, IpAddr>,
    /// Banned peers per address.
    per_address: HashMap<IpAddr, usize>,
    addresses: Expiring<IpAddr>,
}

impl Bans {
    /// An empty list whose bans last `duration` (zero: no bans); an address is banned once
    /// `address_after` of its peers are (zero: never); loopback only if `loopback`.
    pub(crate) fn new(duration: Duration, address_after: usize, loopback: bool) -> Self {
        Bans {
            duration,
            address_after,
            loopback,
            peers: Expiring::new(MAX_BANNED),
            origin: HashMap::new(),
            per_address: HashMap::new(),
            addresses: Expiring::new(MAX_BANNED_ADDRESSES),
        }
    }

    /// Bans `peer`, which connected from `ip` (if known), from `now`. Changes nothing if it is
    /// banned already or bans are off.
    pub(crate) fn ban(&mut self, peer: PeerId, ip: Option<IpAddr>, now: Instant) -> Banned {
        if self.duration.is_zero() || self.peers.contains(&peer) {
            return Banned::default();
        }
        let end = now + self.duration;
        let lifted = self.peers.insert(peer, end);
        if let Some(lifted) = lifted {
            self.forget(&lifted);
        }
        let mut address = None;
        if let Some(addr) = ip.map(address_of) {
            self.origin.insert(peer, addr);
            let n = self.per_address.entry(addr).or_default();
            *n += 1;
            let exempt = addr.is_loopback() && !self.loopback;
            if self.address_after > 0
                && *n >= self.address_after
                && !exempt
                && !self.addresses.contains(&addr)
            {
                self.addresses.insert(addr, end);
                address = Some(addr);
            }
        }
        Banned {
            peer: true,
            lifted,
            address,
        }
    }

    /// Drops a peer whose ban ended from its address's count.
    fn forget(&mut self, peer: &PeerId) {
        let Some(addr) = self.origin.remove(peer) else {
            return;
        };
        if let Some(n) = self.per_address.get_mut(&addr) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&addr);
            }
        }
    }

    /// Removes the bans that have ended by `now`; returns the peers among them.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        self.addresses.expire(now);
        let ended = self.peers.expire(now);
        for peer in &ended {
            self.forget(peer);
        }
        ended
    }

    /// Whether `peer` is banned now.
    pub(crate) fn is_banned(&self, peer: &PeerId) -> bool {
        self.peers.contains(peer)
    }

    /// Whether new connections from `ip` are refused now.
    pub(crate) fn address_banned(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&address_of(ip))
    }

    /// Peers banned now.
    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    /// Addresses banned now.
    pub(crate) fn addresses(&self) -> usize {
        self.addresses.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn a_ban_ends_after_its_duration_and_not_before() {
        let mut bans = Bans::new(Duration::from_secs(60), 3, false);
        let t0 = Instant::now();
        let peer = PeerId::random();
        assert!(bans.ban(peer, None, t0).peer);
        assert!(bans.is_banned(&peer));
        assert_eq!(bans.ban(peer, None, t0), Banned::default(), "banned once");
        assert!(bans.expire(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(bans.expire(t0 + Duration::from_secs(60)), vec![peer]);
        assert_eq!(bans.len(), 0);
        assert!(!bans.is_banned(&peer));
        assert!(bans.ban(peer, None, t0).peer, "may be banned again");
    }

    #[test]
    fn the_list_is_bounded_and_lifts_the_earliest_ban_first() {
        let mut bans = Bans::new(Duration::from_secs(60), 3, false);
        let t0 = Instant::now();
        let first = PeerId::random();
        bans.ban(first, ip("10.0.0.1"), t0);
        for i in 1..MAX_BANNED {
            bans.ban(PeerId::random(), None, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(bans.len(), MAX_BANNED);
        let banned = bans.ban(PeerId::random(), None, t0 + Duration::from_secs(1));
        assert!(banned.peer);
        assert_eq!(banned.lifted, Some(first));
        assert_eq!(bans.len(), MAX_BANNED);
        assert!(bans.per_address.is_empty() && bans.origin.is_empty());
    }

    #[test]
    fn a_zero_duration_bans_nobody() {
        let mut bans = Bans::new(Duration::ZERO, 3, true);
        for _ in 0..5 {
            let banned = bans.ban(PeerId::random(), ip("10.0.0.1"), Instant::now());
            assert_eq!(banned, Banned::default());
        }
        assert_eq!((bans.len(), bans.addresses()), (0, 0));
    }

    #[test]
    fn the_third_peer_banned_from_one_address_bans_the_address_until_its_ban_ends() {
        let mut bans = Bans::new(Duration::from_secs(60), 3, false);
        let t0 = Instant::now();
        assert_eq!(bans.ban(PeerId::random(), ip("10.0.0.1"), t0).address, None);
        assert_eq!(bans.ban(PeerId::random(), ip("10.0.0.2"), t0).address, None);
        assert_eq!(bans.ban(PeerId::random(), ip("10.0.0.1"), t0).address, None);
        assert!(!bans.address_banned("10.0.0.1".parse().unwrap()));
        let later = t0 + Duration::from_secs(30);
        let third = bans.ban(PeerId::random(), ip("10.0.0.1"), later);
        assert_eq!(third.address, ip("10.0.0.1"));
        assert!(bans.address_banned("10.0.0.1".parse().unwrap()));
        assert!(!bans.address_banned("10.0.0.2".parse().unwrap()));
        assert_eq!(bans.addresses(), 1);
        // The first two peer bans end at t0 + 60; the address ban with the third, at +90.
        bans.expire(t0 + Duration::from_secs(60));
        assert!(bans.address_banned("10.0.0.1".parse().unwrap()));
        assert_eq!(bans.per_address.get(&"10.0.0.1".parse().unwrap()), Some(&1));
        bans.expire(later + Duration::from_secs(60));
        assert!(!bans.address_banned("10.0.0.1".parse().unwrap()));
        assert!(bans.per_address.is_empty() && bans.origin.is_empty());
    }

    #[test]
    fn peers_banned_more_than_a_ban_apart_do_not_add_up() {
        let mut bans = Bans::new(Duration::from_secs(60), 2, false);
        let t0 = Instant::now();
        bans.ban(PeerId::random(), ip("10.0.0.1"), t0);
        bans.expire(t0 + Duration::from_secs(60));
        let next = bans.ban(
            PeerId::random(),
            ip("10.0.0.1"),
            t0 + Duration::from_secs(60),
        );
        assert_eq!(next.address, None);
    }

    #[test]
    fn an_ipv6_host_is_its_64_and_an_ipv4_mapped_address_its_ipv4() {
        let mut bans = Bans::new(Duration::from_secs(60), 2, false);
        let t0 = Instant::now();
        bans.ban(PeerId::random(), ip("2001:db8:1:2::1"), t0);
        let second = bans.ban(PeerId::random(), ip("2001:db8:1:2:ffff::9"), t0);
        assert_eq!(second.address, ip("2001:db8:1:2::"));
        assert!(bans.address_banned("2001:db8:1:2:abcd::1".parse().unwrap()));
        assert!(!bans.address_banned("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            address_of("::ffff:10.1.2.3".parse().unwrap()),
            ip("10.1.2.3").unwrap()
        );
    }

    #[test]
    fn loopback_is_banned_only_when_asked_and_zero_never_bans_an_address() {
        let t0 = Instant::now();
        for (after, loopback, banned) in [(2, false, false), (2, true, true), (0, true, false)] {
            let mut bans = Bans::new(Duration::from_secs(60), after, loopback);
            for _ in 0..3 {
                bans.ban(PeerId::random(), ip("127.0.0.1"), t0);
            }
            assert_eq!(bans.address_banned("127.0.0.1".parse().unwrap()), banned);
        }
    }

    #[test]
    fn the_address_list_is_bounded() {
        let mut bans = Bans::new(Duration::from_secs(60), 1, false);
        let t0 = Instant::now();
        for i in 0..=MAX_BANNED_ADDRESSES as u32 {
            let addr = IpAddr::V4((0x0a00_0000 + i).into());
            bans.ban(
                PeerId::random(),
                Some(addr),
                t0 + Duration::from_millis(i.into()),
            );
        }
        assert_eq!(bans.addresses(), MAX_BANNED_ADDRESSES);
        assert!(
            !bans.address_banned("10.0.0.0".parse().unwrap()),
            "earliest lifted"
        );
        assert!(bans.address_banned("10.0.4.0".parse().unwrap()));
    }
}
