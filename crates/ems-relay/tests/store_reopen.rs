//! The store's in-memory indexes (by digest, rate and tag) are rebuilt at open from the
//! durable expiry index: they answer as the ones built by inserts did, after a clean close,
//! after the process is killed mid-write, and after a store of an older layout is migrated.

mod common;

use common::*;
use ems_core::Message;
use ems_relay::store::{Insert, Scan, MAX_PAGE};
use ems_relay::Store;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

const TAGS: u8 = 5;

fn tag(i: u8) -> [u8; 32] {
    [0x10 + i; 32]
}

/// Every digest a query for `tag` lists, paging `limit` at a time, with the cursors.
fn pages(store: &Store, tag: [u8; 32], limit: usize, now: u64) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let scan = Scan::new(vec![tag], None, after, limit, MAX_PAGE).unwrap();
        let (digests, next) = store.scan(&scan, now).unwrap();
        seen.extend(digests.iter().map(hex::encode));
        match next {
            Some(p) => {
                seen.push(format!("cursor {}", p.to_cursor()));
                after = Some(p);
            }
            None => return seen,
        }
    }
}

/// What a store answers about `msgs`: each one's presence, every tag's pages, its figures.
fn answers(store: &Store, msgs: &[Message], now: u64) -> (Vec<bool>, Vec<Vec<String>>, (u64, u64)) {
    let digests: Vec<_> = msgs.iter().map(|m| m.digest()).collect();
    let missing = store.missing(&digests).unwrap();
    let present = digests.iter().map(|d| !missing.contains(d)).collect();
    let tagged = (0..TAGS).map(|t| pages(store, tag(t), 7, now)).collect();
    (present, tagged, store.stats())
}

#[test]
fn rebuilt_indexes_answer_as_the_ones_built_by_inserts() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (kept, _) = Store::open(&dir.path().join("kept.redb"), now).unwrap();
    let (reopened, _) = Store::open(&dir.path().join("reopened.redb"), now).unwrap();
    // Five tags, rates spread over 2^40..2^59, lives of 100..1,000 s, arrivals over 40 s and
    // out of order, in batches.
    let msgs: Vec<Message> = (0..400u64)
        .map(|i| {
            let lead = 1u64 << (40 + (i * 7) % 20);
            paid_tagged(tag((i % 5) as u8), lead, 100 + (i * 13) % 900, now)
        })
        .collect();
    for (b, batch) in msgs.chunks(50).enumerate() {
        let items: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(i, m)| (m, now - 40 + ((b * 11 + i * 3) % 40) as u64))
            .collect();
        for store in [&kept, &reopened] {
            store.insert_batch(&items, u64::MAX, now).unwrap();
        }
    }
    // Some expire and are swept in both.
    for store in [&kept, &reopened] {
        assert!(store.purge_expired(now + 300).unwrap().deleted > 50);
    }
    let path = dir.path().join("reopened.redb");
    drop(reopened);
    let (reopened, purged) = Store::open(&path, now).unwrap();
    assert_eq!(purged, 0);
    let before = answers(&kept, &msgs, now);
    assert!(before.0.iter().any(|p| *p) && before.0.iter().any(|p| !*p));
    assert!(
        before.1.iter().all(|pages| pages.len() > 7),
        "several pages a tag"
    );
    assert_eq!(answers(&reopened, &msgs, now), before);
    for m in &msgs {
        assert_eq!(
            kept.get(&m.digest(), now).unwrap(),
            reopened.get(&m.digest(), now).unwrap()
        );
    }
    // Duplicates are found alike.
    let again: Vec<_> = msgs.iter().map(|m| (m, now)).collect();
    let outcomes = kept.insert_batch(&again, u64::MAX, now).unwrap();
    assert_eq!(
        reopened.insert_batch(&again, u64::MAX, now).unwrap(),
        outcomes
    );
    assert!(outcomes.contains(&Insert::Duplicate) && outcomes.contains(&Insert::Stored));
    // A full store evicts the same cheapest messages and refuses the same poorer one.
    let (_, bytes) = kept.stats();
    let newcomers = [
        paid_tagged(tag(0), 1 << 45, 500, now),
        paid_tagged(tag(1), 1 << 50, 500, now),
        paid_tagged(tag(2), u64::MAX, 500, now),
    ];
    let items: Vec<_> = newcomers.iter().map(|m| (m, now)).collect();
    let outcome = kept.insert_batch(&items, bytes, now).unwrap();
    assert_eq!(reopened.insert_batch(&items, bytes, now).unwrap(), outcome);
    assert_eq!(outcome, vec![Insert::Stored, Insert::Stored, Insert::Full]);
    assert_eq!(kept.evicted(), 2);
    assert_eq!(reopened.evicted(), 2);
    let mut all = msgs.clone();
    all.extend(newcomers);
    assert_eq!(answers(&reopened, &all, now), answers(&kept, &all, now));
}

