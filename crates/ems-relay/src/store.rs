//! The message store: redb in the node's data directory.
//!
//! Tables (keys are big-endian encoded by redb, so ranges run in time order):
//!
//! | table | key | value | serves |
//! | --- | --- | --- | --- |
//! | `messages` | digest `[u8; 32]` | received-at `u64` BE ‖ wire frame | `get`, sync fetch |
//! | `expiry` | (`ttl: u32`, digest) | `()` | the sweeper, start-up purge |
//! | `by_tag` | (`ID0`, received-at `u64`, digest) | `ttl: u32` | queries by tag, sync by tag |
//! | `by_arrival` | (received-at `u64`, digest) | `ttl: u32` | queries and sync without tags |
//! | `meta` | `"messages"`, `"bytes"` | `u64` | store figures, the byte budget |
//!
//! Every insert is one redb write transaction committed with `Durability::Immediate` (the
//! default) before anyone is told the message was accepted; the writer task groups concurrent
//! inserts into one transaction so that one fsync serves many messages under load.
//!
//! When `store.max_bytes` is reached, new messages are refused (`Insert::Full`): an
//! acknowledged message is never evicted before its TTL. Space comes back as stored messages
//! expire.

use crate::error::{RelayError, StoreError};
use ems_core::Message;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const MESSAGES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("messages");
const EXPIRY: TableDefinition<(u32, [u8; 32]), ()> = TableDefinition::new("expiry");
const BY_TAG: TableDefinition<([u8; 32], u64, [u8; 32]), u32> = TableDefinition::new("by_tag");
const BY_ARRIVAL: TableDefinition<(u64, [u8; 32]), u32> = TableDefinition::new("by_arrival");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

const META_MESSAGES: &str = "messages";
const META_BYTES: &str = "bytes";
/// Bytes of the received-at prefix of a `messages` value.
const RECEIVED_AT_LEN: usize = 8;
/// Expired messages deleted per write transaction by the sweeper.
const PURGE_CHUNK: usize = 4_096;

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
    /// Refused: storing it would exceed the byte budget.
    Full,
}

/// A query over stored, unexpired messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only messages whose `ID0` is one of these; empty means every message.
    pub tags: Vec<[u8; 32]>,
    /// Only messages this node received at or after this unix time.
    pub since: Option<u64>,
    /// Most messages to return (at most [`MAX_PAGE`]; 0 means [`MAX_PAGE`]).
    pub limit: usize,
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
}

/// One page of query results, in (tag, arrival) order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// The messages.
    pub messages: Vec<Message>,
    /// Pass as `cursor` to get the next page; `None` when this is the last one.
    pub next_cursor: Option<String>,
}

/// A position in the tag or arrival index: the last entry a page returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The tag index entry's `ID0`, zero for the arrival index.
    pub tag: [u8; 32],
    /// Receive time.
    pub received_at: u64,
    /// Digest.
    pub digest: [u8; 32],
}

impl Position {
    /// Encoded length.
    pub const LEN: usize = 72;

    /// `tag ‖ received_at (u64 BE) ‖ digest`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.tag);
        out[32..40].copy_from_slice(&self.received_at.to_be_bytes());
        out[40..].copy_from_slice(&self.digest);
        out
    }

    /// The inverse of [`Position::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&bytes[..32]);
        let mut at = [0u8; 8];
        at.copy_from_slice(&bytes[32..40]);
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&bytes[40..]);
        Some(Position {
            tag,
            received_at: u64::from_be_bytes(at),
            digest,
        })
    }

    /// The API's cursor string (hex).
    pub fn to_cursor(&self) -> String {
        hex::encode(self.to_bytes())
    }

    /// Parses an API cursor string.
    pub fn from_cursor(cursor: &str) -> Result<Self, RelayError> {
        if cursor.len() != Self::LEN * 2 {
            return Err(RelayError::BadCursor(format!(
                "expected {} hex characters, got {}",
                Self::LEN * 2,
                cursor.len()
            )));
        }
        let bytes = hex::decode(cursor).map_err(|e| RelayError::BadCursor(e.to_string()))?;
        Self::from_bytes(&bytes).ok_or_else(|| RelayError::BadCursor("wrong length".into()))
    }
}

/// A selection of the index: which tags, from when, after which position.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    /// Tags (sorted and deduplicated by [`Scan::new`]); empty = all messages.
    tags: Vec<[u8; 32]>,
    since: u64,
    after: Option<Position>,
    limit: usize,
}

impl Scan {
    /// A scan; `limit` is clamped to `1..=max`.
    pub fn new(
        mut tags: Vec<[u8; 32]>,
        since: Option<u64>,
        after: Option<Position>,
        limit: usize,
        max: usize,
    ) -> Result<Self, RelayError> {
        if tags.len() > MAX_QUERY_TAGS {
            return Err(RelayError::BadQuery(format!(
                "{} tags asked for, at most {MAX_QUERY_TAGS} allowed",
                tags.len()
            )));
        }
        tags.sort_unstable();
        tags.dedup();
        if let Some(pos) = &after {
            if !tags.is_empty() && tags.binary_search(&pos.tag).is_err() {
                return Err(RelayError::BadCursor(
                    "the cursor belongs to a query with other tags".into(),
                ));
            }
        }
        let limit = if limit == 0 { max } else { limit.min(max) };
        Ok(Scan {
            tags,
            since: since.unwrap_or(0),
            after,
            limit,
        })
    }
}

