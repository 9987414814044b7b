//! A bounded memory of digests the store refused or evicted.

use std::collections::{HashSet, VecDeque};

/// The last `capacity` digests remembered; the oldest is forgotten first.
#[derive(Debug)]
pub(super) struct Refused {
    set: HashSet<[u8; 32]>,
    order: VecDeque<[u8; 32]>,
    capacity: usize,
}

impl Refused {
    pub(super) fn new(capacity: usize) -> Refused {
        Refused {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(super) fn insert(&mut self, digest: [u8; 32]) {
        if self.capacity == 0 || !self.set.insert(digest) {
            return;
        }
        self.order.push_back(digest);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// Forgets `digest` (it was stored after all).
    pub(super) fn remove(&mut self, digest: &[u8; 32]) {
        if self.set.remove(digest) {
            self.order.retain(|d| d != digest);
        }
    }

    pub(super) fn contains(&self, digest: &[u8; 32]) -> bool {
        self.set.contains(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_at_most_its_capacity_forgetting_the_oldest() {
        let mut r = Refused::new(3);
        for i in 0..5u8 {
            r.insert([i; 32]);
            r.insert([i; 32]); // a repeat takes no extra room
        }
        assert!(!r.contains(&[0; 32]) && !r.contains(&[1; 32]));
        assert!((2..5u8).all(|i| r.contains(&[i; 32])));
        assert_eq!((r.set.len(), r.order.len()), (3, 3));
        r.remove(&[3; 32]);
        assert!(!r.contains(&[3; 32]));
        assert_eq!(r.order.len(), 2);
    }
}
