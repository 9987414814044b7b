//! What a ban takes from a hostile peer: the frames it queued before the ban are dropped
//! unvalidated, and a flooder that comes back under new identities loses its address. Each
//! test scripts the attacker as a raw libp2p peer (`common/hostile.rs`) against real nodes on
//! 127.0.0.1; `docs/security.md` maps them to their rows of the threat model.

mod common;

use common::hostile::{attach, unmined, HostilePeer};
use common::*;
use ems_pow::Algorithm;
use ems_relay::{Budget, Node, Tuning};
use std::time::Duration;

const TOPIC: &str = "/qrl/ems/1/test";

fn rejected(node: &Node, reason: &str) -> f64 {
    metric(
        node,
        &format!("ems_messages_rejected_total{{reason=\"{reason}\"}}"),
    )
}

/// Budgets out of the way: these tests are about what a ban does, not what a budget skips.
fn unbudgeted() -> Tuning {
    let lifted = Budget {
        rate: 1_000_000,
        burst: 1_000_000,
    };
    Tuning {
        waste_per_peer: lifted,
        waste_per_ip: lifted,
        argon2_per_peer: lifted,
        argon2_per_ip: lifted,
        ..tuning()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frames_a_banned_peer_queued_before_its_ban_are_never_validated() {
    let policy = with_argon2id(policy());
    let node = TestNode::start_with(vec![], policy.clone(), unbudgeted()).await;
    let target = node.node();

    // Argon2id frames with bogus proofs arrive far faster than the node can verify them (each
    // verification is about a millisecond), so most of them are still queued when the first
    // three verdicts get the flooder banned. On a heavily loaded machine the flooder's own task
    // can be starved until its ban, so that nothing of its flood was queued yet: then a new
    // identity floods again (loopback is exempt from address bans), up to three times. With
    // the drop removed, every attempt verifies everything that arrived and the test fails.
    const FLOOD: u64 = 3_000;
    const ATTEMPTS: u64 = 3;
    let (mut verified, mut dropped) = (0.0, 0.0);
    for attempt in 1..=ATTEMPTS {
        let attacker = attach(&node, TOPIC).await;
        for n in 0..FLOOD {
            attacker
                .send(unmined(&policy, Algorithm::Argon2id, (attempt << 32) + n))
                .await;
        }
        eventually("the flooder is banned", DEADLINE, || async {
            metric(target, "ems_peers_banned_total") == attempt as f64
        })
        .await;
        eventually(
            "every frame that arrived is verified or dropped",
            DEADLINE,
            || async {
                let settled = rejected(target, "insufficient_work") + rejected(target, "banned");
                tokio::time::sleep(Duration::from_millis(500)).await;
                settled > verified + dropped
                    && settled == rejected(target, "insufficient_work") + rejected(target, "banned")
            },
        )
        .await;
        let now_verified = rejected(target, "insufficient_work");
        let now_dropped = rejected(target, "banned");
        assert!(
            now_verified - verified >= 3.0,
            "{} frames verified before ban {attempt}",
            now_verified - verified
        );
        assert!(now_verified - verified + now_dropped - dropped <= FLOOD as f64);
        (verified, dropped) = (now_verified, now_dropped);
        assert_eq!(
            metric(target, "ems_validation_seconds_count"),
            verified,
            "a validation ran for a frame that was dropped"
        );
        if dropped > 0.0 {
            break;
        }
    }
    assert!(
        dropped > 0.0,
        "no queued frame of a banned flooder was dropped in {ATTEMPTS} attempts ({verified} verified)"
    );
    assert_eq!(metric(target, "ems_held_frames"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooder_banned_under_three_identities_loses_its_address_and_honest_peers_stay() {
    let policy = policy();
    let tuning = Tuning {
        address_ban_after: 3,
        // Everything here is on 127.0.0.1, which is exempt by default.
        ban_loopback: true,
        ..unbudgeted()
    };
    // The honest neighbour connects from 127.0.0.1 too, before the attack.
    let first = TestNode::start_with(vec![], policy.clone(), tuning.clone()).await;
    let second = TestNode::start_with(vec![first.addr().await], policy.clone(), tuning).await;
    let nodes = vec![first, second];
    wait_for_line(&nodes).await;
    let target = nodes[0].node();
    let honest = nodes[1].node().peer_id();

    // Each identity floods invalid frames until it is banned, then the attacker comes back
    // under a new one, as minting identities costs nothing.
    for round in 1..=3u64 {
        assert_eq!(
            metric(target, "ems_addresses_banned_total"),
            0.0,
            "the address is banned after {} peer bans",
            round - 1
        );
        let attacker = attach(&nodes[0], TOPIC).await;
        let mut n = round << 32;
        while attacker.connected() {
            assert!(
                n < (round << 32) + 100_000,
                "identity {round} is never banned"
            );
            attacker.send(unmined(&policy, Algorithm::Sha256, n)).await;
            n += 1;
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        eventually("the identity is banned", DEADLINE, || async {
            metric(target, "ems_peers_banned_total") == round as f64
        })
        .await;
    }
    assert_eq!(metric(target, "ems_addresses_banned_total"), 1.0);
    assert_eq!(metric(target, "ems_addresses_banned_now"), 1.0);

    // A fourth identity is refused before its handshake.
    let denied = metric(target, "ems_connections_denied_total");
    let fourth = HostilePeer::connect(nodes[0].addr().await, TOPIC).await;
    eventually("the fourth identity is refused", DEADLINE, || async {
        metric(target, "ems_connections_denied_total") > denied
    })
    .await;
    assert!(
        !fourth.connected(),
        "a connection from a banned address was established"
    );

    // The honest neighbour, connected from the same address before the ban, stays, and
    // messages still cross both ways.
    assert_eq!(target.status().await.peers, 1);
    assert!(target.peer_score(&honest).await.is_some_and(|s| s >= 0.0));
    for (from, to, tag) in [(0, 1, 0x71), (1, 0, 0x72)] {
        let m = message(&policy, [tag; 32], 300, 900);
        nodes[from].node().publish(m.clone()).await.unwrap();
        eventually("the honest message crosses", DEADLINE, || async {
            nodes[to].node().get(&m.digest()).await.unwrap().is_some()
        })
        .await;
    }
}
