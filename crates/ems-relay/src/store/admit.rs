//! Admitting messages: duplicates, the byte budget, and eviction by what a message paid.

use super::expiry::{Tables, PURGE_CHUNK};
use super::index::{Index, MAX_MESSAGES};
use super::{Entry, Insert, Store};
use crate::error::StoreError;
use ems_core::pow::{expected_tries, leading_u64, required_work, Algorithm};
use ems_core::Message;
use std::collections::HashSet;

/// Fixed-point scale of [`rate`].
const RATE_SCALE_BITS: u32 = 32;

/// What `msg` paid per byte-second of the life it asked for when it arrived at
/// `received_at`: the work its proof shows (`2^64 / (leading u64 of the proof hash + 1)`
/// expected tries, the measure the difficulty target uses), divided by its encoded length and
/// by the seconds from arrival to TTL, scaled by 2^32. An Argon2id try counts as many SHA2-256
/// tries as the default parameters of the two algorithms exchange for this size and lifetime
/// (`docs/pow.md`: they are calibrated to cost the same). A message that mined a lower hash
/// than required paid more, and ranks higher.
pub fn rate(msg: &Message, received_at: u64) -> u64 {
    let len = msg.encoded_len();
    let life = u64::from(msg.ttl()).saturating_sub(received_at).max(1);
    let tries = u128::from(expected_tries(leading_u64(&msg.pow().proof.hash)));
    let work = match Algorithm::from_id(msg.pow().algorithm) {
        Some(Algorithm::Argon2id) => {
            let sha = required_work(&Algorithm::Sha256.default_params(), len, life);
            let argon = required_work(&Algorithm::Argon2id.default_params(), len, life);
            tries.saturating_mul(u128::from(sha)) / u128::from(argon.max(1))
        }
        _ => tries,
    };
    let rate = (work << RATE_SCALE_BITS) / (len.max(1) as u128 * u128::from(life));
    u64::try_from(rate).unwrap_or(u64::MAX)
}

impl Store {
    /// Stores messages in one durable transaction; `received_at` is the node's unix time of
    /// receipt, `now` the current time. Returns what happened to each, in order.
    ///
    /// Encoded bytes beyond `max_bytes` are made room for: first by deleting what has reached
    /// its TTL, then by evicting the messages with the lowest [`rate`] if they paid no more
    /// than the newcomer. A message that cannot be made room for is refused
    /// ([`Insert::Full`]). Messages of the same batch never evict each other.
    pub fn insert_batch(
        &self,
        items: &[(&Message, u64)],
        max_bytes: u64,
        now: u64,
    ) -> Result<Vec<Insert>, StoreError> {
        let _writing = self.write_lock();
        let txn = self.db.begin_write()?;
        let mut out = Vec::with_capacity(items.len());
        let mut refused = Vec::new();
        let mut evicted = Vec::new();
        let mut stored = HashSet::new();
        let mut seq = self.next_seq.load(std::sync::atomic::Ordering::Relaxed);
        let (figures, changes) = {
            let index = self.index();
            let mut t = Tables::open(&txn)?;
            for (msg, received_at) in items {
                let digest = msg.digest();
                let indexed = index.find(&digest).is_some() && !t.removed.contains(&digest);
                if indexed || stored.contains(&digest) {
                    out.push(Insert::Duplicate);
                    continue;
                }
                let entry = Entry::of(msg, digest, *received_at, seq);
                let len = u64::from(entry.len);
                // Expired bytes never count toward the budget.
                while t.size.saturating_add(len) > max_bytes
                    && t.purge_due(now, PURGE_CHUNK)?.deleted > 0
                {}
                if index.len() + stored.len() >= MAX_MESSAGES {
                    refused.push(digest);
                    out.push(Insert::Full);
                    continue;
                }
                if t.size.saturating_add(len) > max_bytes {
                    match victims(&index, &t, &entry, max_bytes) {
                        Some(victims) => {
                            for (ttl, d, e) in &victims {
                                t.remove(*ttl, d, e)?;
                                evicted.push(*d);
                            }
                        }
                        None => {
                            refused.push(digest);
                            out.push(Insert::Full);
                            continue;
                        }
                    }
                }
                t.add(&digest, msg.ttl(), &entry, msg.encode().as_slice())?;
                stored.insert(digest);
                seq += 1;
                out.push(Insert::Stored);
            }
            t.finish()?
        };
        txn.commit()?;
        self.next_seq
            .store(seq, std::sync::atomic::Ordering::Relaxed);
        self.committed(&changes, figures);
        self.stats
            .evicted
            .fetch_add(evicted.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let mut memory = self.refused();
        for d in refused.into_iter().chain(evicted) {
            memory.insert(d);
        }
        for d in &stored {
            memory.remove(d);
        }
        Ok(out)
    }
}

/// A stored message chosen to make room: its TTL, digest and expiry entry.
type Victim = (u32, [u8; 32], Entry);

/// The cheapest stored messages whose deletion makes room for `entry`, if they all paid no
/// more than it; `None` if the room cannot be made that way. Messages stored by this
/// transaction are not in the index yet, so a batch never evicts its own.
fn victims(index: &Index, t: &Tables<'_>, entry: &Entry, max_bytes: u64) -> Option<Vec<Victim>> {
    let need = (t.size + u64::from(entry.len)).saturating_sub(max_bytes);
    let mut freed = 0u64;
    let mut out = Vec::new();
    for rec in index.cheapest(entry.rate) {
        if t.removed.contains(&rec.digest) {
            continue;
        }
        let victim = Entry {
            digest: rec.digest,
            received_at: rec.received_at,
            seq: rec.seq,
            id0: index.id0(rec),
            len: rec.len,
            rate: rec.rate,
        };
        freed += u64::from(victim.len);
        out.push((rec.ttl, rec.digest, victim));
        if freed >= need {
            return Some(out);
        }
    }
    None
}
