//! The items a round reconciles: (TTL, digest) of every stored message not about to expire,
//! read from the expiry index into one sealed negentropy storage that all rounds and answers
//! share for a while.

use crate::error::StoreError;
use crate::store::Store;
use negentropy::{Bound, Error, Id, Item, NegentropyStorageBase, NegentropyStorageVector};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A snapshot is reused while the store holds as many messages as when it was taken. When it
/// does not, a new one is built, but not sooner than this after the previous one (the caller
/// waits): under load a snapshot is built at most once a second, whatever the number of peers
/// and rounds, and a round never reconciles a set older than the store's latest change by more
/// than this.
const REUSE: Duration = Duration::from_secs(1);

/// A sealed, shared set of items.
#[derive(Clone, Debug)]
pub(crate) struct Items(Arc<NegentropyStorageVector>);

impl Items {
    /// Items from (TTL, digest) pairs in any order.
    pub(crate) fn new(pairs: impl IntoIterator<Item = (u32, [u8; 32])>) -> Items {
        let mut storage = NegentropyStorageVector::new();
        for (ttl, digest) in pairs {
            // Cannot fail: the storage is not sealed yet.
            let _ = storage.insert(u64::from(ttl), Id::from_byte_array(digest));
        }
        // Cannot fail: sealed once. Pairs in (TTL, digest) order are sorted already.
        let _ = storage.seal();
        Items(Arc::new(storage))
    }
}

impl NegentropyStorageBase for Items {
    fn size(&self) -> Result<usize, Error> {
        self.0.size()
    }
    fn get_item(&self, i: usize) -> Result<Option<Item>, Error> {
        self.0.get_item(i)
    }
    fn iterate(
        &self,
        begin: usize,
        end: usize,
        cb: &mut dyn FnMut(Item, usize) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        self.0.iterate(begin, end, cb)
    }
    fn find_lower_bound(&self, first: usize, last: usize, value: &Bound) -> usize {
        self.0.find_lower_bound(first, last, value)
    }
}

/// The latest snapshot and when and from how many messages it was taken.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    latest: Mutex<Option<(Instant, u64, Items)>>,
    /// One snapshot is built at a time.
    building: tokio::sync::Mutex<()>,
}

impl Snapshots {
    /// The items of `store`: messages whose TTL is more than `skew` seconds after `now` (those
    /// closer may expire during a round, on one side before the other).
    pub(crate) async fn get(
        &self,
        store: Arc<Store>,
        now: u64,
        skew: u64,
    ) -> Result<Items, StoreError> {
        let _one = self.building.lock().await;
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((at, count, items)) = latest {
            if count == store.stats().0 {
                return Ok(items);
            }
            // Changed since: wait out the rebuild interval rather than hand out a set that
            // lacks what was stored meanwhile (a peer reconnecting within the second would
            // otherwise find no difference and wait for the next periodic round).
            tokio::time::sleep(REUSE.saturating_sub(at.elapsed())).await;
        }
        let messages = store.stats().0;
        let items = tokio::task::spawn_blocking(move || {
            store.items_after(now.saturating_add(skew)).map(Items::new)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))??;
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), messages, items.clone()));
        Ok(items)
    }
}
