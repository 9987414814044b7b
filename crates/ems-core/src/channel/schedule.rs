//! The key schedule: every label, and every derivation from a KEM secret to a message key.
//!
//! ```text
//! th            = SHA2-256("ems/v1/transcript" ‖ fp_initiator ‖ fp_responder ‖ ct0 ‖ salt)
//! k_open        = Expand(Extract("ems/v1/open", ss0), "ems/v1/open key")
//! PRK0          = Extract(salt, ss0)
//! root_X,0      = Expand(PRK0, "ems/v1/root/" X ‖ th)        X ∈ {initiator, responder}
//! seed_X,0      = Expand(PRK0, "ems/v1/chain/" X ‖ th)
//! step (sender X, KEM secret ss, step hash h):
//!   PRK         = Extract(root_X, ss)
//!   root_X'     = Expand(PRK, "ems/v1/root" ‖ h)
//!   seed_X'     = Expand(PRK, "ems/v1/chain" ‖ h)
//! chain from a seed:
//!   tag_key     = Expand(seed, "ems/v1/tag key")
//!   chain_0     = Expand(seed, "ems/v1/chain key")
//!   key_i       = Expand(chain_i, "ems/v1/msg")
//!   chain_i+1   = Expand(chain_i, "ems/v1/chain")
//!   ID0_i       = HMAC(tag_key, i as u64 big-endian)
//! ```
//!
//! `Extract(salt, ikm)` and `Expand(prk, info)` are HKDF-SHA256 (RFC 5869), 32-byte outputs.

use crate::bundle::Fingerprint;
use crate::suite::{
    hkdf_expand, hkdf_extract, hmac, sha256, Key, KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN,
};
use serde::{Deserialize, Serialize};

/// Which end of the channel: the one that sent the open, or the one that accepted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Sent the open.
    Initiator,
    /// Recognised and accepted the open.
    Responder,
}

impl Role {
    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        }
    }

    fn label(self) -> &'static [u8] {
        match self {
            Role::Initiator => b"initiator",
            Role::Responder => b"responder",
        }
    }
}

/// The public `ID0` every open carries: `SHA2-256("ems/v1/open tag")`.
pub fn open_tag() -> [u8; 32] {
    sha256(&[b"ems/v1/open tag"])
}

/// The hash of an open's transcript; it names the channel.
pub(crate) fn transcript_hash(
    initiator: &Fingerprint,
    responder: &Fingerprint,
    ct: &[u8; KEM_CIPHERTEXT_LEN],
    salt: &[u8; 32],
) -> [u8; 32] {
    sha256(&[b"ems/v1/transcript", &initiator.0, &responder.0, ct, salt])
}

/// The key that seals an open's body; it depends on the KEM secret alone.
pub(crate) fn open_key(ss: &Key) -> Key {
    hkdf_expand(
        &hkdf_extract(b"ems/v1/open", ss.bytes()),
        &[b"ems/v1/open key"],
    )
}

/// What both ends derive from an open: per direction, a root and the epoch-0 chain seed.
pub(crate) struct Handshake {
    pub(crate) roots: [Key; 2],
    pub(crate) seeds: [Key; 2],
}

impl Handshake {
    /// The keys derived from the open's KEM secret, salt and transcript hash.
    pub(crate) fn derive(ss: &Key, salt: &[u8; 32], th: &[u8; 32]) -> Self {
        let prk = hkdf_extract(salt, ss.bytes());
        let [initiator, responder] = [Role::Initiator, Role::Responder].map(|role| {
            (
                hkdf_expand(&prk, &[b"ems/v1/root/", role.label(), th]),
                hkdf_expand(&prk, &[b"ems/v1/chain/", role.label(), th]),
            )
        });
        Handshake {
            roots: [initiator.0, responder.0],
            seeds: [initiator.1, responder.1],
        }
    }

    /// The root and epoch-0 chain seed of the direction `role` sends.
    pub(crate) fn direction(&self, role: Role) -> (&Key, &Key) {
        let at = match role {
            Role::Initiator => 0,
            Role::Responder => 1,
        };
        (&self.roots[at], &self.seeds[at])
    }
}

/// The hash a KEM ratchet step is signed over and mixed in with.
pub(crate) fn step_hash(
    channel: &[u8; 32],
    sender: Role,
    new_epoch: u32,
    target: u32,
    ct: &[u8; KEM_CIPHERTEXT_LEN],
    new_key: &[u8; KEM_PUBLIC_KEY_LEN],
) -> [u8; 32] {
    sha256(&[
        b"ems/v1/step",
        channel,
        sender.label(),
        &new_epoch.to_be_bytes(),
        &target.to_be_bytes(),
        ct,
        new_key,
    ])
}

/// A KEM ratchet step of one direction: the new root and the new epoch's chain seed.
pub(crate) fn ratchet(root: &Key, ss: &Key, step_hash: &[u8; 32]) -> (Key, Key) {
    let prk = hkdf_extract(root.bytes(), ss.bytes());
    (
        hkdf_expand(&prk, &[b"ems/v1/root", step_hash]),
        hkdf_expand(&prk, &[b"ems/v1/chain", step_hash]),
    )
}

/// The tag key and first chain key of a chain.
pub(crate) fn chain_start(seed: &Key) -> (Key, Key) {
    (
        hkdf_expand(seed, &[b"ems/v1/tag key"]),
        hkdf_expand(seed, &[b"ems/v1/chain key"]),
    )
}

/// The message key of a chain key.
pub(crate) fn message_key(chain: &Key) -> Key {
    hkdf_expand(chain, &[b"ems/v1/msg"])
}

/// The chain key after `chain`.
pub(crate) fn next_chain_key(chain: &Key) -> Key {
    hkdf_expand(chain, &[b"ems/v1/chain"])
}

