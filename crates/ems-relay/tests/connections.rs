//! The connection manager with real relays on 127.0.0.1: a relay at its `max_connections`
//! still lets a newcomer in, and settles back at `max_connections` by closing an older
//! connection, and refuses connections past its hard cap (`docs/relay.md`, "Connections").

mod common;

use common::*;
use ems_core::Policy;
use ems_relay::{Multiaddr, Tuning};
use std::time::Duration;

/// Short, so that the relay's first peers are old enough to be trimmed soon.
const GRACE: Duration = Duration::from_secs(2);

/// A relay with `max_connections` 3 (a hard cap of 5) and `grace`, and its address.
async fn capped_relay(policy: &Policy, grace: Duration) -> (TestNode, Multiaddr) {
    let capped = Tuning {
        max_connections: 3,
        connection_grace: grace,
        ..tuning()
    };
    let relay = TestNode::start_with(vec![], policy.clone(), capped).await;
    let addr = relay.addr().await;
    (relay, addr)
}

/// Its peers dial it once (no discovery, no redial within the test): a peer it closes does not
/// come back to push out another, so the count it settles at is its own doing.
fn dial_once() -> Tuning {
    Tuning {
        redial: Duration::from_secs(3_600),
        ..tuning()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_relay_lets_a_newcomer_in_and_settles_back_at_its_cap() {
    let policy = policy();
    let (relay, addr) = capped_relay(&policy, GRACE).await;
    let once = dial_once();
    let mut old = Vec::new();
    for _ in 0..3 {
        old.push(TestNode::start_with(vec![addr.clone()], policy.clone(), once.clone()).await);
    }
    eventually("the relay is at its cap", DEADLINE, || async {
        relay.node().status().await.peers == 3
    })
    .await;
    // Its three connections are past their grace period from here on, so trimming one of them
    // can happen at once when the newcomer arrives.
    tokio::time::sleep(GRACE).await;

    let newcomer = TestNode::start_with(vec![addr.clone()], policy.clone(), once).await;
    let trimmed = || metric(relay.node(), "ems_connections_trimmed_total");
    eventually(
        "the newcomer is connected and the relay is back at 3 peers",
        DEADLINE,
        || async {
            newcomer.node().status().await.peers == 1
                && relay.node().status().await.peers == 3
                && trimmed() == 1.0
        },
    )
    .await;
    let mut kept = 0;
    for t in &old {
        kept += t.node().status().await.peers;
    }
    assert_eq!(kept, 2, "exactly one of the old peers was closed");
    assert_eq!(
        metric(relay.node(), "ems_connections_denied_total"),
        0.0,
        "nobody was refused"
    );

    // At its cap it trims no further, the newcomer included once its grace period is over.
    tokio::time::sleep(GRACE + Duration::from_secs(2)).await;
    assert_eq!(newcomer.node().status().await.peers, 1, "newcomer kept");
    assert_eq!(relay.node().status().await.peers, 3);
    assert_eq!(trimmed(), 1.0);
}

/// Over the headroom a relay refuses: with `max_connections` 3 it accepts up to 5 (the hard
/// cap), refuses a sixth while all five are within their grace period, and once that is over
/// closes the excess down to 3 (`docs/relay.md`, "Limits": over 144 refused, over 128 trimmed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refuses_connections_past_its_hard_cap_and_trims_back_to_its_cap() {
    // Long enough that the six peers below are all within it when the sixth dials, even on a
    // loaded machine; the trim back is then waited for.
    const LONG_GRACE: Duration = Duration::from_secs(30);
    let policy = policy();
    let (relay, addr) = capped_relay(&policy, LONG_GRACE).await;
    let once = dial_once();
    let mut peers = Vec::new();
    for n in 1..=5 {
        peers.push(TestNode::start_with(vec![addr.clone()], policy.clone(), once.clone()).await);
        eventually("each peer in turn is accepted", DEADLINE, || async {
            relay.node().status().await.peers == n
        })
        .await;
    }
    let denied = || metric(relay.node(), "ems_connections_denied_total");
    assert_eq!(denied(), 0.0, "up to the hard cap nobody is refused");

    let sixth = TestNode::start_with(vec![addr.clone()], policy.clone(), once).await;
    eventually("the sixth peer is refused", DEADLINE, || async {
        denied() >= 1.0
    })
    .await;
    assert_eq!(
        sixth.node().status().await.peers,
        0,
        "the sixth is not connected"
    );
    assert_eq!(
        relay.node().status().await.peers,
        5,
        "the relay holds its hard cap"
    );

    eventually(
        "after the grace period the relay is back at its cap of 3",
        LONG_GRACE + DEADLINE,
        || async { relay.node().status().await.peers == 3 },
    )
    .await;
    assert_eq!(metric(relay.node(), "ems_connections_trimmed_total"), 2.0);
}
