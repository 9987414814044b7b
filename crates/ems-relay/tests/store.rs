//! The redb store on its own: durability, duplicates, the byte budget, expiry and paging.

mod common;

use common::*;
use ems_relay::store::{rate, Insert, Position, Scan, Swept, MAX_PAGE, PURGE_CHUNK};
use ems_relay::{RelayError, Store, StoreError};

/// Asserts that one sweep at `at` deletes `n` messages and leaves nothing due.
fn sweeps_all(store: &Store, at: u64, n: u64) {
    assert_eq!(
        store.purge_expired(at).unwrap(),
        Swept {
            deleted: n,
            more: false
        }
    );
}

#[test]
fn inserts_survive_reopening_and_duplicates_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy();
    let now = now();
    let msgs: Vec<_> = (0..5)
        .map(|i| message(&policy, [i; 32], 100, 600))
        .collect();
    {
        let (store, purged) = Store::open(&store_file(dir.path()), now).unwrap();
        assert_eq!(purged, 0);
        let items: Vec<_> = msgs.iter().map(|m| (m, now)).collect();
        assert_eq!(
            store.insert_batch(&items, u64::MAX, now).unwrap(),
            vec![Insert::Stored; 5]
        );
        // The same message twice in one batch, and once more later.
        let again = [(&msgs[0], now), (&msgs[0], now)];
        assert_eq!(
            store.insert_batch(&again, u64::MAX, now).unwrap(),
            vec![Insert::Duplicate; 2]
        );
    }
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let bytes: u64 = msgs.iter().map(|m| m.encoded_len() as u64).sum();
    assert_eq!(store.stats(), (5, bytes));
    for m in &msgs {
        assert_eq!(store.get(&m.digest(), now).unwrap().as_ref(), Some(m));
    }
    assert_eq!(
        store.missing(&[msgs[0].digest(), [9; 32]]).unwrap(),
        vec![[9; 32]]
    );
}

#[test]
fn when_full_the_least_paid_per_byte_second_make_room_and_a_poorer_message_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    // Same size and life: the proof alone sets the rate. Lower lead = more work.
    let cheap = paid(1 << 60, 600, now);
    let middling = paid(1 << 50, 600, now);
    let dear = paid(1 << 40, 600, now);
    assert!(rate(&cheap, now) < rate(&middling, now) && rate(&middling, now) < rate(&dear, now));
    // The same work over a longer life pays less per byte-second.
    assert!(rate(&paid(1 << 50, 6_000, now), now) < rate(&middling, now));
    let frame = cheap.encoded_len() as u64;
    let budget = 3 * frame;
    let first = [(&cheap, now), (&middling, now), (&dear, now)];
    assert_eq!(
        store.insert_batch(&first, budget, now).unwrap(),
        vec![Insert::Stored; 3]
    );

    // A better-paid newcomer evicts the cheapest message, and only it.
    let better = paid(1 << 55, 600, now);
    assert_eq!(
        store.insert_batch(&[(&better, now)], budget, now).unwrap(),
        vec![Insert::Stored]
    );
    assert!(store.get(&cheap.digest(), now).unwrap().is_none());
    for m in [&middling, &dear, &better] {
        assert!(store.get(&m.digest(), now).unwrap().is_some());
    }
    assert_eq!(store.stats(), (3, 3 * frame));
    assert_eq!(store.evicted(), 1);

    // A message paying less than everything stored is refused, and nothing is evicted.
    let poorer = paid(1 << 61, 600, now);
    assert_eq!(
        store.insert_batch(&[(&poorer, now)], budget, now).unwrap(),
        vec![Insert::Full]
    );
    assert_eq!(store.stats(), (3, 3 * frame));
    assert_eq!(store.evicted(), 1);
    // Neither the refused nor the evicted digest is worth fetching through sync again.
    assert!(store.was_refused(&poorer.digest()) && store.was_refused(&cheap.digest()));
    let unknown = [9; 32];
    assert_eq!(
        store
            .missing(&[cheap.digest(), poorer.digest(), unknown])
            .unwrap(),
        vec![unknown]
    );

    // Messages of one batch never evict each other: the batch's own cheap message stays.
    let (two, _) = Store::open(&dir.path().join("two.redb"), now).unwrap();
    let low = paid(1 << 60, 600, now);
    let high = paid(1 << 40, 600, now);
    assert_eq!(
        two.insert_batch(&[(&low, now), (&high, now)], frame, now)
            .unwrap(),
        vec![Insert::Stored, Insert::Full]
    );

    // The eviction is durable.
    drop(store);
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    assert_eq!(store.stats(), (3, 3 * frame));
    assert!(store.get(&cheap.digest(), now).unwrap().is_none());
}

