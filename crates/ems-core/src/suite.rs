//! The cryptographic suite, version 1, in one place so that a later suite is one new module.
//!
//! | role | primitive | crate |
//! | --- | --- | --- |
//! | key encapsulation | ML-KEM-768 (FIPS 203) | `libcrux-ml-kem` |
//! | signatures | ML-DSA-65 (FIPS 204), hedged, with a context string per use | `libcrux-ml-dsa` |
//! | key derivation | HKDF-SHA256 (RFC 5869) | `hkdf` |
//! | tags | HMAC-SHA256 | `hmac` |
//! | encryption | AES-256-GCM, 16-byte tag | `aes-gcm` |
//! | fingerprints, transcripts | SHA2-256 | `sha2` |
//!
//! Secret keys are kept as their FIPS seeds (ML-KEM `d‖z`, 64 bytes; ML-DSA `ξ`, 32 bytes) and
//! expanded in memory; every secret buffer here is zeroized when dropped.

use crate::secret::Secret;
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libcrux_ml_dsa::ml_dsa_65;
use libcrux_ml_kem::mlkem768;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// The suite's name, as `docs/crypto.md` spells it.
pub const SUITE_NAME: &str = "EMS-1: ML-KEM-768, ML-DSA-65, HKDF-SHA256, HMAC-SHA256, AES-256-GCM";
/// Bytes of an ML-KEM-768 public (encapsulation) key.
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;
/// Bytes of an ML-KEM-768 ciphertext.
pub const KEM_CIPHERTEXT_LEN: usize = 1088;
/// Bytes of an ML-KEM-768 key-generation seed (`d‖z`).
pub const KEM_SEED_LEN: usize = 64;
/// Bytes of an ML-DSA-65 public (verification) key.
pub const DSA_PUBLIC_KEY_LEN: usize = 1952;
/// Bytes of an ML-DSA-65 signature.
pub const DSA_SIGNATURE_LEN: usize = 3309;
/// Bytes of an ML-DSA-65 key-generation seed (`ξ`).
pub const DSA_SEED_LEN: usize = 32;
/// Bytes of an AES-256-GCM tag.
pub const AEAD_TAG_LEN: usize = 16;
/// Bytes of an AES-256-GCM nonce.
pub const AEAD_NONCE_LEN: usize = 12;
/// Bytes of every symmetric key, chain key and hash in the suite.
pub const KEY_LEN: usize = 32;

/// A 32-byte secret key.
pub(crate) type Key = Secret<KEY_LEN>;

/// An ML-KEM-768 key pair expanded from its seed.
pub(crate) struct KemKeyPair {
    secret: mlkem768::MlKem768PrivateKey,
    public: mlkem768::MlKem768PublicKey,
}

impl KemKeyPair {
    /// The key pair FIPS 203 `ML-KEM.KeyGen_internal(d, z)` derives from `seed = d‖z`.
    pub(crate) fn from_seed(seed: &Secret<KEM_SEED_LEN>) -> Self {
        let (secret, public) = mlkem768::generate_key_pair(*seed.bytes()).into_parts();
        KemKeyPair { secret, public }
    }

    /// The public key bytes.
    pub(crate) fn public(&self) -> &[u8; KEM_PUBLIC_KEY_LEN] {
        self.public.as_slice()
    }

    /// Decapsulates `ct`. A ciphertext made for another key yields an unrelated secret (implicit
    /// rejection), which the caller's AEAD then refuses.
    pub(crate) fn decapsulate(&self, ct: &[u8; KEM_CIPHERTEXT_LEN]) -> Key {
        let ct = mlkem768::MlKem768Ciphertext::from(ct);
        Secret(mlkem768::decapsulate(&self.secret, &ct))
    }
}

impl Drop for KemKeyPair {
    fn drop(&mut self) {
        self.secret[0..].zeroize();
    }
}

/// A checked ML-KEM-768 public key, ready to encapsulate to.
#[derive(Clone)]
pub(crate) struct KemPublicKey(mlkem768::MlKem768PublicKey);

impl KemPublicKey {
    /// Checks the FIPS 203 encapsulation-key input check (every coefficient reduced modulo q).
    pub(crate) fn from_bytes(bytes: &[u8; KEM_PUBLIC_KEY_LEN]) -> Option<Self> {
        let key = mlkem768::MlKem768PublicKey::from(bytes);
        mlkem768::validate_public_key(&key).then_some(KemPublicKey(key))
    }

    /// Encapsulates a fresh shared secret: `(ciphertext, secret)`.
    pub(crate) fn encapsulate(&self, rng: &mut impl CryptoRng) -> ([u8; KEM_CIPHERTEXT_LEN], Key) {
        let mut randomness = Secret([0u8; 32]);
        rng.fill_bytes(&mut randomness.0);
        let (ct, ss) = mlkem768::encapsulate(&self.0, randomness.0);
        (*ct.as_slice(), Secret(ss))
    }
}

