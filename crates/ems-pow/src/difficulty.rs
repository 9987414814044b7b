//! The work function: how many tries a message must pay for, and the target that encodes it.
//!
//! `W = min_work + size_factor × size + ttl_factor × size × lifetime / 3600`, where `size` is the
//! encoded frame length in bytes and `lifetime` the seconds until the message's TTL. `W` is the
//! expected number of tries; the target is `floor((2^64 − 1) / W)`, compared with the first
//! 8 bytes of the proof hash read as a big-endian u64. Integer arithmetic only, saturating, so
//! every implementation computes the same target.

use serde::{Deserialize, Serialize};

/// Seconds in the hour that `ttl_factor` is expressed per.
const SECONDS_PER_HOUR: u128 = 3_600;

/// The parameters of the work function for one algorithm (the QIP's "minimum work prior to
/// adjustment" and "factor applied based upon TTL").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkParams {
    /// Tries every message pays, whatever its size and lifetime.
    pub min_work: u64,
    /// Tries per byte of frame, whatever its lifetime.
    pub size_factor: u64,
    /// Tries per byte of frame per hour of remaining lifetime.
    pub ttl_factor: u64,
}

/// The expected number of tries a frame of `frame_len` bytes with `lifetime_secs` seconds to
/// live must pay for. Never less than 1.
pub fn required_work(params: &WorkParams, frame_len: usize, lifetime_secs: u64) -> u64 {
    let size = frame_len as u128;
    let by_lifetime = (params.ttl_factor as u128)
        .saturating_mul(size)
        .saturating_mul(lifetime_secs as u128)
        / SECONDS_PER_HOUR;
    let w = (params.min_work as u128)
        .saturating_add(params.size_factor as u128 * size)
        .saturating_add(by_lifetime);
    w.clamp(1, u64::MAX as u128) as u64
}

/// The target a proof hash's leading u64 must not exceed for `work` expected tries.
pub fn target_for_work(work: u64) -> u64 {
    u64::MAX / work.max(1)
}

/// The expected number of tries to meet `target`: `2^64 / (target + 1)`, rounded to the
/// nearest integer (so it gives back the `work` of [`target_for_work`]).
pub fn expected_tries(target: u64) -> u64 {
    let outcomes = u128::from(target) + 1;
    (((1u128 << 64) + outcomes / 2) / outcomes).min(u128::from(u64::MAX)) as u64
}

/// The leading 64 bits of a proof hash, big-endian: the value compared with the target.
pub fn leading_u64(hash: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: WorkParams = WorkParams {
        min_work: 1000,
        size_factor: 10,
        ttl_factor: 3600,
    };

    #[test]
    fn work_is_the_stated_formula() {
        // 1000 + 10*100 + 3600*100*7200/3600
        assert_eq!(required_work(&P, 100, 7200), 1000 + 1000 + 720_000);
    }

    #[test]
    fn work_rises_with_size_and_lifetime() {
        assert!(required_work(&P, 2000, 60) > required_work(&P, 1000, 60));
        assert!(required_work(&P, 1000, 3600) > required_work(&P, 1000, 60));
    }

    #[test]
    fn work_is_at_least_one_and_saturates() {
        let zero = WorkParams {
            min_work: 0,
            size_factor: 0,
            ttl_factor: 0,
        };
        assert_eq!(required_work(&zero, 0, 0), 1);
        let huge = WorkParams {
            min_work: u64::MAX,
            size_factor: u64::MAX,
            ttl_factor: u64::MAX,
        };
        assert_eq!(required_work(&huge, usize::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn target_shrinks_as_work_grows() {
        assert_eq!(target_for_work(1), u64::MAX);
        assert_eq!(target_for_work(0), u64::MAX);
        assert_eq!(target_for_work(2), u64::MAX / 2);
        assert!(target_for_work(1_000_000) < target_for_work(1_000));
    }

    #[test]
    fn expected_tries_inverts_the_target() {
        assert_eq!(expected_tries(u64::MAX), 1);
        assert_eq!(expected_tries(u64::MAX / 2), 2);
        assert_eq!(expected_tries(0), u64::MAX);
        for work in [3, 1_000, 7_654_321, 1 << 40] {
            assert_eq!(expected_tries(target_for_work(work)), work);
        }
    }

    #[test]
    fn leading_u64_reads_the_first_eight_bytes_big_endian() {
        let mut hash = [0xff; 32];
        hash[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(leading_u64(&hash), 0x0102_0304_0506_0708);
    }
}
