//! The key schedule: every label, and every derivation from a KEM secret to a message key.
//!
//! ```text
//! th            = SHA2-256("ems/v1/transcript" ‖ fp_initiator ‖ fp_responder ‖ ct0 ‖ salt)
//! k_open        = Expand(Extract("ems/v1/open", ss0), "ems/v1/open key")
//! PRK0          = Extract(salt, ss0)
//! root_X,0      = Expand(PRK0, "ems/v1/root/" X ‖ th)        X ∈ {initiator, responder}
//! seed_X,0      = Expand(PRK0, "ems/v1/epoch/" X ‖ th)
//! step of root_X with KEM secret ss and step hash h (a rekey; the accept steps both roots):
//!   PRK         = Extract(root_X, ss)
//!   root_X'     = Expand(PRK, "ems/v1/root" ‖ h)
//!   seed_X'     = Expand(PRK, "ems/v1/epoch" ‖ h)
//! an epoch from its seed:
//!   tag_key     = Expand(seed, "ems/v1/tag key")
//!   control_tag = Expand(seed, "ems/v1/control tag")     ID0 of the rekey that ends the epoch
//!   control_key = Expand(seed, "ems/v1/control key")     seals that rekey (random nonces)
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

/// What both ends derive from an open: per direction, a root and the epoch-0 seed.
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
                hkdf_expand(&prk, &[b"ems/v1/epoch/", role.label(), th]),
            )
        });
        Handshake {
            roots: [initiator.0, responder.0],
            seeds: [initiator.1, responder.1],
        }
    }

    /// The root and epoch-0 seed of the direction `role` sends.
    pub(crate) fn direction(&self, role: Role) -> (&Key, &Key) {
        let at = match role {
            Role::Initiator => 0,
            Role::Responder => 1,
        };
        (&self.roots[at], &self.seeds[at])
    }
}

/// What a KEM ratchet step commits to; its hash is signed and mixed into the new root.
pub(crate) struct Step<'a> {
    /// The channel id.
    pub(crate) channel: &'a [u8; 32],
    /// The side that steps.
    pub(crate) sender: Role,
    /// The sender's epoch the step starts.
    pub(crate) new_epoch: u32,
    /// The receiver's ratchet key the KEM ciphertext is for.
    pub(crate) target: u32,
    /// How many data messages the sender sealed in the epoch the step ends.
    pub(crate) count: u64,
    /// The KEM ciphertext.
    pub(crate) ct: &'a [u8; KEM_CIPHERTEXT_LEN],
    /// The sender's new ratchet key.
    pub(crate) new_key: &'a [u8; KEM_PUBLIC_KEY_LEN],
}

impl Step<'_> {
    /// `SHA2-256("ems/v1/step" ‖ th ‖ role ‖ new epoch ‖ target ‖ count ‖ ct ‖ new key)`.
    pub(crate) fn hash(&self) -> [u8; 32] {
        sha256(&[
            b"ems/v1/step",
            self.channel,
            self.sender.label(),
            &self.new_epoch.to_be_bytes(),
            &self.target.to_be_bytes(),
            &self.count.to_be_bytes(),
            self.ct,
            self.new_key,
        ])
    }
}

/// A KEM ratchet step of one root: the new root and the new epoch's seed.
pub(crate) fn ratchet(root: &Key, ss: &Key, step_hash: &[u8; 32]) -> (Key, Key) {
    let prk = hkdf_extract(root.bytes(), ss.bytes());
    (
        hkdf_expand(&prk, &[b"ems/v1/root", step_hash]),
        hkdf_expand(&prk, &[b"ems/v1/epoch", step_hash]),
    )
}

/// The keys an epoch's seed gives.
pub(crate) struct EpochSeed {
    /// Keys the `ID0` tags of data messages.
    pub(crate) tag_key: Key,
    /// `ID0` of the epoch's control frame (the rekey that ends it).
    pub(crate) control_tag: [u8; 32],
    /// Seals the epoch's control frame.
    pub(crate) control_key: Key,
    /// The first chain key.
    pub(crate) chain_key: Key,
}

