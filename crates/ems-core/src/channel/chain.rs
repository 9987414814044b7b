//! Per-direction key chains: message keys derived lazily and erased after use, a bounded store
//! of skipped keys for out-of-order delivery, and a memory of used tags to refuse replays.

use super::error::ChannelError;
use super::schedule::{chain_start, message_key, next_chain_key, tag};
use crate::secret::hex_bytes;
use crate::suite::Key;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How far ahead of the next expected index a message may be and still open.
pub const WINDOW: u64 = 64;
/// How many skipped message keys a channel keeps (oldest dropped first).
pub const MAX_SKIPPED: usize = 256;
/// How many used tags a channel remembers to refuse replays.
pub const REPLAY_MEMORY: usize = 256;

/// An `ID0` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tag(#[serde(with = "hex_bytes::array")] pub(crate) [u8; 32]);

/// One epoch of one direction's chain: the tag key and the key of the next message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Chain {
    pub(crate) epoch: u32,
    tag_key: Key,
    pub(super) key: Key,
    next: u64,
}

impl Chain {
    /// Epoch `epoch`'s chain, started from its seed.
    pub(crate) fn new(epoch: u32, seed: &Key) -> Self {
        let (tag_key, key) = chain_start(seed);
        Chain {
            epoch,
            tag_key,
            key,
            next: 0,
        }
    }

    /// Sender side: the next message's index, tag and key. The chain key that produced them is
    /// overwritten.
    pub(crate) fn advance(&mut self) -> (u64, Tag, Key) {
        let index = self.next;
        let message = message_key(&self.key);
        self.key = next_chain_key(&self.key);
        self.next = self.next.saturating_add(1);
        (index, Tag(tag(&self.tag_key, index)), message)
    }

    /// The tags of the next [`WINDOW`] messages.
    fn window(&self) -> impl Iterator<Item = (u64, Tag)> + '_ {
        (self.next..self.next.saturating_add(WINDOW))
            .map(|index| (index, Tag(tag(&self.tag_key, index))))
    }
}

/// A message key kept for a message that has not arrived yet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Skipped {
    tag: Tag,
    epoch: u32,
    key: Key,
}

/// The receiving side of one direction.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Receiver {
    pub(crate) chain: Chain,
    skipped: VecDeque<Skipped>,
    used: VecDeque<Tag>,
}

/// Where a message key was found, and what committing its use changes.
pub(crate) struct Found {
    pub(crate) key: Key,
    pub(crate) epoch: u32,
    /// Whether the key belongs to the current epoch of the chain (a step message there ends the
    /// epoch).
    pub(crate) current: bool,
    tag: Tag,
    origin: Origin,
}

enum Origin {
    Skipped,
    Chain {
        index: u64,
        skipped: Vec<Skipped>,
        next_key: Key,
    },
}

impl Receiver {
    /// A receiver starting at `chain`.
    pub(crate) fn new(chain: Chain) -> Self {
        Receiver {
            chain,
            skipped: VecDeque::new(),
            used: VecDeque::new(),
        }
    }

    /// The tags this side expects next: the window of the current chain, then skipped keys.
    pub(crate) fn watch_tags(&self) -> Vec<[u8; 32]> {
        self.chain
            .window()
            .map(|(_, tag)| tag.0)
            .chain(self.skipped.iter().map(|s| s.tag.0))
            .collect()
    }

    /// Finds the key for a message tagged `id0` without changing anything.
    pub(crate) fn find(&self, id0: &[u8; 32]) -> Result<Found, ChannelError> {
        let wanted = Tag(*id0);
        if self.used.contains(&wanted) {
            return Err(ChannelError::Replay);
        }
        if let Some(skipped) = self.skipped.iter().find(|s| s.tag == wanted) {
            return Ok(Found {
                key: skipped.key.clone(),
                epoch: skipped.epoch,
                current: false,
                tag: wanted,
                origin: Origin::Skipped,
            });
        }
        let Some((index, _)) = self.chain.window().find(|(_, tag)| *tag == wanted) else {
            return Err(ChannelError::UnknownTag {
                epoch: self.chain.epoch,
                next: self.chain.next,
                window: WINDOW,
            });
        };
        let mut chain_key = self.chain.key.clone();
        let mut skipped = Vec::new();
        for earlier in self.chain.next..index {
            skipped.push(Skipped {
                tag: Tag(tag(&self.chain.tag_key, earlier)),
                epoch: self.chain.epoch,
                key: message_key(&chain_key),
            });
            chain_key = next_chain_key(&chain_key);
        }
        Ok(Found {
            key: message_key(&chain_key),
            epoch: self.chain.epoch,
            current: true,
            tag: wanted,
            origin: Origin::Chain {
                index,
                skipped,
                next_key: next_chain_key(&chain_key),
            },
        })
    }

    /// Records that the message `found` names opened: its key is erased, keys it skipped are
    /// kept, its tag is remembered.
    pub(crate) fn commit(&mut self, found: Found) {
        match found.origin {
            Origin::Skipped => self.skipped.retain(|s| s.tag != found.tag),
            Origin::Chain {
                index,
                skipped,
                next_key,
            } => {
                self.skipped.extend(skipped);
                while self.skipped.len() > MAX_SKIPPED {
                    self.skipped.pop_front();
                }
                self.chain.key = next_key;
                self.chain.next = index.saturating_add(1);
            }
        }
        self.used.push_back(found.tag);
        while self.used.len() > REPLAY_MEMORY {
            self.used.pop_front();
        }
    }

    /// Moves to the peer's next epoch; keys skipped in earlier epochs stay until used or evicted.
    pub(crate) fn start_epoch(&mut self, chain: Chain) {
        self.chain = chain;
    }

    /// Every secret the receiver holds, for tests that look for keys that must be gone.
    #[cfg(test)]
    pub(crate) fn secrets(&self) -> Vec<[u8; 32]> {
        let mut out = vec![*self.chain.key.bytes(), *self.chain.tag_key.bytes()];
        out.extend(self.skipped.iter().map(|s| *s.key.bytes()));
        out
    }
}
