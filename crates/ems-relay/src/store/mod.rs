//! The message store: redb in the node's data directory.
//!
//! Durable tables (keys are big-endian encoded by redb, so ranges run in time order):
//!
//! | table | key | value | serves |
//! | --- | --- | --- | --- |
//! | `frames` | (received-at `u64`, arrival sequence `u64`) | digest ‖ wire frame | `get`, sync fetch, queries without tags (its keys are the arrival order) |
//! | `expiry` | (`ttl: u32`, arrival sequence `u64`) | [`Entry`]: digest, received-at, sequence, `ID0`, length, rate | the sweeper, sync items, rebuilding the indexes |
//! | `meta` | `"messages"`, `"bytes"`, `"schema"` | `u64` | store figures, the byte budget |
//!
//! Every durable key is time-ordered: a node receives in clock order and most messages live
//! about as long as their neighbours, so an insert lands at the end of each B-tree and the
//! sweeper deletes contiguous ranges. The arrival sequence numbers the messages a store keeps
//! in the order it stored them (one more than the highest stored at open, assigned under the
//! write lock), so a batch appends to both trees instead of landing on one leaf per message
//! among those of the same second (layout 5 ordered a second's rows by digest), and a sweep
//! chunk that ends within a second deletes the same contiguous run of both. An insert or a
//! delete touches two B-trees: a query without tags walks the keys of `frames`, reads each
//! digest at the head of its value and asks the in-memory index whether the message is still
//! stored and until when; sync's (TTL, digest) items are sorted by digest within each TTL
//! second when they are read.
//!
//! In memory ([`index`]): digest → where the frame is (duplicates, `get`, sync), the rate order
//! (eviction when full) and tag → arrival order (queries by tag). Their keys are random, which
//! in a copy-on-write B-tree costs a leaf and its branches per row per transaction (layout 3
//! kept them as tables and wrote 17× the frame per insert). They are rebuilt at open from the
//! expiry index, which holds every field they need, and changed only after a transaction
//! commits, so they always describe committed state. A deletion takes a message out of the
//! digest table at once and leaves its entries in the rate and tag orders, dead, for a later
//! walk in key order to drop, in bounded steps between which inserts and readers get the lock
//! (module `index`). redb's page cache is bounded ([`CACHE_BYTES`]);
//! the operating system's file cache serves the rest.
//!
//! Every insert is one redb write transaction committed with `Durability::Immediate` (the
//! default) before anyone is told the message was accepted; the writer task groups concurrent
//! inserts into one transaction so that one fsync serves many messages under load.
//!
//! # When the store is full
//! `store.max_bytes` counts the encoded frames of unexpired messages: an insert that would
//! exceed it first deletes whatever has reached its TTL. If that is not enough, the messages
//! that paid the least work per byte-second of life ([`rate`]) make room for a message that
//! paid more; a message that pays no more than every message it would displace is refused
//! (`Insert::Full`). Refused and evicted digests are remembered (a bounded set) so that history
//! sync does not fetch them again.

mod admit;
mod expiry;
mod index;
mod layout;
mod migrate;
mod query;
mod refused;

pub use admit::rate;
pub use expiry::{Swept, PURGE_CHUNK};
pub use query::{Page, Position, Query, Scan};

use crate::error::StoreError;
use ems_core::Message;
use index::Index;
use redb::{Builder, Database, ReadableDatabase, ReadableTable, TableDefinition};
use refused::Refused;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

const FRAMES: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("frames");
const EXPIRY: TableDefinition<(u32, u64), [u8; Entry::LEN]> = TableDefinition::new("expiry");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const META_MESSAGES: &str = "messages";
const META_BYTES: &str = "bytes";
const META_SCHEMA: &str = "schema";
/// The table layout this code reads and writes (2: frames keyed by digest; 3: by arrival;
/// 4: only time-ordered tables, the random-keyed indexes in memory; 5: no arrival index apart
/// from `frames`; 6: an arrival sequence instead of the digest in both keys, the digest in
/// the values). Layouts 3 to 5 are migrated.
const SCHEMA: u64 = 6;
/// redb's page cache (its default is 1 GiB, most of a node's memory at a million messages).
pub const CACHE_BYTES: usize = 64 << 20;
/// Refused or evicted digests remembered so that sync does not fetch them again.
const REMEMBER_REFUSED: usize = 65_536;

/// Most messages one page of a query returns ([`crate::Node::query`]).
pub const MAX_PAGE: usize = 1_000;
/// Most tags one query may ask for.
pub const MAX_QUERY_TAGS: usize = 64;

