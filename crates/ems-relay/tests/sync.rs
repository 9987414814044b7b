//! History sync v2 between real nodes: one round per connection, catch-up from several peers
//! when one of them fails, and hostile sync peers cut off within bounded work.

mod common;

use common::hostile::attach;
use common::stalling::StallingPeer;
use common::syncpeer::{Conduct, SyncPeer};
use common::*;
use ems_core::Message;
use ems_relay::sync::{
    MAX_EXCHANGES, MAX_OFFER, MAX_OFFER_PARTS, MAX_RECONCILE_ANSWER, SYNC_STREAMS,
};
use ems_relay::{Budget, Node, Store, Tuning};
use std::time::Duration;

fn events(node: &Node, event: &str) -> f64 {
    metric(node, &format!("ems_sync_events_total{{event=\"{event}\"}}"))
}

fn synced(node: &Node) -> f64 {
    metric(node, "ems_messages_received_total{source=\"sync\"}")
}

/// Short intervals, so that the rounds a hostile peer provokes follow each other quickly.
fn quick() -> Tuning {
    Tuning {
        refetch: Duration::from_millis(200),
        resync: Duration::from_secs(1),
        sync_timeout: Duration::from_secs(2),
        ..tuning()
    }
}

/// `n` valid messages with small payloads and TTLs spread over the next half hour.
fn messages(n: usize) -> Vec<Message> {
    let policy = policy();
    let head = chain(&policy).head(now()).unwrap();
    (0..n)
        .map(|i| {
            let ttl = now() + 600 + (i as u64 % 1_800);
            message_at(&policy, [(i % 251) as u8; 32], 16, ttl, head.prefix, now())
        })
        .collect()
}

/// Two nodes: a holding `all[..split]`, b holding `all[..common]` and `all[split..]` and
/// dialling a. Returns them once both hold all of `all` and the grace has passed (three
/// `sync_timeout`s: a node that waited for the other's round and saw none complete would have
/// started its own by then).
async fn reconciled(
    all: &[Message],
    common: usize,
    split: usize,
    tuning: Tuning,
) -> (TestNode, TestNode) {
    let mut b_holds: Vec<Message> = all[..common].to_vec();
    b_holds.extend_from_slice(&all[split..]);
    let a = seeded_with(&all[..split], vec![], tuning.clone()).await;
    let b = seeded_with(&b_holds, vec![a.addr().await], tuning.clone()).await;
    let n = all.len() as u64;
    eventually("both hold them all", DEADLINE, || async {
        a.node().status().await.store.messages == n && b.node().status().await.store.messages == n
    })
    .await;
    tokio::time::sleep(tuning.sync_timeout * 3).await;
    (a, b)
}

/// The two nodes, the one whose peer id is the smaller (the one that starts rounds) first.
fn by_id<'a>(a: &'a Node, b: &'a Node) -> (&'a Node, &'a Node) {
    if a.peer_id().to_bytes() < b.peer_id().to_bytes() {
        (a, b)
    } else {
        (b, a)
    }
}

/// A node whose store holds `messages` before it starts.
async fn seeded(messages: &[Message], bootstrap: Vec<ems_relay::Multiaddr>) -> TestNode {
    seeded_with(messages, bootstrap, quick()).await
}

/// [`seeded`], tuned by `tuning`.
async fn seeded_with(
    messages: &[Message],
    bootstrap: Vec<ems_relay::Multiaddr>,
    tuning: Tuning,
) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = Store::open(&dir.path().join("store.redb"), now()).unwrap();
        for chunk in messages.chunks(4_096) {
            let batch: Vec<_> = chunk.iter().map(|m| (m, now())).collect();
            store.insert_batch(&batch, u64::MAX, now()).unwrap();
        }
    }
    let mut node = TestNode {
        dir,
        node: None,
        chain: None,
        bootstrap,
        policy: policy(),
        tuning,
    };
    node.restart().await;
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn catch_up_from_two_peers_one_dropping_half_its_answers_loses_nothing_and_fetches_each_once()
{
    let all = messages(20_000);
    let a = seeded(&all, vec![]).await;
    let b = TestNode::start_with(vec![a.addr().await], policy(), quick()).await;
    // b starts the round with the faulty peer (it would otherwise wait for the peer's round
    // for the grace, and have everything from a by then).
    let faulty = SyncPeer::connect_ordered(
        b.node().peer_id(),
        false,
        b.addr().await,
        &all,
        Conduct::DropHalf,
    )
    .await;
    // A message is counted as accepted just after its commit: wait for both.
    eventually(
        "b holds and has counted every message",
        DEADLINE * 3,
        || async {
            b.node().status().await.store.messages == 20_000 && synced(b.node()) >= 20_000.0
        },
    )
    .await;
    let b = b.node();
    assert_eq!(synced(b), 20_000.0, "each message accepted once");
    assert_eq!(
        events(b, "fetched"),
        20_000.0,
        "each message fetched once ({} fetch requests, {} busy)",
        events(b, "fetch_requests"),
        events(b, "busy")
    );
    assert!(faulty.requests() > 0, "the faulty peer was asked too");
    assert_eq!(
        events(b, "cut_off"),
        0.0,
        "an unreliable peer is not a hostile one"
    );
}