/// An ML-DSA-65 key pair expanded from its seed.
pub(crate) struct DsaKeyPair {
    secret: ml_dsa_65::MLDSA65SigningKey,
    public: ml_dsa_65::MLDSA65VerificationKey,
}

/// ML-DSA signing failed (rejection sampling gave up; FIPS 204 makes this vanishingly rare).
#[derive(Debug)]
pub(crate) struct SigningFailed;

impl DsaKeyPair {
    /// The key pair FIPS 204 `ML-DSA.KeyGen_internal(ξ)` derives from `seed = ξ`.
    pub(crate) fn from_seed(seed: &Secret<DSA_SEED_LEN>) -> Self {
        let pair = ml_dsa_65::generate_key_pair(*seed.bytes());
        DsaKeyPair {
            secret: pair.signing_key,
            public: pair.verification_key,
        }
    }

    /// The public key bytes.
    pub(crate) fn public(&self) -> &[u8; DSA_PUBLIC_KEY_LEN] {
        self.public.as_ref()
    }

    /// A hedged signature over `message` under the context string `context` (≤ 255 bytes).
    pub(crate) fn sign(
        &self,
        message: &[u8],
        context: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Result<[u8; DSA_SIGNATURE_LEN], SigningFailed> {
        let mut randomness = Secret([0u8; 32]);
        rng.fill_bytes(&mut randomness.0);
        ml_dsa_65::sign(&self.secret, message, context, randomness.0)
            .map(|signature| *signature.as_ref())
            .map_err(|_| SigningFailed)
    }
}

impl Drop for DsaKeyPair {
    fn drop(&mut self) {
        self.secret.as_mut_slice().zeroize();
    }
}

/// Whether `signature` is a valid ML-DSA-65 signature of `message` under `context` by `public`.
pub(crate) fn verify(
    public: &[u8; DSA_PUBLIC_KEY_LEN],
    message: &[u8],
    context: &[u8],
    signature: &[u8; DSA_SIGNATURE_LEN],
) -> bool {
    let public = ml_dsa_65::MLDSA65VerificationKey::new(*public);
    let signature = ml_dsa_65::MLDSA65Signature::new(*signature);
    ml_dsa_65::verify(&public, message, context, &signature).is_ok()
}

/// SHA2-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// HKDF-SHA256 extract: `PRK = HMAC(salt, ikm)`.
pub(crate) fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Key {
    let (prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    Secret(prk.into())
}

/// HKDF-SHA256 expand of `prk` to 32 bytes with `info` = the concatenation of `info`.
pub(crate) fn hkdf_expand(prk: &Key, info: &[&[u8]]) -> Key {
    let hkdf = Hkdf::<Sha256>::from_prk(prk.bytes()).expect("a 32-byte PRK is valid for SHA-256");
    let mut okm = Secret([0u8; KEY_LEN]);
    hkdf.expand_multi_info(info, &mut okm.0)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    okm
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub(crate) fn hmac(key: &Key, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// AES-256-GCM: encrypts `buffer` in place and appends the tag.
pub(crate) fn aead_seal(key: &Key, nonce: &[u8; AEAD_NONCE_LEN], aad: &[u8], buffer: &mut Vec<u8>) {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let tag = cipher
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, buffer.as_mut_slice().into())
        .expect("messages are far below the AES-GCM length limit");
    buffer.extend_from_slice(&tag);
}

/// The AEAD tag did not verify: wrong key, or the ciphertext, nonce or associated data changed.
#[derive(Debug)]
pub(crate) struct AeadFailed;

/// AES-256-GCM: verifies and decrypts `buffer` (ciphertext ‖ tag) in place, leaving the plaintext.
/// On failure the buffer is wiped.
pub(crate) fn aead_open(
    key: &Key,
    nonce: &[u8; AEAD_NONCE_LEN],
    aad: &[u8],
    buffer: &mut Vec<u8>,
) -> Result<(), AeadFailed> {
    let body_len = buffer.len().checked_sub(AEAD_TAG_LEN).ok_or(AeadFailed)?;
    let tag = Tag::try_from(&buffer[body_len..]).map_err(|_| AeadFailed)?;
    buffer.truncate(body_len);
    let cipher = Aes256Gcm::new(key.bytes().into());
    cipher
        .decrypt_inout_detached(
            &Nonce::from(*nonce),
            aad,
            buffer.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| {
            buffer.zeroize();
            AeadFailed
        })
}

/// Fills a fresh secret from `rng`.
pub(crate) fn random_secret<const N: usize>(rng: &mut impl CryptoRng) -> Secret<N> {
    let mut secret = Secret([0u8; N]);
    rng.fill_bytes(&mut secret.0);
    secret
}

#[cfg(test)]
mod tests {
    //! Interoperability with `pqcrypto-mlkem` / `pqcrypto-mldsa`, independent C implementations
    //! of the final FIPS 203 and FIPS 204: their keys, ciphertexts and signatures work with ours
    //! and ours with theirs.
    use super::*;
    use pqcrypto_mldsa::mldsa65 as their_dsa;
    use pqcrypto_mlkem::mlkem768 as their_kem;
    use pqcrypto_traits::kem::{Ciphertext as _, PublicKey as _, SharedSecret as _};
    use pqcrypto_traits::sign::{DetachedSignature as _, PublicKey as _};
    use rand::SeedableRng;

    const CONTEXT: &[u8] = b"ems/v1/interop";

    #[test]
    fn sizes_match_the_standards_and_the_other_implementation() {
        assert_eq!(their_kem::public_key_bytes(), KEM_PUBLIC_KEY_LEN);
        assert_eq!(their_kem::ciphertext_bytes(), KEM_CIPHERTEXT_LEN);
        assert_eq!(their_dsa::public_key_bytes(), DSA_PUBLIC_KEY_LEN);
        assert_eq!(their_dsa::signature_bytes(), DSA_SIGNATURE_LEN);
    }

    #[test]
    fn we_encapsulate_to_their_ml_kem_key_and_they_decapsulate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let (their_public, their_secret) = their_kem::keypair();
        let public = KemPublicKey::from_bytes(their_public.as_bytes().try_into().unwrap())
            .expect("their key passes our input check");
        let (ct, ours) = public.encapsulate(&mut rng);
        let ct = their_kem::Ciphertext::from_bytes(&ct).unwrap();
        let theirs = their_kem::decapsulate(&ct, &their_secret);
        assert_eq!(theirs.as_bytes(), ours.bytes());
    }

    #[test]
    fn they_encapsulate_to_our_ml_kem_key_and_we_decapsulate() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let pair = KemKeyPair::from_seed(&random_secret(&mut rng));
        let their_view = their_kem::PublicKey::from_bytes(pair.public()).unwrap();
        let (theirs, ct) = their_kem::encapsulate(&their_view);
        let ours = pair.decapsulate(ct.as_bytes().try_into().unwrap());
        assert_eq!(ours.bytes(), theirs.as_bytes());
        // A ciphertext for another key gives an unrelated secret (implicit rejection).
        let other = KemKeyPair::from_seed(&random_secret(&mut rng));
        assert_ne!(
            other.decapsulate(ct.as_bytes().try_into().unwrap()).bytes(),
            theirs.as_bytes()
        );
    }

    #[test]
    fn we_verify_their_ml_dsa_signatures() {
        let (their_public, their_secret) = their_dsa::keypair();
        let signature = their_dsa::detached_sign_ctx(b"message", CONTEXT, &their_secret);
        let public: &[u8; DSA_PUBLIC_KEY_LEN] = their_public.as_bytes().try_into().unwrap();
        let signature: &[u8; DSA_SIGNATURE_LEN] = signature.as_bytes().try_into().unwrap();
        assert!(verify(public, b"message", CONTEXT, signature));
        assert!(!verify(public, b"massage", CONTEXT, signature));
        assert!(!verify(public, b"message", b"ems/v1/other", signature));
    }

    #[test]
    fn they_verify_our_ml_dsa_signatures() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let pair = DsaKeyPair::from_seed(&random_secret(&mut rng));
        let signature = pair.sign(b"message", CONTEXT, &mut rng).unwrap();
        let their_public = their_dsa::PublicKey::from_bytes(pair.public()).unwrap();
        let their_signature = their_dsa::DetachedSignature::from_bytes(&signature).unwrap();
        assert!(their_dsa::verify_detached_signature_ctx(
            &their_signature,
            b"message",
            CONTEXT,
            &their_public
        )
        .is_ok());
        assert!(their_dsa::verify_detached_signature_ctx(
            &their_signature,
            b"massage",
            CONTEXT,
            &their_public
        )
        .is_err());
    }