/// `ID0` of message `index`.
pub(crate) fn tag(tag_key: &Key, index: u64) -> [u8; 32] {
    hmac(tag_key, &[&index.to_be_bytes()])
}

#[cfg(test)]
mod tests {
    //! Known answers: fixed inputs, fixed outputs. A change here is a protocol change.
    use super::*;
    use crate::secret::Secret;

    fn hex32(key: &Key) -> String {
        hex::encode(key.bytes())
    }

    #[test]
    fn key_schedule_known_answers() {
        let ss = Secret([0x11; 32]);
        let salt = [0x22; 32];
        let ct = [0x33; KEM_CIPHERTEXT_LEN];
        let th = transcript_hash(
            &Fingerprint([0xa1; 32]),
            &Fingerprint([0xb2; 32]),
            &ct,
            &salt,
        );
        let handshake = Handshake::derive(&ss, &salt, &th);
        let (root_i, seed_i) = handshake.direction(Role::Initiator);
        let (root_r, seed_r) = handshake.direction(Role::Responder);
        let (tag_key, chain0) = chain_start(seed_i);
        let chain1 = next_chain_key(&chain0);
        let h = step_hash(&th, Role::Responder, 1, 0, &ct, &[0x44; KEM_PUBLIC_KEY_LEN]);
        let (root_r1, seed_r1) = ratchet(root_r, &Secret([0x55; 32]), &h);
        let got = [
            ("open_tag", hex::encode(open_tag())),
            ("th", hex::encode(th)),
            ("open_key", hex32(&open_key(&ss))),
            ("root_i", hex32(root_i)),
            ("seed_i", hex32(seed_i)),
            ("root_r", hex32(root_r)),
            ("seed_r", hex32(seed_r)),
            ("tag_key", hex32(&tag_key)),
            ("chain0", hex32(&chain0)),
            ("key0", hex32(&message_key(&chain0))),
            ("key1", hex32(&message_key(&chain1))),
            ("tag0", hex::encode(tag(&tag_key, 0))),
            ("tag1", hex::encode(tag(&tag_key, 1))),
            ("step_hash", hex::encode(h)),
            ("root_r1", hex32(&root_r1)),
            ("seed_r1", hex32(&seed_r1)),
        ];
        let expected = KNOWN_ANSWERS;
        for ((name, value), (want_name, want)) in got.iter().zip(expected) {
            assert_eq!(name, want_name);
            assert_eq!(value, want, "known answer for {name} changed");
        }
        assert_eq!(got.len(), expected.len());
    }

    #[test]
    fn tag_is_hmac_sha256_of_the_big_endian_index() {
        use hmac::{Hmac, KeyInit, Mac};
        let key = Secret([7; 32]);
        let mut mac = <Hmac<sha2::Sha256>>::new_from_slice(&[7; 32]).unwrap();
        mac.update(&[0, 0, 0, 0, 0, 0, 1, 2]);
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(tag(&key, 258), expected);
        assert_ne!(tag(&key, 258), tag(&key, 259));
    }

    /// Computed independently (Python `hmac`/`hashlib`, RFC 5869 by hand) from the same inputs.
    const KNOWN_ANSWERS: &[(&str, &str)] = &[
        (
            "open_tag",
            "e83ecd03f917db4c4ad3615ed3c4ddfa77cc5b205de452064d60f8224b0238de",
        ),
        (
            "th",
            "80d7a802f0124d32da0a37a4e04b34de618a48614818ca68d4c8374b906d56d0",
        ),
        (
            "open_key",
            "17fe14c4666d0d1183ba0a77366196b80f217c65a1120c376d7820c3826a40e4",
        ),
        (
            "root_i",
            "10d0bc40dbad6dcf0583a55c6b136ba76590b0d28c71b15dab72cdb1ba2fa304",
        ),
        (
            "seed_i",
            "a71cc9a8ed74d049a8e6574119473fe5176538630bd169d8d6b750ccd31f440e",
        ),
        (
            "root_r",
            "11a1154dca2d1fa6c90e3ffbc0846fed4511476c0e53db4b2b024418b869f304",
        ),
        (
            "seed_r",
            "105132c155b6fbea2d5e2b787dc7198caae4ce5b02e82c0c1d30c140accfd3fd",
        ),
        (
            "tag_key",
            "44b6483b4c272b97db6dd38ad720910a190a2dfcb0fdba9b47078c47231d8b7f",
        ),
        (
            "chain0",
            "78fbe42e77d090202c0e04283e61b264cc01ddd123cd3d53e75dc5fdd25d9f1c",
        ),
        (
            "key0",
            "f20ed505875dce9531aa4df3f2cfbcfdd0dfb75f595a56380d3a8672ee448e8d",
        ),
        (
            "key1",
            "afbb31f52e79f1dd4893fecff8de3cfa052671ed97dc499d210f5ed14030e01e",
        ),
        (
            "tag0",
            "3d6b8170e75dbe0a97d7a1b88c4819fc164ebb7e5dbbf14bca2897822eb8f3d9",
        ),
        (
            "tag1",
            "24bc26077c6fe5c1e12eebed3d147109da06258f1000b7f7c329a6f35de16041",
        ),
        (
            "step_hash",
            "953c1cc54819e029c3f64d965bb965f39d5e2eff615d0dd3212e6ff650bddacf",
        ),
        (
            "root_r1",
            "906e658874bf7a910cfa790efd0a10ed54574921cfa996cb92b5130c2ca040da",
        ),
        (
            "seed_r1",
            "25dcb1012ab88f80b058751456056bcdf5885f2abc68ad93e8d3f827fd8a1e26",
        ),
    ];
}
