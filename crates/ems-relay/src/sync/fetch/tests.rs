use super::*;

fn digests(from: u32, n: u32) -> Vec<[u8; 32]> {
    (from..from + n)
        .map(|i| {
            let mut d = [0u8; 32];
            d[..4].copy_from_slice(&i.to_be_bytes());
            d
        })
        .collect()
}

fn counter() -> impl FnMut() -> u32 {
    let mut next = 0;
    move || {
        next += 1;
        next
    }
}

#[test]
fn a_digest_two_peers_announce_is_asked_of_one_of_them_once() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Fetcher::default();
    let all = digests(0, 100);
    assert_eq!(f.announce(a, &all), 100);
    assert_eq!(f.announce(b, &all), 0, "already wanted");
    let mut ids = counter();
    let asks = f.next(Instant::now(), &mut ids);
    let asked: Vec<_> = asks.iter().flat_map(|a| a.digests.clone()).collect();
    assert_eq!(asked.len(), 100);
    let unique: HashSet<_> = asked.iter().collect();
    assert_eq!(unique.len(), 100, "each digest asked once");
    assert!(asks.iter().all(|ask| ask.digests.len() <= MAX_FETCH));
    assert!(f.next(Instant::now(), &mut ids).is_empty(), "nothing left");
}

#[test]
fn the_window_bounds_requests_per_peer_and_in_all() {
    let mut f = Fetcher::default();
    let peers: Vec<PeerId> = (0..8).map(|_| PeerId::random()).collect();
    for (i, p) in peers.iter().enumerate() {
        f.announce(*p, &digests(i as u32 * 10_000, 10_000));
    }
    let asks = f.next(Instant::now(), &mut counter());
    assert_eq!(asks.len(), IN_ALL);
    for p in &peers {
        assert!(asks.iter().filter(|a| a.peer == *p).count() <= PER_PEER);
    }
}

#[test]
fn a_failed_request_is_asked_of_another_holder_after_a_backoff() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Fetcher::default();
    let all = digests(0, 10);
    f.announce(a, &all);
    f.announce(b, &all);
    let t0 = Instant::now();
    let mut ids = counter();
    let asks = f.next(t0, &mut ids);
    assert_eq!(asks.len(), 1);
    let first = &asks[0];
    assert!(f.failed(first.id, first.peer, t0));
    assert!(!f.failed(first.id, first.peer, t0), "answered once");
    assert!(f.next(t0, &mut ids).is_empty(), "not before the backoff");
    let asks = f.next(t0 + BACKOFF_FIRST, &mut ids);
    assert_eq!(asks.len(), 1);
    assert_ne!(asks[0].peer, first.peer, "another holder first");
    assert_eq!(asks[0].digests.len(), 10);
    let got: HashSet<_> = all.iter().copied().collect();
    let delivery = f
        .delivered(asks[0].id, asks[0].peer, &got, false, t0)
        .unwrap();
    assert_eq!((delivery.undelivered, delivery.unasked), (0, 0));
    assert_eq!(delivery.asked, got);
    assert_eq!(f.load(), (10, 0), "wanted until stored");
    assert_eq!(
        f.announce(first.peer, &all),
        0,
        "not asked again while being stored"
    );
    f.settled(&all);
    assert_eq!(f.load(), (0, 0));
    assert_eq!(
        f.announce(first.peer, &all),
        0,
        "a round that looked before they were stored does not want them again"
    );
}

#[test]
fn an_answer_from_the_wrong_peer_or_an_unknown_request_matches_nothing() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Fetcher::default();
    f.announce(a, &digests(0, 3));
    let asks = f.next(Instant::now(), &mut counter());
    let got = HashSet::new();
    assert_eq!(
        f.delivered(asks[0].id, b, &got, false, Instant::now()),
        None
    );
    assert_eq!(f.delivered(999, a, &got, false, Instant::now()), None);
    assert_eq!(f.load(), (3, 1));
}

/// A window with four digests announced by one peer, asked of it in one request.
fn four_asked() -> (PeerId, Fetcher, Vec<[u8; 32]>, Ask, Instant) {
    let a = PeerId::random();
    let mut f = Fetcher::default();
    let all = digests(0, 4);
    f.announce(a, &all);
    let t0 = Instant::now();
    let ask = f.next(t0, &mut counter()).remove(0);
    (a, f, all, ask, t0)
}

