//! Algorithm `0x02`: memory-hard hashcash with Argon2id.
//!
//! `pow_hash = Argon2id(password = digest ‖ nonce_be, salt = "QRL-EMS-PoW-0x02")` with fixed
//! costs ([`MEMORY_KIB`] KiB, [`PASSES`] pass, one lane, 32-byte output, version 0x13); valid
//! when its first 8 bytes, read as a big-endian u64, are at most the target. A try costs
//! thousands of SHA-256 tries, so the algorithm has its own work parameters (see
//! [`Algorithm::default_params`](crate::Algorithm::default_params)).

use argon2::{Argon2, Block, Params, Version};

use crate::difficulty::leading_u64;
use crate::proof::Proof;

/// Memory per try, in KiB (Argon2's `m_cost`).
pub const MEMORY_KIB: u32 = 768;

/// Passes over the memory (Argon2's `t_cost`).
pub const PASSES: u32 = 1;

/// The fixed salt: a domain separator, since the digest in the password already makes every
/// message's search its own.
pub const SALT: &[u8; 16] = b"QRL-EMS-PoW-0x02";

const PARAMS: Params = match Params::new(MEMORY_KIB, PASSES, 1, Some(32)) {
    Ok(p) => p,
    Err(_) => panic!("the fixed Argon2id costs are within Argon2's limits"),
};

/// `Argon2id(digest ‖ nonce_be, SALT)` with the fixed costs: the `0x02` proof hash.
pub fn pow_hash(digest: &[u8; 32], nonce: u64) -> [u8; 32] {
    Hasher::new().hash(digest, nonce)
}

/// Argon2id with its working memory allocated once, for hashing many nonces.
pub struct Hasher {
    context: Argon2<'static>,
    memory: Vec<Block>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "argon2id::Hasher({MEMORY_KIB} KiB, {PASSES} pass)")
    }
}

impl Hasher {
    /// Allocates the working memory ([`MEMORY_KIB`] KiB).
    pub fn new() -> Self {
        Hasher {
            context: Argon2::new(argon2::Algorithm::Argon2id, Version::V0x13, PARAMS),
            memory: vec![Block::default(); PARAMS.block_count()],
        }
    }

    /// The `0x02` proof hash of `digest` and `nonce`.
    pub fn hash(&mut self, digest: &[u8; 32], nonce: u64) -> [u8; 32] {
        let mut password = [0u8; 40];
        password[..32].copy_from_slice(digest);
        password[32..].copy_from_slice(&nonce.to_be_bytes());
        let mut out = [0u8; 32];
        self.context
            .hash_password_into_with_memory(&password, SALT, &mut out, &mut self.memory)
            // Every input has a fixed length within Argon2's limits and the memory is exactly
            // `block_count` blocks, the only conditions under which Argon2 reports an error.
            .expect("fixed-size Argon2id inputs are valid");
        out
    }

    /// Tries the `count` nonces from `start` upwards (wrapping) in order and returns the proof
    /// of the first one that meets `target`.
    pub fn scan(
        &mut self,
        digest: &[u8; 32],
        start: u64,
        count: u64,
        target: u64,
    ) -> Option<Proof> {
        (0..count).map(|i| start.wrapping_add(i)).find_map(|nonce| {
            let hash = self.hash(digest, nonce);
            (leading_u64(&hash) <= target).then_some(Proof { nonce, hash })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow_hash_is_argon2id_of_digest_then_big_endian_nonce_with_the_fixed_costs() {
        let mut password = [0u8; 40];
        password[..32].copy_from_slice(&[0xcd; 32]);
        password[32..].copy_from_slice(&7u64.to_be_bytes());
        let mut expected = [0u8; 32];
        Argon2::new(
            argon2::Algorithm::Argon2id,
            Version::V0x13,
            Params::new(768, 1, 1, Some(32)).unwrap(),
        )
        .hash_password_into(&password, b"QRL-EMS-PoW-0x02", &mut expected)
        .unwrap();
        assert_eq!(pow_hash(&[0xcd; 32], 7), expected);
    }

    #[test]
    fn a_reused_hasher_gives_the_same_hashes() {
        let mut h = Hasher::new();
        let first = h.hash(&[1; 32], 1);
        assert_ne!(h.hash(&[1; 32], 2), first);
        assert_eq!(h.hash(&[1; 32], 1), first);
        assert_eq!(pow_hash(&[1; 32], 1), first);
    }

    #[test]
    fn scan_finds_the_first_nonce_meeting_the_target() {
        let target = u64::MAX / 4;
        let mut h = Hasher::new();
        let proof = h.scan(&[2; 32], 10, 64, target).unwrap();
        assert!(leading_u64(&proof.hash) <= target);
        assert_eq!(proof.hash, pow_hash(&[2; 32], proof.nonce));
        for n in 10..proof.nonce {
            assert!(leading_u64(&pow_hash(&[2; 32], n)) > target);
        }
        assert_eq!(h.scan(&[2; 32], 0, 8, 0), None);
    }
}
