//! Peers sent away for a while: a peer whose gossipsub score falls below the graylist threshold
//! is disconnected and refused for [`Tuning::ban`](crate::Tuning::ban).
//!
//! Graylisting alone leaves the peer connected: gossipsub ignores its RPCs, but the node still
//! decrypts and frames every byte it sends. Cutting the connection stops that cost at the
//! transport. The list is bounded: past [`MAX_BANNED`] entries the ban that would end first is
//! lifted early, so a peer that mints identities cannot grow the node's memory (the per-IP
//! connection limit and budgets still hold it).

use libp2p::PeerId;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Peers banned at once, at most (about 100 bytes each).
pub(crate) const MAX_BANNED: usize = 4_096;

/// The banned peers and when each ban ends.
#[derive(Debug)]
pub(crate) struct Bans {
    duration: Duration,
    until: HashMap<PeerId, Instant>,
    /// The same entries ordered by end time, so expiry and eviction take the earliest.
    by_end: BTreeSet<(Instant, PeerId)>,
}

impl Bans {
    /// An empty list whose bans last `duration`.
    pub(crate) fn new(duration: Duration) -> Self {
        Bans {
            duration,
            until: HashMap::new(),
            by_end: BTreeSet::new(),
        }
    }

    /// Bans `peer` from `now`; returns false (and changes nothing) if it is banned already, or
    /// if bans are off (a zero duration). Returns the peer whose ban was lifted early to make
    /// room, if any.
    pub(crate) fn ban(&mut self, peer: PeerId, now: Instant) -> (bool, Option<PeerId>) {
        if self.duration.is_zero() || self.until.contains_key(&peer) {
            return (false, None);
        }
        let mut lifted = None;
        if self.until.len() >= MAX_BANNED {
            if let Some((_, first)) = self.by_end.pop_first() {
                self.until.remove(&first);
                lifted = Some(first);
            }
        }
        let end = now + self.duration;
        self.until.insert(peer, end);
        self.by_end.insert((end, peer));
        (true, lifted)
    }

    /// Removes and returns the peers whose ban has ended by `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let mut ended = Vec::new();
        while let Some(&(end, peer)) = self.by_end.first() {
            if end > now {
                break;
            }
            self.by_end.pop_first();
            self.until.remove(&peer);
            ended.push(peer);
        }
        ended
    }

    /// Peers banned now.
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ban_ends_after_its_duration_and_not_before() {
        let mut bans = Bans::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let peer = PeerId::random();
        assert_eq!(bans.ban(peer, t0), (true, None));
        assert_eq!(bans.ban(peer, t0), (false, None), "banned once");
        assert!(bans.expire(t0 + Duration::from_secs(59)).is_empty());
        assert_eq!(bans.expire(t0 + Duration::from_secs(60)), vec![peer]);
        assert_eq!(bans.len(), 0);
        assert_eq!(bans.ban(peer, t0), (true, None), "may be banned again");
    }

    #[test]
    fn the_list_is_bounded_and_lifts_the_earliest_ban_first() {
        let mut bans = Bans::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = PeerId::random();
        bans.ban(first, t0);
        for i in 1..MAX_BANNED {
            bans.ban(PeerId::random(), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(bans.len(), MAX_BANNED);
        let (banned, lifted) = bans.ban(PeerId::random(), t0 + Duration::from_secs(1));
        assert!(banned);
        assert_eq!(lifted, Some(first));
        assert_eq!(bans.len(), MAX_BANNED);
    }

    #[test]
    fn a_zero_duration_bans_nobody() {
        let mut bans = Bans::new(Duration::ZERO);
        assert_eq!(bans.ban(PeerId::random(), Instant::now()), (false, None));
        assert_eq!(bans.len(), 0);
    }
}
