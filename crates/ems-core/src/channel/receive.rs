//! The receiving side: opening the peer's data messages and following its rekeys.

use super::ratchet::Epoch;
use super::receiver::{Found, Kind};
use super::schedule::Role;
use super::schedule::{ratchet, Step};
use super::seal::{self, Body, Rekey};
use super::signed::{MessageContext, MESSAGE_CONTEXT};
use super::{Channel, ChannelError, PeerRatchetKey, RatchetSecret, Received, REKEY_CONTEXT};
use crate::identity::Identity;
use crate::message::Message;
use crate::suite::{self, KemKeyPair, KemPublicKey};

impl Channel {
    /// Opens a message of the peer's at `now`. Nothing changes unless it opens: an expired,
    /// tampered, replayed, misplaced or unknown message leaves the state as it was.
    ///
    /// Refused: frames past their TTL ([`ChannelError::Expired`]); data under a control tag and
    /// rekeys under a data tag ([`ChannelError::Malformed`]); anything at the responder's epoch
    /// 0 but the accept (its data tags are never watched).
    pub fn unseal(
        &mut self,
        identity: &Identity,
        message: &Message,
        now: u64,
    ) -> Result<Received, ChannelError> {
        if u64::from(message.ttl()) <= now {
            return Err(ChannelError::Expired {
                ttl: message.ttl(),
                now,
            });
        }
        let found = self.receiver.find(message.id0(), now)?;
        let plaintext = seal::open(&found.key, message, message.payload())?;
        let opened = seal::decode(&plaintext)?;
        let received = match (found.kind, opened.body) {
            (Kind::Data { epoch, index }, Body::Data { data, signature }) => {
                let context = MessageContext {
                    channel: self.id,
                    sender: self.peer,
                    recipient: self.own,
                    epoch,
                    index,
                    id: *message.id(),
                    ttl: message.ttl(),
                    blockhash: message.blockhash(),
                };
                if let Some(signature) = &signature {
                    let signed = context.signed_bytes(&data);
                    if !suite::verify(&self.peer_signing_key, &signed, MESSAGE_CONTEXT, signature) {
                        return Err(ChannelError::BadSignature("message"));
                    }
                }
                self.receiver.commit(found, now);
                Received::Data {
                    plaintext: data.to_vec(),
                    signature,
                    context: Box::new(context),
                }
            }
            (Kind::Control, Body::Rekey(rekey)) => {
                self.receive_rekey(identity, found, rekey, now)?
            }
            (Kind::Control, Body::Data { .. }) => {
                return Err(ChannelError::Malformed("data under a control tag"))
            }
            (Kind::Data { .. }, Body::Rekey(_)) => {
                return Err(ChannelError::Malformed("rekey under a data tag"))
            }
        };
        self.receiver.expire(now);
        self.note_ack(opened.ack);
        Ok(received)
    }

    /// Checks and applies the peer's rekey that ends its current epoch.
    fn receive_rekey(
        &mut self,
        identity: &Identity,
        found: Found,
        rekey: Rekey,
        now: u64,
    ) -> Result<Received, ChannelError> {
        let ending = self.receiver.epoch.epoch;
        let accept = ending == 0;
        if accept && (self.role != Role::Initiator || rekey.count != 0) {
            return Err(ChannelError::Malformed("accept: not a first step"));
        }
        let new_epoch = ending
            .checked_add(1)
            .ok_or(ChannelError::State("epoch counter exhausted"))?;
        let hash = Step {
            channel: &self.id,
            sender: self.role.peer(),
            new_epoch,
            target: rekey.target,
            count: rekey.count,
            ct: &rekey.ct,
            new_key: &rekey.new_key,
        }
        .hash();
        if !suite::verify(
            &self.peer_signing_key,
            &hash,
            REKEY_CONTEXT,
            &rekey.signature,
        ) {
            return Err(ChannelError::BadSignature("rekey"));
        }
        if KemPublicKey::from_bytes(&rekey.new_key).is_none() {
            return Err(ChannelError::Malformed(
                "rekey: the new ratchet key fails the ML-KEM check",
            ));
        }
        let position = self
            .own_ratchet
            .iter()
            .position(|key| key.id == rekey.target)
            .ok_or(ChannelError::UnknownRatchetKey(rekey.target))?;
        let ss = match &self.own_ratchet[position].secret {
            RatchetSecret::Identity => identity
                .kem_key_of(&self.own)
                .ok_or(ChannelError::UnknownRatchetKey(rekey.target))?
                .decapsulate(&rekey.ct),
            RatchetSecret::Ephemeral(seed) => KemKeyPair::from_seed(seed).decapsulate(&rekey.ct),
        };
        let leftovers = self.receiver.leftovers(rekey.count);
        let (root, seed) = ratchet(&self.recv_root, &ss, &hash);
        if accept {
            // The accept's secret enters the initiator's root too: data flows from epoch 1.
            let (send_root, send_seed) = ratchet(&self.send_root, &ss, &hash);
            self.send_root = send_root;
            self.send = Epoch::new(1, &send_seed);
            self.open = None;
        }
        self.receiver.commit(found, now);
        self.receiver
            .start_epoch(leftovers, Epoch::new(new_epoch, &seed), now);
        self.recv_root = root;
        self.own_ratchet.truncate(position + 1);
        self.peer_ratchet = PeerRatchetKey {
            id: new_epoch,
            public: *rekey.new_key,
        };
        Ok(Received::Rekey { epoch: new_epoch })
    }
}
