//! The sending side: sealing data, stepping this side's KEM ratchet, and re-sealing control
//! frames the peer has not acknowledged.

use super::ratchet::Epoch;
use super::schedule::{open_tag, ratchet, Step};
use super::seal::{self, Rekey};
use super::signed::{MessageContext, MESSAGE_CONTEXT};
use super::{
    Channel, ChannelError, OwnRatchetKey, PendingControl, RatchetSecret, MAX_RATCHET_KEYS,
    REKEY_CONTEXT,
};
use crate::identity::Identity;
use crate::message::{Message, ID_LEN};
use crate::secret::Secret;
use crate::suite::{self, KemKeyPair, KemPublicKey, Key, KEM_SEED_LEN};
use rand_core::CryptoRng;

/// A fresh `ID` with tag `id0` and a random `ID1` (whose first 12 bytes are the AEAD nonce).
fn fresh_id(id0: &[u8; 32], rng: &mut impl CryptoRng) -> [u8; ID_LEN] {
    let mut id = [0u8; ID_LEN];
    id[..32].copy_from_slice(id0);
    rng.fill_bytes(&mut id[32..]);
    id
}

/// Seals `body` under `key` into a frame with `id`.
fn frame(
    key: &Key,
    id: [u8; ID_LEN],
    ttl: u32,
    blockhash: [u8; 4],
    body: &[u8],
) -> Result<Message, ChannelError> {
    #[cfg(fuzzing)]
    let body = &super::fuzzing::edited(body);
    let payload = seal::seal(key, &id, ttl, blockhash, body);
    Message::new(id, payload, ttl, blockhash)
        .map_err(|_| ChannelError::State("sealed message exceeds a payload"))
}

impl Channel {
    /// Seals `plaintext` into a data message (unmined) for the peer; with `sign`, an ML-DSA
    /// signature of the whole [`MessageContext`] and the plaintext travels inside the
    /// ciphertext. Refused before the accept ([`ChannelError::NotEstablished`]).
    pub fn seal(
        &mut self,
        identity: &Identity,
        plaintext: &[u8],
        ttl: u32,
        blockhash: [u8; 4],
        sign: bool,
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        if !self.is_established() {
            return Err(ChannelError::NotEstablished);
        }
        let max = if sign {
            seal::MAX_SIGNED_PLAINTEXT
        } else {
            seal::MAX_PLAINTEXT
        };
        if plaintext.len() > max {
            return Err(ChannelError::PlaintextTooLarge {
                len: plaintext.len(),
                max,
                signed: sign,
            });
        }
        let index = self.send.next;
        let id = fresh_id(&self.send.tag(index).0, rng);
        let signature = if sign {
            let context = MessageContext {
                channel: self.id,
                sender: self.own,
                recipient: self.peer,
                epoch: self.send.epoch,
                index,
                id,
                ttl,
                blockhash,
            };
            Some(identity.sign(&context.signed_bytes(plaintext), MESSAGE_CONTEXT, rng)?)
        } else {
            None
        };
        let body = seal::encode_data(self.receive_epoch(), plaintext, signature.as_ref());
        let (advanced, _, key) = self.send.advance();
        debug_assert_eq!(advanced, index);
        frame(&key, id, ttl, blockhash, &body)
    }

    /// Steps this side's KEM ratchet: encapsulates to the peer's latest ratchet key, makes a
    /// fresh ratchet key of its own, and returns the signed rekey (unmined), sent under the
    /// ending epoch's control tag. Later messages use the new epoch. The rekey stays in the
    /// state until the peer acknowledges the new epoch ([`Channel::control_frames`]).
    pub fn rekey(
        &mut self,
        identity: &Identity,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        if !self.is_established() {
            return Err(ChannelError::NotEstablished);
        }
        if self.own_ratchet.len() >= MAX_RATCHET_KEYS {
            return Err(ChannelError::TooManyUnacknowledged {
                max: MAX_RATCHET_KEYS - 1,
            });
        }
        self.step(identity, rng, false)?;
        self.seal_control(self.pending.len() - 1, ttl, blockhash, rng)
    }