#[test]
fn expired_bytes_never_count_toward_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    // Well paid, but brief; then the store is full.
    let brief = paid(1 << 30, 10, now);
    let steady = paid(1 << 60, 600, now);
    let frame = brief.encoded_len() as u64;
    let items = [(&brief, now), (&steady, now)];
    assert_eq!(
        store.insert_batch(&items, 2 * frame, now).unwrap(),
        vec![Insert::Stored; 2]
    );
    // After `brief`'s TTL, before any sweep: a message paying less than everything still
    // stored is admitted, because the expired one is deleted first rather than counted.
    let later = now + 11;
    let poor = paid(1 << 62, 600, later);
    assert!(rate(&poor, later) < rate(&steady, now));
    assert_eq!(
        store
            .insert_batch(&[(&poor, later)], 2 * frame, later)
            .unwrap(),
        vec![Insert::Stored]
    );
    assert_eq!(store.evicted(), 0, "nothing unexpired was evicted");
    assert!(store.get(&steady.digest(), later).unwrap().is_some());
    assert_eq!(store.stats(), (2, 2 * frame));
}

#[test]
fn the_sweeper_deletes_a_backlog_in_bounded_chunks_until_nothing_is_due() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let chunk = PURGE_CHUNK;
    // Many tags, and arrival times out of TTL order, as a node sees them.
    let due: Vec<_> = (0..2 * chunk + 10)
        .map(|i| paid_tagged([(i % 7) as u8; 32], 1 << 50, 5 + (i % 3) as u64, now))
        .collect();
    let keep = paid_tagged([1; 32], 1 << 50, 600, now);
    let mut items: Vec<_> = due
        .iter()
        .enumerate()
        .map(|(i, m)| (m, now - (i % 5) as u64))
        .collect();
    items.push((&keep, now));
    for batch in items.chunks(4_096) {
        store.insert_batch(batch, u64::MAX, now).unwrap();
    }
    let later = now + 8;
    let mut sweeps = Vec::new();
    let mut between = Vec::new();
    loop {
        let swept = store.purge_expired(later).unwrap();
        sweeps.push(swept.deleted);
        // An insert between chunks is served, and sees what the chunk left.
        let fresh = paid_tagged([1; 32], 1 << 50, 600, later);
        assert_eq!(
            store
                .insert_batch(&[(&fresh, later)], u64::MAX, later)
                .unwrap(),
            vec![Insert::Stored]
        );
        between.push(fresh.digest());
        if !swept.more {
            break;
        }
    }
    assert_eq!(sweeps, vec![chunk as u64, chunk as u64, 10]);
    assert_eq!(store.stats().0, 1 + 3);
    assert!(store.get(&keep.digest(), later).unwrap().is_some());
    // Every index forgot the swept messages: none is found, listed, or a duplicate.
    let swept: Vec<_> = due.iter().map(|m| m.digest()).collect();
    assert_eq!(store.missing(&swept).unwrap(), swept);
    let all_tags: Vec<[u8; 32]> = (0..7u8).map(|t| [t; 32]).collect();
    let scan = Scan::new(all_tags, None, None, 0, MAX_PAGE).unwrap();
    let mut expected = vec![keep.digest()];
    expected.extend(&between);
    let (mut listed, _) = store.scan(&scan, now).unwrap();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    let untagged = Scan::new(vec![], None, None, 0, MAX_PAGE).unwrap();
    assert_eq!(store.scan(&untagged, now).unwrap().0.len(), 4);
    assert_eq!(
        store
            .insert_batch(&[(&due[0], later)], u64::MAX, later)
            .unwrap(),
        vec![Insert::Stored],
        "a swept message is new again"
    );
}

