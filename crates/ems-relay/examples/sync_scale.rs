//! Sync v2 at scale: two nodes holding N messages in common, one of them Δ more. The other
//! connects (through a counting TCP proxy) and reconciles; the example prints the bytes on the
//! wire each way, the reconcile exchanges (round trips) and fetch requests of both nodes, and
//! the time until the second node holds everything.
//!
//! ```text
//! cargo run --release -p ems-relay --example sync_scale -- [common] [delta]
//! ```
//! Defaults: 100,000 in common, Δ = 100. The common messages are written to both stores
//! directly (not mined: they are never sent; 64-byte payloads, to spare disk); the Δ messages
//! have 1 KiB payloads and cheap real proofs, since the receiving node validates them. TTLs
//! are spread over the next hour. The figures cover both nodes' rounds, as on a reconnect.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{metric, policy};
use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{ChainView, Message, Policy};
use ems_pow::{Algorithm, Proof};
use ems_relay::{Node, NodeConfig, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn chain(policy: &Policy) -> Arc<dyn ChainView> {
    Arc::new(DevnetChain::new(
        &DevnetConfig::default(),
        policy.limits.max_ttl + policy.limits.clock_skew,
    ))
}

/// Message `i`: unique ID1, TTL spread over the hour after `now + 600`.
fn message(i: u64, payload: usize, prefix: [u8; 4], now: u64, mined: Option<&Policy>) -> Message {
    let mut id = [0u8; 64];
    id[..8].copy_from_slice(&(i % 4_096).to_be_bytes());
    id[32..40].copy_from_slice(&i.to_be_bytes());
    id[40..48].copy_from_slice(&now.to_be_bytes());
    let ttl = now + 600 + i % 2_400;
    let mut m = Message::new(id, vec![0x5a; payload], ttl as u32, prefix).expect("valid frame");
    match mined {
        Some(policy) => m.mine(policy, Algorithm::Sha256, now),
        None => m.set_pow(
            Algorithm::Sha256,
            Proof {
                nonce: i,
                hash: [0x11; 32],
            },
        ),
    }
    m
}

/// Writes messages `range` (made by `make`) into the store at `path`, 4,096 a transaction.
fn fill(
    path: &std::path::Path,
    range: std::ops::Range<u64>,
    make: impl Fn(u64) -> Message,
    now: u64,
) {
    let (store, _) = Store::open(path, now).expect("open store");
    let mut i = range.start;
    while i < range.end {
        let chunk: Vec<Message> = (i..range.end.min(i + 4_096)).map(&make).collect();
        let batch: Vec<_> = chunk.iter().map(|m| (m, now)).collect();
        store.insert_batch(&batch, u64::MAX, now).expect("insert");
        i += chunk.len() as u64;
    }
}

/// Forwards one connection to `to`, counting bytes each way.
async fn proxy(
    listener: TcpListener,
    to: std::net::SocketAddr,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let Ok(server) = TcpStream::connect(to).await else {
            continue;
        };
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        tokio::spawn(pump(cr, sw, up.clone()));
        tokio::spawn(pump(sr, cw, down.clone()));
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 || to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
    }
}

fn config(
    dir: &std::path::Path,
    policy: &Policy,
    bootstrap: Vec<ems_relay::Multiaddr>,
) -> NodeConfig {
    let mut c = NodeConfig::new(dir, "bench");
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("address")];
    c.bootstrap = bootstrap;
    c.policy = policy.clone();
    c.tuning.discovery = false;
    c
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let common = args.first().copied().unwrap_or(100_000);
    let delta = args.get(1).copied().unwrap_or(100);
    let policy = policy();
    let now = clock();
    let prefix = chain(&policy).head(now).expect("devnet head").prefix;

    let t = Instant::now();
    let shared = |i| message(i, 64, prefix, now, None);
    let extra = |i| message(i, 1_024, prefix, now, Some(&policy));
    let extra_bytes = delta as usize * extra(common).encoded_len();
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    fill(&dir_a.path().join("store.redb"), 0..common, shared, now);
    fill(
        &dir_a.path().join("store.redb"),
        common..common + delta,
        extra,
        now,
    );
    fill(&dir_b.path().join("store.redb"), 0..common, shared, now);
    println!(
        "sync_scale: {common} in common, Δ = {delta} ({extra_bytes} frame bytes); stores filled in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let a = Node::start(config(dir_a.path(), &policy, vec![]), chain(&policy))
        .await
        .expect("node a");
    let a_addr = a.listen_addrs().await.remove(0);
    let a_tcp: std::net::SocketAddr = {
        let mut ip = None;
        let mut port = None;
        for p in a_addr.iter() {
            match p {
                libp2p::multiaddr::Protocol::Ip4(i) => ip = Some(i),
                libp2p::multiaddr::Protocol::Tcp(t) => port = Some(t),
                _ => {}
            }
        }
        (ip.expect("ip4"), port.expect("tcp")).into()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
    let via = listener.local_addr().expect("proxy address");
    let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    tokio::spawn(proxy(listener, a_tcp, up.clone(), down.clone()));
    let peer = a_addr.iter().last().expect("peer id");
    let through: ems_relay::Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", via.port())
        .parse::<ems_relay::Multiaddr>()
        .expect("address")
        .with(peer);

    let started = Instant::now();
    let b = Node::start(config(dir_b.path(), &policy, vec![through]), chain(&policy))
        .await
        .expect("node b");
    let want = common + delta;
    let deadline = started + Duration::from_secs(1_800);
    while b.status().await.store.messages < want {
        assert!(
            Instant::now() < deadline,
            "b did not catch up in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    // Let both rounds finish, then read the counters.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let e = |n: &Node, what: &str| metric(n, &format!("ems_sync_events_total{{event=\"{what}\"}}"));
    let (sent, received) = (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed));
    println!(
        "  caught up in {:.2} s; on the wire: b→a {sent} B, a→b {received} B, total {} B ({:.2}× the Δ frames, {} B over them)",
        took.as_secs_f64(),
        sent + received,
        (sent + received) as f64 / extra_bytes.max(1) as f64,
        (sent + received) as i64 - extra_bytes as i64,
    );
    println!(
        "  b: {} rounds, {} reconcile exchanges, {} fetch requests, {} frames fetched",
        e(&b, "rounds"),
        e(&b, "exchanges"),
        e(&b, "fetch_requests"),
        e(&b, "fetched")
    );
    println!(
        "  a: {} rounds, {} reconcile exchanges; served {} exchanges, {} frames, {} busy",
        e(&a, "rounds"),
        e(&a, "exchanges"),
        e(&a, "served_exchanges"),
        e(&a, "served_frames"),
        e(&a, "served_busy")
    );
    b.shutdown().await;
    a.shutdown().await;
}
