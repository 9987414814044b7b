//! Token buckets keyed by anything: the relay's per-peer and per-IP cost budgets and the HTTP
//! API's per-client limit are the same [`RateLimiter`].
//!
//! A bucket holds up to `burst` tokens and refills at `rate` per second; an action takes its
//! cost in tokens, or is refused if the bucket holds fewer. The table of buckets is bounded and
//! ordered by last use: a key seen for the first time when the table is full evicts the key
//! that has been quiet longest, in O(1) (a linked hash map: no sweep, whatever the table size).
//! The evicted key starts again with a full bucket if it comes back; it is the one most likely
//! to have refilled anyway, and an attacker has to keep `capacity` keys busy to reset one.

use hashlink::LinkedHashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key, at most `capacity` of them; safe to share between tasks.
#[derive(Debug)]
pub struct RateLimiter<K: Hash + Eq> {
    rate: f64,
    burst: f64,
    capacity: usize,
    buckets: Mutex<LinkedHashMap<K, Bucket>>,
}

impl<K: Hash + Eq> RateLimiter<K> {
    /// `rate` tokens per second sustained, `burst` at once, per key; at most `capacity` keys
    /// tracked (at least 1).
    pub fn new(rate: u32, burst: u32, capacity: usize) -> Self {
        RateLimiter {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            capacity: capacity.max(1),
            buckets: Mutex::new(LinkedHashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`; `false` if its bucket is empty.
    pub fn allow(&self, key: K, now: Instant) -> bool {
        self.take(key, 1.0, now)
    }

    /// Takes `cost` tokens for `key` at `now`; `false` (and nothing taken) if its bucket holds
    /// fewer.
    pub fn take(&self, key: K, cost: f64, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = match buckets.to_back(&key) {
            Some(b) => b,
            None => {
                if buckets.len() >= self.capacity {
                    buckets.pop_front();
                }
                buckets.entry(key).or_insert(Bucket {
                    tokens: self.burst,
                    at: now,
                })
            }
        };
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        let tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        let allowed = tokens >= cost;
        *bucket = Bucket {
            tokens: if allowed { tokens - cost } else { tokens },
            at: now.max(bucket.at),
        };
        allowed
    }

    /// Whether `key` has at least `cost` tokens at `now`, without taking any (a key not seen
    /// yet has a full bucket: the burst).
    pub fn has(&self, key: &K, cost: f64, now: Instant) -> bool {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let tokens = buckets.get(key).map_or(self.burst, |b| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            (b.tokens + elapsed * self.rate).min(self.burst)
        });
        tokens >= cost
    }

    /// Keys tracked now (at most the capacity).
    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn a_burst_passes_then_the_next_request_is_refused() {
        let limiter = RateLimiter::new(1, 3, 16);
        let t = Instant::now();
        assert!((0..3).all(|_| limiter.allow(A, t)));
        assert!(!limiter.allow(A, t));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let limiter = RateLimiter::new(10, 5, 16);
        let t = Instant::now();
        assert!((0..5).all(|_| limiter.allow(A, t)));
        let later = t + Duration::from_millis(250);
        assert!(limiter.allow(A, later) && limiter.allow(A, later));
        assert!(
            !limiter.allow(A, later),
            "2.5 tokens refilled in 250 ms at 10/s"
        );
    }

    #[test]
    fn keys_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1, 16);
        let t = Instant::now();
        assert!(limiter.allow(A, t));
        assert!(!limiter.allow(A, t));
        assert!(limiter.allow(B, t));
    }

    #[test]
    fn a_cost_larger_than_the_tokens_left_takes_nothing() {
        let limiter = RateLimiter::new(1, 10, 16);
        let t = Instant::now();
        assert!(limiter.take(A, 8.0, t));
        assert!(!limiter.take(A, 3.0, t), "2 tokens left");
        assert!(limiter.has(&A, 2.0, t) && !limiter.has(&A, 2.5, t));
        assert!(limiter.take(A, 2.0, t));
        // A key not seen yet has the burst, no more.
        assert!(limiter.has(&B, 10.0, t) && !limiter.has(&B, 10.5, t));
    }

    #[test]
    fn a_full_table_evicts_the_key_quiet_longest_and_keeps_busy_ones() {
        let limiter = RateLimiter::new(0, 1, 3);
        let t = Instant::now();
        assert!(limiter.allow(1u32, t));
        assert!(limiter.allow(2u32, t));
        assert!(limiter.allow(3u32, t));
        // Key 1 is used again (refused: no refill at rate 0), so key 2 is now the quietest.
        assert!(!limiter.allow(1u32, t));
        assert!(limiter.allow(4u32, t));
        assert_eq!(limiter.tracked(), 3);
        assert!(!limiter.allow(1u32, t), "key 1 kept its empty bucket");
        assert!(!limiter.allow(3u32, t), "key 3 kept its empty bucket");
        assert!(limiter.allow(2u32, t), "key 2 was evicted and starts full");
    }

    #[test]
    fn eviction_does_not_sweep_the_table() {
        // A million distinct keys through a table of 65 536: each insertion evicts one key, so
        // the run is linear; a sweep per insertion would be 6.5e10 steps and never finish.
        let limiter = RateLimiter::new(1, 1, 65_536);
        let t = Instant::now();
        for i in 0..1_000_000u32 {
            assert!(limiter.allow(i, t));
        }
        assert_eq!(limiter.tracked(), 65_536);
    }
}