#[test]
fn purge_deletes_exactly_what_has_expired_from_every_index() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let brief = message(&policy, [1; 32], 100, 10);
    let long = message(&policy, [1; 32], 100, 1000);
    store
        .insert_batch(&[(&brief, now), (&long, now)], u64::MAX, now)
        .unwrap();
    let ttl = u64::from(brief.ttl());
    assert_eq!(store.purge_expired(ttl - 1).unwrap().deleted, 0);
    // Readers stop seeing it at its TTL, before the sweeper runs.
    assert!(store.get(&brief.digest(), ttl).unwrap().is_none());
    sweeps_all(&store, ttl, 1);
    assert_eq!(store.stats(), (1, long.encoded_len() as u64));
    assert!(store.get(&brief.digest(), now).unwrap().is_none());
    for tags in [vec![], vec![[1; 32]]] {
        let scan = Scan::new(tags, None, None, 0, MAX_PAGE).unwrap();
        assert_eq!(store.scan(&scan, now).unwrap(), (vec![long.digest()], None));
    }
    // What expired while the store was closed is gone when it opens.
    drop(store);
    let (store, purged) = Store::open(&store_file(dir.path()), u64::from(long.ttl())).unwrap();
    assert_eq!(purged, 1);
    assert_eq!(store.stats(), (0, 0));
}

#[test]
fn scans_page_through_tags_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let (a, b, other) = ([0xa; 32], [0xb; 32], [0xc; 32]);
    let mut expected = Vec::new();
    for i in 0..25u64 {
        let tag = if i % 2 == 0 { a } else { b };
        let m = message(&policy, tag, 10, 600);
        // Arrival times spread over 25 seconds.
        store.insert_batch(&[(&m, now + i)], u64::MAX, now).unwrap();
        expected.push(m.digest());
    }
    let noise = message(&policy, other, 10, 600);
    store.insert_batch(&[(&noise, now)], u64::MAX, now).unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let scan = Scan::new(vec![b, a, a], None, after, 10, MAX_PAGE).unwrap();
        let (digests, next) = store.scan(&scan, now).unwrap();
        seen.extend(digests);
        pages += 1;
        match next {
            Some(p) => after = Some(p),
            None => break,
        }
    }
    assert!(pages >= 3);
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    sorted_seen.dedup();
    assert_eq!(sorted_seen.len(), seen.len(), "no message twice");
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(
        sorted_seen, sorted_expected,
        "every tagged message, no other"
    );

    // `since` selects by arrival time.
    let scan = Scan::new(vec![a], Some(now + 20), None, 0, MAX_PAGE).unwrap();
    assert_eq!(store.scan(&scan, now).unwrap().0.len(), 3); // arrivals 20, 22, 24

    // A cursor only continues the query it came from.
    let foreign = Position {
        tag: other,
        received_at: now,
        seq: 25,
    };
    assert!(matches!(
        Scan::new(vec![a], None, Some(foreign), 10, MAX_PAGE),
        Err(RelayError::BadCursor(_))
    ));
    assert!(matches!(
        Scan::new(vec![[0; 32]; 65], None, None, 10, MAX_PAGE),
        Err(RelayError::BadQuery(_))
    ));
    assert!(matches!(
        Position::from_cursor("zz"),
        Err(RelayError::BadCursor(_))
    ));
    // A cursor of layout 5 and before (tag, arrival, digest: 72 bytes) is refused, not misread.
    assert!(matches!(
        Position::from_cursor(&"00".repeat(72)),
        Err(RelayError::BadCursor(_))
    ));
    assert_eq!(
        Position::from_cursor(&foreign.to_cursor()).unwrap(),
        foreign
    );
}

#[test]
fn a_scan_without_tags_pages_in_arrival_order_past_expired_and_evicted_messages() {
    // A query without tags walks the keys of `frames`, which still hold expired messages the
    // sweeper has not reached; the in-memory index decides what is listed.
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    // 24 messages, one a second. Every third lives 50 s (expired at `later`); every fourth
    // from the second paid little (the cheapest: evicted first, the earliest first, since a
    // later arrival has a shorter life and so a higher rate).
    let msgs: Vec<_> = (0..24u64)
        .map(|i| {
            let lead = if i % 4 == 1 { 1 << 60 } else { 1 << 40 };
            let life = if i % 3 == 0 { 50 } else { 600 };
            paid(lead, life, now)
        })
        .collect();
    for (i, m) in msgs.iter().enumerate() {
        store
            .insert_batch(&[(m, now + i as u64)], u64::MAX, now)
            .unwrap();
    }
    let (_, budget) = store.stats();
    let dear: Vec<_> = (0..4).map(|_| paid(1 << 30, 600, now)).collect();
    let evict = |j: usize| {
        let at = now + 30 + j as u64;
        assert_eq!(
            store.insert_batch(&[(&dear[j], at)], budget, now).unwrap(),
            vec![Insert::Stored]
        );
    };
    evict(0);
    evict(1);
    for i in [1, 5] {
        assert!(
            store.get(&msgs[i].digest(), now).unwrap().is_none(),
            "{i} evicted"
        );
    }
    let later = now + 60;
    // The expired ones are still stored: the scan has to step over them.
    assert_eq!(store.stats().0, 24);
    let page = |after| {
        let scan = Scan::new(vec![], None, after, 4, MAX_PAGE).unwrap();
        store.scan(&scan, later).unwrap()
    };
    let (mut seen, mut after) = page(None);
    // Between two pages, two messages after the cursor are evicted.
    evict(2);
    evict(3);
    while let Some(p) = after {
        let (digests, next) = page(Some(p));
        seen.extend(digests);
        after = next;
    }
    let live = [2, 4, 7, 8, 10, 11, 14, 16, 19, 20, 22, 23];
    let expected: Vec<_> = live
        .iter()
        .map(|&i| msgs[i].digest())
        .chain(dear.iter().map(|m| m.digest()))
        .collect();
    assert_eq!(seen, expected, "live messages only, in arrival order");
    // `since` selects by arrival time.
    let since = Scan::new(vec![], Some(now + 20), None, 0, MAX_PAGE).unwrap();
    assert_eq!(store.scan(&since, later).unwrap().0, expected[9..].to_vec());
}

