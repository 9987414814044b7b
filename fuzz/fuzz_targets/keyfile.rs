//! Key files read back from disk (`Identity::from_key_file`), plain or passphrase-encrypted.
//!
//! - a file asking for Argon2id costs above the loader's limits is refused before any work;
//! - a plain file that loads writes back byte-for-byte; an encrypted one that loads holds the same
//!   identity when written again;
//! - a file that fails names a reason and allocated no more than the input allows.
//!
//! Files within the limits but asking more than 64 KiB or 2 passes of Argon2id are skipped: they
//! are legitimate and only slow (the limits' test is `MAX_KDF_*`).
#![no_main]

use ems_core::keyfile::{MAX_KDF_LANES, MAX_KDF_MEMORY_KIB, MAX_KDF_PASSES};
use ems_core::{Identity, IdentityError, Protection};
use ems_fuzz::{alloc, rng};
use libfuzzer_sys::fuzz_target;

/// The passphrase of the encrypted seeds.
const PASSPHRASE: &[u8] = b"fuzz";

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fuzz_target!(|bytes: &[u8]| {
    let encrypted = bytes.get(7) == Some(&1);
    // Magic, version, protection, three costs, salt and nonce: the header the loader reads.
    let full_header = bytes.starts_with(b"EMSKEY\x01\x01") && bytes.len() >= 48;
    let mut over_limits = false;
    if encrypted {
        if let (Some(memory), Some(passes), Some(lanes)) =
            (be32(bytes, 8), be32(bytes, 12), be32(bytes, 16))
        {
            over_limits = full_header
                && (memory > MAX_KDF_MEMORY_KIB
                    || passes > MAX_KDF_PASSES
                    || lanes > MAX_KDF_LANES);
            let within =
                memory <= MAX_KDF_MEMORY_KIB && passes <= MAX_KDF_PASSES && lanes <= MAX_KDF_LANES;
            if within && (memory > 64 || passes > 2 || lanes > 2) {
                return;
            }
        }
    }
    // Argon2id's own memory (at most 64 KiB here) on top of the secrets.
    let limit = 4 * bytes.len() + 128 * 1024;
    let (loaded, used) = alloc::measure(|| Identity::from_key_file(bytes, Some(PASSPHRASE)));
    match loaded {
        Ok(identity) => {
            let plain = identity
                .to_key_file(Protection::None, &mut rng(0))
                .expect("a loaded identity writes back");
            if encrypted {
                let again = Identity::from_key_file(&plain, None).expect("written back, it loads");
                assert_eq!(again.bundle(), identity.bundle());
            } else {
                // Byte-for-byte, so loading it again would load the same bytes again.
                assert_eq!(plain, bytes, "a plain key file writes back byte-for-byte");
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(used <= limit, "a refused key file allocated {used} bytes");
            if over_limits {
                assert!(matches!(e, IdentityError::KdfParams(_)), "{e}");
                assert!(
                    used < 4096,
                    "costs over the limits are refused before any work"
                );
            }
        }
    }
});