    /// One KEM ratchet step of the sending root (and, with `both` for the accept, of the
    /// receiving root too, with the same secret). The rekey joins the pending control frames.
    pub(super) fn step(
        &mut self,
        identity: &Identity,
        rng: &mut impl CryptoRng,
        both: bool,
    ) -> Result<(), ChannelError> {
        let peer_key = KemPublicKey::from_bytes(&self.peer_ratchet.public)
            .ok_or(ChannelError::State("the peer's ratchet key is malformed"))?;
        let new_epoch = self
            .send
            .epoch
            .checked_add(1)
            .ok_or(ChannelError::State("epoch counter exhausted"))?;
        let (ct, ss) = peer_key.encapsulate(rng);
        let seed: Secret<KEM_SEED_LEN> = suite::random_secret(rng);
        let new_key = *KemKeyPair::from_seed(&seed).public();
        let target = self.peer_ratchet.id;
        let count = self.send.next;
        let hash = Step {
            channel: &self.id,
            sender: self.role,
            new_epoch,
            target,
            count,
            ct: &ct,
            new_key: &new_key,
        }
        .hash();
        let signature = identity.sign(&hash, REKEY_CONTEXT, rng)?;
        let (root, epoch_seed) = ratchet(&self.send_root, &ss, &hash);
        if both {
            let (recv_root, recv_seed) = ratchet(&self.recv_root, &ss, &hash);
            self.recv_root = recv_root;
            self.receiver.epoch = Epoch::new(new_epoch, &recv_seed);
        }
        self.pending.push(PendingControl {
            ack: self.receive_epoch(),
            ends: self.send.epoch,
            tag: self.send.control_tag,
            key: self.send.control_key.clone(),
            rekey: Rekey {
                target,
                count,
                ct: Box::new(ct),
                new_key: Box::new(new_key),
                signature: Box::new(signature),
            },
        });
        self.send_root = root;
        self.send = Epoch::new(new_epoch, &epoch_seed);
        self.own_ratchet.insert(
            0,
            OwnRatchetKey {
                id: new_epoch,
                secret: RatchetSecret::Ephemeral(seed),
            },
        );
        self.independent |= target > 0;
        Ok(())
    }

    /// Pending control frame `at`, sealed afresh under its epoch's control key with a new
    /// random `ID1`, and the ack it was made with: a later ack would tell the peer that this
    /// side's next rekeys target newer keys than this one (and those in flight after it) do.
    fn seal_control(
        &self,
        at: usize,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<Message, ChannelError> {
        let pending = &self.pending[at];
        let body = seal::encode_rekey(pending.ack, &pending.rekey);
        frame(
            &pending.key,
            fresh_id(&pending.tag.0, rng),
            ttl,
            blockhash,
            &body,
        )
    }

    /// Every control frame the peer has not acknowledged, sealed afresh for re-sending with
    /// `ttl` and `blockhash` (unmined), oldest first: the open while no accept has arrived, and
    /// each rekey (the accept included) until the peer is seen on the epoch it starts. Re-sending
    /// them until then is what keeps a lost, refused or never-mined control frame from cutting
    /// the channel. Nothing in the state changes.
    pub fn control_frames(
        &self,
        ttl: u32,
        blockhash: [u8; 4],
        rng: &mut impl CryptoRng,
    ) -> Result<Vec<Message>, ChannelError> {
        let mut out = Vec::with_capacity(self.pending_controls());
        if let Some(open) = &self.open {
            let id = fresh_id(&open_tag(), rng);
            let mut payload = open.ct.clone();
            payload.extend_from_slice(&seal::seal(&open.key, &id, ttl, blockhash, &open.sealed));
            out.push(
                Message::new(id, payload, ttl, blockhash)
                    .map_err(|_| ChannelError::State("open exceeds a payload"))?,
            );
        }
        for at in 0..self.pending.len() {
            out.push(self.seal_control(at, ttl, blockhash, rng)?);
        }
        Ok(out)
    }
}
