//! A real `emsd --chain qrl://…` beside a real qrl-node (the isolated testnet of
//! `scripts/qrl-node/`): its height follows the node's, a message on a fresh block validates,
//! one on a block older than `block_depth` is refused, and when the node stops `emsd` keeps
//! running, says the chain is unhealthy, serves its cache for the grace period, then refuses
//! with `chain_unavailable` until the node is back, healing without a restart.

mod common;
#[path = "../../ems-chain/tests/qrl_support/mod.rs"]
mod qrl_support;

use common::{code, frame, get, json, post, temp, unix_now, wait_until, Daemon, CHEAP_POW};
use qrl_support::QrlNode;
use std::time::Duration;

const BLOCK_DEPTH: u64 = 3;
const GRACE: u64 = 20;

fn chain_status(daemon: &Daemon) -> serde_json::Value {
    let (status, body) = get(&daemon.url("/v1/status"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(&body)["chain"].clone()
}

fn head_height(daemon: &Daemon) -> u64 {
    let (status, body) = get(&daemon.url("/v1/chain/head"), None);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    json(&body)["height"].as_u64().unwrap()
}

/// Submits a new frame bound to the node's current head; the status and body of the answer.
fn submit_on_head(daemon: &Daemon) -> (u16, Vec<u8>) {
    let (prefix, policy) = daemon.head();
    let msg = frame([7; 32], b"on the head", unix_now() + 600, prefix, &policy);
    post(&daemon.url("/v1/messages"), &msg.encode(), None)
}

fn metric(daemon: &Daemon, name: &str) -> String {
    let (_, body) = get(&daemon.url("/metrics"), None);
    String::from_utf8_lossy(&body)
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .to_string()
}

#[test]
fn emsd_validates_against_a_real_qrl_node_and_survives_its_outage() {
    let mut qrl = QrlNode::start();
    let dir = temp();
    let endpoint = qrl.endpoint();
    let depth = format!("policy.block_depth={BLOCK_DEPTH}");
    let grace = format!("chain.qrl.grace={GRACE}");
    let mut args = vec![
        "--chain",
        endpoint.as_str(),
        "--set",
        &depth,
        "--set",
        &grace,
    ];
    // Mining on a loaded machine is bursty; only an outage should make the chain unhealthy here.
    args.extend(["--set", "chain.qrl.stall_after=120"]);
    args.extend(CHEAP_POW);
    let mut daemon = Daemon::start(&dir.path().join("node"), &args);

    // The daemon's height follows the node's.
    for _ in 0..2 {
        let height = qrl.height();
        wait_until(
            Duration::from_secs(60),
            &format!("emsd's chain height to reach the node's {height}"),
            || {
                let chain = chain_status(&daemon);
                chain["healthy"] == true && chain["height"].as_u64() >= Some(height)
            },
        );
    }
    let chain = chain_status(&daemon);
    assert_eq!(chain["source"], endpoint.as_str());
    assert_eq!(metric(&daemon, "ems_chain_healthy"), "ems_chain_healthy 1");

    // A message on a fresh block validates.
    let (prefix, policy) = daemon.head();
    let bound_at = head_height(&daemon);
    let fresh = frame([1; 32], b"fresh", unix_now() + 600, prefix, &policy);
    let (status, body) = post(&daemon.url("/v1/messages"), &fresh.encode(), None);
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));

    // Once the chain has moved block_depth blocks on, the same prefix is refused.
    wait_until(
        Duration::from_secs(180),
        &format!("{BLOCK_DEPTH} blocks after {bound_at}"),
        || head_height(&daemon) >= bound_at + BLOCK_DEPTH,
    );
    let stale = frame([1; 32], b"stale", unix_now() + 600, prefix, &policy);
    let (status, body) = post(&daemon.url("/v1/messages"), &stale.encode(), None);
    assert_eq!((status, code(&body).as_str()), (422, "stale_blockhash"));

    // The node stops: emsd keeps running and says the chain is unhealthy ...
    qrl.stop();
    wait_until(
        Duration::from_secs(30),
        "emsd to report the chain unhealthy",
        || chain_status(&daemon)["healthy"] == false,
    );
    assert!(daemon.child.try_wait().unwrap().is_none(), "emsd exited");
    assert_eq!(metric(&daemon, "ems_chain_healthy"), "ems_chain_healthy 0");
    // ... serves its cached blocks during the grace period ...
    let (status, body) = submit_on_head(&daemon);
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    // ... then refuses new messages rather than accepting them unchecked.
    wait_until(
        Duration::from_secs(GRACE + 30),
        "the grace period to end",
        || {
            let late = frame([2; 32], b"late", unix_now() + 600, prefix, &policy);
            let (status, body) = post(&daemon.url("/v1/messages"), &late.encode(), None);
            assert!(status == 202 || status == 422 || status == 503, "{status}");
            status == 503 && code(&body) == "chain_unavailable"
        },
    );
    let (status, body) = get(&daemon.url("/v1/chain/head"), None);
    assert_eq!((status, code(&body).as_str()), (503, "chain_unavailable"));
    wait_until(
        Duration::from_secs(10),
        "the log to say the chain source is unavailable",
        || daemon.log_text().contains("chain source unavailable"),
    );

    // The node comes back: emsd heals without a restart.
    qrl.restart();
    wait_until(
        Duration::from_secs(120),
        "emsd to report the chain healthy again",
        || chain_status(&daemon)["healthy"] == true,
    );
    let (status, body) = submit_on_head(&daemon);
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    assert!(daemon.child.try_wait().unwrap().is_none(), "emsd exited");
    let log = daemon.log_text();
    assert_eq!(
        log.matches("chain source unavailable").count(),
        1,
        "one log line per change of state:\n{log}"
    );
}
