//! What a signed channel message's ML-DSA signature covers: the whole context of the message,
//! so a signature cannot be lifted into another channel, direction, position or frame.
//!
//! ```text
//! signed = "ems/v1/signed message" ‖ channel id (32) ‖ fp_sender ‖ fp_recipient
//!        ‖ epoch u32 ‖ index u64 ‖ ID (64) ‖ TTL u32 ‖ BLOCKHASH (4) ‖ plaintext
//! signature = ML-DSA-65-Sign(signed, context "ems/v1/message")
//! ```

use crate::bundle::Fingerprint;
use crate::message::ID_LEN;
use crate::suite::{self, DSA_PUBLIC_KEY_LEN, DSA_SIGNATURE_LEN};

/// ML-DSA context string of message signatures.
pub(crate) const MESSAGE_CONTEXT: &[u8] = b"ems/v1/message";

/// Where a data message stands: channel, direction, epoch, index and frame. A signed message's
/// signature covers all of it and the plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageContext {
    /// The channel id.
    pub channel: [u8; 32],
    /// The sender's bundle fingerprint.
    pub sender: Fingerprint,
    /// The recipient's bundle fingerprint.
    pub recipient: Fingerprint,
    /// The sender's epoch.
    pub epoch: u32,
    /// The message's index in that epoch.
    pub index: u64,
    /// The frame's `ID`.
    pub id: [u8; ID_LEN],
    /// The frame's TTL.
    pub ttl: u32,
    /// The frame's blockhash.
    pub blockhash: [u8; 4],
}

impl MessageContext {
    /// The bytes a signature over `plaintext` in this context signs.
    pub fn signed_bytes(&self, plaintext: &[u8]) -> Vec<u8> {
        [
            &b"ems/v1/signed message"[..],
            &self.channel,
            &self.sender.0,
            &self.recipient.0,
            &self.epoch.to_be_bytes(),
            &self.index.to_be_bytes(),
            &self.id,
            &self.ttl.to_be_bytes(),
            &self.blockhash,
            plaintext,
        ]
        .concat()
    }
}

/// Checks a message signature again, as a third party holding the sender's public signing key
/// (non-repudiation): true only for that plaintext in exactly that context.
pub fn verify_message_signature(
    signing_key: &[u8; DSA_PUBLIC_KEY_LEN],
    context: &MessageContext,
    plaintext: &[u8],
    signature: &[u8; DSA_SIGNATURE_LEN],
) -> bool {
    suite::verify(
        signing_key,
        &context.signed_bytes(plaintext),
        MESSAGE_CONTEXT,
        signature,
    )
}