/// Set to the store path in the child process of `a_killed_writer_loses_nothing_acknowledged`.
const CHILD: &str = "EMS_STORE_KILLED_WRITER";

/// The child of `a_killed_writer_loses_nothing_acknowledged`: inserts batches into the store
/// at `$EMS_STORE_KILLED_WRITER` until killed, printing each message once its batch has
/// committed. Started any other way it returns at once.
#[test]
fn killed_writer_child() {
    let Ok(path) = std::env::var(CHILD) else {
        return;
    };
    let now = now();
    let (store, _) = Store::open(Path::new(&path), now).unwrap();
    for round in 0u64.. {
        let msgs: Vec<Message> = (0..32u64)
            .map(|i| paid_tagged(tag((i % 4) as u8), 1 << (40 + (round + i) % 20), 600, now))
            .collect();
        let items: Vec<_> = msgs.iter().map(|m| (m, now)).collect();
        let outcomes = store.insert_batch(&items, u64::MAX, now).unwrap();
        // A sweep between batches, as the writer runs one (nothing is due).
        store.purge_expired(now).unwrap();
        for (m, o) in msgs.iter().zip(outcomes) {
            assert_eq!(o, Insert::Stored);
            println!("acked {} {}", hex::encode(m.digest()), m.id0()[0] - 0x10);
        }
    }
}

/// Kills its child when dropped, whatever the test's outcome.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_writer_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = Reaped(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "killed_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acked: Vec<([u8; 32], u8)> = Vec::new();
    let deadline = Instant::now() + DEADLINE;
    // Killed mid-run: after 2,000 acknowledgements it is writing its next batch or sweep.
    while acked.len() < 2_000 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the writer acknowledges batches");
        let Some(rest) = line.strip_prefix("acked ") else {
            continue;
        };
        let (digest, t) = rest.split_once(' ').unwrap();
        let digest: [u8; 32] = hex::decode(digest).unwrap().try_into().unwrap();
        acked.push((digest, t.parse().unwrap()));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let now = now();
    let (store, _) = Store::open(&path, now).unwrap();
    let digests: Vec<_> = acked.iter().map(|(d, _)| *d).collect();
    assert_eq!(store.missing(&digests).unwrap(), Vec::<[u8; 32]>::new());
    for d in &digests {
        assert_eq!(store.get(d, now).unwrap().map(|m| m.digest()), Some(*d));
    }
    for t in 0..4u8 {
        let listed = pages(&store, tag(t), MAX_PAGE, now);
        for (d, _) in acked.iter().filter(|(_, at)| *at == t) {
            assert!(
                listed.contains(&hex::encode(d)),
                "tag {t} lists every acknowledged message"
            );
        }
    }
    // The count agrees with the expiry index (messages committed but not yet printed count).
    let (count, _) = store.stats();
    assert!(count >= acked.len() as u64);
    assert_eq!(store.items_after(0).unwrap().len() as u64, count);
}