/// Starts a node, connects a sync peer of this conduct to it, and waits until the node cut it
/// off; returns how many requests the node made of it.
async fn cut_off(conduct: Conduct, fault: &str) -> u64 {
    cut_off_holding(conduct, &[], fault).await
}

/// [`cut_off`] with a peer holding `held`.
async fn cut_off_holding(conduct: Conduct, held: &[Message], fault: &str) -> u64 {
    let node = seeded(&messages(100), vec![]).await;
    let peer = SyncPeer::connect(node.addr().await, held, conduct).await;
    eventually("the hostile peer is cut off", DEADLINE, || async {
        events(node.node(), "cut_off") == 1.0
    })
    .await;
    eventually("and disconnected", DEADLINE, || async { !peer.connected() }).await;
    assert!(events(node.node(), fault) >= 1.0, "cut off for {fault}");
    assert_eq!(node.node().status().await.store.messages, 100);
    peer.requests()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_answering_with_other_requests_tags_is_cut_off() {
    // Four mismatches reach the threshold; each ends a round, the next follows 200 ms later.
    let requests = cut_off(Conduct::Mismatched, "mismatch").await;
    assert!(requests <= 8, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_repeating_its_answer_is_cut_off() {
    let requests = cut_off(Conduct::Repeated, "no_progress").await;
    assert!(requests <= 8, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_whose_ranges_never_end_is_cut_off_after_one_round() {
    // The round stops at MAX_EXCHANGES without a single difference found.
    let requests = cut_off(Conduct::NeverEnding, "endless").await;
    assert!(requests <= u64::from(MAX_EXCHANGES), "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_announcing_digests_it_does_not_deliver_is_cut_off() {
    // 64 undelivered digests cost 8 points: 13 fetch requests reach the threshold.
    let requests = cut_off(Conduct::Announcing, "undelivered").await;
    assert!(requests <= 2 * (1 + 13), "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_announcing_the_same_missing_message_every_round_is_cut_off() {
    // The peer holds one message the node lacks and never hands it over. One undelivered
    // digest costs 1 point, back within a second, so rounds at any pace never added up; the
    // digest announced again in a later round costs 25: cut off at the fifth round or so.
    let requests = cut_off_holding(Conduct::Withholding, &messages(1), "reannounced").await;
    assert!(requests <= 12, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fault_that_cut_a_peer_off_is_exported_by_reason() {
    let node = seeded(&messages(100), vec![]).await;
    let _peer = SyncPeer::connect(node.addr().await, &[], Conduct::Mismatched).await;
    let cut = |reason: &str| {
        metric(
            node.node(),
            &format!("ems_sync_peers_cut_off_total{{reason=\"{reason}\"}}"),
        )
    };
    eventually("the peer is cut off", DEADLINE, || async {
        cut("mismatch") == 1.0
    })
    .await;
    assert_eq!(cut("invalid"), 0.0);
    // Faults of 25 points each, 200 ms apart (0.2 points come back between two): three are
    // seen at 75 or under, the others above 75 and at most at the threshold, where the last
    // one is.
    let points = |le: &str| {
        metric(
            node.node(),
            &format!("ems_sync_fault_points_bucket{{le=\"{le}\"}}"),
        )
    };
    let faults = metric(node.node(), "ems_sync_fault_points_count");
    assert!(points("75.0") >= 3.0);
    assert!(faults >= 4.0, "{faults} faults");
    assert_eq!(points("100.0"), faults);
    assert_eq!(faults, events(node.node(), "mismatch"));
}

/// A peer opens 200 sync streams at once, each announcing a request of the largest length and
/// then stalling. The node reads at most `SYNC_STREAMS` of them (each holding a request buffer of
/// `MAX_REQUEST_LEN`), drops the others unread at once, and drops the ones it reads at its
/// `sync_timeout`; the connection stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_stalling_sync_streams_is_held_to_the_stream_cap_and_the_timeout() {
    const STREAMS: usize = 200;
    // Long enough that the streams past the cap are all dropped well before it, on a loaded
    // machine too: dropping them takes milliseconds.
    let timeout = Duration::from_secs(15);
    let tuning = Tuning {
        sync_timeout: timeout,
        ..tuning()
    };
    let node = TestNode::start_with(vec![], policy(), tuning).await;
    let peer = StallingPeer::connect(node.addr().await, STREAMS).await;
    eventually("the streams past the cap dropped", DEADLINE, || async {
        peer.opened() == STREAMS && peer.dropped() >= STREAMS - SYNC_STREAMS
    })
    .await;
    let dropped_past_cap = std::time::Instant::now();
    // (With a larger cap, the streams it let in are held until the timeout drops them all, and
    // none is held here.)
    assert_eq!(STREAMS - peer.dropped(), SYNC_STREAMS, "streams held");
    eventually("the stalled streams dropped", DEADLINE, || async {
        peer.dropped() == STREAMS
    })
    .await;
    assert!(
        dropped_past_cap.elapsed() >= timeout / 2,
        "the streams read were dropped before the timeout"
    );
    assert!(
        peer.connected(),
        "stalling streams is not a reason to disconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_without_the_sync_protocol_gets_one_round_per_connection() {
    // A gossip-only peer: the first round's request fails as unsupported. Over five resync
    // intervals (25 refetch intervals) no other round is started with it, and it is not
    // blamed for it.
    let node = seeded(&messages(10), vec![]).await;
    let peer = attach(&node, "/qrl/ems/1/test").await;
    eventually("the first round was tried", DEADLINE, || async {
        events(node.node(), "rounds") >= 1.0
    })
    .await;
    let watch = quick().resync * 5;
    let until = std::time::Instant::now() + watch;
    while std::time::Instant::now() < until {
        assert_eq!(
            events(node.node(), "rounds"),
            1.0,
            "a round was tried again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(peer.connected(), "not speaking sync is no fault");
    assert_eq!(events(node.node(), "cut_off"), 0.0);
}

/// Both nodes hold the same 1,000 messages, a 300 more and b 200 more. On connect one round
/// runs, started by the node whose peer id is the smaller; its initiator fetches what it lacks
/// and offers the other what that one lacks, which fetches it without a round of its own.
/// Both end with all 1,500, and no other round follows within the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_reconcile_in_one_round_and_each_fetches_what_it_lacks() {
    let all = messages(1_500);
    let tuning = Tuning {
        refetch: Duration::from_millis(200),
        sync_timeout: Duration::from_secs(1),
        ..tuning()
    };
    let (a, b) = reconciled(&all, 1_000, 1_300, tuning).await;
    let (a, b) = (a.node(), b.node());
    let (first, second) = by_id(a, b);
    assert_eq!(events(first, "rounds"), 1.0, "the smaller peer id starts");
    assert_eq!(events(second, "rounds"), 0.0, "the other one runs none");
    assert_eq!(events(second, "overdue"), 0.0);
    assert_eq!(
        events(first, "offers"),
        1.0,
        "300 or 200 digests fit one offer"
    );
    assert_eq!(events(second, "offers_taken"), 1.0);
    assert_eq!(events(a, "fetched"), 200.0);
    assert_eq!(events(b, "fetched"), 300.0);
    assert_eq!(synced(a) + synced(b), 500.0, "each message accepted once");
    // Each fetched from its only peer, which has every frame it fetched: none is gossiped back.
    for node in [a, b] {
        assert_eq!(
            gossip_received(node),
            0.0,
            "a fetched frame was gossiped back to the peer it came from"
        );
    }
}

/// A peer whose id makes it the one to start the rounds, and that never starts one (it answers
/// honestly, and holds 50 messages the node lacks): the node waits the grace (twice
/// `sync_timeout`), then starts its own round and fetches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_that_should_start_the_round_and_stays_silent_delays_the_catch_up_by_the_grace() {
    let all = messages(150);
    let node = seeded(&all[..100], vec![]).await;
    let started = std::time::Instant::now();
    let peer = SyncPeer::connect_ordered(
        node.node().peer_id(),
        true,
        node.addr().await,
        &all[50..],
        Conduct::Honest,
    )
    .await;
    let grace = quick().sync_timeout * 2;
    eventually("connected", DEADLINE, || async { peer.connected() }).await;
    tokio::time::sleep(grace / 2).await;
    if started.elapsed() < grace {
        assert_eq!(events(node.node(), "rounds"), 0.0, "the node waits");
    }
    eventually("the node holds all 150", DEADLINE, || async {
        node.node().status().await.store.messages == 150
    })
    .await;
    assert!(started.elapsed() >= grace, "not before the grace");
    assert!(events(node.node(), "overdue") >= 1.0);
    assert_eq!(events(node.node(), "fetched"), 50.0);
    assert_eq!(events(node.node(), "cut_off"), 0.0, "silence is no fault");
}

/// A peer that runs one exchange and then offers 2,000 digests it does not have, offer after
/// offer, past the parts a round may have: the node takes at most one round's worth, asks the
/// peer for them, and cuts it off for the undelivered digests and the extra offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_peer_flooding_offers_is_cut_off_within_bounded_work() {
    let node = seeded(&messages(100), vec![]).await;
    let peer = SyncPeer::connect(node.addr().await, &[], Conduct::Flooding).await;
    eventually("the flooding peer is cut off", DEADLINE, || async {
        events(node.node(), "cut_off") == 1.0
    })
    .await;
    eventually("and disconnected", DEADLINE, || async { !peer.connected() }).await;
    let node = node.node();
    let taken = events(node, "offers_taken");
    assert!(taken <= f64::from(MAX_OFFER_PARTS), "{taken} offers taken");
    assert!(events(node, "offered_digests") <= (MAX_OFFER * MAX_OFFER_PARTS as usize) as f64);
    // 13 fetch requests of 64 undelivered digests reach the threshold on their own.
    let asked = events(node, "fetch_requests");
    assert!(asked <= 64.0, "{asked} fetch requests");
    assert_eq!(events(node, "fetched"), 0.0);
    assert_eq!(node.status().await.store.messages, 100);
}

/// A round cut short by a `Busy` answer offers what it found the peer lacking so far, as not
/// complete. The node holds 20,000 messages and starts the round; the peer holds 10 of the
/// first 1,250 (in negentropy's order) and all the others but one, and answers `Busy` from
/// its second exchange on. The first exchange finds the 1,240 the peer lacks in that range
/// (the peer lists its 10 ids there) and a difference elsewhere still to narrow down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_cut_short_by_busy_offers_what_it_found() {
    let all = messages(20_000);
    let mut order: Vec<&Message> = all.iter().collect();
    order.sort_by_key(|m| (m.ttl(), m.digest()));
    let mut held: Vec<Message> = order[..10].iter().map(|m| (*m).clone()).collect();
    held.extend(order[1_250..1_300].iter().map(|m| (*m).clone()));
    held.extend(order[1_301..].iter().map(|m| (*m).clone()));
    let node = seeded(&all, vec![]).await;
    let peer = SyncPeer::connect_ordered(
        node.node().peer_id(),
        false,
        node.addr().await,
        &held,
        Conduct::BusyAfterFirst,
    )
    .await;
    eventually("the node offered what it found", DEADLINE, || async {
        events(node.node(), "offered") >= 1_240.0
    })
    .await;
    assert!(peer.requests() >= 2);
    assert!(events(node.node(), "busy") >= 1.0);
    assert_eq!(events(node.node(), "cut_off"), 0.0);
}

/// A round longer than the peer's serving budget goes on where it was: an exchange answered
/// `Busy` is sent again after a backoff, with the round's state kept, so one round still finds
/// every difference and the other node needs none of its own. Each node answers one exchange a
/// second (burst 1), and a round over 2,000 items takes more than one exchange. (The waiting
/// node waits a grace past each exchange of the round that reaches it, so a round slowed by
/// a loaded machine is not met by a second one.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_answered_busy_goes_on_where_it_was() {
    let all = messages(2_000);
    let tuning = Tuning {
        refetch: Duration::from_millis(200),
        sync_timeout: Duration::from_secs(2),
        sync_exchanges: Budget { rate: 1, burst: 1 },
        ..tuning()
    };
    let (a, b) = reconciled(&all, 1_000, 1_800, tuning).await;
    let (a, b) = (a.node(), b.node());
    let (first, second) = by_id(a, b);
    assert!(events(first, "busy") >= 1.0, "the budget was reached");
    assert!(events(first, "exchanges_again") >= 1.0);
    assert_eq!(events(first, "rounds"), 1.0, "one round, not started over");
    assert_eq!(events(second, "rounds"), 0.0, "the other one runs none");
    assert_eq!(events(second, "overdue"), 0.0);
    assert_eq!(events(a, "fetched"), 200.0);
    assert_eq!(events(b, "fetched"), 800.0);
}

/// A catch-up larger than the fetch window: the rounds find more missing messages than the
/// window may want at once (`Tuning::sync_window`, here 500 of 3,000), so what they leave out
/// is found by further rounds once the window has drained, and nothing is lost or fetched
/// twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catch_up_larger_than_the_fetch_window_goes_on_in_further_rounds() {
    let all = messages(3_000);
    let tuning = Tuning {
        refetch: Duration::from_millis(200),
        sync_timeout: Duration::from_secs(2),
        sync_window: 500,
        ..tuning()
    };
    let a = seeded_with(&all, vec![], tuning.clone()).await;
    let b = seeded_with(&[], vec![a.addr().await], tuning).await;
    eventually("b holds all 3,000", DEADLINE, || async {
        b.node().status().await.store.messages == 3_000
    })
    .await;
    let b = b.node();
    assert_eq!(events(b, "fetched"), 3_000.0, "each fetched once");
    assert_eq!(synced(b), 3_000.0);
    assert!(events(b, "rounds") >= 2.0, "more than one round of b's");
}

/// A node catching up from two peers that both hold what it lacks: what it fetches is new to
/// it, but every peer it could gossip it to is known to hold it once both have announced it,
/// so it gossips little of it back. Before, each of the 600 frames went back to both peers
/// (1,200 copies); now none in most runs, and up to 256 when a peer's announcement comes after
/// a few fetches (a frame then has one known holder, and goes to both).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_catching_up_gossips_nothing_back_to_peers_known_to_hold_it() {
    let all = messages(600);
    let tuning = Tuning {
        refetch: Duration::from_millis(200),
        sync_timeout: Duration::from_secs(1),
        ..tuning()
    };
    let a = seeded_with(&all, vec![], tuning.clone()).await;
    let b = seeded_with(&all, vec![], tuning.clone()).await;
    let c = seeded_with(&[], vec![a.addr().await, b.addr().await], tuning.clone()).await;
    eventually("c holds all 600", DEADLINE, || async {
        c.node().status().await.store.messages == 600
    })
    .await;
    tokio::time::sleep(tuning.sync_timeout * 2).await;
    assert_eq!(events(c.node(), "fetched"), 600.0, "each fetched once");
    let back = gossip_received(a.node()) + gossip_received(b.node());
    assert!(
        back < 600.0,
        "{back} copies went back to peers that hold them"
    );
}

/// Reconcile answers are paid from the byte budget that frames are (`Tuning::sync_bytes`): a
/// short request can ask for an answer of up to `MAX_RECONCILE_ANSWER`, so a request is served
/// only with that much of the budget left. With a burst one byte short of that and no refill,
/// every reconcile request is answered `Busy`, and no round gets anywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconcile_answer_is_served_only_with_the_largest_answer_left_in_the_byte_budget() {
    let all = messages(100);
    let tuning = Tuning {
        sync_bytes: Budget {
            rate: 0,
            burst: MAX_RECONCILE_ANSWER as u32 - 1,
        },
        ..quick()
    };
    let a = seeded_with(&all[..50], vec![], tuning.clone()).await;
    let b = seeded_with(&all[50..], vec![a.addr().await], tuning).await;
    let (a, b) = (a.node(), b.node());
    eventually(
        "a round's first exchange is answered busy",
        DEADLINE,
        || async { events(a, "served_busy") + events(b, "served_busy") >= 1.0 },
    )
    .await;
    for node in [a, b] {
        assert_eq!(events(node, "served_exchanges"), 0.0);
        assert_eq!(events(node, "fetched"), 0.0);
        assert_eq!(node.status().await.store.messages, 50);
    }
}