/// Store figures.
#[derive(Debug, Default)]
struct Stats {
    messages: AtomicU64,
    bytes: AtomicU64,
}

/// The redb message store. All methods block; async callers run them on the blocking pool.
#[derive(Debug)]
pub struct Store {
    db: Database,
    stats: Stats,
}

impl Store {
    /// Opens (or creates) the store at `path` and purges what expired while it was closed
    /// (relative to `now`, unix seconds). Returns the store and the number purged.
    pub fn open(path: &Path, now: u64) -> Result<(Store, u64), StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        {
            txn.open_table(MESSAGES)?;
            txn.open_table(EXPIRY)?;
            txn.open_table(BY_TAG)?;
            txn.open_table(BY_ARRIVAL)?;
            txn.open_table(META)?;
        }
        txn.commit()?;
        let store = Store {
            db,
            stats: Stats::default(),
        };
        store.load_stats()?;
        let mut purged = 0;
        loop {
            let n = store.purge_expired(now)?;
            purged += n;
            if n < PURGE_CHUNK as u64 {
                break;
            }
        }
        Ok((store, purged))
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

    /// Messages stored and their encoded bytes.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.stats.messages.load(Ordering::Relaxed),
            self.stats.bytes.load(Ordering::Relaxed),
        )
    }

    /// Stores messages in one durable transaction; `received_at` is the node's unix time of
    /// receipt. Returns what happened to each, in order.
    pub fn insert_batch(
        &self,
        items: &[(&Message, u64)],
        max_bytes: u64,
    ) -> Result<Vec<Insert>, StoreError> {
        let txn = self.db.begin_write()?;
        let mut out = Vec::with_capacity(items.len());
        let (messages, bytes);
        {
            let mut msgs = txn.open_table(MESSAGES)?;
            let mut expiry = txn.open_table(EXPIRY)?;
            let mut by_tag = txn.open_table(BY_TAG)?;
            let mut by_arrival = txn.open_table(BY_ARRIVAL)?;
            let mut meta = txn.open_table(META)?;
            let mut count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
            let mut size = meta.get(META_BYTES)?.map_or(0, |v| v.value());
            for (msg, received_at) in items {
                let digest = msg.digest();
                if msgs.get(&digest)?.is_some() {
                    out.push(Insert::Duplicate);
                    continue;
                }
                let wire = msg.encode();
                let len = wire.len() as u64;
                if size.saturating_add(len) > max_bytes {
                    out.push(Insert::Full);
                    continue;
                }
                let mut value = Vec::with_capacity(RECEIVED_AT_LEN + wire.len());
                value.extend_from_slice(&received_at.to_be_bytes());
                value.extend_from_slice(&wire);
                msgs.insert(&digest, value.as_slice())?;
                expiry.insert((msg.ttl(), digest), ())?;
                by_tag.insert((*msg.id0(), *received_at, digest), msg.ttl())?;
                by_arrival.insert((*received_at, digest), msg.ttl())?;
                count += 1;
                size += len;
                out.push(Insert::Stored);
            }
            meta.insert(META_MESSAGES, count)?;
            meta.insert(META_BYTES, size)?;
            (messages, bytes) = (count, size);
        }
        txn.commit()?;
        self.stats.messages.store(messages, Ordering::Relaxed);
        self.stats.bytes.store(bytes, Ordering::Relaxed);
        Ok(out)
    }

    /// Deletes up to a chunk of messages whose TTL is at or before `now`; returns how many.
    pub fn purge_expired(&self, now: u64) -> Result<u64, StoreError> {
        let cutoff = u32::try_from(now).unwrap_or(u32::MAX);
        let txn = self.db.begin_write()?;
        let purged;
        let (messages, bytes);
        {
            let mut msgs = txn.open_table(MESSAGES)?;
            let mut expiry = txn.open_table(EXPIRY)?;
            let mut by_tag = txn.open_table(BY_TAG)?;
            let mut by_arrival = txn.open_table(BY_ARRIVAL)?;
            let mut meta = txn.open_table(META)?;
            let due: Vec<(u32, [u8; 32])> = expiry
                .range(..=(cutoff, [0xff; 32]))?
                .take(PURGE_CHUNK)
                .map(|e| e.map(|(k, _)| k.value()))
                .collect::<Result<_, _>>()?;
            if due.is_empty() {
                return Ok(0);
            }
            let mut count = meta.get(META_MESSAGES)?.map_or(0, |v| v.value());
            let mut size = meta.get(META_BYTES)?.map_or(0, |v| v.value());
            for (ttl, digest) in &due {
                expiry.remove((*ttl, *digest))?;
                let Some(value) = msgs.remove(digest)? else {
                    continue;
                };
                let (received_at, msg) = decode_record(digest, value.value())?;
                by_tag.remove((*msg.id0(), received_at, *digest))?;
                by_arrival.remove((received_at, *digest))?;
                count = count.saturating_sub(1);
                size = size.saturating_sub(msg.encoded_len() as u64);
            }
            meta.insert(META_MESSAGES, count)?;
            meta.insert(META_BYTES, size)?;
            purged = due.len() as u64;
            (messages, bytes) = (count, size);
        }
        txn.commit()?;
        self.stats.messages.store(messages, Ordering::Relaxed);
        self.stats.bytes.store(bytes, Ordering::Relaxed);
        Ok(purged)
    }

    /// The stored message with this digest, unless its TTL is at or before `now`.
    pub fn get(&self, digest: &[u8; 32], now: u64) -> Result<Option<Message>, StoreError> {
        let txn = self.db.begin_read()?;
        let msgs = txn.open_table(MESSAGES)?;
        let Some(value) = msgs.get(digest)? else {
            return Ok(None);
        };
        let (_, msg) = decode_record(digest, value.value())?;
        Ok((u64::from(msg.ttl()) > now).then_some(msg))
    }

    /// Which of `digests` are not stored.
    pub fn missing(&self, digests: &[[u8; 32]]) -> Result<Vec<[u8; 32]>, StoreError> {
        let txn = self.db.begin_read()?;
        let msgs = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for d in digests {
            if msgs.get(d)?.is_none() {
                out.push(*d);
            }
        }
        Ok(out)
    }

    /// Wire frames of those `digests` that are stored and unexpired, stopping before the total
    /// would exceed `max_bytes`.
    pub fn frames(
        &self,
        digests: &[[u8; 32]],
        now: u64,
        max_bytes: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let msgs = txn.open_table(MESSAGES)?;
        let mut out = Vec::new();
        let mut total = 0;
        for d in digests {
            let Some(value) = msgs.get(d)? else { continue };
            let (_, msg) = decode_record(d, value.value())?;
            if u64::from(msg.ttl()) <= now {
                continue;
            }
            let wire = &value.value()[RECEIVED_AT_LEN..];
            if total + wire.len() > max_bytes {
                break;
            }
            total += wire.len();
            out.push(wire.to_vec());
        }
        Ok(out)
    }

    /// Digests of unexpired messages matching `scan`, in index order, and the position to
    /// continue from if the page is full.
    pub fn scan(
        &self,
        scan: &Scan,
        now: u64,
    ) -> Result<(Vec<[u8; 32]>, Option<Position>), StoreError> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        let mut last = None;
        let mut take = |tag: [u8; 32], received_at: u64, digest: [u8; 32], ttl: u32| {
            if u64::from(ttl) > now {
                out.push(digest);
                last = Some(Position {
                    tag,
                    received_at,
                    digest,
                });
            }
            out.len() >= scan.limit
        };
        if scan.tags.is_empty() {
            let table = txn.open_table(BY_ARRIVAL)?;
            let lower = match &scan.after {
                Some(p) => Bound::Excluded((p.received_at, p.digest)),
                None => Bound::Included((scan.since, [0; 32])),
            };
            for entry in table.range((lower, Bound::Unbounded))? {
                let (k, v) = entry?;
                let (at, digest) = k.value();
                if take([0; 32], at, digest, v.value()) {
                    return Ok((out, last));
                }
            }
        } else {
            let table = txn.open_table(BY_TAG)?;
            let first = scan
                .after
                .and_then(|p| scan.tags.binary_search(&p.tag).ok())
                .unwrap_or(0);
            for (i, tag) in scan.tags.iter().enumerate().skip(first) {
                let lower = match &scan.after {
                    Some(p) if i == first => Bound::Excluded((*tag, p.received_at, p.digest)),
                    _ => Bound::Included((*tag, scan.since, [0; 32])),
                };
                let upper = Bound::Included((*tag, u64::MAX, [0xff; 32]));
                for entry in table.range((lower, upper))? {
                    let (k, v) = entry?;
                    let (tag, at, digest) = k.value();
                    if take(tag, at, digest, v.value()) {
                        return Ok((out, last));
                    }
                }
            }
        }
        Ok((out, None))
    }

    /// The messages a scan selects, loaded.
    pub fn load(&self, digests: &[[u8; 32]], now: u64) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::with_capacity(digests.len());
        for d in digests {
            if let Some(m) = self.get(d, now)? {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// Splits a `messages` value into its receive time and decoded frame.
fn decode_record(digest: &[u8; 32], value: &[u8]) -> Result<(u64, Message), StoreError> {
    let corrupt = |why: String| StoreError::Corrupt {
        digest: hex::encode(digest),
        why,
    };
    if value.len() < RECEIVED_AT_LEN {
        return Err(corrupt(format!("record of {} bytes", value.len())));
    }
    let (at, wire) = value.split_at(RECEIVED_AT_LEN);
    let mut at_bytes = [0u8; RECEIVED_AT_LEN];
    at_bytes.copy_from_slice(at);
    let msg = Message::decode(wire).map_err(|e| corrupt(e.to_string()))?;
    Ok((u64::from_be_bytes(at_bytes), msg))
}
