//! What senders and relays rely on: proofs mined by the solver verify, and only for the message,
//! TTL and work they were mined for; cancelling stops the search; work rises with size and
//! lifetime; a message valid when mined stays valid while it is relayed.

use std::sync::mpsc;
use std::time::Duration;

use ems_pow::{
    required_work, target_for_work, verify, Algorithm, CancelToken, PowError, Proof, Solver,
    WorkParams, PROOF_LEN,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// Parameters small enough for test-time mining of either algorithm.
const PARAMS: WorkParams = WorkParams {
    min_work: 8,
    size_factor: 0,
    ttl_factor: 1,
};

/// A stand-in message: what `ems-core` hashes into the digest, with the frame length the work
/// function charges for.
struct Message {
    payload: Vec<u8>,
    ttl: u32,
}

impl Message {
    fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([1u8; 64]);
        h.update(&self.payload);
        h.update(self.ttl.to_be_bytes());
        h.update([0xaa; 4]);
        h.finalize().into()
    }

    fn frame_len(&self) -> usize {
        115 + self.payload.len()
    }

    fn target(&self, now: u64) -> u64 {
        let lifetime = u64::from(self.ttl).saturating_sub(now);
        target_for_work(required_work(&PARAMS, self.frame_len(), lifetime))
    }

    fn mine(&self, algorithm: Algorithm, now: u64) -> Proof {
        Solver::new()
            .solve(algorithm, &self.digest(), self.target(now))
            .expect("not cancelled")
    }

    fn verify(&self, algorithm: Algorithm, proof: &Proof, now: u64) -> Result<(), PowError> {
        verify(algorithm, &self.digest(), proof, self.target(now))
    }
}

const NOW: u64 = 1_800_000_000;

fn message(payload: &[u8], lifetime: u64) -> Message {
    Message {
        payload: payload.to_vec(),
        ttl: (NOW + lifetime) as u32,
    }
}

#[test]
fn a_solved_proof_verifies_with_either_algorithm() {
    for algorithm in Algorithm::ALL.iter().copied() {
        let m = message(b"hello", 600);
        let proof = m.mine(algorithm, NOW);
        assert_eq!(m.verify(algorithm, &proof, NOW), Ok(()), "{algorithm}");
    }
}

#[test]
fn a_proof_for_another_message_fails() {
    for algorithm in Algorithm::ALL.iter().copied() {
        let proof = message(b"hello", 600).mine(algorithm, NOW);
        let other = message(b"hellO", 600);
        assert_eq!(
            other.verify(algorithm, &proof, NOW),
            Err(PowError::HashMismatch { algorithm }),
            "{algorithm}"
        );
    }
}

#[test]
fn a_proof_for_another_ttl_fails() {
    for algorithm in Algorithm::ALL.iter().copied() {
        let proof = message(b"hello", 600).mine(algorithm, NOW);
        // One second more or less: another digest, whatever the target.
        for lifetime in [599, 601] {
            let r = message(b"hello", lifetime).verify(algorithm, &proof, NOW);
            assert!(r.is_err(), "{algorithm}, lifetime {lifetime}: {r:?}");
        }
    }
}

#[test]
fn a_proof_under_the_other_algorithm_fails() {
    let m = message(b"hello", 600);
    let proof = m.mine(Algorithm::Sha256, NOW);
    assert_eq!(
        m.verify(Algorithm::Argon2id, &proof, NOW),
        Err(PowError::HashMismatch {
            algorithm: Algorithm::Argon2id
        })
    );
}

#[test]
fn any_flipped_bit_of_an_argon2id_proof_fails() {
    let m = message(b"flip", 300);
    let proof = m.mine(Algorithm::Argon2id, NOW);
    for bit in 0..PROOF_LEN * 8 {
        let mut bytes = proof.to_bytes();
        bytes[bit / 8] ^= 1 << (bit % 8);
        let flipped = Proof::from_bytes(&bytes);
        assert!(
            m.verify(Algorithm::Argon2id, &flipped, NOW).is_err(),
            "bit {bit}"
        );
    }
}

#[test]
fn cancel_stops_every_thread_and_the_solver_returns() {
    for algorithm in Algorithm::ALL.iter().copied() {
        let cancel = CancelToken::new();
        let solver = Solver::new()
            .threads(4)
            .cancel_token(cancel.clone())
            .progress_every(Duration::from_millis(5));
        let (started, running) = mpsc::channel();
        let (done, finished) = mpsc::channel();
        let search = std::thread::spawn(move || {
            // A target of 0 is met by one nonce in 2^64: the search only ends when cancelled.
            let r = solver.solve_with_progress(algorithm, &[3; 32], 0, |p| {
                if p.tries > 0 {
                    let _ = started.send(());
                }
            });
            let _ = done.send(r);
        });
        running
            .recv_timeout(Duration::from_secs(30))
            .expect("the search made progress");
        cancel.cancel();
        // The solver joins all its threads before it returns, so returning is the proof that
        // every thread stopped.
        let r = finished
            .recv_timeout(Duration::from_secs(5))
            .expect("the solver returned within 5 s of the cancel");
        assert!(
            matches!(r, Err(ems_pow::Cancelled { tries }) if tries > 0),
            "{algorithm}: {r:?}"
        );
        search.join().unwrap();
    }
}

proptest! {
    #[test]
    fn work_rises_with_size_and_with_lifetime(
        size in 0usize..9_000,
        more_size in 1usize..9_000,
        lifetime in 0u64..100_000,
        more_lifetime in 3_600u64..100_000,
    ) {
        for algorithm in Algorithm::ALL.iter().copied() {
            let p = algorithm.default_params();
            let w = required_work(&p, size, lifetime);
            let bigger = required_work(&p, size + more_size, lifetime);
            prop_assert!(bigger >= w);
            // Strictly, wherever the parameters charge a whole try for the extra bytes (0x02's
            // tries are too dear to charge per byte: it pays per byte-hour only).
            let byte_hours = u128::from(p.ttl_factor) * more_size as u128 * u128::from(lifetime);
            if p.size_factor > 0 || byte_hours >= 3_600 {
                prop_assert!(bigger > w, "{algorithm}: {bigger} <= {w}");
            }
            // ttl_factor is per hour, so an hour more always adds work once the frame has bytes.
            if size > 0 {
                prop_assert!(required_work(&p, size, lifetime + more_lifetime) > w);
            }
        }
    }

    #[test]
    fn a_message_valid_when_mined_stays_valid_as_its_lifetime_shrinks(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        lifetime in 1u64..86_400,
        elapsed in 0u64..86_400,
    ) {
        let m = message(&payload, lifetime);
        let proof = m.mine(Algorithm::Sha256, NOW);
        let later = NOW + elapsed.min(lifetime);
        prop_assert_eq!(m.verify(Algorithm::Sha256, &proof, later), Ok(()));
        prop_assert!(m.target(later) >= m.target(NOW));
    }
}
