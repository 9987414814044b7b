//! Sealing what an identity's owner keeps beside the key file (a client's channel state), so it
//! is as safe as the key file and its passphrase: AES-256-GCM from the [`suite`]
//! under a key derived from the signing seed.
//!
//! ```text
//! key    = HKDF-Expand(HKDF-Extract("ems/v1/local state", ξ), label)
//! sealed = nonce (12, random) ‖ AES-256-GCM(key, nonce, aad, contents) ‖ tag (16)
//! ```
//!
//! The associated data is the caller's: the client binds each file to its name, so a sealed file
//! moved to another name does not open.

use crate::suite::{self, Key, AEAD_NONCE_LEN, AEAD_TAG_LEN};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// Bytes [`LocalKey::seal`] adds to the contents: the nonce and the tag.
pub const SEAL_OVERHEAD: usize = AEAD_NONCE_LEN + AEAD_TAG_LEN;

/// Why sealed local state did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LocalStateError {
    /// Shorter than a nonce and a tag.
    #[error("truncated")]
    Truncated,
    /// The tag did not verify.
    #[error(
        "it does not decrypt under this key file's state key (altered, or another key file's)"
    )]
    Undecryptable,
}

/// The key an identity seals its local state under, for one `label` (one use).
#[derive(Clone)]
pub struct LocalKey(Key);

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LocalKey(..)")
    }
}

impl LocalKey {
    /// The key for `label` under signing seed `seed`.
    pub(crate) fn derive(seed: &[u8], label: &[u8]) -> Self {
        let prk = suite::hkdf_extract(b"ems/v1/local state", seed);
        LocalKey(suite::hkdf_expand(&prk, &[label]))
    }

    /// `contents` sealed and bound to `aad`, under a fresh random nonce.
    pub fn seal(&self, aad: &[u8], contents: &[u8], rng: &mut impl CryptoRng) -> Vec<u8> {
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut body = contents.to_vec();
        suite::aead_seal(&self.0, &nonce, aad, &mut body);
        let mut out = Vec::with_capacity(AEAD_NONCE_LEN + body.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// The contents of what [`seal`](Self::seal) made with this key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, LocalStateError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(LocalStateError::Truncated);
        }
        let (nonce, body) = sealed.split_at(AEAD_NONCE_LEN);
        let nonce: [u8; AEAD_NONCE_LEN] =
            nonce.try_into().map_err(|_| LocalStateError::Truncated)?;
        let mut buffer = Zeroizing::new(body.to_vec());
        suite::aead_open(&self.0, &nonce, aad, &mut buffer)
            .map_err(|_| LocalStateError::Undecryptable)?;
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> impl CryptoRng {
        rand::rngs::StdRng::seed_from_u64(7)
    }

    #[test]
    fn sealed_state_opens_only_with_its_key_and_associated_data() {
        let key = LocalKey::derive(&[1; 32], b"ems client state v1");
        let sealed = key.seal(b"channels/a.state", b"{\"secret\":1}", &mut rng());
        assert_eq!(sealed.len(), 12 + SEAL_OVERHEAD);
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            &key.open(b"channels/a.state", &sealed).unwrap()[..],
            b"{\"secret\":1}"
        );
        let undecryptable = Err(LocalStateError::Undecryptable);
        let other_seed = LocalKey::derive(&[2; 32], b"ems client state v1");
        assert_eq!(other_seed.open(b"channels/a.state", &sealed), undecryptable);
        let other_label = LocalKey::derive(&[1; 32], b"another use");
        assert_eq!(
            other_label.open(b"channels/a.state", &sealed),
            undecryptable
        );
        assert_eq!(key.open(b"channels/b.state", &sealed), undecryptable);
        for at in [0, 12, sealed.len() - 1] {
            let mut altered = sealed.clone();
            altered[at] ^= 1;
            assert_eq!(
                key.open(b"channels/a.state", &altered),
                undecryptable,
                "byte {at}"
            );
        }
        assert_eq!(
            key.open(b"channels/a.state", &sealed[..SEAL_OVERHEAD - 1]),
            Err(LocalStateError::Truncated)
        );
        assert_eq!(
            key.open(b"channels/a.state", &sealed[..SEAL_OVERHEAD]),
            undecryptable
        );
    }

    #[test]
    fn the_layout_is_nonce_then_ciphertext_and_tag_under_the_documented_key() {
        let seed = [3u8; 32];
        let sealed = LocalKey::derive(&seed, b"label").seal(b"aad", b"contents", &mut rng());
        // The documented derivation and AES-256-GCM over the documented layout, step by step.
        let key = suite::hkdf_expand(
            &suite::hkdf_extract(b"ems/v1/local state", &seed),
            &[b"label"],
        );
        let nonce: [u8; 12] = sealed[..12].try_into().unwrap();
        let mut body = sealed[12..].to_vec();
        suite::aead_open(&key, &nonce, b"aad", &mut body).unwrap();
        assert_eq!(body, b"contents");
        // A fresh nonce each time.
        let mut rng = rng();
        let key = LocalKey::derive(&seed, b"label");
        assert_ne!(
            key.seal(b"", b"x", &mut rng)[..12],
            key.seal(b"", b"x", &mut rng)[..12]
        );
    }
}
