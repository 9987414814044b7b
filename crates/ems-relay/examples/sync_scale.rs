//! Sync v2 at scale, two scenarios; each prints its figures.
//!
//! ```text
//! cargo run --release -p ems-relay --example sync_scale -- [common] [delta...]
//! cargo run --release -p ems-relay --example sync_scale -- rejoin [n] [quiet]
//! ```
//!
//! **Reconcile** (defaults: 100,000 in common, Δ = 100): two nodes holding `common` messages
//! in common, one of them Δ more. The other connects (through a counting TCP proxy) and
//! reconciles; printed: the bytes on the wire each way, the reconcile exchanges (round trips)
//! and fetch requests of both nodes, the time until the second node holds everything, and what
//! v1's inventories would have sent; and the offers of each node's rounds, and which node
//! started the rounds (the smaller peer id). The common messages are written once (not mined: they are
//! never sent; 64-byte payloads, to spare disk) and the store file copied for each Δ; the Δ
//! messages have 1 KiB payloads and cheap real proofs, since the receiving node validates
//! them. The figures cover both nodes' rounds, as on a reconnect. Each Δ runs twice: with the
//! second node relaying (the default: a fetched frame still live is gossiped on, so the frames
//! also go back to the peer they came from), then with relaying off (the sync protocol's own
//! bytes).
//!
//! **Rejoin** (default n = 100,000): three peers hold the same `n` messages (1 KiB payloads,
//! real proofs; one store written, copied to the other two), and a node holding nothing (a
//! day offline: what it had has expired) joins all three. Printed: the time until it holds
//! every message still due (checked one by one: at 1 M the run outlasts the shortest TTLs, and
//! messages within `policy.clock_skew` of their TTL are left out of sync), the process's
//! resident set before it started and at its peak while it caught up (the process runs all
//! four nodes), and how often the messages were fetched and served: each exactly once is
//! `fetched = served = accepted from sync`. With `quiet` the joining node does not relay (it
//! gossips on nothing it fetched).
//!
//! TTLs are spread over the 40 minutes after `now + 600` s.

#[path = "../tests/common/mod.rs"]
mod common;

use common::hostile::rss_kib;
use common::{chain, gossip_received, metric, now, policy};
use ems_core::{Message, Policy};
use ems_pow::{Algorithm, Proof};
use ems_relay::{Multiaddr, Node, NodeConfig, Store};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Messages written per store transaction.
const BATCH: u64 = 16_384;
/// v1's inventory entry: a digest, 32 bytes, per message and direction (plus page framing).
const V1_ENTRY: u64 = 32;

