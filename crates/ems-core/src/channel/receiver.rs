//! The receiving side of one direction: the peer's current epoch, a bounded store of skipped
//! message keys that expire, and a memory of used tags to name replays.

use super::error::ChannelError;
use super::ratchet::{Epoch, Tag};
use crate::suite::Key;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How far ahead of the next expected index a data message may be and still open.
pub const WINDOW: u64 = 64;
/// How many skipped message keys a channel keeps (oldest dropped first).
pub const MAX_SKIPPED: usize = 256;
/// How many used tags a channel remembers, to tell a replay from an unknown tag.
pub const REPLAY_MEMORY: usize = 256;
/// Seconds a skipped message key is kept after it was set aside; then it is erased and its tag
/// no longer watched. Longer than any TTL a node accepts by default (`policy.max_ttl`, 1 day).
pub const SKIPPED_KEY_LIFETIME: u64 = 7 * 86_400;
/// The most data messages of an ending epoch a rekey makes this side derive keys for (the
/// messages between the last one it read and the rekey). Beyond that, the rest of the epoch is
/// given up: it bounds the work a rekey costs.
pub const MAX_CATCHUP: u64 = 1024;

/// A message key kept for a message that has not arrived yet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Skipped {
    tag: Tag,
    epoch: u32,
    index: u64,
    key: Key,
    /// Unix time after which the key is erased.
    expires: u64,
}

/// The receiving side of one direction.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Receiver {
    pub(crate) epoch: Epoch,
    skipped: VecDeque<Skipped>,
    used: VecDeque<Tag>,
}

/// What a message's `ID0` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The control frame (a rekey) that ends the peer's current epoch.
    Control,
    /// Data message `index` of epoch `epoch`.
    Data { epoch: u32, index: u64 },
}

/// Where a message key was found, and what committing its use changes.
pub(crate) struct Found {
    pub(crate) key: Key,
    pub(crate) kind: Kind,
    tag: Tag,
    origin: Origin,
}

enum Origin {
    Control,
    Skipped,
    Chain {
        index: u64,
        passed: Vec<(u64, Key)>,
        next_key: Key,
    },
}

impl Receiver {
    /// A receiver starting at `epoch`.
    pub(crate) fn new(epoch: Epoch) -> Self {
        Receiver {
            epoch,
            skipped: VecDeque::new(),
            used: VecDeque::new(),
        }
    }

    /// The tags this side expects at `now`: the control tag of the peer's epoch, the window of
    /// its data messages (none at epoch 0, which carries only the accept), then skipped keys not
    /// yet expired.
    pub(crate) fn watch_tags(&self, now: u64) -> Vec<[u8; 32]> {
        let window = if self.epoch.epoch == 0 { 0 } else { WINDOW };
        std::iter::once(self.epoch.control_tag.0)
            .chain(self.epoch.window(window).map(|(_, tag)| tag.0))
            .chain(
                self.skipped
                    .iter()
                    .filter(|s| s.expires > now)
                    .map(|s| s.tag.0),
            )
            .collect()
    }

    /// Finds the key for a message tagged `id0` at `now` without changing anything.
    pub(crate) fn find(&self, id0: &[u8; 32], now: u64) -> Result<Found, ChannelError> {
        let wanted = Tag(*id0);
        if self.used.contains(&wanted) {
            return Err(ChannelError::Replay);
        }
        if wanted == self.epoch.control_tag {
            return Ok(Found {
                key: self.epoch.control_key.clone(),
                kind: Kind::Control,
                tag: wanted,
                origin: Origin::Control,
            });
        }
        if let Some(skipped) = self
            .skipped
            .iter()
            .find(|s| s.tag == wanted && s.expires > now)
        {
            return Ok(Found {
                key: skipped.key.clone(),
                kind: Kind::Data {
                    epoch: skipped.epoch,
                    index: skipped.index,
                },
                tag: wanted,
                origin: Origin::Skipped,
            });
        }
        let window = if self.epoch.epoch == 0 { 0 } else { WINDOW };
        let Some((index, _)) = self.epoch.window(window).find(|(_, tag)| *tag == wanted) else {
            return Err(ChannelError::UnknownTag {
                epoch: self.epoch.epoch,
                next: self.epoch.next,
                window,
            });
        };
        let (passed, key, next_key) = self.epoch.walk_to(index);
        Ok(Found {
            key,
            kind: Kind::Data {
                epoch: self.epoch.epoch,
                index,
            },
            tag: wanted,
            origin: Origin::Chain {
                index,
                passed,
                next_key,
            },
        })
    }

    /// The keys of the current epoch's messages a rekey says were sent but this side has not
    /// read (`count` messages in all), without changing anything. More than [`MAX_CATCHUP`] are
    /// given up (none derived).
    pub(crate) fn leftovers(&self, count: u64) -> Vec<(u64, Key)> {
        // Fewer than were read: only a forgery under a stolen state read more; nothing is left.
        if count <= self.epoch.next || count - self.epoch.next > MAX_CATCHUP {
            return Vec::new();
        }
        let (mut passed, last, _) = self.epoch.walk_to(count - 1);
        passed.push((count - 1, last));
        passed
    }

    /// Records that the message `found` names opened at `now`: its key is erased, keys it
    /// skipped are kept until they expire, its tag is remembered.
    pub(crate) fn commit(&mut self, found: Found, now: u64) {
        match found.origin {
            Origin::Control => {}
            Origin::Skipped => self.skipped.retain(|s| s.tag != found.tag),
            Origin::Chain {
                index,
                passed,
                next_key,
            } => {
                self.keep(passed, now);
                self.epoch.move_past(index, next_key);
            }
        }
        self.used.push_back(found.tag);
        while self.used.len() > REPLAY_MEMORY {
            self.used.pop_front();
        }
    }

    /// Keeps `keys` of the current epoch as skipped until `now + SKIPPED_KEY_LIFETIME`.
    fn keep(&mut self, keys: Vec<(u64, Key)>, now: u64) {
        let expires = now.saturating_add(SKIPPED_KEY_LIFETIME);
        for (index, key) in keys {
            self.skipped.push_back(Skipped {
                tag: self.epoch.tag(index),
                epoch: self.epoch.epoch,
                index,
                key,
                expires,
            });
        }
        while self.skipped.len() > MAX_SKIPPED {
            self.skipped.pop_front();
        }
    }

    /// Moves to the peer's next epoch: the current epoch's unread messages (`leftovers`) become
    /// skipped keys; keys skipped earlier stay until used, expired or evicted.
    pub(crate) fn start_epoch(&mut self, leftovers: Vec<(u64, Key)>, epoch: Epoch, now: u64) {
        self.keep(leftovers, now);
        self.epoch = epoch;
    }

    /// Erases skipped keys that expired by `now`.
    pub(crate) fn expire(&mut self, now: u64) {
        self.skipped.retain(|s| s.expires > now);
    }

    /// Every secret the receiver holds, for tests that look for keys that must be gone.
    #[cfg(test)]
    pub(crate) fn secrets(&self) -> Vec<[u8; 32]> {
        let mut out = self.epoch.secrets().to_vec();
        out.extend(self.skipped.iter().map(|s| *s.key.bytes()));
        out
    }
}