/// What happened to one message handed to [`Store::insert_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// Newly stored and committed.
    Stored,
    /// Already stored; nothing changed.
    Duplicate,
    /// Refused: the store is full of messages that paid at least as much.
    Full,
}

/// What the expiry index keeps of a message: enough to delete it everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    digest: [u8; 32],
    received_at: u64,
    /// Its place in the store's arrival sequence (the second half of its frame's key).
    seq: u64,
    id0: [u8; 32],
    len: u32,
    rate: u64,
}

impl Entry {
    const LEN: usize = 92;

    fn of(msg: &Message, digest: [u8; 32], received_at: u64, seq: u64) -> Entry {
        let len = msg.encoded_len();
        Entry {
            digest,
            received_at,
            seq,
            id0: *msg.id0(),
            len: len as u32,
            rate: rate(msg, received_at),
        }
    }

    fn to_bytes(self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.digest);
        out[32..40].copy_from_slice(&self.received_at.to_be_bytes());
        out[40..48].copy_from_slice(&self.seq.to_be_bytes());
        out[48..80].copy_from_slice(&self.id0);
        out[80..84].copy_from_slice(&self.len.to_be_bytes());
        out[84..].copy_from_slice(&self.rate.to_be_bytes());
        out
    }

    fn from_bytes(b: &[u8; Self::LEN]) -> Entry {
        Entry {
            digest: field(b, 0),
            received_at: u64::from_be_bytes(field(b, 32)),
            seq: u64::from_be_bytes(field(b, 40)),
            id0: field(b, 48),
            len: u32::from_be_bytes(field(b, 80)),
            rate: u64::from_be_bytes(field(b, 84)),
        }
    }
}

/// The `N` bytes of a fixed-size record `b` at offset `at` (every caller's offsets are
/// constants within its record).
fn field<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// Store figures.
#[derive(Debug, Default)]
struct Stats {
    messages: AtomicU64,
    bytes: AtomicU64,
    evicted: AtomicU64,
    /// Committed transactions that changed which messages are stored.
    changes: AtomicU64,
}

/// The redb message store. All methods block; async callers run them on the blocking pool.
#[derive(Debug)]
pub struct Store {
    db: Database,
    stats: Stats,
    refused: Mutex<Refused>,
    index: RwLock<Index>,
    /// Held by each write transaction until its changes are in the index, so that the next
    /// transaction sees them.
    writing: Mutex<()>,
    /// The arrival sequence number the next stored message takes (changed under `writing`).
    next_seq: AtomicU64,
}

impl Store {
    /// Opens (or creates) the store at `path`, migrating a store of layout 3 to 5, purges what
    /// expired while it was closed (relative to `now`, unix seconds) and rebuilds the in-memory
    /// indexes from the expiry index. Returns the store and the number purged.
    pub fn open(path: &Path, now: u64) -> Result<(Store, u64), StoreError> {
        let db = Builder::new().set_cache_size(CACHE_BYTES).create(path)?;
        layout::prepare(&db, path)?;
        let store = Store {
            db,
            stats: Stats::default(),
            refused: Mutex::new(Refused::new(REMEMBER_REFUSED)),
            index: RwLock::new(Index::default()),
            writing: Mutex::new(()),
            next_seq: AtomicU64::new(0),
        };
        store.load_stats()?;
        let mut purged = 0;
        loop {
            let swept = store.purge_expired(now)?;
            purged += swept.deleted;
            if !swept.more {
                break;
            }
        }
        store.rebuild()?;
        Ok((store, purged))
    }

    /// Fills the in-memory indexes from the expiry index.
    fn rebuild(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let expiry = txn.open_table(EXPIRY)?;
        let mut index = Index::default();
        let mut next_seq = 0;
        for row in expiry.iter()? {
            let (key, value) = row?;
            let (ttl, _) = key.value();
            let entry = Entry::from_bytes(&value.value());
            next_seq = next_seq.max(entry.seq.saturating_add(1));
            index.insert(&entry.digest, ttl, &entry);
        }
        self.next_seq.store(next_seq, Ordering::Relaxed);
        let (messages, _) = self.stats();
        if index.len() as u64 != messages {
            tracing::warn!(
                indexed = index.len(),
                counted = messages,
                "the expiry index and the message count disagree"
            );
        }
        *self.index_mut() = index;
        Ok(())
    }