/// Message `i`: unique ID1, TTL [`ttl_of`].
fn message(i: u64, payload: usize, prefix: [u8; 4], now: u64, mined: Option<&Policy>) -> Message {
    let mut id = [0u8; 64];
    id[..8].copy_from_slice(&(i % 4_096).to_be_bytes());
    id[32..40].copy_from_slice(&i.to_be_bytes());
    id[40..48].copy_from_slice(&now.to_be_bytes());
    let ttl = ttl_of(i, now);
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

/// The TTL of message `i` made at `now`: 600 s to 50 min ahead, spread evenly.
fn ttl_of(i: u64, now: u64) -> u64 {
    now + 600 + i % 2_400
}

/// How many of messages `0..n` made at `made` a node still syncs at `now`: those whose TTL is
/// more than the clock skew ahead (closer ones are left out of reconciliation, and expire).
fn due(n: u64, made: u64, now: u64, skew: u64) -> u64 {
    (0..n.min(2_400))
        .filter(|&r| ttl_of(r, made) > now + skew)
        .map(|r| n / 2_400 + u64::from(r < n % 2_400))
        .sum()
}

/// Writes messages `range` (made by `make`, on two threads) into the store at `path`.
fn fill(path: &Path, range: std::ops::Range<u64>, make: impl Fn(u64) -> Message + Sync, now: u64) {
    let (store, _) = Store::open(path, now).expect("open store");
    let mut i = range.start;
    while i < range.end {
        let end = range.end.min(i + BATCH);
        let mid = i + (end - i) / 2;
        let chunk: Vec<Message> = std::thread::scope(|s| {
            let first = s.spawn(|| (i..mid).map(&make).collect::<Vec<_>>());
            let mut second: Vec<Message> = (mid..end).map(&make).collect();
            let mut chunk = first.join().expect("mining thread");
            chunk.append(&mut second);
            chunk
        });
        let batch: Vec<_> = chunk.iter().map(|m| (m, now)).collect();
        store.insert_batch(&batch, u64::MAX, now).expect("insert");
        i = end;
    }
}

/// Forwards each connection to `to`, counting bytes each way.
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

/// `node`'s address through a new counting proxy, and its (sent to it, received from it)
/// counters.
async fn counted(node: &Node) -> (Multiaddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let addr = node.listen_addrs().await.remove(0);
    let (mut ip, mut port) = (None, None);
    for p in addr.iter() {
        match p {
            libp2p::multiaddr::Protocol::Ip4(i) => ip = Some(i),
            libp2p::multiaddr::Protocol::Tcp(t) => port = Some(t),
            _ => {}
        }
    }
    let tcp: std::net::SocketAddr = (ip.expect("ip4"), port.expect("tcp")).into();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
    let via = listener.local_addr().expect("proxy address");
    let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    tokio::spawn(proxy(listener, tcp, up.clone(), down.clone()));
    let through = format!("/ip4/127.0.0.1/tcp/{}", via.port())
        .parse::<Multiaddr>()
        .expect("address")
        .with(addr.iter().last().expect("peer id"));
    (through, up, down)
}

fn config(dir: &Path, policy: &Policy, bootstrap: Vec<Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::new(dir, "bench");
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().expect("address")];
    c.bootstrap = bootstrap;
    c.policy = policy.clone();
    c.tuning.discovery = false;
    c
}

async fn start(dir: &Path, policy: &Policy, bootstrap: Vec<Multiaddr>) -> Node {
    Node::start(config(dir, policy, bootstrap), chain(policy))
        .await
        .expect("node")
}

fn event(n: &Node, what: &str) -> f64 {
    metric(n, &format!("ems_sync_events_total{{event=\"{what}\"}}"))
}