/// Everything an epoch's seed derives.
pub(crate) fn epoch_start(seed: &Key) -> EpochSeed {
    EpochSeed {
        tag_key: hkdf_expand(seed, &[b"ems/v1/tag key"]),
        control_tag: *hkdf_expand(seed, &[b"ems/v1/control tag"]).bytes(),
        control_key: hkdf_expand(seed, &[b"ems/v1/control key"]),
        chain_key: hkdf_expand(seed, &[b"ems/v1/chain key"]),
    }
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
        let epoch = epoch_start(seed_i);
        let (tag_key, chain0) = (&epoch.tag_key, epoch.chain_key.clone());
        let chain1 = next_chain_key(&chain0);
        let h = Step {
            channel: &th,
            sender: Role::Responder,
            new_epoch: 1,
            target: 0,
            count: 7,
            ct: &ct,
            new_key: &[0x44; KEM_PUBLIC_KEY_LEN],
        }
        .hash();
        let (root_r1, seed_r1) = ratchet(root_r, &Secret([0x55; 32]), &h);
        let (root_i1, _) = ratchet(root_i, &Secret([0x55; 32]), &h);
        let got = [
            ("open_tag", hex::encode(open_tag())),
            ("th", hex::encode(th)),
            ("open_key", hex32(&open_key(&ss))),
            ("root_i", hex32(root_i)),
            ("seed_i", hex32(seed_i)),
            ("root_r", hex32(root_r)),
            ("seed_r", hex32(seed_r)),
            ("tag_key", hex32(tag_key)),
            ("control_tag", hex::encode(epoch.control_tag)),
            ("control_key", hex32(&epoch.control_key)),
            ("chain0", hex32(&chain0)),
            ("key0", hex32(&message_key(&chain0))),
            ("key1", hex32(&message_key(&chain1))),
            ("tag0", hex::encode(tag(tag_key, 0))),
            ("tag1", hex::encode(tag(tag_key, 1))),
            ("step_hash", hex::encode(h)),
            ("root_r1", hex32(&root_r1)),
            ("seed_r1", hex32(&seed_r1)),
            ("root_i1", hex32(&root_i1)),
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
            "4c21f0a7c7e4ea5a9b560e78b280fe76d0092be162b27fd48fc11d20aa9bfe83",
        ),
        (
            "root_r",
            "11a1154dca2d1fa6c90e3ffbc0846fed4511476c0e53db4b2b024418b869f304",
        ),
        (
            "seed_r",
            "e56ee7c1e952440dfc5d3c57edb5d6e8ab1649b9931f2a069dae32ffe23362d7",
        ),
        (
            "tag_key",
            "bec5db80ef3c2a86e1fc99aa43f32964b75c9d0acb5789d3bdd91b668f07dc56",
        ),
        (
            "control_tag",
            "6afcaad26a9df9b2ed9b91725e96257d7bc35ace4b64e3656cae1c859b0faa0c",
        ),
        (
            "control_key",
            "4c296f19bc0f29b1e1a0f867a04abf396c0e67b50062366043a37e6780f537b3",
        ),
        (
            "chain0",
            "39af276631556761f57da69629ba5ac6495f35b1fb7feb6198702075dd8cbcc7",
        ),
        (
            "key0",
            "472d821d69b862bec8f97f7deb0d6c6879aa8458cf4e8ebca28dd0b543cd519e",
        ),
        (
            "key1",
            "51aab6af54fa062c17ea8f4a4a72931914b257f42559e681b625076937b5fe7f",
        ),
        (
            "tag0",
            "9185bbfdcbe92c9bc4e67470f500b44a51c8f0cd6e215d52814839396b40b549",
        ),
        (
            "tag1",
            "d7be928a50acb93fda81e49a09cd1263164d5c7d1aa74993ac620602b9c786ad",
        ),
        (
            "step_hash",
            "47cfcc195274478c2d2161e7e746d717412192d80ba671c9d8413d30904840c3",
        ),
        (
            "root_r1",
            "b7dad8c5c6b17d3b90547951c52d37a7cf4e7a4d368644ca3d69c386dc3e1fd0",
        ),
        (
            "seed_r1",
            "d84ee6bbd293fbf0543ee63a00222c8a2db65fb43c39ca880cfd66a3164d76f1",
        ),
        (
            "root_i1",
            "e679c71237d31840227da3bfeee9b86613832daba34a59ca87997f31db371daa",
        ),
    ];
}
