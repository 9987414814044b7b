//! Five relays in a line (each knows only its neighbour): what one end publishes reaches all
//! five; invalid frames injected by a hostile peer are stored and forwarded by none, and the
//! injector's gossipsub score drops.

mod common;

use common::hostile::HostilePeer;
use common::*;
use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{ChainView, Message};
use ems_pow::{Algorithm, Proof};
use ems_relay::Tuning;

fn rejected(node: &ems_relay::Node, reason: &str) -> f64 {
    metric(
        node,
        &format!("ems_messages_rejected_total{{reason=\"{reason}\"}}"),
    )
}

async fn stored_everywhere(nodes: &[TestNode], msg: &Message) {
    let digest = msg.digest();
    for (i, t) in nodes.iter().enumerate() {
        eventually(
            &format!("node {i} stores the message"),
            DEADLINE,
            || async { t.node().get(&digest).await.unwrap().is_some() },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_nodes_in_a_line_store_what_is_valid_and_nothing_that_is_not() {
    let policy = policy();
    let nodes = line(5, &policy).await;
    wait_for_line(&nodes).await;

    // A message published at one end is stored by all five, and announced once at each.
    let first = message(&policy, [1; 32], 1024, 600);
    let published = nodes[0].node().publish(first.clone()).await.unwrap();
    assert_eq!(published.digest, first.digest());
    assert!(!published.duplicate);
    stored_everywhere(&nodes, &first).await;
    // And the other way.
    let back = message(&policy, [2; 32], 100, 600);
    nodes[4].node().publish(back.clone()).await.unwrap();
    stored_everywhere(&nodes, &back).await;

    // A hostile peer attached to node 0 injects frames that are invalid in every way.
    let injector = HostilePeer::connect(nodes[0].addr().await, "/qrl/ems/1/test").await;
    eventually("injector sees node 0 on the topic", DEADLINE, || async {
        injector.ready()
    })
    .await;
    let target = nodes[0].node();
    eventually("node 0 scores the injector", DEADLINE, || async {
        target.peer_score(&injector.peer_id).await.is_some()
    })
    .await;
    let score_before = target.peer_score(&injector.peer_id).await.unwrap();
    assert!(score_before >= 0.0, "a fresh peer starts at {score_before}");

    let now = now();
    let devnet = DevnetChain::new(&DevnetConfig::default(), 3_660);
    let head = devnet.head(now).unwrap();
    let expired = message_at(&policy, [3; 32], 100, now - 600, head.prefix, now);
    let mut bad_pow = message(&policy, [3; 32], 100, 600);
    let proof = bad_pow.pow().proof;
    bad_pow.set_pow(
        Algorithm::Sha256,
        Proof {
            nonce: proof.nonce.wrapping_add(1),
            hash: proof.hash,
        },
    );
    let old_block = devnet.block(head.height - 100);
    let stale = message_at(&policy, [3; 32], 100, now + 600, old_block.prefix, now);
    let invalid = [&expired, &bad_pow, &stale];
    injector.send(expired.encode()).await;
    injector.send(vec![0xee; 50]).await;
    injector.send(bad_pow.encode()).await;
    injector.send(stale.encode()).await;

    for reason in [
        "expired",
        "malformed",
        "insufficient_work",
        "stale_blockhash",
    ] {
        eventually(
            &format!("node 0 refuses the {reason} frame"),
            DEADLINE,
            || async { rejected(target, reason) >= 1.0 },
        )
        .await;
    }
    eventually(
        "the injector's score drops below zero",
        DEADLINE,
        || async {
            target
                .peer_score(&injector.peer_id)
                .await
                .is_some_and(|s| s < 0.0)
        },
    )
    .await;

    // A valid message published after the invalid ones travels the same links; once it has
    // reached the far end, anything node 0 had forwarded before it would have arrived too.
    let barrier = message(&policy, [4; 32], 100, 600);
    target.publish(barrier.clone()).await.unwrap();
    stored_everywhere(&nodes, &barrier).await;

    for (i, t) in nodes.iter().enumerate() {
        for m in invalid {
            assert!(
                t.node().get(&m.digest()).await.unwrap().is_none(),
                "node {i} stored an invalid message"
            );
        }
        if i > 0 {
            for reason in [
                "expired",
                "malformed",
                "insufficient_work",
                "stale_blockhash",
            ] {
                assert_eq!(
                    rejected(t.node(), reason),
                    0.0,
                    "node {i} received a {reason} frame: node 0 forwarded it"
                );
            }
        }
        // Exactly the three valid messages, each accepted once.
        assert_eq!(t.node().status().await.store.messages, 3, "node {i}");
    }
    // The line held: every message crossed the middle nodes.
    let peers: Vec<usize> = futures::future::join_all(
        nodes
            .iter()
            .map(|t| async { t.node().status().await.peers }),
    )
    .await;
    // Node 0 also counts the injector, unless three rejected frames in quick succession put it
    // below the graylist score and node 0 banned it (attacks.rs tests the ban itself).
    let banned = metric(target, "ems_peers_banned_total") as usize;
    assert!(banned <= 1, "node 0 banned {banned} peers");
    assert_eq!(
        peers,
        [2 - banned, 2, 2, 2, 1],
        "node 0 counts the injector unless it banned it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_discovery_on_the_ends_of_a_line_find_each_other() {
    let policy = policy();
    let discovering = Tuning {
        discovery: true,
        ..tuning()
    };
    let a = TestNode::start_with(vec![], policy.clone(), discovering.clone()).await;
    let b = TestNode::start_with(vec![a.addr().await], policy.clone(), discovering.clone()).await;
    let c = TestNode::start_with(vec![b.addr().await], policy.clone(), discovering).await;
    eventually("a and c connect through Kademlia", DEADLINE, || async {
        a.node().status().await.peers >= 2 && c.node().status().await.peers >= 2
    })
    .await;
}