/// Polls until `node` holds `want` messages (30 minutes at most), printing its progress every
/// 10 s; the time it took and the largest resident set seen meanwhile.
async fn until_holds(node: &Node, want: impl Fn() -> u64, started: Instant) -> (Duration, u64) {
    let deadline = started + Duration::from_secs(1_800);
    let mut peak = rss_kib();
    let mut report = started + Duration::from_secs(10);
    loop {
        let held = node.status().await.store.messages;
        if held >= want() {
            break;
        }
        assert!(Instant::now() < deadline, "not caught up in 30 minutes");
        if Instant::now() >= report {
            report += Duration::from_secs(10);
            let e = |what| event(node, what);
            println!(
                "  … {:.0} s: {held} held; {} rounds, {} exchanges, {} fetch requests, {} fetched, {} busy, {} faults",
                started.elapsed().as_secs_f64(),
                e("rounds"),
                e("exchanges"),
                e("fetch_requests"),
                e("fetched"),
                e("busy"),
                ["mismatch", "no_progress", "endless", "invalid", "undelivered", "reannounced"]
                    .map(e)
                    .iter()
                    .sum::<f64>(),
            );
        }
        peak = peak.max(rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (started.elapsed(), peak.max(rss_kib()))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |a: &String| a.parse::<u64>().expect("numeric argument");
    let mut policy = policy();
    policy.store.max_bytes = 16 << 30;
    if args.first().is_some_and(|a| a == "rejoin") {
        let relays = args.get(2).is_none_or(|a| a != "quiet");
        rejoin(args.get(1).map_or(100_000, number), relays, &policy).await;
        return;
    }
    let common = args.first().map_or(100_000, number);
    let mut deltas: Vec<u64> = args.iter().skip(1).map(number).collect();
    if deltas.is_empty() {
        deltas.push(100);
    }
    reconcile(common, &deltas, &policy).await;
}

async fn reconcile(common: u64, deltas: &[u64], policy: &Policy) {
    let now = now();
    let prefix = chain(policy).head(now).expect("devnet head").prefix;
    let t = Instant::now();
    let template = tempfile::tempdir().expect("dir");
    let template = template.path().join("store.redb");
    fill(
        &template,
        0..common,
        |i| message(i, 64, prefix, now, None),
        now,
    );
    println!(
        "sync_scale: {common} in common written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for (delta, forward) in deltas.iter().flat_map(|d| [(*d, true), (*d, false)]) {
        let extra = |i| message(i, 1_024, prefix, now, Some(policy));
        let extra_bytes = delta * extra(common).encoded_len() as u64;
        let (dir_a, dir_b) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        for dir in [&dir_a, &dir_b] {
            std::fs::copy(&template, dir.path().join("store.redb")).expect("copy store");
        }
        fill(
            &dir_a.path().join("store.redb"),
            common..common + delta,
            extra,
            now,
        );

        let a = start(dir_a.path(), policy, vec![]).await;
        let (through, up, down) = counted(&a).await;
        let started = Instant::now();
        let mut b_policy = policy.clone();
        b_policy.relay.enabled = forward;
        let b = start(dir_b.path(), &b_policy, vec![through]).await;
        let (took, _) = until_holds(&b, || common + delta, started).await;
        // Let the rounds finish, and the grace pass after which the node that waits for the
        // other's round would start its own, then read the counters.
        let grace = NodeConfig::new(dir_b.path(), "bench").tuning.sync_timeout * 2;
        let settled = (started + grace).max(Instant::now()) + Duration::from_secs(2);
        tokio::time::sleep_until(settled.into()).await;
        let (sent, received) = (up.load(Ordering::Relaxed), down.load(Ordering::Relaxed));
        let total = sent + received;
        let forwarding = if forward {
            "b relays (gossips on what it fetched)"
        } else {
            "b does not relay"
        };
        println!("Δ = {delta} ({extra_bytes} frame bytes), {forwarding}:");
        println!(
            "  caught up in {:.2} s; on the wire: b→a {sent} B, a→b {received} B, total {total} B ({:.2}× the Δ frames, {} B over them)",
            took.as_secs_f64(),
            total as f64 / extra_bytes.max(1) as f64,
            total as i64 - extra_bytes as i64,
        );
        println!(
            "  v1 inventories: {} B each way ({} B in all, before any frame)",
            V1_ENTRY * common,
            V1_ENTRY * (2 * common + delta),
        );
        for (name, n) in [("a", &a), ("b", &b)] {
            println!(
                "  {name}: {} rounds, {} reconcile exchanges, {} offers sent ({} digests), {} taken ({} digests), {} rounds waited for in vain; {} fetch requests, {} frames fetched; served {} exchanges, {} frames, {} busy",
                event(n, "rounds"),
                event(n, "exchanges"),
                event(n, "offers"),
                event(n, "offered"),
                event(n, "offers_taken"),
                event(n, "offered_digests"),
                event(n, "overdue"),
                event(n, "fetch_requests"),
                event(n, "fetched"),
                event(n, "served_exchanges"),
                event(n, "served_frames"),
                event(n, "served_busy")
            );
        }
        println!(
            "  the round starter: {}",
            if a.peer_id().to_bytes() < b.peer_id().to_bytes() {
                "a"
            } else {
                "b"
            }
        );
        b.shutdown().await;
        a.shutdown().await;
    }
}

async fn rejoin(n: u64, relays: bool, policy: &Policy) {
    let now = now();
    let prefix = chain(policy).head(now).expect("devnet head").prefix;
    let t = Instant::now();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
    let first = dirs[0].path().join("store.redb");
    fill(
        &first,
        0..n,
        |i| message(i, 1_024, prefix, now, Some(policy)),
        now,
    );
    for dir in &dirs[1..] {
        std::fs::copy(&first, dir.path().join("store.redb")).expect("copy store");
    }
    println!(
        "sync_scale rejoin: three peers holding {n} messages (1 KiB payloads), written in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut peers = Vec::new();
    for dir in &dirs {
        peers.push(start(dir.path(), policy, vec![]).await);
    }
    let mut addrs = Vec::new();
    for p in &peers {
        addrs.push(p.listen_addrs().await.remove(0));
    }
    let before = rss_kib();
    let dir = tempfile::tempdir().expect("dir");
    let started = Instant::now();
    let mut joining = policy.clone();
    joining.relay.enabled = relays;
    let node = start(dir.path(), &joining, addrs).await;
    // A run long enough sees the first messages expire: it waits for what is still due.
    let skew = policy.limits.clock_skew;
    let (counted, peak) = until_holds(&node, || due(n, now, common::now(), skew), started).await;
    // The count also holds messages about to expire, so it can reach what is due while some
    // due messages are still on their way: each due message is then asked for, one by one
    // (a second's margin for the clock), and those missing again until none is.
    let mut missing: Vec<u64> = (0..n).collect();
    let mut peak = peak;
    // When the last check that still found a due message missing ended (or else the count
    // reached what was due): the last one arrived between then and the end of the next check,
    // which found none.
    let mut last_short = counted;
    let took = loop {
        let at = common::now() + 1;
        let mut still = Vec::new();
        for &i in &missing {
            let m = message(i, 1_024, prefix, now, None);
            if ttl_of(i, now) > at + skew && node.get(&m.digest()).await.expect("get").is_none() {
                still.push(i);
            }
        }
        peak = peak.max(rss_kib());
        if still.is_empty() {
            break started.elapsed();
        }
        println!(
            "  … {:.0} s: {} due messages not held yet",
            started.elapsed().as_secs_f64(),
            still.len()
        );
        assert!(
            started.elapsed() < Duration::from_secs(1_800),
            "not caught up"
        );
        missing = still;
        last_short = started.elapsed();
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let due_at_end = due(n, now, common::now(), skew);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let served: f64 = peers.iter().map(|p| event(p, "served_frames")).sum();
    println!(
        "  holds every message still due ({due_at_end} of {n}; the rest expired or about to) after {:.1} s (the last check to find one missing, or else the count reaching what was due, ended at {:.1} s; count reached at {:.1} s; {:.0} fetched/s); process RSS {} MiB before it started, peak {} MiB while it caught up",
        took.as_secs_f64(),
        last_short.as_secs_f64(),
        counted.as_secs_f64(),
        event(&node, "fetched") / took.as_secs_f64(),
        before / 1024,
        peak / 1024,
    );
    println!(
        "  fetched {} frames in {} fetch requests ({} answered busy; the peers answered busy {:?}), accepted {} from sync; the peers served {} frames ({:?}); {} rounds, {} exchanges",
        event(&node, "fetched"),
        event(&node, "fetch_requests"),
        event(&node, "busy"),
        peers.iter().map(|p| event(p, "served_busy")).collect::<Vec<_>>(),
        metric(&node, "ems_messages_received_total{source=\"sync\"}"),
        served,
        peers.iter().map(|p| event(p, "served_frames")).collect::<Vec<_>>(),
        event(&node, "rounds"),
        event(&node, "exchanges"),
    );
    println!(
        "  gossip the three peers received (the joining node's gossip on of what it fetched, each copy to a peer that holds it): {:?}",
        peers.iter().map(gossip_received).collect::<Vec<_>>(),
    );
    node.shutdown().await;
    for p in peers {
        p.shutdown().await;
    }
}
