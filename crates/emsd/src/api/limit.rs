//! Per-client rate limiting: one token bucket per client IP.
//!
//! A bucket holds up to `burst` tokens and refills at `rate` per second; each request takes
//! one. The table of buckets is bounded: when it is full, buckets that have refilled completely
//! (clients that went quiet) are dropped, since a full bucket is the same as none.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Clients tracked at once before idle ones are dropped.
const MAX_CLIENTS: usize = 65_536;

/// Token buckets by client IP.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, now: Instant, rate: f64, burst: f64) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * rate).min(burst)
    }
}

impl RateLimiter {
    /// `rate` requests per second sustained, `burst` at once, per client IP.
    pub fn new(rate: u32, burst: u32) -> Self {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `client` at `now`; `false` if its bucket is empty.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.refilled(now, rate, burst) < burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = bucket.refilled(now, self.rate, self.burst);
        let allowed = tokens >= 1.0;
        *bucket = Bucket {
            tokens: if allowed { tokens - 1.0 } else { tokens },
            at: now,
        };
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

    #[test]
    fn a_burst_passes_then_the_next_request_is_refused() {
        let limiter = RateLimiter::new(1, 3);
        let t = Instant::now();
        assert!((0..3).all(|_| limiter.allow(A, t)));
        assert!(!limiter.allow(A, t));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let limiter = RateLimiter::new(2, 1);
        let t = Instant::now();
        assert!(limiter.allow(A, t));
        assert!(!limiter.allow(A, t + Duration::from_millis(100)));
        assert!(limiter.allow(A, t + Duration::from_millis(600)));
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1);
        let t = Instant::now();
        assert!(limiter.allow(A, t));
        assert!(!limiter.allow(A, t));
        assert!(limiter.allow(B, t));
    }

    #[test]
    fn the_table_stays_bounded_by_dropping_idle_clients() {
        let limiter = RateLimiter::new(1_000, 1);
        let t = Instant::now();
        for i in 0..MAX_CLIENTS as u32 {
            limiter.allow(IpAddr::V4(i.into()), t);
        }
        // A second later every bucket has refilled: the next new client evicts them all.
        let later = t + Duration::from_secs(1);
        assert!(limiter.allow(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), later));
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
