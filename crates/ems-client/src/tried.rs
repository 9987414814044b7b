//! The opens already tried, so each is trial-decapsulated once: bounded, pruned by TTL, written
//! once per receive pass.
//!
//! ```text
//! tried.state = sealed( "EMSTRIED" | version (1) = 0x01 | count (u32 BE)
//!                       | count × ( digest (32) | ttl (u32 BE) ) )
//! ```
//!
//! An open past its TTL is never offered again by an honest node (nodes drop and refuse
//! expired frames), so it is forgotten. Past [`MAX_TRIED`] entries the ones expiring first go:
//! the record degrades by forgetting, never by failing, and a forgotten open that a node offers
//! again costs one more trial decapsulation (a channel is never accepted twice: its state file
//! already exists). A file that does not open is treated as empty for the same reason.
//!
//! A receive pass loads the record once, marks opens in memory and saves it once at the end
//! ([`Tried::save`]), merging with what another `ems` process on the same key file saved
//! meanwhile, under the state lock.

use crate::error::ClientError;
use crate::state::StateDir;
use ems_core::Message;
use std::collections::HashMap;

/// Most opens remembered (each costs 36 bytes on disk and about 80 in memory).
pub const MAX_TRIED: usize = 262_144;
/// The file's name inside the state directory.
const FILE: &str = "tried.state";
const MAGIC: &[u8; 8] = b"EMSTRIED";
const VERSION: u8 = 1;
const HEADER: usize = MAGIC.len() + 1 + 4;
const ENTRY: usize = 32 + 4;
/// Largest file read: a full record plus the sealing's header, nonce and tag.
const MAX_FILE: u64 = (HEADER + MAX_TRIED * ENTRY + 64) as u64;

/// The tried opens: digest → TTL (unix seconds).
#[derive(Debug, Default, Clone)]
pub struct Tried {
    opens: HashMap<[u8; 32], u32>,
    capacity: usize,
    dirty: bool,
}

impl Tried {
    /// An empty record holding at most `capacity` opens.
    pub fn with_capacity(capacity: usize) -> Self {
        Tried {
            opens: HashMap::new(),
            capacity: capacity.max(1),
            dirty: false,
        }
    }

    /// The record saved in `state`, holding at most [`MAX_TRIED`] opens; empty when there is
    /// none or it does not open (it is only a cache).
    pub fn load(state: &StateDir) -> Result<Self, ClientError> {
        let mut tried = Tried::with_capacity(MAX_TRIED);
        tried.merge_saved(state)?;
        tried.dirty = false;
        Ok(tried)
    }

    /// How many opens are remembered.
    pub fn len(&self) -> usize {
        self.opens.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.opens.is_empty()
    }

    /// Whether the open with `digest` was tried.
    pub fn contains(&self, digest: &[u8; 32]) -> bool {
        self.opens.contains_key(digest)
    }

    /// Records `message` as tried, forgetting the opens that expire first if the record is
    /// full.
    pub fn insert(&mut self, message: &Message) {
        self.insert_digest(message.digest(), message.ttl());
    }

    /// Records the open with `digest` and TTL `ttl` as tried.
    pub fn insert_digest(&mut self, digest: [u8; 32], ttl: u32) {
        let entry = self.opens.entry(digest).or_insert(ttl);
        *entry = (*entry).max(ttl);
        self.dirty = true;
        // Evicting in bulk (down to 7/8 of the capacity) keeps inserts amortised O(1).
        if self.opens.len() > self.capacity {
            self.evict_to(self.capacity - self.capacity / 8);
        }
    }

    /// Forgets opens whose TTL has passed at `now`.
    pub fn prune(&mut self, now: u64) {
        let before = self.opens.len();
        self.opens.retain(|_, ttl| u64::from(*ttl) > now);
        self.dirty |= self.opens.len() != before;
    }

    /// Keeps the `keep` opens that expire last.
    fn evict_to(&mut self, keep: usize) {
        if self.opens.len() <= keep {
            return;
        }
        let mut ttls: Vec<u32> = self.opens.values().copied().collect();
        let cut = ttls.len() - keep;
        // The largest TTL among the `cut` that expire first.
        let threshold = *ttls.select_nth_unstable(cut - 1).1;
        self.opens.retain(|_, ttl| *ttl >= threshold);
        // Ties at the threshold go until `keep` remain.
        let mut excess = self.opens.len() - keep;
        self.opens.retain(|_, ttl| {
            if excess > 0 && *ttl == threshold {
                excess -= 1;
                false
            } else {
                true
            }
        });
        self.dirty = true;
    }

