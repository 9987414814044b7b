//! The items a round reconciles: (TTL, digest) of every stored message not about to expire,
//! read from the expiry index into one sealed negentropy storage that all rounds and answers
//! share for a while.

use crate::error::StoreError;
use crate::store::Store;
use negentropy::{Bound, Error, Id, Item, NegentropyStorageBase, NegentropyStorageVector};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A snapshot is reused while the store's [generation](Store::generation) is the one it was
/// taken at (no message stored, evicted or purged since). When it is not, a new one is built, but not sooner than this after the previous one (the caller
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

/// The latest snapshot, when it was taken and at which store generation.
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
        if let Some((at, generation, items)) = latest {
            if generation == store.generation() {
                return Ok(items);
            }
            // Changed since: wait out the rebuild interval rather than hand out a set that
            // lacks what was stored meanwhile (a peer reconnecting within the second would
            // otherwise find no difference and wait for the next periodic round).
            tokio::time::sleep(REUSE.saturating_sub(at.elapsed())).await;
        }
        // Read before the items: a change committed while they are read makes the snapshot
        // look older than it is, so it is rebuilt, never kept past a change.
        let generation = store.generation();
        let items = tokio::task::spawn_blocking(move || {
            store.items_after(now.saturating_add(skew)).map(Items::new)
        })
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))??;
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), generation, items.clone()));
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Insert;
    use ems_core::Message;

    const NOW: u64 = 1_900_000_000;

    /// A 1 KiB message living 600 s whose proof hash starts with `lead` (less lead, more work;
    /// the store ranks by it and nothing here verifies it).
    fn message(serial: u8, lead: u64) -> Message {
        let mut m = Message::new([serial; 64], vec![7; 1024], (NOW + 600) as u32, [0; 4])
            .expect("a valid message");
        let mut hash = [0xff; 32];
        hash[..8].copy_from_slice(&lead.to_be_bytes());
        m.set_pow(
            ems_pow::Algorithm::Sha256,
            ems_pow::Proof { nonce: 0, hash },
        );
        m
    }

    fn digests(items: &Items) -> Vec<[u8; 32]> {
        let mut out = Vec::new();
        let size = items.size().expect("sealed");
        items
            .iterate(0, size, &mut |item, _| {
                out.push(item.id.to_bytes());
                Ok(true)
            })
            .expect("sealed");
        out
    }

    #[tokio::test]
    async fn a_snapshot_is_rebuilt_when_an_eviction_leaves_the_count_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(&dir.path().join("store.redb"), NOW).unwrap();
        let store = Arc::new(store);
        let cheap = message(1, 1 << 60);
        let dear = message(2, 1 << 40);
        // Room for one message.
        let budget = cheap.encoded_len() as u64;
        let snapshots = Snapshots::default();
        let insert = |m: &Message| store.insert_batch(&[(m, NOW)], budget, NOW).unwrap();

        assert_eq!(insert(&cheap), vec![Insert::Stored]);
        let first = snapshots.get(store.clone(), NOW, 60).await.unwrap();
        assert_eq!(digests(&first), vec![cheap.digest()]);
        // Unchanged: the same snapshot is handed out again.
        let again = snapshots.get(store.clone(), NOW, 60).await.unwrap();
        assert!(Arc::ptr_eq(&first.0, &again.0));

        // The better-paid message takes the only place: one message before, one after.
        assert_eq!(insert(&dear), vec![Insert::Stored]);
        assert_eq!((store.stats().0, store.evicted()), (1, 1));
        let after = snapshots.get(store.clone(), NOW, 60).await.unwrap();
        assert_eq!(
            digests(&after),
            vec![dear.digest()],
            "the evicted message is no longer announced"
        );

        // A refused insert and a duplicate change nothing, so the snapshot is kept.
        assert_eq!(insert(&message(3, 1 << 61)), vec![Insert::Full]);
        assert_eq!(insert(&dear), vec![Insert::Duplicate]);
        let kept = snapshots.get(store.clone(), NOW, 60).await.unwrap();
        assert!(Arc::ptr_eq(&after.0, &kept.0));
    }
}
