//! Sync score: what a peer's sync answers cost it, and when it is cut off.
//!
//! Gossipsub's peer score does not see the sync protocol, so the relay keeps its own: each
//! fault below costs the peer points, which come back at [`RECOVERY`] per second; a peer that
//! reaches [`THRESHOLD`] is disconnected and refused for `Tuning::ban`. An honest peer commits
//! none of these faults, except rarely an undelivered digest (the message was evicted between
//! the round and the fetch), which costs little.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::Instant;

/// Points at which a peer is cut off.
pub(crate) const THRESHOLD: f64 = 100.0;
/// Points forgiven per second.
pub(crate) const RECOVERY: f64 = 1.0;
/// Peers scored at most; the table forgets the peer whose points are oldest beyond it.
const CAPACITY: usize = 4_096;

/// A fault in a peer's sync answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// An answer of another kind or id than the request it came back on.
    Mismatch,
    /// An exchange that brought the round nothing new: the reconciler's next message was one
    /// sent before.
    NoProgress,
    /// A round that reached its exchange limit without a single difference found: honest
    /// ranges resolve into id lists within a few exchanges (16 sub-ranges each), so the peer
    /// is cut off at once.
    Endless,
    /// Bytes the codec or the reconciler refused, a frame not asked for, an invalid frame.
    Invalid,
    /// Digests the peer announced in a round and then did not deliver when asked.
    Undelivered(usize),
    /// Digests announced again in a later round after the peer did not deliver them when
    /// asked: the same difference forever. Charged once per exchange that repeats any, so a
    /// peer doing it is cut off within four such exchanges, whatever the pace of its rounds.
    Reannounced,
}

impl Fault {
    /// What it costs.
    pub(crate) fn cost(self) -> f64 {
        match self {
            Fault::Mismatch | Fault::NoProgress | Fault::Invalid | Fault::Reannounced => 25.0,
            Fault::Endless => THRESHOLD,
            // 64 undelivered digests (one whole request) cost 8 points.
            Fault::Undelivered(n) => (n as f64 / 8.0).max(1.0),
        }
    }

    /// Its name in logs and metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::Mismatch => "mismatch",
            Fault::NoProgress => "no_progress",
            Fault::Endless => "endless",
            Fault::Invalid => "invalid",
            Fault::Undelivered(_) => "undelivered",
            Fault::Reannounced => "reannounced",
        }
    }
}

/// Points per peer.
#[derive(Debug, Default)]
pub(crate) struct Scores {
    points: HashMap<PeerId, (f64, Instant)>,
}

impl Scores {
    /// Charges `fault` to `peer`; whether the peer has now reached the threshold (it is
    /// forgotten then: the ban takes over).
    pub(crate) fn charge(&mut self, peer: PeerId, fault: Fault, now: Instant) -> bool {
        if self.points.len() >= CAPACITY && !self.points.contains_key(&peer) {
            if let Some(oldest) = self.points.iter().min_by_key(|(_, (_, t))| *t) {
                let oldest = *oldest.0;
                self.points.remove(&oldest);
            }
        }
        let points = self.points(peer, now) + fault.cost();
        if points >= THRESHOLD {
            self.points.remove(&peer);
            return true;
        }
        self.points.insert(peer, (points, now));
        false
    }

    /// A peer's points now.
    pub(crate) fn points(&self, peer: PeerId, now: Instant) -> f64 {
        self.points.get(&peer).map_or(0.0, |(p, at)| {
            (p - RECOVERY * now.saturating_duration_since(*at).as_secs_f64()).max(0.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn four_gross_faults_in_a_row_reach_the_threshold() {
        let mut s = Scores::default();
        let p = PeerId::random();
        let t = Instant::now();
        assert!(!s.charge(p, Fault::Mismatch, t));
        assert!(!s.charge(p, Fault::NoProgress, t));
        assert!(!s.charge(p, Fault::Invalid, t));
        assert!(s.charge(p, Fault::Mismatch, t));
        assert_eq!(s.points(p, t), 0.0, "forgotten once cut off");
    }

    #[test]
    fn points_come_back_with_time_and_rare_faults_never_add_up() {
        let mut s = Scores::default();
        let p = PeerId::random();
        let mut t = Instant::now();
        for _ in 0..100 {
            assert!(!s.charge(p, Fault::Invalid, t));
            t += Duration::from_secs(30);
        }
        assert!(s.points(p, t) < THRESHOLD);
    }

    #[test]
    fn a_peer_announcing_without_delivering_is_cut_off_within_a_few_requests() {
        let mut s = Scores::default();
        let p = PeerId::random();
        let t = Instant::now();
        let cut = (1..=20).find(|_| s.charge(p, Fault::Undelivered(64), t));
        assert_eq!(cut, Some(13), "13 requests of 64 undelivered digests");
    }
}
