//! Algorithm `0x01`: SHA2-256 hashcash.
//!
//! `pow_hash = SHA2-256(digest ‖ nonce)` with the nonce as 8 big-endian bytes; a proof is valid
//! when the first 8 bytes of `pow_hash`, read as a big-endian u64, are at most the target.
//!
//! The 40-byte input fits one padded 64-byte block, so a try is one SHA-256 compression.
//! [`Search`] prepares that block once per message and tries nonces on one of two [`Backend`]s:
//! the x86 SHA extensions from a per-message midstate (`shani`, the only `unsafe` in the
//! workspace), or `sha2`'s `compress256` on the laid-out block (portable; `sha2` itself picks
//! the best compression this CPU has). Setting `EMS_POW_PORTABLE=1` forces the portable path.

#[cfg(target_arch = "x86_64")]
mod shani;

use sha2::{block_api::compress256, Digest, Sha256};

use crate::difficulty::leading_u64;
use crate::proof::Proof;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The padding byte that follows the 40 input bytes.
const PAD_BYTE: u8 = 0x80;

/// The input length in bits, the last word of the padded block.
const BIT_LEN: u32 = 40 * 8;

/// The environment variable that, set to anything but empty or `0`, makes [`Backend::detect`]
/// choose [`Backend::Portable`].
pub const PORTABLE_ENV: &str = "EMS_POW_PORTABLE";

/// `SHA2-256(digest ‖ nonce_be)`: the reference every fast path is checked against.
pub fn pow_hash(digest: &[u8; 32], nonce: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(digest);
    h.update(nonce.to_be_bytes());
    h.finalize().into()
}

/// How [`Search`] computes its tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sha2`'s `compress256` on the laid-out block: every CPU.
    Portable,
    /// Four nonces at a time with the x86 SHA extensions, from a per-message midstate.
    ShaNi,
}

impl Backend {
    /// The fastest backend this CPU supports, unless `EMS_POW_PORTABLE` is set (see
    /// [`PORTABLE_ENV`]).
    pub fn detect() -> Backend {
        if !portable_forced(std::env::var_os(PORTABLE_ENV)) && Backend::ShaNi.is_available() {
            Backend::ShaNi
        } else {
            Backend::Portable
        }
    }

    /// Whether this CPU can run the backend.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => shani::supported(),
            #[cfg(not(target_arch = "x86_64"))]
            Backend::ShaNi => false,
        }
    }
}

/// Whether a value of [`PORTABLE_ENV`] forces the portable backend.
fn portable_forced(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// One message's `0x01` search, prepared once and tried for many nonces.
#[derive(Clone, Debug)]
pub struct Search {
    digest: [u8; 32],
    kernel: Kernel,
}

#[derive(Clone, Debug)]
enum Kernel {
    /// The padded block with a zero nonce.
    Portable([u8; 64]),
    #[cfg(target_arch = "x86_64")]
    ShaNi(shani::Midstate),
}

impl Search {
    /// Prepares the search for `digest` on `backend`, or on [`Backend::Portable`] if this CPU
    /// cannot run `backend` ([`Search::backend`] says which one runs).
    pub fn new(digest: &[u8; 32], backend: Backend) -> Search {
        let kernel = match backend {
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => shani::Midstate::new(digest).map(Kernel::ShaNi),
            _ => None,
        }
        .unwrap_or_else(|| Kernel::Portable(padded_block(digest)));
        Search {
            digest: *digest,
            kernel,
        }
    }

    /// The backend this search runs on.
    pub fn backend(&self) -> Backend {
        match self.kernel {
            Kernel::Portable(_) => Backend::Portable,
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi(_) => Backend::ShaNi,
        }
    }

    /// Tries the `count` nonces from `start` upwards (wrapping) in order and returns the proof
    /// of the first one that meets `target`.
    pub fn scan(&self, start: u64, count: u64, target: u64) -> Option<Proof> {
        let mut from = start;
        let mut left = count;
        while left > 0 {
            let nonce = self.kernel.candidate(from, left, target)?;
            // The kernels only filter: a candidate is confirmed by the reference hash, so a
            // kernel fault could cost time but never yield a proof that does not verify.
            let hash = pow_hash(&self.digest, nonce);
            if leading_u64(&hash) <= target {
                return Some(Proof { nonce, hash });
            }
            let tried = nonce.wrapping_sub(from).wrapping_add(1);
            from = nonce.wrapping_add(1);
            left -= tried;
        }
        None
    }
}

impl Kernel {
    /// The first nonce of `start .. start + count` (wrapping) whose hash's top 64 bits, as
    /// this kernel computes them, are at most `target`.
    fn candidate(&self, start: u64, count: u64, target: u64) -> Option<u64> {
        match self {
            Kernel::Portable(block) => scan_portable(block, start, count, target),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi(midstate) => midstate.scan(start, count, target),
        }
    }
}

/// `digest ‖ 0u64 ‖ 0x80 ‖ 0… ‖ BIT_LEN`, one SHA-256 block.
fn padded_block(digest: &[u8; 32]) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(digest);
    block[40] = PAD_BYTE;
    block[60..].copy_from_slice(&BIT_LEN.to_be_bytes());
    block
}

