//! Opening a channel: the anonymous open message, recognising one, and accepting it.
//!
//! ```text
//! open (Alice → Bob): ID0 = open_tag(), ID1 random
//!   payload = ct0 (1088) | AES-256-GCM(k_open, nonce = ID1[0..12], aad = ID ‖ TTL ‖ BLOCKHASH,
//!             Alice's bundle body (3193) | salt (32) | ML-DSA signature of th, context
//!             "ems/v1/open" (3309)) ‖ tag (16)                                      = 7638 bytes
//!   (ct0, ss0) = ML-KEM.Encaps(Bob's bundle KEM key)
//! accept (Bob → Alice): Bob's first rekey, under the control tag of the responder's epoch 0; it
//!   encapsulates to Alice's bundle KEM key, carries Bob's first ephemeral ratchet key, and its
//!   secret steps both roots to epoch 1.
//! ```

use super::schedule::{open_key, open_tag, transcript_hash, Handshake, Role};
use super::{seal, Channel, ChannelError, PendingOpen};
use crate::bundle::{Bundle, BundleBody, BundleError, Fingerprint, BODY_LEN};
use crate::identity::Identity;
use crate::message::Message;
use crate::suite::{self, KemPublicKey, AEAD_TAG_LEN, DSA_SIGNATURE_LEN, KEM_CIPHERTEXT_LEN};
use rand_core::CryptoRng;

/// Bytes of an open message's payload.
pub const OPEN_PAYLOAD_LEN: usize =
    KEM_CIPHERTEXT_LEN + BODY_LEN + 32 + DSA_SIGNATURE_LEN + AEAD_TAG_LEN;
/// ML-DSA context string of the open's transcript signature.
const OPEN_CONTEXT: &[u8] = b"ems/v1/open";

impl Channel {
    /// Opens a channel from `identity` to the owner of `to`, which must verify at `now`.
    ///
    /// Returns the channel state and the open message (unmined) to publish. The caller should
    /// first check `to` against the chain ([`Bundle::verify_committed`]) or what it already trusts.
    pub fn open(
        identity: &Identity,
        to: &Bundle,
        now: u64,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<(Channel, Message), ChannelError> {
        to.verify(now)?;
        let peer_kem = KemPublicKey::from_bytes(to.body().kem_key()).ok_or(BundleError::KemKey)?;
        let (ct, ss) = peer_kem.encapsulate(rng);
        let salt: [u8; 32] = *suite::random_secret(rng).bytes();
        let (own, peer) = (identity.fingerprint(), to.fingerprint());
        let th = transcript_hash(&own, &peer, &ct, &salt);
        let signature = identity.sign(&th, OPEN_CONTEXT, rng)?;

        let mut sealed = identity.bundle().body().encode();
        sealed.extend_from_slice(&salt);
        sealed.extend_from_slice(&signature);
        #[cfg(fuzzing)]
        super::fuzzing::edit(&mut sealed);
        let mut channel = Channel::new(
            th,
            Role::Initiator,
            own,
            to.body(),
            &Handshake::derive(&ss, &salt, &th),
        );
        channel.open = Some(PendingOpen {
            key: open_key(&ss),
            ct: ct.to_vec(),
            sealed,
        });
        let message = channel
            .control_frames(ttl, blockhash, rng)?
            .pop()
            .ok_or(ChannelError::State("no open to send"))?;
        Ok((channel, message))
    }
}

/// An open addressed to this identity, recognised and verified but not yet accepted.
pub struct IncomingOpen {
    sender: BundleBody,
    channel: [u8; 32],
    own: Fingerprint,
    handshake: Handshake,
}

impl std::fmt::Debug for IncomingOpen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingOpen")
            .field("sender", &self.sender)
            .field("channel", &hex::encode(self.channel))
            .finish()
    }
}

/// Tries `message` as an open addressed to `identity`: its current KEM key, or a retired one
/// whose keeping has not ended by `now`.
///
/// `Ok(None)`: not an open, past its TTL at `now` (checked first, at no cost), or not for this
/// identity (the common case; it costs one ML-KEM decapsulation per held KEM key and a failed
/// AES-GCM check). `Err`: an open for this identity that is not acceptable (bad signature,
/// malformed or expired sender keys).
pub fn recognise(
    identity: &Identity,
    message: &Message,
    now: u64,
) -> Result<Option<IncomingOpen>, ChannelError> {
    if *message.id0() != open_tag()
        || message.payload().len() != OPEN_PAYLOAD_LEN
        || u64::from(message.ttl()) <= now
    {
        return Ok(None);
    }
    let (ct, sealed) = message.payload().split_at(KEM_CIPHERTEXT_LEN);
    let ct: &[u8; KEM_CIPHERTEXT_LEN] =
        ct.try_into().map_err(|_| ChannelError::Malformed("open"))?;
    let Some((key, ss, plaintext)) = identity.kem_keys_at(now).find_map(|key| {
        let ss = key.pair.decapsulate(ct);
        seal::open(&open_key(&ss), message, sealed)
            .ok()
            .map(|plaintext| (key, ss, plaintext))
    }) else {
        return Ok(None);
    };
    let (body, rest) = plaintext.split_at(BODY_LEN);
    let sender = BundleBody::decode(body)?;
    sender.check_lifetime(now)?;
    let salt: [u8; 32] = rest[..32]
        .try_into()
        .map_err(|_| ChannelError::Malformed("open: salt"))?;
    let signature: &[u8; DSA_SIGNATURE_LEN] = rest[32..]
        .try_into()
        .map_err(|_| ChannelError::Malformed("open: signature"))?;
    let th = transcript_hash(&sender.fingerprint(), &key.fingerprint, ct, &salt);
    if !suite::verify(sender.signing_key(), &th, OPEN_CONTEXT, signature) {
        return Err(ChannelError::BadSignature("open"));
    }
    Ok(Some(IncomingOpen {
        sender,
        channel: th,
        own: key.fingerprint,
        handshake: Handshake::derive(&ss, &salt, &th),
    }))
}

impl IncomingOpen {
    /// The sender's public keys (their bundle without its signature; the open's transcript
    /// signature covers them). Check [`BundleBody::check_commitments`] or a known fingerprint
    /// before accepting.
    pub fn sender(&self) -> &BundleBody {
        &self.sender
    }

    /// The sender's fingerprint.
    pub fn sender_fingerprint(&self) -> Fingerprint {
        self.sender.fingerprint()
    }

    /// The channel's identifier (the open's transcript hash), equal on both ends: the same open
    /// recognised twice names the same channel.
    pub fn channel_id(&self) -> [u8; 32] {
        self.channel
    }

    /// Accepts: the channel state, and the accept message (unmined) to publish. The accept is the
    /// responder's first rekey: its KEM secret, encapsulated to the initiator's bundle key,
    /// enters both roots, so both directions start epoch 1 from a secret of each side. The
    /// accept stays in the state until the initiator is seen on epoch 1
    /// ([`Channel::control_frames`]).
    pub fn accept(
        self,
        identity: &Identity,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<(Channel, Message), ChannelError> {
        let mut channel = Channel::new(
            self.channel,
            Role::Responder,
            self.own,
            &self.sender,
            &self.handshake,
        );
        channel.step(identity, rng, true)?;
        // The initiator never encapsulates to this side's bundle key: its first step targets
        // the accept's ephemeral key.
        channel.own_ratchet.retain(|key| key.id != 0);
        let accept = channel
            .control_frames(ttl, blockhash, rng)?
            .pop()
            .ok_or(ChannelError::State("no accept to send"))?;
        Ok((channel, accept))
    }
}
