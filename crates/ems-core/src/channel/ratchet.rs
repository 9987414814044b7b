//! One epoch of one direction: the symmetric ratchet that gives each data message its key and
//! tag, and the control tag and key of the rekey that ends the epoch.

use super::schedule::{epoch_start, message_key, next_chain_key, tag};
use crate::secret::hex_bytes;
use crate::suite::Key;
use serde::{Deserialize, Serialize};

/// An `ID0` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tag(#[serde(with = "hex_bytes::array")] pub(crate) [u8; 32]);

/// One epoch's keys: the tag key and the chain key of the next data message, and the control
/// tag and key.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Epoch {
    pub(crate) epoch: u32,
    tag_key: Key,
    chain_key: Key,
    pub(crate) next: u64,
    pub(crate) control_tag: Tag,
    pub(crate) control_key: Key,
}

impl Epoch {
    /// Epoch `epoch`, started from its seed.
    pub(crate) fn new(epoch: u32, seed: &Key) -> Self {
        let keys = epoch_start(seed);
        Epoch {
            epoch,
            tag_key: keys.tag_key,
            chain_key: keys.chain_key,
            next: 0,
            control_tag: Tag(keys.control_tag),
            control_key: keys.control_key,
        }
    }

    /// Sender side: the next data message's index, tag and key. The chain key that produced them
    /// is overwritten.
    pub(crate) fn advance(&mut self) -> (u64, Tag, Key) {
        let index = self.next;
        let message = message_key(&self.chain_key);
        self.chain_key = next_chain_key(&self.chain_key);
        self.next = self.next.saturating_add(1);
        (index, self.tag(index), message)
    }

    /// The tag of data message `index`.
    pub(crate) fn tag(&self, index: u64) -> Tag {
        Tag(tag(&self.tag_key, index))
    }

    /// The tags of the `len` data messages from the next one on.
    pub(crate) fn window(&self, len: u64) -> impl Iterator<Item = (u64, Tag)> + '_ {
        (self.next..self.next.saturating_add(len)).map(|index| (index, self.tag(index)))
    }

    /// Walks the chain from the next index to `index` (not past it): the keys of the messages in
    /// between, the key of `index`, and the chain key after it. Costs `index - next + 1`
    /// derivations; the caller bounds the distance.
    pub(crate) fn walk_to(&self, index: u64) -> (Vec<(u64, Key)>, Key, Key) {
        let mut chain_key = self.chain_key.clone();
        let mut passed = Vec::new();
        for earlier in self.next..index {
            passed.push((earlier, message_key(&chain_key)));
            chain_key = next_chain_key(&chain_key);
        }
        let key = message_key(&chain_key);
        (passed, key, next_chain_key(&chain_key))
    }

    /// Moves the chain to just after `index`, whose successor chain key is `chain_key`.
    pub(crate) fn move_past(&mut self, index: u64, chain_key: Key) {
        self.chain_key = chain_key;
        self.next = index.saturating_add(1);
    }

    /// The chain key, for tests that look for keys that must be gone.
    #[cfg(test)]
    pub(crate) fn secrets(&self) -> [[u8; 32]; 3] {
        [
            *self.chain_key.bytes(),
            *self.tag_key.bytes(),
            *self.control_key.bytes(),
        ]
    }
}