/// Writes a store of layout `layout` (3, 4 or 5) holding `msgs`, the i-th received at
/// `now + i % 3`, as that layout wrote it: `frames` keyed by (received-at, digest), the 52-byte
/// expiry entries without a sequence number, `meta`, the arrival index layouts 3 and 4 kept,
/// and layout 3's random-keyed tables.
fn write_layout(path: &Path, msgs: &[Message], now: u64, layout: u64) {
    use redb::TableDefinition;
    let frames: TableDefinition<(u64, [u8; 32]), &[u8]> = TableDefinition::new("frames");
    let expiry: TableDefinition<(u32, [u8; 32]), [u8; 52]> = TableDefinition::new("expiry");
    let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
    let by_arrival: TableDefinition<(u64, [u8; 32]), u32> = TableDefinition::new("by_arrival");
    let digests: TableDefinition<[u8; 32], u64> = TableDefinition::new("digests");
    let by_rate: TableDefinition<(u64, [u8; 32]), u32> = TableDefinition::new("by_rate");
    let by_tag: TableDefinition<([u8; 32], u64, [u8; 32]), u32> = TableDefinition::new("by_tag");
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let (mut f, mut e, mut a) = (
            txn.open_table(frames).unwrap(),
            txn.open_table(expiry).unwrap(),
            txn.open_table(by_arrival).unwrap(),
        );
        let (mut d, mut r, mut t) = (
            txn.open_table(digests).unwrap(),
            txn.open_table(by_rate).unwrap(),
            txn.open_table(by_tag).unwrap(),
        );
        let mut bytes = 0;
        for (i, m) in msgs.iter().enumerate() {
            let (digest, at) = (m.digest(), now + i as u64 % 3);
            let rate = ems_relay::store::rate(m, at);
            f.insert((at, digest), m.encode().as_slice()).unwrap();
            let mut entry = [0u8; 52];
            entry[..8].copy_from_slice(&at.to_be_bytes());
            entry[8..40].copy_from_slice(m.id0());
            entry[40..44].copy_from_slice(&(m.encoded_len() as u32).to_be_bytes());
            entry[44..].copy_from_slice(&rate.to_be_bytes());
            e.insert((m.ttl(), digest), entry).unwrap();
            a.insert((at, digest), m.ttl()).unwrap();
            d.insert(digest, at).unwrap();
            r.insert((rate, digest), m.ttl()).unwrap();
            t.insert((*m.id0(), at, digest), m.ttl()).unwrap();
            bytes += m.encoded_len() as u64;
        }
        let mut meta = txn.open_table(meta).unwrap();
        meta.insert("messages", msgs.len() as u64).unwrap();
        meta.insert("bytes", bytes).unwrap();
        meta.insert("schema", layout).unwrap();
    }
    if layout > 3 {
        txn.delete_table(digests).unwrap();
        txn.delete_table(by_rate).unwrap();
        txn.delete_table(by_tag).unwrap();
    }
    if layout > 4 {
        txn.delete_table(by_arrival).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn a_store_of_layout_3_4_or_5_is_migrated_and_keeps_its_messages_in_arrival_order() {
    use redb::{ReadableDatabase, TableDefinition, TableHandle};
    for layout in [3, 4, 5] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let now = now();
        let msgs: Vec<Message> = (0..20u64)
            .map(|i| paid_tagged(tag((i % 2) as u8), 1 << (40 + i), 600, now))
            .collect();
        write_layout(&path, &msgs, now, layout);
        let (store, _) = Store::open(&path, now).unwrap();
        assert_eq!(store.stats().0, 20);
        for m in &msgs {
            assert_eq!(store.get(&m.digest(), now).unwrap().as_ref(), Some(m));
        }
        assert_eq!(pages(&store, tag(1), MAX_PAGE, now).len(), 10);
        let again = [(&msgs[3], now)];
        assert_eq!(
            store.insert_batch(&again, u64::MAX, now).unwrap(),
            vec![Insert::Duplicate]
        );
        // Eviction works from the rebuilt rate order: the least paid (lead 2^59) goes first.
        let (_, bytes) = store.stats();
        let dear = paid_tagged(tag(0), 1 << 30, 600, now);
        assert_eq!(
            store.insert_batch(&[(&dear, now + 5)], bytes, now).unwrap(),
            vec![Insert::Stored]
        );
        assert!(store.get(&msgs[19].digest(), now).unwrap().is_none());
        // A query without tags lists them in the old arrival order, (received-at, digest), then
        // the newcomer: the sequence numbers follow the old keys, and continue after them.
        let mut old: Vec<_> = msgs[..19]
            .iter()
            .enumerate()
            .map(|(i, m)| (now + i as u64 % 3, m.digest()))
            .collect();
        old.sort();
        let expected: Vec<_> = old
            .into_iter()
            .map(|(_, d)| d)
            .chain([dear.digest()])
            .collect();
        let all = Scan::new(vec![], None, None, 0, MAX_PAGE).unwrap();
        assert_eq!(
            store.scan(&all, now).unwrap(),
            (expected, None),
            "layout {layout}"
        );
        drop(store);
        // The old tables are gone and the file says layout 6.
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let mut names: Vec<String> = txn
            .list_tables()
            .unwrap()
            .map(|t| t.name().to_string())
            .collect();
        names.sort();
        assert_eq!(names, ["expiry", "frames", "meta"], "layout {layout}");
        let meta: TableDefinition<&str, u64> = TableDefinition::new("meta");
        let meta = txn.open_table(meta).unwrap();
        assert_eq!(meta.get("schema").unwrap().map(|v| v.value()), Some(6));
    }
}

#[test]
fn the_arrival_sequence_continues_after_a_reopening() {
    // Frames are keyed by (received-at, sequence): a reopened store that numbered from zero
    // again would overwrite the frames of messages received in the same second.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let now = now();
    let first: Vec<Message> = (0..10).map(|_| paid(1 << 40, 600, now)).collect();
    let second: Vec<Message> = (0..10).map(|_| paid(1 << 40, 600, now)).collect();
    {
        let (store, _) = Store::open(&path, now).unwrap();
        let items: Vec<_> = first.iter().map(|m| (m, now)).collect();
        store.insert_batch(&items, u64::MAX, now).unwrap();
    }
    let (store, _) = Store::open(&path, now).unwrap();
    let items: Vec<_> = second.iter().map(|m| (m, now)).collect();
    assert_eq!(
        store.insert_batch(&items, u64::MAX, now).unwrap(),
        vec![Insert::Stored; 10]
    );
    for m in first.iter().chain(&second) {
        assert_eq!(store.get(&m.digest(), now).unwrap().as_ref(), Some(m));
    }
    assert_eq!(store.stats().0, 20);
    let all = Scan::new(vec![], None, None, 0, MAX_PAGE).unwrap();
    let listed: Vec<_> = first.iter().chain(&second).map(|m| m.digest()).collect();
    assert_eq!(
        store.scan(&all, now).unwrap(),
        (listed, None),
        "arrival order"
    );
}
