//! State files encrypted at rest under the identity's local state key, so channel keys are as
//! safe as the key file itself (a passphrase protects both).
//!
//! ```text
//! file = "EMSSTATE" | version (1) = 0x01 | nonce (12)
//!      | AES-256-GCM(key, nonce, aad = the file's path inside the state directory, contents) ‖ tag (16)
//! key  = Identity::local_state_key(b"ems client state v1")
//! ```
//!
//! The associated data is the file's relative path, so a file moved to another name (an outbox
//! entry posing as a channel, one channel's state under another's id) does not open.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"EMSSTATE";
const VERSION: u8 = 1;
const NONCE: usize = 12;
const TAG: usize = 16;
const HEADER: usize = MAGIC.len() + 1 + NONCE;

/// The label [`ems_core::Identity::local_state_key`] is asked for.
pub const KEY_LABEL: &[u8] = b"ems client state v1";

/// Encrypts `contents` for the file at `name` (path relative to the state directory).
pub fn seal(key: &[u8; 32], name: &str, contents: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE];
    rand::Rng::fill_bytes(&mut crate::rng(), &mut nonce);
    let mut out = Vec::with_capacity(HEADER + contents.len() + TAG);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    let mut body = contents.to_vec();
    let tag = Aes256Gcm::new(key.into())
        .encrypt_inout_detached(
            &Nonce::from(nonce),
            name.as_bytes(),
            body.as_mut_slice().into(),
        )
        .expect("state files are far below the AES-GCM length limit");
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

/// Decrypts a file [`seal`] wrote for `name`, or says why it cannot.
pub fn open(key: &[u8; 32], name: &str, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, &'static str> {
    if bytes.len() < HEADER + TAG || !bytes.starts_with(MAGIC) {
        return Err("not an ems state file");
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err("unknown state file version");
    }
    let nonce: [u8; NONCE] = bytes[MAGIC.len() + 1..HEADER]
        .try_into()
        .map_err(|_| "truncated")?;
    let (body, tag) = bytes[HEADER..].split_at(bytes.len() - HEADER - TAG);
    let tag = Tag::try_from(tag).map_err(|_| "truncated")?;
    let mut plaintext = Zeroizing::new(body.to_vec());
    Aes256Gcm::new(key.into())
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            name.as_bytes(),
            plaintext.as_mut_slice().into(),
            &tag,
        )
        .map_err(|_| {
            "it does not decrypt under this key file's state key (altered, or another key file's)"
        })?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_opens_only_with_its_key_and_name() {
        let (key, other) = ([1u8; 32], [2u8; 32]);
        let sealed = seal(&key, "channels/a.json", b"{\"secret\":1}");
        assert_eq!(
            &open(&key, "channels/a.json", &sealed).unwrap()[..],
            b"{\"secret\":1}"
        );
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert!(open(&other, "channels/a.json", &sealed).is_err());
        assert!(open(&key, "channels/b.json", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key, "channels/a.json", &altered).is_err());
        assert!(open(&key, "channels/a.json", &sealed[..HEADER + 3]).is_err());
        assert!(open(&key, "channels/a.json", b"{\"plain\": true}").is_err());
    }
}
