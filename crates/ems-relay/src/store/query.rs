//! Reading the store by tag or by arrival: queries, their pages and cursors.

use super::index::Rec;
use super::{digest_of, Store, FRAMES, MAX_QUERY_TAGS};
use crate::error::{RelayError, StoreError};
use ems_core::Message;
use redb::ReadableDatabase;
use std::ops::Bound;

/// A query over stored, unexpired messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only messages whose `ID0` is one of these; empty means every message.
    pub tags: Vec<[u8; 32]>,
    /// Only messages this node received at or after this unix time.
    pub since: Option<u64>,
    /// Most messages to return (at most [`MAX_PAGE`](super::MAX_PAGE); 0 means that many).
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
    /// The message's place in the store's arrival sequence.
    pub seq: u64,
}

impl Position {
    /// Encoded length.
    pub const LEN: usize = 48;

    /// `tag ‖ received_at (u64 BE) ‖ seq (u64 BE)`.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..32].copy_from_slice(&self.tag);
        out[32..40].copy_from_slice(&self.received_at.to_be_bytes());
        out[40..].copy_from_slice(&self.seq.to_be_bytes());
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
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[40..]);
        Some(Position {
            tag,
            received_at: u64::from_be_bytes(at),
            seq: u64::from_be_bytes(seq),
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

impl Store {
    /// Digests of unexpired messages matching `scan`, in index order, and the position to
    /// continue from if the page is full.
    pub fn scan(
        &self,
        scan: &Scan,
        now: u64,
    ) -> Result<(Vec<[u8; 32]>, Option<Position>), StoreError> {
        let mut out = Vec::new();
        let mut last = None;
        let mut take = |tag: [u8; 32], rec: &Rec| {
            if u64::from(rec.ttl) > now {
                out.push(rec.digest);
                last = Some(Position {
                    tag,
                    received_at: rec.received_at,
                    seq: rec.seq,
                });
            }
            out.len() >= scan.limit
        };
        if scan.tags.is_empty() {
            // The keys of `frames` are the arrival order and each value starts with its
            // digest; the index says which of them are still stored, and until when. A frame
            // the index does not hold under that key was deleted after this snapshot was
            // taken, or committed and not yet indexed: neither is listed, as a query by tag
            // would not list it either.
            let txn = self.db.begin_read()?;
            let frames = txn.open_table(FRAMES)?;
            let index = self.index();
            let lower = match &scan.after {
                Some(p) => Bound::Excluded((p.received_at, p.seq)),
                None => Bound::Included((scan.since, 0)),
            };
            for entry in frames.range((lower, Bound::Unbounded))? {
                let (key, value) = entry?;
                let Some(digest) = digest_of(value.value()) else {
                    continue;
                };
                let (at, seq) = key.value();
                let Some(rec) = index
                    .find(&digest)
                    .filter(|r| (r.received_at, r.seq) == (at, seq))
                else {
                    continue;
                };
                if take([0; 32], rec) {
                    return Ok((out, last));
                }
            }
        } else {
            let index = self.index();
            let first = scan
                .after
                .and_then(|p| scan.tags.binary_search(&p.tag).ok())
                .unwrap_or(0);
            for (i, tag) in scan.tags.iter().enumerate().skip(first) {
                let after = match &scan.after {
                    Some(p) if i == first => Some((p.received_at, p.seq)),
                    _ => None,
                };
                for rec in index.tagged(tag, scan.since, after) {
                    if take(*tag, rec) {
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
