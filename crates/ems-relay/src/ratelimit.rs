//! Per-peer token buckets for gossip.
//!
//! Proof of work already prices every message; the bucket bounds how much validation and
//! storage work one peer can make this node do per second. Messages over the limit are
//! ignored (not forwarded, no score penalty: a busy honest relay can exceed it in a burst).

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const MAX_TRACKED: usize = 4_096;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by peer.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: HashMap<PeerId, Bucket>,
}

impl RateLimiter {
    /// `rate` tokens per second, holding at most `burst`.
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `peer` at `now`; false if it has none left.
    pub(crate) fn allow(&mut self, peer: PeerId, now: Instant) -> bool {
        if self.buckets.len() >= MAX_TRACKED && !self.buckets.contains_key(&peer) {
            let (rate, burst) = (self.rate, self.burst);
            self.buckets
                .retain(|_, b| refill(b, rate, burst, now) < burst);
        }
        let burst = self.burst;
        let bucket = self.buckets.entry(peer).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        if refill(bucket, self.rate, self.burst, now) >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn refill(bucket: &mut Bucket, rate: f64, burst: f64, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
    bucket.updated = now;
    bucket.tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_gets_its_burst_then_its_rate() {
        let mut limiter = RateLimiter::new(10, 5);
        let (a, b) = (PeerId::random(), PeerId::random());
        let t0 = Instant::now();
        assert!((0..5).all(|_| limiter.allow(a, t0)));
        assert!(!limiter.allow(a, t0), "burst exhausted");
        assert!(limiter.allow(b, t0), "another peer has its own bucket");
        let later = t0 + Duration::from_millis(250);
        assert!(limiter.allow(a, later) && limiter.allow(a, later));
        assert!(
            !limiter.allow(a, later),
            "2.5 tokens refilled in 250 ms at 10/s"
        );
    }
}