#[test]
fn a_sweep_keeps_a_frame_received_between_two_due_ones_while_the_clock_stepped_back() {
    // The sweeper deletes the frames of messages stored one after the other as one range of
    // `frames` (keyed by arrival time, then sequence). With the clock stepped back and forward
    // again, a message stored before them can lie inside that range: it must stay.
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let kept = paid(1 << 40, 600, now);
    let (early, late) = (paid(1 << 40, 30, now), paid(1 << 40, 30, now));
    for (m, at) in [(&kept, now), (&early, now - 10), (&late, now + 10)] {
        assert_eq!(
            store.insert_batch(&[(m, at)], u64::MAX, now).unwrap(),
            vec![Insert::Stored]
        );
    }
    let later = now + 31;
    sweeps_all(&store, later, 2);
    assert_eq!(store.stats(), (1, kept.encoded_len() as u64));
    assert_eq!(
        store.get(&kept.digest(), later).unwrap().as_ref(),
        Some(&kept)
    );
    let all = Scan::new(vec![], None, None, 0, MAX_PAGE).unwrap();
    assert_eq!(
        store.scan(&all, later).unwrap(),
        (vec![kept.digest()], None)
    );
    // And it survives a reopening, which rebuilds from what is on disk.
    drop(store);
    let (store, purged) = Store::open(&store_file(dir.path()), later).unwrap();
    assert_eq!((purged, store.stats().0), (0, 1));
    assert_eq!(
        store.get(&kept.digest(), later).unwrap().as_ref(),
        Some(&kept)
    );
}

#[test]
fn a_store_of_an_older_layout_is_refused_with_its_path_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    // The first release wrote `meta` without a layout number; layout 2 keyed frames by digest
    // in a `messages` table. Neither is read as layout 6 (layouts 3 to 5 are migrated:
    // tests/store_reopen.rs).
    for (schema, found) in [(None, 1), (Some(2), 2)] {
        let path = dir.path().join(format!("layout{found}.redb"));
        {
            let db = redb::Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
                let mut meta = txn.open_table(meta).unwrap();
                meta.insert("messages", 3).unwrap();
                if let Some(n) = schema {
                    meta.insert("schema", n).unwrap();
                }
                let old: redb::TableDefinition<[u8; 32], &[u8]> =
                    redb::TableDefinition::new("messages");
                txn.open_table(old)
                    .unwrap()
                    .insert([7; 32], &[1u8, 2][..])
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        match Store::open(&path, now()) {
            Err(StoreError::Schema {
                path: named,
                found: f,
                expected: 6,
            }) if f == found => assert!(named.ends_with(&format!("layout{found}.redb"))),
            other => panic!("expected a layout-{found} error, got {other:?}"),
        }
        // Refused without a change: the file still holds the old layout's number.
        let db = redb::Database::open(&path).unwrap();
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
        let meta = txn.open_table(meta).unwrap();
        assert_eq!(meta.get("schema").unwrap().map(|v| v.value()), schema);
    }
    // An empty store without a number is simply a new one, and reopens as layout 6.
    let fresh = dir.path().join("fresh.redb");
    let (store, _) = Store::open(&fresh, now()).unwrap();
    drop(store);
    assert!(Store::open(&fresh, now()).is_ok());
}

