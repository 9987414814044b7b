//! The proof carried in a frame's POW field, and verification.

use crate::algorithm::Algorithm;
use crate::difficulty::leading_u64;

/// Length of a proof on the wire after the algorithm byte: nonce (8) + proof hash (32).
/// Wire format v1 uses this layout for every algorithm, so a relay can parse frames of
/// algorithms it does not accept.
pub const PROOF_LEN: usize = 40;

/// A proof of work: the nonce found and the hash it gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Proof {
    /// The nonce, 8 bytes big-endian on the wire.
    pub nonce: u64,
    /// The algorithm's hash of `digest ‖ nonce`.
    pub hash: [u8; 32],
}

impl Proof {
    /// The proof's wire bytes: nonce (big-endian) then hash.
    pub fn to_bytes(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..].copy_from_slice(&self.hash);
        out
    }

    /// Reads a proof from its wire bytes.
    pub fn from_bytes(bytes: &[u8; PROOF_LEN]) -> Self {
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&bytes[..8]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[8..]);
        Proof {
            nonce: u64::from_be_bytes(nonce),
            hash,
        }
    }
}

/// Why a proof does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    /// The hash in the proof is not the algorithm's hash of this digest and nonce.
    #[error("the proof hash is not {algorithm}'s hash of this message's digest and nonce")]
    HashMismatch {
        /// The algorithm the proof claims.
        algorithm: Algorithm,
    },
    /// The hash is right but above the target: not enough work for this size and lifetime.
    #[error("the proof hash {value:#018x} is above the target {target:#018x}")]
    AboveTarget {
        /// The leading u64 of the proof hash.
        value: u64,
        /// The target it had to meet.
        target: u64,
    },
}

/// Checks that `proof` is `algorithm`'s proof for `digest` meeting `target`.
///
/// The target comparison runs first: a proof whose claimed hash already misses the target is
/// refused without hashing. Otherwise it costs one try of `algorithm`.
pub fn verify(
    algorithm: Algorithm,
    digest: &[u8; 32],
    proof: &Proof,
    target: u64,
) -> Result<(), PowError> {
    let value = leading_u64(&proof.hash);
    if value > target {
        return Err(PowError::AboveTarget { value, target });
    }
    if algorithm.pow_hash(digest, proof.nonce) != proof.hash {
        return Err(PowError::HashMismatch { algorithm });
    }
    Ok(())
}

/// Finds a proof for `digest` meeting `target`: the first nonce from `start_nonce` upwards
/// (wrapping) that does, tried one by one with the reference hash on the calling thread.
///
/// This is the plain reference solver: simple enough to check by eye, several times slower
/// than [`Solver`](crate::Solver), which senders should use and which returns the same proof.
pub fn solve(algorithm: Algorithm, digest: &[u8; 32], target: u64, start_nonce: u64) -> Proof {
    let mut nonce = start_nonce;
    loop {
        let hash = algorithm.pow_hash(digest, nonce);
        if leading_u64(&hash) <= target {
            return Proof { nonce, hash };
        }
        nonce = nonce.wrapping_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TARGET: u64 = u64::MAX / 2_000;

    #[test]
    fn solved_proof_verifies() {
        let p = solve(Algorithm::Sha256, &[9; 32], TARGET, 0);
        assert_eq!(verify(Algorithm::Sha256, &[9; 32], &p, TARGET), Ok(()));
    }

    #[test]
    fn proof_for_another_digest_fails() {
        let p = solve(Algorithm::Sha256, &[9; 32], TARGET, 0);
        assert_eq!(
            verify(Algorithm::Sha256, &[8; 32], &p, TARGET),
            Err(PowError::HashMismatch {
                algorithm: Algorithm::Sha256
            })
        );
    }

    #[test]
    fn proof_against_a_harder_target_fails() {
        let p = solve(Algorithm::Sha256, &[9; 32], TARGET, 0);
        let value = leading_u64(&p.hash);
        let harder = value - 1;
        assert_eq!(
            verify(Algorithm::Sha256, &[9; 32], &p, harder),
            Err(PowError::AboveTarget {
                value,
                target: harder
            })
        );
    }

    #[test]
    fn a_forged_hash_below_target_fails() {
        let mut p = solve(Algorithm::Sha256, &[9; 32], TARGET, 0);
        p.hash = [0; 32];
        assert!(matches!(
            verify(Algorithm::Sha256, &[9; 32], &p, TARGET),
            Err(PowError::HashMismatch { .. })
        ));
    }

    #[test]
    fn solving_is_deterministic() {
        let a = solve(Algorithm::Sha256, &[3; 32], TARGET, 42);
        let b = solve(Algorithm::Sha256, &[3; 32], TARGET, 42);
        assert_eq!(a, b);
        assert!(a.nonce >= 42);
    }

    proptest! {
        #[test]
        fn any_flipped_bit_of_a_proof_fails(bit in 0usize..(PROOF_LEN * 8)) {
            let p = solve(Algorithm::Sha256, &[5; 32], TARGET, 0);
            let mut bytes = p.to_bytes();
            bytes[bit / 8] ^= 1 << (bit % 8);
            let flipped = Proof::from_bytes(&bytes);
            prop_assert!(verify(Algorithm::Sha256, &[5; 32], &flipped, TARGET).is_err());
        }

        #[test]
        fn proof_bytes_round_trip(nonce: u64, hash: [u8; 32]) {
            let p = Proof { nonce, hash };
            prop_assert_eq!(Proof::from_bytes(&p.to_bytes()), p);
        }
    }
}
