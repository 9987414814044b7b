//! History sync v2 between real nodes: catch-up from several peers when one of them fails,
//! and hostile sync peers cut off within bounded work.

mod common;

use common::hostile::attach;
use common::syncpeer::{Conduct, SyncPeer};
use common::*;
use ems_core::Message;
use ems_relay::{Node, Store, Tuning};
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

/// A node whose store holds `messages` before it starts.
async fn seeded(messages: &[Message], bootstrap: Vec<ems_relay::Multiaddr>) -> TestNode {
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
        tuning: quick(),
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
    let faulty = SyncPeer::connect(b.addr().await, &all, Conduct::DropHalf).await;
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
    // The round stops at 64 exchanges without a single difference found.
    let requests = cut_off(Conduct::NeverEnding, "endless").await;
    assert!(requests <= 64, "{requests} requests");
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
