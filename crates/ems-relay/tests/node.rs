//! One node through its handle: publish, duplicates, rejections, subscriptions, queries,
//! restarts, the store-full policy and the relay/store switches.

mod common;

use common::*;
use ems_core::{ChainView, Reject};
use ems_relay::store::rate;
use ems_relay::{Filter, PublishError, Query, RelayError, Task, Tuning};
use futures::StreamExt;

async fn next(s: &mut ems_relay::Subscription) -> std::sync::Arc<ems_core::Message> {
    tokio::time::timeout(DEADLINE, s.next())
        .await
        .expect("subscription delivers")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publish_stores_once_announces_once_and_refuses_invalid_messages_with_their_reason() {
    let policy = policy();
    let t = TestNode::start(vec![], policy.clone()).await;
    let node = t.node();
    let mut all = node.subscribe(Filter::All);
    let mut tagged = node.subscribe(Filter::Tags(vec![[2; 32]]));

    let one = message(&policy, [1; 32], 64, 600);
    let two = message(&policy, [2; 32], 64, 600);
    assert!(!node.publish(one.clone()).await.unwrap().duplicate);
    assert!(node.publish(one.clone()).await.unwrap().duplicate);
    assert!(!node.publish(two.clone()).await.unwrap().duplicate);

    assert_eq!(*next(&mut all).await, one);
    assert_eq!(*next(&mut all).await, two, "the duplicate is not announced");
    assert_eq!(*next(&mut tagged).await, two, "the filter skips other tags");

    let now = now();
    let head = chain(&policy).head(now).unwrap();
    let expired = message_at(&policy, [1; 32], 64, now - 600, head.prefix, now);
    match node.publish(expired).await {
        Err(PublishError::Rejected(r @ Reject::Expired { .. })) => assert_eq!(r.code(), "expired"),
        other => panic!("expected an expired rejection, got {other:?}"),
    }
    let weak = message(&policy, [1; 32], 64, 600);
    let mut strict = policy.clone();
    strict.pow.sha256.min_work = 1 << 40;
    let hard = TestNode::start(vec![], strict).await;
    match hard.node().publish(weak).await {
        Err(PublishError::Rejected(r)) => assert_eq!(r.code(), "insufficient_work"),
        other => panic!("expected insufficient work, got {other:?}"),
    }
    assert_eq!(
        metric(node, "ems_messages_rejected_total{reason=\"expired\"}"),
        1.0
    );
    assert_eq!(
        metric(node, "ems_messages_received_total{source=\"api\"}"),
        2.0
    );
    let status = serde_json::to_value(node.status().await).unwrap();
    assert_eq!(status["store"]["messages"], 2);
    assert_eq!(status["network"], "test");
    assert_eq!(status["chain"]["source"], "devnet");
    assert_eq!(status["chain"]["healthy"], true);
    assert_eq!(status["chain"]["head_prefix"].as_str().unwrap().len(), 8);
    assert!(status["listen_addrs"][0]
        .as_str()
        .unwrap()
        .ends_with(&format!("/p2p/{}", node.peer_id())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_message_is_there_after_a_restart() {
    let policy = policy();
    let mut t = TestNode::start(vec![], policy.clone()).await;
    let msgs: Vec<_> = (0..300u32)
        .map(|i| message(&policy, [(i % 7) as u8; 32], 200, 600))
        .collect();
    // Concurrent publishes share group commits.
    let node = t.node().clone();
    let acks = futures::future::join_all(msgs.iter().map(|m| node.publish(m.clone()))).await;
    assert!(acks.iter().all(|a| matches!(a, Ok(p) if !p.duplicate)));
    drop(node);
    t.stop().await;
    t.restart().await;
    for m in &msgs {
        assert_eq!(t.node().get(&m.digest()).await.unwrap().as_ref(), Some(m));
    }
    assert_eq!(t.node().status().await.store.messages, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queries_return_unexpired_messages_by_tag_in_pages() {
    let policy = policy();
    let t = TestNode::start(vec![], policy.clone()).await;
    let node = t.node();
    let mut mine = Vec::new();
    for i in 0..12u8 {
        let tag = if i % 3 == 0 { [0xee; 32] } else { [i; 32] };
        let m = message(&policy, tag, 32, 600);
        node.publish(m.clone()).await.unwrap();
        if tag == [0xee; 32] {
            mine.push(m);
        }
    }
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = node
            .query(Query {
                tags: vec![[0xee; 32]],
                since: None,
                limit: 3,
                cursor,
            })
            .await
            .unwrap();
        assert!(page.messages.len() <= 3);
        got.extend(page.messages);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let digests = |v: &[ems_core::Message]| {
        let mut d: Vec<_> = v.iter().map(|m| m.digest()).collect();
        d.sort();
        d
    };
    assert_eq!(digests(&got), digests(&mine));
    let all = node
        .query(Query {
            limit: 100,
            ..Query::default()
        })
        .await
        .unwrap();
    assert_eq!(all.messages.len(), 12);
    assert!(all.next_cursor.is_none());
    let bad = node
        .query(Query {
            tags: vec![[1; 32]],
            cursor: Some("not a cursor".into()),
            ..Query::default()
        })
        .await;
    assert!(matches!(bad, Err(RelayError::BadCursor(_))), "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_store_refuses_a_poorer_message_keeps_acknowledged_ones_and_recovers_as_they_expire()
{
    let mut policy = policy();
    policy.store.max_bytes = 9_000;
    let t = TestNode::start(vec![], policy.clone()).await;
    let node = t.node();
    // 1 KiB payloads: 1,139-byte frames, seven fit in 9,000 bytes.
    let brief: Vec<_> = (0..7).map(|i| message(&policy, [i; 32], 1024, 8)).collect();
    for m in &brief {
        node.publish(m.clone()).await.unwrap();
    }
    // Longer-lived at the same minimum work, so it pays less per byte-second than every stored
    // message (drawn again in the unlikely case its proof is lucky enough to pay more).
    let now = now();
    let cheapest = brief.iter().map(|m| rate(m, now)).min().unwrap();
    let refused = std::iter::repeat_with(|| message(&policy, [9; 32], 1024, 600))
        .find(|m| rate(m, now) < cheapest / 2)
        .unwrap();
    for _ in 0..3 {
        assert!(matches!(
            node.publish(refused.clone()).await,
            Err(PublishError::StoreFull)
        ));
    }
    assert_eq!(
        metric(node, "ems_messages_rejected_total{reason=\"store_full\"}"),
        3.0
    );
    let status = node.status().await;
    assert_eq!(status.store.messages, 7);
    assert!(status.store.bytes <= policy.store.max_bytes);
    for m in &brief {
        assert!(
            node.get(&m.digest()).await.unwrap().is_some(),
            "acknowledged ones are kept"
        );
    }
    // A duplicate of a stored message is still answered as such.
    assert!(node.publish(brief[0].clone()).await.unwrap().duplicate);
    // Space comes back as the stored messages expire.
    eventually(
        "the store accepts again once its messages expired",
        DEADLINE,
        || async { node.publish(refused.clone()).await.is_ok() },
    )
    .await;
    assert!(node.get(&refused.digest()).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_store_off_a_node_relays_without_keeping_and_with_relay_off_it_keeps_without_relaying(
) {
    let policy = policy();
    let mut no_store = policy.clone();
    no_store.store.enabled = false;
    let mut no_relay = policy.clone();
    no_relay.relay.enabled = false;

    // A line where the middle node keeps nothing: it still validates and forwards.
    let a = TestNode::start(vec![], policy.clone()).await;
    let b = TestNode::start(vec![a.addr().await], no_store).await;
    let c = TestNode::start(vec![b.addr().await], policy.clone()).await;
    let nodes = [a, b, c];
    wait_for_line(&nodes).await;
    let m = message(&policy, [1; 32], 64, 600);
    nodes[0].node().publish(m.clone()).await.unwrap();
    eventually(
        "the far end gets it through the storeless node",
        DEADLINE,
        || async { nodes[2].node().get(&m.digest()).await.unwrap().is_some() },
    )
    .await;
    let middle = nodes[1].node();
    assert_eq!(
        metric(middle, "ems_messages_received_total{source=\"gossip\"}"),
        1.0
    );
    assert!(middle.get(&m.digest()).await.unwrap().is_none());
    assert_eq!(middle.status().await.store.messages, 0);

    // A line where the middle node does not relay: it keeps what it receives, forwards none
    // of it, and still sends its own messages.
    let d = TestNode::start(vec![], policy.clone()).await;
    let e = TestNode::start(vec![d.addr().await], no_relay).await;
    let f = TestNode::start(vec![e.addr().await], policy.clone()).await;
    let nodes = [d, e, f];
    wait_for_line(&nodes).await;
    let passing = message(&policy, [2; 32], 64, 600);
    nodes[0].node().publish(passing.clone()).await.unwrap();
    eventually("the non-relaying node stores it", DEADLINE, || async {
        nodes[1]
            .node()
            .get(&passing.digest())
            .await
            .unwrap()
            .is_some()
    })
    .await;
    // Its own message travels the same link to f; once it is there, anything forwarded
    // before it would be too.
    let own = message(&policy, [3; 32], 64, 600);
    nodes[1].node().publish(own.clone()).await.unwrap();
    eventually("the node's own message reaches f", DEADLINE, || async {
        nodes[2].node().get(&own.digest()).await.unwrap().is_some()
    })
    .await;
    assert!(nodes[2]
        .node()
        .get(&passing.digest())
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        metric(
            nodes[2].node(),
            "ems_messages_received_total{source=\"gossip\"}"
        ),
        1.0
    );
}

/// Shutdown stops the swarm first and the store's writer after it, so a publish whose commit
/// lands in between finds no swarm to gossip it. That must not turn the commit into an error
/// (which the API answers 503 although the message is stored): it is acknowledged as stored
/// and reaches peers later by sync. The supervision fault injection stops the swarm
/// deterministically, which is exactly that in-between state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_committed_after_the_swarm_stopped_is_acknowledged_as_stored() {
    let policy = policy();
    let tuning = Tuning {
        inject_fault: Some(Task::Swarm),
        ..tuning()
    };
    let node = TestNode::start_with(vec![], policy.clone(), tuning).await;
    let failure = tokio::time::timeout(DEADLINE, node.node().failed())
        .await
        .expect("the injected swarm failure is reported");
    assert_eq!(failure.task, Task::Swarm);

    let m = message(&policy, [0x5d; 32], 100, 600);
    let published = node
        .node()
        .publish(m.clone())
        .await
        .expect("a message committed while the swarm is gone is acknowledged");
    assert!(published.stored && !published.duplicate);
    assert_eq!(
        node.node().get(&m.digest()).await.unwrap(),
        Some(m),
        "acknowledged, and stored"
    );
}
