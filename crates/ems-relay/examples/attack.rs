//! Honest delivery under attack: three relays in a line on loopback, honest messages published
//! at the first and collected at the last, once undisturbed and once while one raw libp2p peer
//! floods the first relay with invalid frames and another replays old, valid frames to the
//! middle one. Prints both runs' delivery rate and latency, the ratio, and how long the flooder
//! took to be graylisted. A banned flooder dials again under a new identity and goes on, until
//! its address is banned too.
//!
//! ```text
//! cargo run --release -p ems-relay --example attack -- [--messages N] [--payload BYTES]
//!     [--concurrency C] [--history H] [--attack-rate R]
//! ```
//!
//! `--attack-rate` is the frames per second each attacker offers (0, the default: as fast as
//! it can). The attackers run in this process, on the same cores as the nodes, so an unbounded
//! flood also measures how much CPU the attackers themselves take from the nodes.
//!
//! The nodes, stores, proofs and attackers are the ones the attack tests use
//! (`tests/common`, `tests/common/hostile.rs`): real nodes with redb stores in temporary
//! directories, cheap real proofs (`min_work = 64`, mined before the clock starts), and
//! attackers that are bare gossipsub swarms. The nodes are on 127.0.0.1; the flooder dials from
//! 127.0.0.2 and the replayer from 127.0.0.3 (all of 127.0.0.0/8 is loopback on Linux), so each
//! attacker has an address of its own and every budget, per peer and per IP, is the default.
//! Loopback addresses can be banned here (`Tuning::ban_loopback`), so a flooder banned under
//! three identities loses 127.0.0.2 (`Tuning::address_ban_after`). Gossipsub's duplicate cache
//! is cut to 2 s in both runs so that the replays are older than it, the case that costs a
//! relay most.

#[path = "../tests/common/mod.rs"]
mod common;
mod measure;

use anyhow::bail;
use common::hostile::{unmined, HostilePeer};
use common::{message, policy, tuning, wait_for_line, TestNode};
use ems_core::{Message, Policy};
use ems_pow::Algorithm;
use ems_relay::{Node, PeerId, Tuning};
use measure::{deliver, ms, parse_flags, percentile, warm_up, Delivery};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "/qrl/ems/1/test";
/// Gossipsub's graylist threshold (the libp2p default the relay keeps).
const GRAYLIST: f64 = -80.0;
/// Where the flooder and the replayer dial from.
const FLOODER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const REPLAYER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

struct Args {
    messages: usize,
    payload: usize,
    concurrency: usize,
    /// Honest messages published before the attack, which the replayer records and replays.
    history: usize,
    /// Frames per second each attacker offers; 0: as fast as it can.
    attack_rate: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        messages: 5_000,
        payload: 1_024,
        concurrency: 64,
        history: 500,
        attack_rate: 0,
    };
    parse_flags(&mut [
        ("--messages", &mut a.messages),
        ("--payload", &mut a.payload),
        ("--concurrency", &mut a.concurrency),
        ("--history", &mut a.history),
        ("--attack-rate", &mut a.attack_rate),
    ])?;
    a.concurrency = a.concurrency.max(1);
    a.history = a.history.max(1);
    Ok(a)
}

fn bench_tuning() -> Tuning {
    Tuning {
        duplicate_cache: Duration::from_secs(2),
        ban_loopback: true,
        ..tuning()
    }
}

/// A new identity dialling `addr` from `source`.
async fn dial_from(source: Ipv4Addr, addr: ems_relay::Multiaddr) -> HostilePeer {
    let key = libp2p::identity::Keypair::generate_ed25519();
    HostilePeer::connect_from(key, Some(source), addr, TOPIC).await
}

/// `n` honest messages with distinct IDs (`tag` sets ID0's first byte), mined now.
fn honest(policy: &Policy, tag: u8, n: usize, payload: usize) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut id0 = [tag; 32];
            id0[1..9].copy_from_slice(&(i as u64).to_be_bytes());
            message(policy, id0, payload, 3_000)
        })
        .collect()
}

