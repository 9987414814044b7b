//! A healed partition converges at gossip speed: a node that connects fetches what it missed
//! by sync on the new connection, and gossips on what it fetched (if it is still live), so its
//! other neighbours get it too, long before their next periodic round (five minutes).
//!
//! The partition is a cut link: node C's transport refuses its own dials (to B) until the test
//! opens the gate, while D, which knows only C, stays connected to it throughout.

mod common;

use common::*;
use ems_core::{ChainView, Message, Policy};
use ems_relay::{Multiaddr, Node, NodeConfig, TransportFactory, Tuning};
use libp2p::core::{upgrade, ConnectedPoint, Transport as _};
use libp2p::{noise, tcp, yamux};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// TCP + Noise + Yamux like a real node, except that outbound connections fail while `open`
/// is false (inbound ones are always taken).
fn gated(open: Arc<AtomicBool>) -> TransportFactory {
    TransportFactory::new(move |key| {
        let open = open.clone();
        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .and_then(move |stream, endpoint: ConnectedPoint| {
                let pass = !endpoint.is_dialer() || open.load(Ordering::SeqCst);
                async move {
                    if pass {
                        Ok(stream)
                    } else {
                        Err(std::io::Error::other("the link is cut"))
                    }
                }
            })
            .upgrade(upgrade::Version::V1Lazy)
            .authenticate(noise::Config::new(key).unwrap())
            .multiplex(yamux::Config::default())
            .boxed()
    })
}

/// A node on its own temporary directory with the given transport and chain view.
struct Gated {
    node: Node,
    _dir: tempfile::TempDir,
}

async fn start_gated(
    bootstrap: Vec<Multiaddr>,
    policy: &Policy,
    open: Arc<AtomicBool>,
    chain: Arc<dyn ChainView>,
) -> Gated {
    let dir = tempfile::tempdir().unwrap();
    let config = NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        policy: policy.clone(),
        tuning: tuning(),
        transport: Some(gated(open)),
        ..NodeConfig::new(dir.path(), "test")
    };
    Gated {
        node: Node::start(config, chain).await.unwrap(),
        _dir: dir,
    }
}

fn received(node: &Node, source: &str) -> f64 {
    metric(
        node,
        &format!("ems_messages_received_total{{source=\"{source}\"}}"),
    )
}

async fn holds(node: &Node, m: &Message) -> bool {
    node.get(&m.digest()).await.unwrap().is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_healed_partition_converges_by_sync_on_connect_and_gossip_on() {
    let policy = policy();
    // Every periodic round is five minutes away: only the new connection and the gossip-on
    // can deliver within the deadline.
    assert_eq!(Tuning::default().resync.as_secs(), 300);
    assert!(DEADLINE.as_secs() * 4 < 300);
    let a = TestNode::start(vec![], policy.clone()).await;
    let b = TestNode::start(vec![a.addr().await], policy.clone()).await;
    let open = Arc::new(AtomicBool::new(false));
    let c = start_gated(vec![b.addr().await], &policy, open.clone(), chain(&policy)).await;
    let d = TestNode::start(vec![c.node.listen_addrs().await[0].clone()], policy.clone()).await;
    eventually("a-b and c-d connected", DEADLINE, || async {
        b.node().status().await.peers == 1 && d.node().status().await.peers == 1
    })
    .await;
    assert_eq!(
        c.node.status().await.peers,
        1,
        "c reached b through the cut"
    );

    // Published at A while B-C is cut: B gets them by gossip, C and D cannot.
    let missed: Vec<Message> = (0..4u8)
        .map(|i| message(&policy, [i; 32], 700, 900))
        .collect();
    for m in &missed {
        a.node().publish(m.clone()).await.unwrap();
    }
    for m in &missed {
        eventually("b stores what a published", DEADLINE, || async {
            holds(b.node(), m).await
        })
        .await;
    }
    for m in &missed {
        assert!(!holds(&c.node, m).await && !holds(d.node(), m).await);
    }
    // Past gossipsub's IHAVE window (three heartbeats), so B cannot offer them to C by gossip
    // once the link exists: whatever C gets, it gets by sync.
    tokio::time::sleep(tuning().heartbeat * 10).await;

    // The link heals: C's next redial reaches B.
    open.store(true, Ordering::SeqCst);
    for m in &missed {
        eventually("c fetches what it missed from b", DEADLINE, || async {
            holds(&c.node, m).await
        })
        .await;
    }
    for m in &missed {
        eventually("d gets them from c", DEADLINE, || async {
            holds(d.node(), m).await
        })
        .await;
    }
    // C had them by sync (no gossip reached it: they were published before the link existed),
    // and D by C's gossip: D's own rounds with C found nothing and the next is minutes away.
    assert_eq!(received(&c.node, "sync"), 4.0);
    assert_eq!(received(&c.node, "gossip"), 0.0);
    assert_eq!(received(d.node(), "gossip"), 4.0);
    assert_eq!(received(d.node(), "sync"), 0.0);
    // Nothing loops back: every node accepted each message once.
    for node in [a.node(), b.node(), &c.node, d.node()] {
        assert_eq!(node.status().await.store.messages, 4);
        let accepted = received(node, "gossip") + received(node, "sync") + received(node, "api");
        assert_eq!(accepted, 4.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn history_too_deep_to_be_live_is_kept_but_not_gossiped_on() {
    let policy = policy();
    let depth = policy.limits.block_depth as usize;
    // One chain, seen alike by all four nodes; its head moves when the test says.
    let steered = SteeredChain::new(depth + 20, 10);
    let view = |s: &Arc<SteeredChain>| -> Arc<dyn ChainView> { s.clone() };
    let start = |bootstrap: Vec<Multiaddr>| {
        TestNode::start_on(bootstrap, policy.clone(), tuning(), Some(view(&steered)))
    };
    let a = start(vec![]).await;
    let b = start(vec![a.addr().await]).await;
    let open = Arc::new(AtomicBool::new(false));
    let c = start_gated(vec![b.addr().await], &policy, open.clone(), view(&steered)).await;
    let d = start(vec![c.node.listen_addrs().await[0].clone()]).await;
    eventually("a-b and c-d connected", DEADLINE, || async {
        b.node().status().await.peers == 1 && d.node().status().await.peers == 1
    })
    .await;

    // Live when published (bound to the head, block 9); then the head moves past block_depth.
    let now = now();
    let old = message_at(
        &policy,
        [1; 32],
        300,
        now + 900,
        steered.block(9).prefix,
        now,
    );
    a.node().publish(old.clone()).await.unwrap();
    eventually("b stores it", DEADLINE, || async {
        holds(b.node(), &old).await
    })
    .await;
    steered.show(10 + depth);

    open.store(true, Ordering::SeqCst);
    eventually("c fetches it as history", DEADLINE, || async {
        holds(&c.node, &old).await
    })
    .await;
    // A live message C publishes after storing the old one travels the same link to D: once
    // D has it, anything C had gossiped before it has reached D too.
    let head = steered.block(9 + depth);
    let barrier = message_at(&policy, [2; 32], 300, now + 900, head.prefix, now);
    c.node.publish(barrier.clone()).await.unwrap();
    eventually("d gets the barrier", DEADLINE, || async {
        holds(d.node(), &barrier).await
    })
    .await;
    assert!(!holds(d.node(), &old).await, "c gossiped a frame too deep");
    assert_eq!(
        metric(
            d.node(),
            "ems_messages_rejected_total{reason=\"stale_blockhash\"}"
        ),
        0.0
    );
    assert_eq!(received(d.node(), "gossip"), 1.0);
}