#[test]
fn digests_announced_and_not_delivered_are_not_asked_of_that_peer_again() {
    let (a, mut f, all, ask, t0) = four_asked();
    let got: HashSet<_> = [all[0], [0xee; 32]].into_iter().collect();
    let delivery = f.delivered(ask.id, a, &got, false, t0).unwrap();
    assert_eq!((delivery.undelivered, delivery.unasked), (3, 1));
    // No other peer has them: given up (a later round finds them again); the one delivered
    // stays wanted until it is stored.
    assert!(!f.wants(&all[1]));
    assert_eq!(f.load(), (1, 0));
    f.settled(&delivery.asked);
    assert_eq!(f.load(), (0, 0));
    // Announced again by the same peer: recognised, and not wanted from it again.
    assert_eq!(f.reannounced(a, &all), 3);
    assert_eq!(f.announce(a, &all), 0, "settled, or not delivered by it");
    assert!(!f.wants(&all[1]));
    // Another peer announcing them is asked; once a is gone, its record goes too.
    let b = PeerId::random();
    assert_eq!(f.reannounced(b, &all), 0);
    f.forget(a);
    assert_eq!(f.reannounced(a, &all), 0);
}

#[test]
fn what_an_answer_full_to_its_byte_limit_lacks_is_asked_again_without_blame() {
    let (a, mut f, all, ask, t0) = four_asked();
    let got: HashSet<_> = all[..2].iter().copied().collect();
    let delivery = f.delivered(ask.id, a, &got, true, t0).unwrap();
    assert_eq!((delivery.undelivered, delivery.unasked), (0, 0));
    assert_eq!(f.reannounced(a, &all), 0, "not held against the peer");
    let again = f.next(t0 + BACKOFF_MAX, &mut counter());
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].peer, a, "asked of the same peer");
    assert_eq!(again[0].digests, all[2..].to_vec());
}

#[test]
fn a_digest_is_given_up_after_its_attempts() {
    let a = PeerId::random();
    let mut f = Fetcher::default();
    f.announce(a, &digests(0, 1));
    let mut now = Instant::now();
    let mut ids = counter();
    for _ in 0..MAX_ATTEMPTS {
        now += BACKOFF_MAX;
        let asks = f.next(now, &mut ids);
        assert_eq!(asks.len(), 1);
        f.failed(asks[0].id, a, now);
    }
    assert_eq!(f.load(), (0, 0));
}

#[test]
fn the_wanted_set_is_bounded() {
    let a = PeerId::random();
    let mut f = Fetcher::default();
    let many = digests(0, MAX_WANTED as u32 + 10);
    assert_eq!(f.announce(a, &many), MAX_WANTED);
}

#[test]
fn a_peer_that_answers_busy_is_asked_for_fewer_at_once_and_for_more_once_it_answers_again() {
    let (a, b) = (PeerId::random(), PeerId::random());
    let mut f = Fetcher::default();
    f.announce(a, &digests(0, 40_000));
    f.announce(b, &digests(40_000, 10_000));
    let t0 = Instant::now();
    let mut ids = counter();
    let in_flight = |asks: &[Ask], p: PeerId| asks.iter().filter(|x| x.peer == p).count();
    let asks = f.next(t0, &mut ids);
    assert_eq!(
        (in_flight(&asks, a), in_flight(&asks, b)),
        (PER_PEER, PER_PEER)
    );
    // a admits four at once: the other four are answered Busy; b answers everything.
    let answer = |f: &mut Fetcher, ask: &Ask| {
        let got: HashSet<_> = ask.digests.iter().copied().collect();
        f.delivered(ask.id, ask.peer, &got, false, t0).unwrap();
    };
    for ask in &asks {
        if ask.peer == a && ask.id % 2 == 0 {
            f.busy(a);
            assert!(f.failed(ask.id, a, t0));
        } else {
            answer(&mut f, ask);
        }
    }
    let mut asks = f.next(t0, &mut ids);
    assert_eq!(
        in_flight(&asks, a),
        PER_PEER - 4,
        "narrowed by one per Busy"
    );
    assert_eq!(
        in_flight(&asks, b),
        PER_PEER,
        "another peer's window is its own"
    );
    // a answers again: after WIDEN_AFTER answers its window widens by one, and back to
    // PER_PEER in time, never beyond.
    let mut answered = 0;
    let mut widest = 0;
    while answered < WIDEN_AFTER * PER_PEER * 2 {
        for ask in asks.iter().filter(|x| x.peer == a) {
            answer(&mut f, ask);
            answered += 1;
        }
        for ask in asks.iter().filter(|x| x.peer == b) {
            answer(&mut f, ask);
        }
        asks = f.next(t0, &mut ids);
        widest = widest.max(in_flight(&asks, a));
        if answered < WIDEN_AFTER {
            assert_eq!(
                in_flight(&asks, a),
                PER_PEER - 4,
                "not before {WIDEN_AFTER}"
            );
        }
    }
    assert_eq!(widest, PER_PEER, "widened back to PER_PEER and no further");
    // Busy answers never close the window: one request stays in flight.
    for ask in &asks {
        answer(&mut f, ask);
    }
    for _ in 0..2 * PER_PEER {
        f.busy(a);
    }
    assert_eq!(in_flight(&f.next(t0, &mut ids), a), 1);
}
