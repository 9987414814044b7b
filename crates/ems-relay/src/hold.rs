//! Frames held for a block this node does not know yet.
//!
//! A frame whose block-hash prefix matches no block in this node's chain view is usually not
//! invalid: its block is newer than this node's view (the chain backend polls every few
//! seconds; a restarted qrl-node serves nothing for a while). Its proof is checked first, so
//! holding it costs the sender real work; then it waits here, bounded in count (overall and per
//! peer) and in time, and is validated again each time the chain head moves. A frame still
//! unknown at its deadline is dropped without penalty to the forwarder (charged only to its
//! waste budget).

use libp2p::gossipsub::MessageId;
use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// A gossip frame waiting for its verdict.
#[derive(Debug)]
pub(crate) struct Held {
    pub(crate) peer: PeerId,
    pub(crate) ip: Option<IpAddr>,
    pub(crate) id: MessageId,
    pub(crate) data: Vec<u8>,
    /// When it is given up.
    pub(crate) until: Instant,
}

/// The held frames, in arrival order.
#[derive(Debug)]
pub(crate) struct HoldQueue {
    capacity: usize,
    per_peer: usize,
    frames: VecDeque<Held>,
    counts: HashMap<PeerId, usize>,
}

impl HoldQueue {
    /// At most `capacity` frames, a quarter of them (at least one) from one peer.
    pub(crate) fn new(capacity: usize) -> Self {
        HoldQueue {
            capacity,
            per_peer: (capacity / 4).max(1),
            frames: VecDeque::new(),
            counts: HashMap::new(),
        }
    }

    /// Holds `frame`; false (and the frame dropped) if the queue or the peer's share of it is
    /// full.
    pub(crate) fn push(&mut self, frame: Held) -> bool {
        let count = self.counts.get(&frame.peer).copied().unwrap_or(0);
        if self.frames.len() >= self.capacity || count >= self.per_peer {
            return false;
        }
        self.counts.insert(frame.peer, count + 1);
        self.frames.push_back(frame);
        true
    }

    /// Every held frame, to be validated again (those still unknown are pushed back).
    pub(crate) fn take_all(&mut self) -> Vec<Held> {
        self.counts.clear();
        self.frames.drain(..).collect()
    }

    /// The frames whose deadline has passed at `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<Held> {
        let mut out = Vec::new();
        while self.frames.front().is_some_and(|f| f.until <= now) {
            if let Some(frame) = self.frames.pop_front() {
                self.release(&frame.peer);
                out.push(frame);
            }
        }
        out
    }

    /// Removes and returns the frames whose sender matches `drop` (banned peers).
    pub(crate) fn remove(&mut self, drop: impl Fn(&PeerId) -> bool) -> Vec<Held> {
        let (out, keep): (VecDeque<Held>, VecDeque<Held>) =
            self.frames.drain(..).partition(|f| drop(&f.peer));
        self.frames = keep;
        self.counts.retain(|peer, _| !drop(peer));
        out.into()
    }

    fn release(&mut self, peer: &PeerId) {
        if let Some(n) = self.counts.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(peer);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(peer: PeerId, until: Instant) -> Held {
        Held {
            peer,
            ip: None,
            id: MessageId::from(vec![1]),
            data: vec![0; 8],
            until,
        }
    }

    #[test]
    fn one_peer_fills_only_its_share_and_the_queue_is_bounded() {
        let mut q = HoldQueue::new(8);
        let t = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!((0..2).all(|_| q.push(frame(a, t))));
        assert!(!q.push(frame(a, t)), "a's share is 8 / 4 = 2");
        assert!((0..2).all(|_| q.push(frame(b, t))));
        for _ in 0..2 {
            let p = PeerId::random();
            assert!(q.push(frame(p, t)) && q.push(frame(p, t)));
        }
        assert_eq!(q.len(), 8);
        assert!(!q.push(frame(PeerId::random(), t)), "queue full");
    }

    #[test]
    fn a_banned_peers_frames_are_removed_and_its_share_freed() {
        let mut q = HoldQueue::new(8);
        let t = Instant::now();
        let (a, b) = (PeerId::random(), PeerId::random());
        assert!(q.push(frame(a, t)) && q.push(frame(b, t)) && q.push(frame(a, t)));
        let removed = q.remove(|p| *p == a);
        assert_eq!(removed.len(), 2);
        assert!(removed.iter().all(|f| f.peer == a));
        assert_eq!(q.len(), 1);
        assert!(q.remove(|p| *p == a).is_empty());
        assert!(
            q.push(frame(a, t)) && q.push(frame(a, t)),
            "a's share is free again"
        );
    }

    #[test]
    fn frames_past_their_deadline_leave_and_free_their_peers_share() {
        let mut q = HoldQueue::new(4);
        let t = Instant::now();
        let a = PeerId::random();
        assert!(q.push(frame(a, t)));
        assert!(!q.push(frame(a, t + Duration::from_secs(5))));
        assert_eq!(q.expired(t - Duration::from_secs(1)).len(), 0);
        assert_eq!(q.expired(t).len(), 1);
        assert!(q.push(frame(a, t + Duration::from_secs(5))));
        assert_eq!(q.take_all().len(), 1);
        assert_eq!(q.len(), 0);
        assert!(q.push(frame(a, t)), "counts reset with take_all");
    }
}
