//! Algorithm `0x01`: SHA2-256 hashcash.
//!
//! `pow_hash = SHA2-256(digest ‖ nonce)` with the nonce as 8 big-endian bytes; a proof is valid
//! when the first 8 bytes of `pow_hash`, read as a big-endian u64, are at most the target.

use sha2::{Digest, Sha256};

/// `SHA2-256(digest ‖ nonce_be)`.
pub fn pow_hash(digest: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(digest);
    h.update(nonce.to_be_bytes());
    h.finalize().into()
}

/// The leading 64 bits of a proof hash, the value compared with the target.
pub fn leading_u64(hash: &[u8; 32]) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(head)
}

/// Searches nonces upwards from `start_nonce` (wrapping) on the calling thread until one meets
/// `target`; returns the nonce and its hash. The simple reference solver.
pub fn solve_single(digest: &[u8; 32], target: u64, start_nonce: u64) -> (u64, [u8; 32]) {
    let mut nonce = start_nonce;
    loop {
        let hash = pow_hash(digest, nonce);
        if leading_u64(&hash) <= target {
            return (nonce, hash);
        }
        nonce = nonce.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_hash_is_sha256_of_digest_then_big_endian_nonce() {
        let mut input = [0u8; 40];
        input[..32].copy_from_slice(&[0xab; 32]);
        input[32..].copy_from_slice(&0x0102030405060708u64.to_be_bytes());
        let expected: [u8; 32] = Sha256::digest(input).into();
        assert_eq!(pow_hash(&[0xab; 32], 0x0102030405060708), expected);
    }

    #[test]
    fn solved_nonce_meets_target() {
        let target = u64::MAX / 5_000;
        let (nonce, hash) = solve_single(&[1; 32], target, 0);
        assert_eq!(hash, pow_hash(&[1; 32], nonce));
        assert!(leading_u64(&hash) <= target);
    }
}
