//! State files encrypted at rest under the identity's local state key, so channel keys are as
//! safe as the key file itself (a passphrase protects both). The sealing is ems-core's
//! ([`LocalKey`], AES-256-GCM from its suite); this module adds the file header.
//!
//! ```text
//! file = "EMSSTATE" | version (1) = 0x01
//!      | LocalKey::seal(aad = the file's path inside the state directory, contents)
//!        (= nonce (12) | ciphertext | tag (16))
//! key  = Identity::local_state_key(b"ems client state v1")
//! ```
//!
//! The associated data is the file's relative path, so a file moved to another name (an outbox
//! entry posing as a channel, one channel's state under another's id) does not open.

use ems_core::LocalKey;
use zeroize::Zeroizing;

const MAGIC: &[u8; 8] = b"EMSSTATE";
const VERSION: u8 = 1;
const HEADER: usize = MAGIC.len() + 1;

/// The label [`ems_core::Identity::local_state_key`] is asked for.
pub const KEY_LABEL: &[u8] = b"ems client state v1";

/// Encrypts `contents` for the file at `name` (path relative to the state directory).
pub fn seal(key: &LocalKey, name: &str, contents: &[u8]) -> Vec<u8> {
    let sealed = key.seal(name.as_bytes(), contents, &mut crate::rng());
    let mut out = Vec::with_capacity(HEADER + sealed.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&sealed);
    out
}

/// Decrypts a file [`seal`] wrote for `name`, or says why it cannot.
pub fn open(key: &LocalKey, name: &str, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
    if bytes.len() < HEADER || !bytes.starts_with(MAGIC) {
        return Err("not an ems state file".into());
    }
    if bytes[MAGIC.len()] != VERSION {
        return Err("unknown state file version".into());
    }
    key.open(name.as_bytes(), &bytes[HEADER..])
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::Identity;

    fn key(label: &[u8]) -> LocalKey {
        Identity::generate(&mut crate::rng(), 1_800_000_000, 1_900_000_000, None)
            .unwrap()
            .local_state_key(label)
    }

    #[test]
    fn a_sealed_file_opens_only_with_its_key_and_name() {
        let (key, other) = (key(KEY_LABEL), key(KEY_LABEL));
        let sealed = seal(&key, "channels/a.json", b"{\"secret\":1}");
        assert!(sealed.starts_with(b"EMSSTATE\x01"));
        assert_eq!(
            &open(&key, "channels/a.json", &sealed).unwrap()[..],
            b"{\"secret\":1}"
        );
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert!(open(&other, "channels/a.json", &sealed).is_err());
        assert!(open(&key, "channels/b.json", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key, "channels/a.json", &altered)
            .unwrap_err()
            .contains("does not decrypt"));
        assert_eq!(
            open(&key, "channels/a.json", &sealed[..HEADER + 3]).unwrap_err(),
            "truncated"
        );
        let mut version = sealed.clone();
        version[MAGIC.len()] = 2;
        assert_eq!(
            open(&key, "channels/a.json", &version).unwrap_err(),
            "unknown state file version"
        );
        assert_eq!(
            open(&key, "channels/a.json", b"{\"plain\": true}").unwrap_err(),
            "not an ems state file"
        );
    }
}
