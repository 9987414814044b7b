//! The key-file format: an identity's secrets as bytes, optionally passphrase-encrypted.
//!
//! ```text
//! file      = "EMSKEY" | version (1) = 0x01 | protection (1) | rest
//! plain     (protection 0x00): rest = secrets
//! encrypted (protection 0x01): rest = m_cost KiB (u32) | t_cost (u32) | p_cost (u32) | salt (16)
//!                                   | nonce (12) | AES-256-GCM(key, nonce, aad = every byte before
//!                                     the ciphertext, secrets) ‖ tag (16)
//!           key = Argon2id v1.3(passphrase, salt, m_cost, t_cost, p_cost), 32 bytes
//! secrets   = ML-DSA seed ξ (32) | ML-KEM seed d‖z (64) | bundle (6502)
//!           | retired count (1, ≤ 8) | per retired KEM key: seed (64) | kept until (u64)
//!                                                        | bundle fingerprint (32)
//! ```
//!
//! Loading re-derives both key pairs from the seeds and checks that the stored bundle carries
//! exactly those public keys under a valid signature. Writing the file with owner-only
//! permissions is the caller's job.

use crate::bundle::{Bundle, Fingerprint, BUNDLE_LEN};
use crate::cursor::Cursor;
use crate::identity::{Identity, IdentityError, KemKey, MAX_RETIRED_KEM_KEYS};
use crate::secret::Secret;
use crate::suite::{self, KemKeyPair, AEAD_NONCE_LEN, DSA_SEED_LEN, KEM_SEED_LEN};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// The first bytes of every key file.
pub const KEY_FILE_MAGIC: &[u8; 6] = b"EMSKEY";
/// The key-file format version.
pub const KEY_FILE_VERSION: u8 = 1;
const PLAIN: u8 = 0;
const ENCRYPTED: u8 = 1;
const SALT_LEN: usize = 16;
/// Largest Argon2id memory a key file may ask for (1 GiB, in KiB): a hostile file cannot make
/// the loader allocate more.
pub const MAX_KDF_MEMORY_KIB: u32 = 1 << 20;
/// Largest Argon2id pass count a key file may ask for.
pub const MAX_KDF_PASSES: u32 = 64;
/// Largest Argon2id parallelism a key file may ask for.
pub const MAX_KDF_LANES: u32 = 16;

/// Argon2id cost parameters for passphrase encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub passes: u32,
    /// Lanes.
    pub lanes: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option, single lane).
    fn default() -> Self {
        KdfParams {
            memory_kib: 64 * 1024,
            passes: 3,
            lanes: 1,
        }
    }
}

impl KdfParams {
    fn derive_key(
        &self,
        passphrase: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<suite::Key, IdentityError> {
        if self.memory_kib > MAX_KDF_MEMORY_KIB
            || self.passes > MAX_KDF_PASSES
            || self.lanes > MAX_KDF_LANES
        {
            return Err(IdentityError::KdfParams(format!(
                "{self:?} exceeds memory {MAX_KDF_MEMORY_KIB} KiB, {MAX_KDF_PASSES} passes, {MAX_KDF_LANES} lanes"
            )));
        }
        let params = argon2::Params::new(self.memory_kib, self.passes, self.lanes, Some(32))
            .map_err(|e| IdentityError::KdfParams(format!("{self:?}: {e}")))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut key = Secret([0u8; 32]);
        argon
            .hash_password_into(passphrase, salt, &mut key.0)
            .map_err(|e| IdentityError::KdfParams(format!("{self:?}: {e}")))?;
        Ok(key)
    }
}

/// How a key file protects the secrets.
#[derive(Clone, Copy, Debug)]
pub enum Protection<'a> {
    /// Stored in the clear (rely on file permissions alone).
    None,
    /// Encrypted under a key Argon2id derives from the passphrase.
    Passphrase {
        /// The passphrase bytes.
        passphrase: &'a [u8],
        /// The Argon2id costs.
        params: KdfParams,
    },
}