#[test]
fn a_clock_stepped_back_loses_nothing_and_duplicates_are_still_found() {
    // Frames are keyed by arrival time: a message received at an earlier time than the one
    // before it (the clock stepped back) is found, deduplicated, listed and expired all the same.
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let (first, second) = (paid(1 << 40, 600, now), paid(1 << 40, 30, now));
    let stored = |m, at| store.insert_batch(&[(m, at)], u64::MAX, at).unwrap();
    assert_eq!(stored(&first, now), vec![Insert::Stored]);
    assert_eq!(stored(&second, now - 20), vec![Insert::Stored]);
    // Received again at yet another time: still the same message.
    assert_eq!(stored(&first, now - 50), vec![Insert::Duplicate]);
    assert_eq!(stored(&second, now + 5), vec![Insert::Duplicate]);
    for m in [&first, &second] {
        assert_eq!(store.get(&m.digest(), now).unwrap().as_ref(), Some(m));
    }
    let all = Scan::new(vec![], None, None, 10, MAX_PAGE).unwrap();
    let (listed, _) = store.scan(&all, now).unwrap();
    assert_eq!(
        listed,
        vec![second.digest(), first.digest()],
        "arrival order"
    );
    assert_eq!(
        store
            .frames(&[first.digest(), second.digest()], now, 1 << 20)
            .unwrap(),
        vec![first.encode(), second.encode()]
    );
    // The short-lived one expires and leaves every table; the other stays.
    let later = now + 31;
    assert_eq!(store.purge_expired(later).unwrap().deleted, 1);
    assert_eq!(store.get(&second.digest(), now).unwrap(), None);
    assert_eq!(
        store.missing(&[second.digest()]).unwrap(),
        vec![second.digest()]
    );
    assert_eq!(store.stats(), (1, first.encoded_len() as u64));
    let (listed, _) = store.scan(&all, now).unwrap();
    assert_eq!(listed, vec![first.digest()]);
}

#[test]
fn after_a_sweep_eviction_and_tag_queries_see_only_what_is_still_stored() {
    // A deleted message leaves the in-memory digest table at once, but its entries in the rate
    // and tag orders stay until enough are dead to drop them in one walk: they must never be
    // listed, nor chosen to make room.
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let tag = [0x7a; 32];
    // The cheapest of all per byte-second, and brief.
    let brief: Vec<_> = (0..10)
        .map(|_| paid_tagged(tag, 1 << 62, 10, now))
        .collect();
    let kept: Vec<_> = (0..3)
        .map(|i| paid_tagged(tag, 1 << (50 - i), 600, now))
        .collect();
    let items: Vec<_> = brief.iter().chain(&kept).map(|m| (m, now)).collect();
    assert_eq!(
        store.insert_batch(&items, u64::MAX, now).unwrap(),
        vec![Insert::Stored; 13]
    );
    let later = now + 11;
    sweeps_all(&store, later, 10);
    let by_tag = |store: &Store| {
        let scan = Scan::new(vec![tag], None, None, 0, MAX_PAGE).unwrap();
        store.scan(&scan, later).unwrap().0
    };
    let digests = |ms: &[&ems_core::Message]| ms.iter().map(|m| m.digest()).collect::<Vec<_>>();
    assert_eq!(by_tag(&store), digests(&[&kept[0], &kept[1], &kept[2]]));

    // Full at four frames: the next message is made room for by evicting the cheapest message
    // still stored, not one of the swept ones (which paid less).
    let frame = kept[0].encoded_len() as u64;
    let budget = 4 * frame;
    let cheaper = paid_tagged(tag, 1 << 52, 600, later);
    let dear = paid_tagged(tag, 1 << 40, 600, later);
    for m in [&cheaper, &dear] {
        assert_eq!(
            store.insert_batch(&[(m, later)], budget, later).unwrap(),
            vec![Insert::Stored]
        );
    }
    assert_eq!(store.evicted(), 1);
    assert!(store.get(&cheaper.digest(), later).unwrap().is_none());
    assert_eq!(store.stats(), (4, budget));
    let now_stored = digests(&[&kept[0], &kept[1], &kept[2], &dear]);
    assert_eq!(by_tag(&store), now_stored);
    let swept = digests(&brief.iter().collect::<Vec<_>>());
    assert_eq!(store.missing(&swept).unwrap(), swept);
    // A reopened store, whose indexes are rebuilt without dead entries, answers the same.
    drop(store);
    let (store, _) = Store::open(&store_file(dir.path()), later).unwrap();
    assert_eq!(by_tag(&store), now_stored);
    assert_eq!(store.stats(), (4, budget));
}