    fn index(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Serialises writers (see [`Store::writing`](Store)).
    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn index_mut(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the changes of a committed transaction to the indexes (with a step of their
    /// compaction) and the figures; returns whether a compaction is still under way.
    fn committed(&self, changes: &[index::Change], figures: (u64, u64)) -> bool {
        let compacting = {
            let mut index = self.index_mut();
            index.apply(changes);
            index.compacting()
        };
        self.set_stats(figures.0, figures.1);
        if !changes.is_empty() {
            self.stats.changes.fetch_add(1, Ordering::Release);
        }
        compacting
    }

    fn load_stats(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        let get = |k| -> Result<u64, StoreError> { Ok(meta.get(k)?.map_or(0, |v| v.value())) };
        self.stats
            .messages
            .store(get(META_MESSAGES)?, Ordering::Relaxed);
        self.stats.bytes.store(get(META_BYTES)?, Ordering::Relaxed);
        Ok(())
    }

    fn set_stats(&self, messages: u64, bytes: u64) {
        self.stats.messages.store(messages, Ordering::Relaxed);
        self.stats.bytes.store(bytes, Ordering::Relaxed);
    }

    /// Messages stored and their encoded bytes (expired ones count until the sweeper or an
    /// insert deletes them).
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.messages.load(Ordering::Relaxed),
            self.stats.bytes.load(Ordering::Relaxed),
        )
    }

    /// A number that changes whenever the set of stored messages does (an insert, an eviction,
    /// a purge), and only then: a view derived from the store is current while it is the same.
    /// The count of messages is not such a number: a store that evicts one message to make
    /// room for another holds as many as before.
    pub fn generation(&self) -> u64 {
        self.stats.changes.load(Ordering::Acquire)
    }

    /// Messages evicted for better-paid ones since the store was opened.
    pub fn evicted(&self) -> u64 {
        self.stats.evicted.load(Ordering::Relaxed)
    }

    fn refused(&self) -> std::sync::MutexGuard<'_, Refused> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this digest was refused as full or evicted (among the last ones remembered).
    pub fn was_refused(&self, digest: &[u8; 32]) -> bool {
        self.refused().contains(digest)
    }

    /// Where the frame of an unexpired stored message is: its key in `frames`.
    fn located(&self, digest: &[u8; 32], now: u64) -> Option<(u64, u64)> {
        let index = self.index();
        let rec = index.find(digest)?;
        (u64::from(rec.ttl) > now).then_some((rec.received_at, rec.seq))
    }

    /// The stored message with this digest, unless its TTL is at or before `now`.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Result<Option<Message>, StoreError> {
        let Some(at) = self.located(digest, now) else {
            return Ok(None);
        };
        let txn = self.db.begin_read()?;
        let frames = txn.open_table(FRAMES)?;
        let Some(value) = frames.get(at)? else {
            return Ok(None);
        };
        Ok(Some(decode_frame(digest, wire_of(value.value()))?))
    }

    /// Which of `digests` are worth fetching: not stored, and not refused or evicted here.
    pub fn missing(&self, digests: &[[u8; 32]]) -> Result<Vec<[u8; 32]>, StoreError> {
        let index = self.index();
        let refused = self.refused();
        Ok(digests
            .iter()
            .filter(|d| index.find(d).is_none() && !refused.contains(d))
            .copied()
            .collect())
    }

    /// Wire frames of those `digests` that are stored and unexpired, stopping before the total
    /// would exceed `max_bytes`.
    pub fn frames(
        &self,
        digests: &[[u8; 32]],
        now: u64,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let found: Vec<(u64, u64)> = digests
            .iter()
            .filter_map(|d| self.located(d, now))
            .collect();
        let txn = self.db.begin_read()?;
        let frames = txn.open_table(FRAMES)?;
        let mut out = Vec::new();
        let mut total = 0;
        for key in found {
            let Some(value) = frames.get(key)? else {
                continue;
            };
            let wire = wire_of(value.value());
            if total + wire.len() > max_bytes {
                break;
            }
            total += wire.len();
            out.push(wire.to_vec());
        }
        Ok(out)
    }
}

/// The digest at the head of a `frames` value (its wire frame follows).
fn digest_of(value: &[u8]) -> Option<[u8; 32]> {
    value.get(..32)?.try_into().ok()
}

/// The wire frame of a `frames` value (after its digest).
fn wire_of(value: &[u8]) -> &[u8] {
    value.get(32..).unwrap_or_default()
}

/// Decodes a stored frame, naming its digest if it is corrupt.
fn decode_frame(digest: &[u8; 32], wire: &[u8]) -> Result<Message, StoreError> {
    Message::decode(wire).map_err(|e| StoreError::Corrupt {
        digest: hex::encode(digest),
        why: e.to_string(),
    })
}
