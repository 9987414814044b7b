//! Load measurement: accepted messages per second through one node, and end to end through
//! three nodes in a line on loopback, with publish→delivery latency.
//!
//! ```text
//! cargo run --release -p ems-relay --example load -- [--messages N] [--payload BYTES]
//!     [--concurrency C]
//! ```
//!
//! Real nodes (libp2p over 127.0.0.1 TCP, redb stores in temporary directories, every insert
//! durably committed), real proofs at a low test difficulty (`min_work = 64`, mined before the
//! clock starts). "Delivered" means the far node has validated the message, committed it to its
//! store and announced it to its subscribers.

mod measure;

use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{ChainView, Message, Policy};
use ems_pow::{Algorithm, WorkParams};
use ems_relay::{Multiaddr, Node, NodeConfig, Tuning};
use measure::{deliver, ms, parse_flags, percentile, publish_all, warm_up};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    messages: usize,
    payload: usize,
    concurrency: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 2_000,
        payload: 1_024,
        concurrency: 64,
    };
    parse_flags(&mut [
        ("--messages", &mut a.messages),
        ("--payload", &mut a.payload),
        ("--concurrency", &mut a.concurrency),
    ])?;
    a.concurrency = a.concurrency.max(1);
    Ok(a)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn policy() -> Policy {
    let mut p = Policy::default();
    p.pow.sha256 = WorkParams {
        min_work: 64,
        size_factor: 0,
        ttl_factor: 0,
    };
    p
}

fn chain(policy: &Policy) -> Arc<dyn ChainView> {
    Arc::new(DevnetChain::new(
        &DevnetConfig::default(),
        policy.limits.max_ttl + policy.limits.clock_skew,
    ))
}

/// `n` valid messages; `batch` makes their IDs distinct from other batches'.
fn mine(policy: &Policy, batch: u8, n: usize, payload: usize) -> anyhow::Result<Vec<Message>> {
    let now = now();
    let head = chain(policy).head(now)?;
    (0..n)
        .map(|i| {
            let mut id = [0u8; 64];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            id[32..40].copy_from_slice(&now.to_be_bytes());
            id[40..48].copy_from_slice(&(i as u64).to_be_bytes());
            id[48] = batch;
            let mut m = Message::new(id, vec![0x5a; payload], (now + 3_600) as u32, head.prefix)?;
            m.mine(policy, Algorithm::Sha256, now);
            Ok(m)
        })
        .collect()
}

async fn start(
    dir: &tempfile::TempDir,
    bootstrap: Vec<Multiaddr>,
    policy: &Policy,
) -> anyhow::Result<Node> {
    let config = NodeConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
        bootstrap,
        policy: policy.clone(),
        tuning: Tuning {
            heartbeat: Duration::from_millis(200),
            redial: Duration::from_secs(1),
            discovery: false,
            ..Tuning::default()
        },
        ..NodeConfig::new(dir.path(), "load")
    };
    Ok(Node::start(config, chain(policy)).await?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let policy = policy();
    println!(
        "{} messages, {}-byte payloads ({}-byte frames), {} publishes in flight, min_work 64",
        args.messages,
        args.payload,
        args.payload + ems_core::message::OVERHEAD,
        args.concurrency,
    );

    // One node.
    let msgs = mine(&policy, 1, args.messages, args.payload)?;
    let dir = tempfile::tempdir()?;
    let node = start(&dir, vec![], &policy).await?;
    let t0 = Instant::now();
    let (_, acks) = publish_all(&node, &msgs, args.concurrency).await?;
    let took = t0.elapsed();
    println!(
        "one node:    {:>7.0} accepted msgs/s ({} in {:.2} s); publish ack median {}, p99 {}",
        args.messages as f64 / took.as_secs_f64(),
        args.messages,
        took.as_secs_f64(),
        ms(percentile(&acks, 0.5)),
        ms(percentile(&acks, 0.99)),
    );
    node.shutdown().await;

    // Three nodes in a line: publish at a, deliver at c.
    let msgs = mine(&policy, 2, args.messages, args.payload)?;
    let dirs = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let a = start(&dirs[0], vec![], &policy).await?;
    let b = start(&dirs[1], a.listen_addrs().await, &policy).await?;
    let c = start(&dirs[2], b.listen_addrs().await, &policy).await?;
    // Warm up: wait until a message crosses the line, so the gossip mesh exists.
    warm_up(&a, &c, mine(&policy, 3, 30, 16)?).await?;
    let delivery = deliver(&a, &c, &msgs, args.concurrency).await?;
    println!("three nodes: {}", delivery.summary());
    for (name, n) in [("a", &a), ("b", &b), ("c", &c)] {
        let held = n.status().await.store.messages;
        println!("  node {name}: stores {held} messages");
        for line in n.metrics().lines() {
            if let Some(series) = line.strip_prefix("ems_messages_rejected_total") {
                println!("  node {name}: refused {series}");
            }
        }
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
    Ok(())
}