async fn line(policy: &Policy) -> anyhow::Result<Vec<TestNode>> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..3 {
        let bootstrap = match nodes.last() {
            Some(prev) => vec![prev.addr().await],
            None => vec![],
        };
        nodes.push(TestNode::start_with(bootstrap, policy.clone(), bench_tuning()).await);
    }
    wait_for_line(&nodes).await;
    warm_up(
        nodes[0].node(),
        nodes[2].node(),
        honest(policy, 0xee, 30, 16),
    )
    .await?;
    Ok(nodes)
}

/// A hostile peer attached to `node`, once each side knows the other.
async fn attach(
    node: &Node,
    source: Ipv4Addr,
    addr: ems_relay::Multiaddr,
) -> anyhow::Result<HostilePeer> {
    let peer = dial_from(source, addr).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(peer.ready() && node.peer_score(&peer.peer_id).await.is_some()) {
        if Instant::now() > deadline {
            bail!("the hostile peer never joined the topic");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(peer)
}

/// Sends `frames` round and round until `stop`, at most `rate` a second (0: no limit); counts
/// what it handed to its swarm.
fn keep_sending(
    peer: Arc<HostilePeer>,
    frames: Vec<Vec<u8>>,
    rate: usize,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (n, frame) in frames.iter().cycle().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if rate > 0 {
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate as f64))
                    .await;
            }
            peer.send(frame.clone()).await;
            sent.fetch_add(1, Ordering::Relaxed);
        }
    })
}

/// [`keep_sending`] for a flooder that comes back: whenever the node has cut it off (banned
/// it), it dials again under a new identity from the same address, as an attacker minting
/// identities would, and goes on flooding; counts the identities it tried (once its address is
/// banned, each try is refused before its handshake).
fn keep_flooding(
    addr: ems_relay::Multiaddr,
    first: Arc<HostilePeer>,
    frames: Vec<Vec<u8>>,
    rate: usize,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    identities: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut peer = first;
        identities.fetch_add(1, Ordering::Relaxed);
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            if !peer.connected() {
                peer = Arc::new(dial_from(FLOODER_IP, addr.clone()).await);
                identities.fetch_add(1, Ordering::Relaxed);
                let dialled = tokio::time::Instant::now();
                while !peer.ready()
                    && !stop.load(Ordering::Relaxed)
                    && dialled.elapsed() < Duration::from_secs(2)
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                continue;
            }
            if rate > 0 {
                tokio::time::sleep_until(start + Duration::from_secs_f64(n as f64 / rate as f64))
                    .await;
            }
            peer.send(frames[n % frames.len()].clone()).await;
            sent.fetch_add(1, Ordering::Relaxed);
            n += 1;
        }
    })
}