impl Identity {
    /// The key-file bytes for this identity.
    pub fn to_key_file(
        &self,
        protection: Protection<'_>,
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<u8>, IdentityError> {
        let mut secrets = Zeroizing::new(Vec::with_capacity(
            DSA_SEED_LEN + KEM_SEED_LEN + BUNDLE_LEN + 1,
        ));
        secrets.extend_from_slice(self.signing_seed.bytes());
        secrets.extend_from_slice(self.kem.seed.bytes());
        secrets.extend_from_slice(&self.bundle().encode());
        secrets.push(self.retired.len() as u8);
        for key in &self.retired {
            secrets.extend_from_slice(key.seed.bytes());
            secrets.extend_from_slice(&key.expires.to_be_bytes());
            secrets.extend_from_slice(&key.fingerprint.0);
        }
        let mut file = KEY_FILE_MAGIC.to_vec();
        file.push(KEY_FILE_VERSION);
        match protection {
            Protection::None => {
                file.push(PLAIN);
                file.extend_from_slice(&secrets);
            }
            Protection::Passphrase { passphrase, params } => {
                let salt: [u8; SALT_LEN] = *suite::random_secret(rng).bytes();
                let nonce: [u8; AEAD_NONCE_LEN] = *suite::random_secret(rng).bytes();
                let key = params.derive_key(passphrase, &salt)?;
                file.push(ENCRYPTED);
                for value in [params.memory_kib, params.passes, params.lanes] {
                    file.extend_from_slice(&value.to_be_bytes());
                }
                file.extend_from_slice(&salt);
                file.extend_from_slice(&nonce);
                let mut sealed = secrets.to_vec();
                suite::aead_seal(&key, &nonce, &file, &mut sealed);
                file.extend_from_slice(&sealed);
            }
        }
        Ok(file)
    }

    /// Loads an identity from key-file bytes; `passphrase` is needed if the file is encrypted
    /// (and ignored otherwise).
    pub fn from_key_file(bytes: &[u8], passphrase: Option<&[u8]>) -> Result<Self, IdentityError> {
        let mut cursor = Cursor::new(bytes);
        if cursor.take(KEY_FILE_MAGIC.len()) != Some(&KEY_FILE_MAGIC[..]) {
            return Err(IdentityError::KeyFile("does not start with \"EMSKEY\""));
        }
        match cursor.u8() {
            Some(KEY_FILE_VERSION) => {}
            _ => return Err(IdentityError::KeyFile("unknown key-file version")),
        }
        match cursor.u8() {
            Some(PLAIN) => {
                let rest = cursor.take(cursor.remaining()).unwrap_or_default();
                decode_secrets(rest)
            }
            Some(ENCRYPTED) => {
                let truncated = IdentityError::KeyFile("encryption header is truncated");
                let (Some(memory_kib), Some(passes), Some(lanes), Some(salt), Some(nonce)) = (
                    cursor.u32(),
                    cursor.u32(),
                    cursor.u32(),
                    cursor.array(),
                    cursor.array(),
                ) else {
                    return Err(truncated);
                };
                let header_len = bytes.len() - cursor.remaining();
                let passphrase = passphrase.ok_or(IdentityError::PassphraseRequired)?;
                let key = KdfParams {
                    memory_kib,
                    passes,
                    lanes,
                }
                .derive_key(passphrase, &salt)?;
                let mut secrets = Zeroizing::new(bytes[header_len..].to_vec());
                suite::aead_open(&key, &nonce, &bytes[..header_len], &mut secrets)
                    .map_err(|_| IdentityError::Passphrase)?;
                decode_secrets(&secrets)
            }
            _ => Err(IdentityError::KeyFile("unknown protection byte")),
        }
    }
}

fn decode_secrets(bytes: &[u8]) -> Result<Identity, IdentityError> {
    let truncated = || IdentityError::KeyFile("secrets are truncated");
    let mut cursor = Cursor::new(bytes);
    let signing_seed = Secret(cursor.array::<DSA_SEED_LEN>().ok_or_else(truncated)?);
    let kem_seed = Secret(cursor.array::<KEM_SEED_LEN>().ok_or_else(truncated)?);
    let bundle = Bundle::decode(cursor.take(BUNDLE_LEN).ok_or_else(truncated)?)?;
    let count = usize::from(cursor.u8().ok_or_else(truncated)?);
    if count > MAX_RETIRED_KEM_KEYS {
        return Err(IdentityError::KeyFile("more retired KEM keys than allowed"));
    }
    let mut retired = Vec::with_capacity(count);
    for _ in 0..count {
        let seed = Secret(cursor.array::<KEM_SEED_LEN>().ok_or_else(truncated)?);
        let expires = cursor.u64().ok_or_else(truncated)?;
        let fingerprint = Fingerprint(cursor.array().ok_or_else(truncated)?);
        retired.push(KemKey {
            pair: KemKeyPair::from_seed(&seed),
            seed,
            expires,
            fingerprint,
        });
    }
    if cursor.remaining() != 0 {
        return Err(IdentityError::KeyFile("unexpected bytes after the secrets"));
    }
    Identity::restore(signing_seed, kem_seed, retired, bundle)
}