    #[test]
    fn aead_refuses_a_changed_tag_nonce_or_associated_data_and_wipes_the_buffer() {
        let key = Secret([9; KEY_LEN]);
        let mut sealed = b"attack at dawn".to_vec();
        aead_seal(&key, &[1; AEAD_NONCE_LEN], b"aad", &mut sealed);
        assert_eq!(sealed.len(), 14 + AEAD_TAG_LEN);
        let mut good = sealed.clone();
        aead_open(&key, &[1; AEAD_NONCE_LEN], b"aad", &mut good).unwrap();
        assert_eq!(good, b"attack at dawn");
        for (nonce, aad, flip) in [
            ([2; 12], &b"aad"[..], None),
            ([1; 12], &b"aaD"[..], None),
            ([1; 12], &b"aad"[..], Some(20)),
        ] {
            let mut buffer = sealed.clone();
            if let Some(at) = flip {
                buffer[at] ^= 1;
            }
            assert!(aead_open(&key, &nonce, aad, &mut buffer).is_err());
            assert!(
                buffer.iter().all(|&b| b == 0),
                "a failed open leaves no plaintext behind"
            );
        }
        assert!(aead_open(&key, &[1; 12], b"aad", &mut vec![0; AEAD_TAG_LEN - 1]).is_err());
    }
}