/// Polls `node`'s score of `peer` until it falls below the graylist threshold (or the peer is
/// gone); the time from `start`.
async fn graylisted_after(node: Node, peer: PeerId, start: Instant) -> Option<Duration> {
    while start.elapsed() < Duration::from_secs(120) {
        if node.peer_score(&peer).await.is_none_or(|s| s < GRAYLIST) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

fn refusals(name: &str, node: &Node) {
    for line in node.metrics().lines() {
        if let Some(series) = line.strip_prefix("ems_messages_rejected_total") {
            println!("  node {name}: refused {series}");
        }
    }
}

/// One run: a line of three, a flooder attached to the first node and a replayer to the
/// middle one (both silent unless `attack`, so that both runs have the same peers and meshes),
/// history recorded by the replayer, then honest messages through the line.
async fn run(policy: &Policy, args: &Args, attack: bool) -> anyhow::Result<Delivery> {
    let nodes = line(policy).await?;
    let (a, b) = (nodes[0].node(), nodes[1].node());
    let flooder = Arc::new(attach(a, FLOODER_IP, nodes[0].addr().await).await?);
    let replayer = Arc::new(attach(b, REPLAYER_IP, nodes[1].addr().await).await?);

    // History the replayer records as it passes, then lets gossipsub's cache forget.
    let history = honest(policy, 2, args.history, args.payload);
    for m in &history {
        a.publish(m.clone()).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !history.iter().all(|m| replayer.received(&m.digest()) > 0) {
        if Instant::now() > deadline {
            bail!("the replayer did not receive the history");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(bench_tuning().duplicate_cache * 2).await;

    // Invalid frames: unmined proofs on the current block and garbage, all distinct.
    let flood: Vec<Vec<u8>> = (0..20_000u64)
        .map(|i| {
            if i % 2 == 0 {
                unmined(policy, Algorithm::Sha256, i)
            } else {
                let mut junk = vec![(i % 251) as u8; 200 + (i % 500) as usize];
                junk[..8].copy_from_slice(&i.to_be_bytes());
                junk
            }
        })
        .collect();
    let replays: Vec<Vec<u8>> = history.iter().map(Message::encode).collect();
    let msgs = honest(policy, 3, args.messages, args.payload);

    let stop = Arc::new(AtomicBool::new(false));
    let (flooded, replayed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let identities = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut senders = Vec::new();
    let mut graylist = None;
    if attack {
        let rate = args.attack_rate;
        senders.push(keep_flooding(
            nodes[0].addr().await,
            flooder.clone(),
            flood,
            rate,
            stop.clone(),
            flooded.clone(),
            identities.clone(),
        ));
        senders.push(keep_sending(
            replayer.clone(),
            replays,
            rate,
            stop.clone(),
            replayed.clone(),
        ));
        graylist = Some(tokio::spawn(graylisted_after(
            a.clone(),
            flooder.peer_id,
            start,
        )));
    }

    let delivery = deliver(a, nodes[2].node(), &msgs, args.concurrency).await?;
    let attack_time = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await?;
    }
    if let Some(graylist) = graylist {
        println!("under attack: {}", delivery.summary());
        println!(
            "  flooder (on a): {} invalid frames handed to its swarm in {:.1} s under {} identities \
             tried (banned: {}; its address banned: {}; connections refused: {}); first \
             graylisted by a after {}",
            flooded.load(Ordering::Relaxed),
            attack_time.as_secs_f64(),
            identities.load(Ordering::Relaxed),
            common::metric(a, "ems_peers_banned_total"),
            common::metric(a, "ems_addresses_banned_total"),
            common::metric(a, "ems_connections_denied_total"),
            match graylist.await? {
                Some(t) => ms(t),
                None => "never (within 120 s)".into(),
            }
        );
        println!(
            "  replayer (on b): {} replays of {} recorded messages; b's score of it: {:?}",
            replayed.load(Ordering::Relaxed),
            history.len(),
            b.peer_score(&replayer.peer_id).await,
        );
        for (name, t) in ["a", "b", "c"].iter().zip(&nodes) {
            refusals(name, t.node());
        }
    } else {
        println!("no attack:    {}", delivery.summary());
    }
    drop((flooder, replayer));
    for mut n in nodes {
        n.stop().await;
    }
    Ok(delivery)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let policy = policy();
    println!(
        "{} honest messages, {}-byte payloads, {} publishes in flight, min_work 64; {} recorded for replay; attackers offer {}",
        args.messages,
        args.payload,
        args.concurrency,
        args.history,
        match args.attack_rate {
            0 => "as many frames as they can".to_string(),
            r => format!("{r} frames/s each"),
        },
    );
    let base = run(&policy, &args, false).await?;
    let hit = run(&policy, &args, true).await?;
    println!(
        "honest throughput under attack: {:.0} % of the run without attackers; p99 {} → {}",
        100.0 * hit.rate() / base.rate(),
        ms(percentile(&base.latencies, 0.99)),
        ms(percentile(&hit.latencies, 0.99)),
    );
    Ok(())
}