/// The top 64 bits of the state after compressing `block` from the initial state.
fn compress_top64(block: &[u8; 64]) -> u64 {
    let mut state = IV;
    compress256(&mut state, std::slice::from_ref(block));
    (u64::from(state[0]) << 32) | u64::from(state[1])
}

fn scan_portable(block: &[u8; 64], start: u64, count: u64, target: u64) -> Option<u64> {
    let mut block = *block;
    (0..count).map(|i| start.wrapping_add(i)).find(|nonce| {
        block[32..40].copy_from_slice(&nonce.to_be_bytes());
        compress_top64(&block) <= target
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The first nonce of the range meeting `target`, by the reference hash.
    fn reference_first(digest: &[u8; 32], start: u64, count: u64, target: u64) -> Option<u64> {
        (0..count)
            .map(|i| start.wrapping_add(i))
            .find(|n| leading_u64(&pow_hash(digest, *n)) <= target)
    }

    #[test]
    fn pow_hash_is_sha256_of_digest_then_big_endian_nonce() {
        let mut input = [0u8; 40];
        input[..32].copy_from_slice(&[0xab; 32]);
        input[32..].copy_from_slice(&0x0102030405060708u64.to_be_bytes());
        let expected: [u8; 32] = Sha256::digest(input).into();
        assert_eq!(pow_hash(&[0xab; 32], 0x0102030405060708), expected);
    }

    #[test]
    fn sha_ni_runs_where_the_cpu_has_it() {
        #[cfg(target_arch = "x86_64")]
        let has_sha =
            std::is_x86_feature_detected!("sha") && std::is_x86_feature_detected!("sse4.1");
        #[cfg(not(target_arch = "x86_64"))]
        let has_sha = false;
        assert_eq!(Backend::ShaNi.is_available(), has_sha);
        let expected = if has_sha {
            Backend::ShaNi
        } else {
            Backend::Portable
        };
        assert_eq!(Search::new(&[1; 32], Backend::ShaNi).backend(), expected);
        assert_eq!(
            Search::new(&[1; 32], Backend::Portable).backend(),
            Backend::Portable
        );
    }

    #[test]
    fn portable_env_values() {
        assert!(!portable_forced(None));
        assert!(!portable_forced(Some("".into())));
        assert!(!portable_forced(Some("0".into())));
        assert!(portable_forced(Some("1".into())));
        assert!(portable_forced(Some("yes".into())));
    }

    /// Runs itself again in a child process with `EMS_POW_PORTABLE=1`, where it checks that
    /// [`Backend::detect`] obeys (setting the variable in this multi-threaded process would race).
    #[test]
    fn portable_env_forces_the_portable_backend() {
        const NAME: &str = "sha256::tests::portable_env_forces_the_portable_backend";
        if std::env::var_os(PORTABLE_ENV).is_some() {
            assert_eq!(Backend::detect(), Backend::Portable);
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--test-threads=1"])
            .env(PORTABLE_ENV, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}");
        assert!(
            stdout.contains("1 passed"),
            "child did not run the test: {stdout}"
        );
    }

    #[test]
    fn scan_returns_the_first_proof_in_order_across_the_wrap() {
        let digest = [0x42; 32];
        let start = u64::MAX - 40;
        let target = u64::MAX / 8;
        let expected = reference_first(&digest, start, 100, target).unwrap();
        for backend in [Backend::Portable, Backend::ShaNi] {
            let proof = Search::new(&digest, backend)
                .scan(start, 100, target)
                .unwrap();
            assert_eq!(proof.nonce, expected, "{backend:?}");
            assert_eq!(proof.hash, pow_hash(&digest, expected), "{backend:?}");
        }
        // A range with no nonce below the target gives nothing.
        assert_eq!(
            Search::new(&digest, Backend::detect()).scan(0, 1_000, 0),
            None
        );
    }

    proptest! {
        /// Both kernels pick exactly the nonces whose top 64 bits by `sha2::Sha256` are at most
        /// the target: the target is set to a chosen nonce's value or one below it, so each
        /// kernel's top 64 bits must equal the reference's, in every SHA-NI lane.
        #[test]
        fn fast_and_portable_paths_agree_with_sha2(
            digest: [u8; 32],
            start: u64,
            count in 1u64..10,
            pick: u64,
            below: bool,
        ) {
            let chosen = start.wrapping_add(pick % count);
            let top = leading_u64(&pow_hash(&digest, chosen));
            let target = if below { top.saturating_sub(1) } else { top };
            let expected = reference_first(&digest, start, count, target);
            for backend in [Backend::Portable, Backend::ShaNi] {
                let search = Search::new(&digest, backend);
                prop_assert_eq!(
                    search.kernel.candidate(start, count, target),
                    expected,
                    "{:?}",
                    search.backend()
                );
            }
        }
    }
}