    /// Saves the record if it changed: under the state lock, merged with what another process
    /// saved meanwhile, without the opens expired at `now`.
    pub fn save(&mut self, state: &StateDir, now: u64) -> Result<(), ClientError> {
        if !self.dirty {
            return Ok(());
        }
        let _lock = state.lock()?;
        self.merge_saved(state)?;
        self.prune(now);
        state.write_sealed(FILE, &self.encode())?;
        self.dirty = false;
        Ok(())
    }

    fn merge_saved(&mut self, state: &StateDir) -> Result<(), ClientError> {
        let bytes = match state.read_sealed(FILE, MAX_FILE) {
            Ok(Some(bytes)) => bytes,
            Ok(None) | Err(ClientError::CorruptState { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        for (digest, ttl) in decode(&bytes).unwrap_or_default() {
            self.insert_digest(digest, ttl);
        }
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.opens.len() * ENTRY);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&(self.opens.len() as u32).to_be_bytes());
        for (digest, ttl) in &self.opens {
            out.extend_from_slice(digest);
            out.extend_from_slice(&ttl.to_be_bytes());
        }
        out
    }
}

/// The entries of an encoded record, or `None` if it is not one (length checked first).
fn decode(bytes: &[u8]) -> Option<Vec<([u8; 32], u32)>> {
    if bytes.len() < HEADER || !bytes.starts_with(MAGIC) || bytes[MAGIC.len()] != VERSION {
        return None;
    }
    let count = u32::from_be_bytes(bytes[MAGIC.len() + 1..HEADER].try_into().ok()?) as usize;
    let body = &bytes[HEADER..];
    if count > MAX_TRIED || body.len() != count.checked_mul(ENTRY)? {
        return None;
    }
    Some(
        body.chunks_exact(ENTRY)
            .map(|entry| {
                let mut digest = [0u8; 32];
                digest.copy_from_slice(&entry[..32]);
                let ttl = u32::from_be_bytes([entry[32], entry[33], entry[34], entry[35]]);
                (digest, ttl)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u32) -> [u8; 32] {
        let mut d = [0u8; 32];
        d[..4].copy_from_slice(&n.to_be_bytes());
        d
    }

    #[test]
    fn a_full_record_forgets_the_opens_that_expire_first_and_never_fails() {
        let mut tried = Tried::with_capacity(1_000);
        for n in 0..5_000u32 {
            tried.insert_digest(digest(n), 10_000 + n);
        }
        assert!(tried.len() <= 1_000, "{}", tried.len());
        assert!(tried.len() >= 875, "{}", tried.len());
        // The newest (latest-expiring) are kept, the oldest forgotten.
        assert!(tried.contains(&digest(4_999)));
        assert!(!tried.contains(&digest(0)));
        assert!(!tried.contains(&digest(3_000)));
    }

    #[test]
    fn expired_opens_are_forgotten() {
        let mut tried = Tried::with_capacity(10);
        tried.insert_digest(digest(1), 100);
        tried.insert_digest(digest(2), 200);
        tried.prune(100);
        assert!(!tried.contains(&digest(1)));
        assert!(tried.contains(&digest(2)));
    }

    #[test]
    fn the_encoding_round_trips_and_refuses_wrong_lengths() {
        let mut tried = Tried::with_capacity(10);
        tried.insert_digest(digest(1), 100);
        tried.insert_digest(digest(2), 200);
        let bytes = tried.encode();
        let mut entries = decode(&bytes).unwrap();
        entries.sort();
        assert_eq!(entries, vec![(digest(1), 100), (digest(2), 200)]);
        assert!(decode(&bytes[..bytes.len() - 1]).is_none());
        let mut lying = bytes.clone();
        lying[MAGIC.len() + 1..HEADER].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&lying).is_none());
        assert!(decode(b"EMSTRIED").is_none());
    }
}
