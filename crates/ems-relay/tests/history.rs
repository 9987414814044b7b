//! History: sync hands late joiners and restarted nodes what they missed, and expiry removes
//! messages from every store for good.

mod common;

use common::*;
use ems_relay::{Budget, Node, Tuning};
use std::time::Duration;

fn synced(node: &Node) -> f64 {
    metric(node, "ems_messages_received_total{source=\"sync\"}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_joiner_and_a_restarted_node_obtain_history_through_sync() {
    let policy = policy();
    let a = TestNode::start(vec![], policy.clone()).await;
    let early: Vec<_> = (0..3)
        .map(|i| message(&policy, [i; 32], 512, 600))
        .collect();
    for m in &early {
        // No peers yet: stored, and gossip has nobody to send to.
        a.node().publish(m.clone()).await.unwrap();
    }

    // B starts after the messages were published.
    let mut b = TestNode::start(vec![a.addr().await], policy.clone()).await;
    for m in &early {
        eventually("the late joiner syncs every message", DEADLINE, || async {
            b.node().get(&m.digest()).await.unwrap().is_some()
        })
        .await;
    }
    assert_eq!(synced(b.node()), 3.0);

    // B goes away; two more messages are published while it is down.
    b.stop().await;
    let later: Vec<_> = (10..12)
        .map(|i| message(&policy, [i; 32], 512, 600))
        .collect();
    for m in &later {
        a.node().publish(m.clone()).await.unwrap();
    }
    b.restart().await;
    for m in early.iter().chain(&later) {
        eventually("the restarted node has every message", DEADLINE, || async {
            b.node().get(&m.digest()).await.unwrap().is_some()
        })
        .await;
    }
    // Only what B lacked was sent: two frames, not five.
    eventually("the second sync is accounted", DEADLINE, || async {
        synced(b.node()) == 2.0
    })
    .await;
    assert_eq!(b.node().status().await.store.messages, 5);
    // A learnt nothing new from B.
    assert_eq!(synced(a.node()), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_message_leaves_every_store_and_a_restart_does_not_bring_it_back() {
    let policy = policy();
    let mut nodes = line(3, &policy).await;
    wait_for_line(&nodes).await;

    let keeper = message(&policy, [7; 32], 256, 3_000);
    let ttl_secs = 12;
    let brief = message(&policy, [8; 32], 256, ttl_secs);
    nodes[0].node().publish(keeper.clone()).await.unwrap();
    nodes[0].node().publish(brief.clone()).await.unwrap();
    for t in &nodes {
        for m in [&keeper, &brief] {
            eventually("every node stores both", DEADLINE, || async {
                t.node().get(&m.digest()).await.unwrap().is_some()
            })
            .await;
        }
    }

    // Node 2 is down while the brief message expires.
    nodes[2].stop().await;
    let expires_at = u64::from(brief.ttl());
    for t in &nodes[..2] {
        eventually(
            "the brief message is swept from the running nodes",
            DEADLINE + Duration::from_secs(ttl_secs),
            || async {
                t.node().status().await.store.messages == 1
                    && metric(t.node(), "ems_messages_expired_total") == 1.0
            },
        )
        .await;
        assert!(now() >= expires_at, "nothing is swept before its TTL");
        assert!(t.node().get(&brief.digest()).await.unwrap().is_none());
    }

    // On restart node 2 purges it before serving anything, and sync does not resurrect it.
    nodes[2].restart().await;
    let restarted = nodes[2].node();
    assert_eq!(metric(restarted, "ems_messages_expired_total"), 1.0);
    assert_eq!(restarted.status().await.store.messages, 1);
    eventually("node 2 reconnects", DEADLINE, || async {
        restarted.status().await.peers >= 1
    })
    .await;
    // A fresh message reaching node 2 shows the link and sync have run since the restart.
    let fresh = message(&policy, [9; 32], 256, 3_000);
    nodes[0].node().publish(fresh.clone()).await.unwrap();
    eventually("node 2 gets the fresh message", DEADLINE, || async {
        restarted.get(&fresh.digest()).await.unwrap().is_some()
    })
    .await;
    for (i, t) in nodes.iter().enumerate() {
        assert!(
            t.node().get(&brief.digest()).await.unwrap().is_none(),
            "node {i} brought the expired message back"
        );
        assert!(t.node().get(&keeper.digest()).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_skipped_over_a_peers_argon2id_budget_are_fetched_again_promptly() {
    let policy = with_argon2id(policy());
    // b verifies one Argon2id proof from a peer and then no more: gossip loses the rest. The
    // periodic resync is five minutes away; the refetch of skipped peers is not.
    let strict = Tuning {
        argon2_per_peer: Budget { rate: 0, burst: 1 },
        refetch: Duration::from_secs(1),
        ..tuning()
    };
    assert_eq!(strict.resync, Duration::from_secs(300));
    let a = TestNode::start(vec![], policy.clone()).await;
    let b = TestNode::start_with(vec![a.addr().await], policy.clone(), strict).await;
    let nodes = [a, b];
    wait_for_line(&nodes).await;
    let burst: Vec<_> = (0..5)
        .map(|i| argon2id_message(&policy, [i; 32], 128, 600))
        .collect();
    for m in &burst {
        nodes[0].node().publish(m.clone()).await.unwrap();
    }
    for m in &burst {
        eventually("b recovers every message", DEADLINE, || async {
            nodes[1].node().get(&m.digest()).await.unwrap().is_some()
        })
        .await;
    }
    let b = nodes[1].node();
    assert!(metric(b, "ems_messages_rejected_total{reason=\"over_budget\"}") >= 1.0);
    assert!(synced(b) >= 1.0, "the skipped ones came through sync");
    assert_eq!(
        metric(b, "ems_messages_received_total{source=\"gossip\"}") + synced(b),
        5.0,
        "each message accepted exactly once"
    );
}
