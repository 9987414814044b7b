//! The redb store on its own: durability, duplicates, the byte budget, expiry and paging.

mod common;

use common::*;
use ems_relay::store::{Insert, Position, Scan, MAX_PAGE};
use ems_relay::{RelayError, Store};

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
            store.insert_batch(&items, u64::MAX).unwrap(),
            vec![Insert::Stored; 5]
        );
        // The same message twice in one batch, and once more later.
        let again = [(&msgs[0], now), (&msgs[0], now)];
        assert_eq!(
            store.insert_batch(&again, u64::MAX).unwrap(),
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
fn the_byte_budget_refuses_new_messages_and_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let policy = policy();
    let now = now();
    let (store, _) = Store::open(&store_file(dir.path()), now).unwrap();
    let msgs: Vec<_> = (0..4)
        .map(|i| message(&policy, [i; 32], 1000, 600))
        .collect();
    let frame = msgs[0].encoded_len() as u64;
    let budget = 3 * frame + frame / 2;
    let items: Vec<_> = msgs.iter().map(|m| (m, now)).collect();
    assert_eq!(
        store.insert_batch(&items, budget).unwrap(),
        vec![Insert::Stored, Insert::Stored, Insert::Stored, Insert::Full]
    );
    assert_eq!(store.stats(), (3, 3 * frame));
    assert!(store.get(&msgs[3].digest(), now).unwrap().is_none());
    // A smaller message still fits in what is left.
    let small = message(&policy, [9; 32], 10, 600);
    assert_eq!(
        store.insert_batch(&[(&small, now)], budget).unwrap(),
        vec![Insert::Stored]
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
        .insert_batch(&[(&brief, now), (&long, now)], u64::MAX)
        .unwrap();
    let ttl = u64::from(brief.ttl());
    assert_eq!(store.purge_expired(ttl - 1).unwrap(), 0);
    // Readers stop seeing it at its TTL, before the sweeper runs.
    assert!(store.get(&brief.digest(), ttl).unwrap().is_none());
    assert_eq!(store.purge_expired(ttl).unwrap(), 1);
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
        store.insert_batch(&[(&m, now + i)], u64::MAX).unwrap();
        expected.push(m.digest());
    }
    let noise = message(&policy, other, 10, 600);
    store.insert_batch(&[(&noise, now)], u64::MAX).unwrap();

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
        digest: noise.digest(),
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
    assert_eq!(
        Position::from_cursor(&foreign.to_cursor()).unwrap(),
        foreign
    );
}
