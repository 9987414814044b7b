//! The runs: propagation figures, and the fault scenarios (churn, partition, hostile nodes).

use crate::cluster::{Cluster, Kind, Settings};
use crate::measure::{self, Counters, Cpu, Stat};
use crate::transport::{Net, Shape};
use anyhow::Context as _;
use ems_core::{ChainView, Message, Policy};
use ems_pow::Algorithm;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `count` valid frames of `frame` encoded bytes each, mined off the async threads.
pub async fn frames(
    policy: &Policy,
    frame: usize,
    count: usize,
    ttl: u64,
) -> anyhow::Result<Vec<Message>> {
    let policy = policy.clone();
    tokio::task::spawn_blocking(move || {
        let chain = ems_chain::DevnetChain::new(
            &ems_chain::DevnetConfig::default(),
            policy.limits.max_ttl + policy.limits.clock_skew,
        );
        let now = unix_now();
        let head = chain
            .head(now)
            .map_err(|e| anyhow::anyhow!("devnet head: {e}"))?;
        let overhead = Message::new([0; 64], Vec::new(), 0, [0; 4])?.encoded_len();
        let payload = frame
            .checked_sub(overhead)
            .context("frame smaller than a header")?;
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let mut id = [0u8; 64];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            id[8..16].copy_from_slice(&now.to_be_bytes());
            id[16..24].copy_from_slice(&(frame as u64).to_be_bytes());
            let mut m = Message::new(id, vec![0x5a; payload], (now + ttl) as u32, head.prefix)?;
            m.mine(&policy, Algorithm::Sha256, now);
            out.push(m);
        }
        Ok(out)
    })
    .await?
}

/// Cluster size and settings of a run.
#[derive(Clone, Debug)]
pub struct Setup {
    /// Honest nodes.
    pub nodes: usize,
    /// Hostile nodes added after the honest ones.
    pub hostile: usize,
    /// Cluster settings.
    pub settings: Settings,
    /// Link shape.
    pub shape: Shape,
    /// Nodes started per second.
    pub start_rate: usize,
    /// Time for meshes to form after the last node started.
    pub settle: Duration,
    /// Longest wait, after `settle`, for the network to stop looking for peers ([`quiet`]).
    pub settle_max: Duration,
}

/// The window over which [`quiet`] counts dials.
const QUIET_WINDOW: Duration = Duration::from_secs(10);

/// Waits until the nodes of `cluster` make fewer than one dial per ten nodes in a
/// [`QUIET_WINDOW`], or `max` has passed. Relays started together look for peers at once
/// (Kademlia's first bootstrap), which keeps the CPU busy for minutes at 100 nodes and more;
/// figures taken meanwhile measure that, not the gossip. Returns the time waited.
async fn quiet(cluster: &Cluster, nodes: usize, max: Duration) -> Duration {
    let started = Instant::now();
    let threshold = (nodes as u64 / 10).max(1);
    let mut before = cluster.net.dials();
    while started.elapsed() < max {
        tokio::time::sleep(QUIET_WINDOW).await;
        let now = cluster.net.dials();
        let dials = now - before;
        let (mut lookups, mut short) = (0.0, 0);
        for i in cluster.live() {
            lookups +=
                crate::measure::metric(&cluster.metrics(i).await, "ems_discovery_lookups_total");
            short += usize::from(
                cluster
                    .peers(i)
                    .await
                    .is_some_and(|p| p < ems_relay::DISCOVERY_TARGET),
            );
        }
        tracing::info!(
            dials,
            lookups,
            short_of_peers = short,
            elapsed_s = started.elapsed().as_secs(),
            "settling"
        );
        if dials < threshold {
            break;
        }
        before = now;
    }
    started.elapsed()
}

/// Starts the cluster of a setup and lets it settle.
pub async fn build(setup: &Setup) -> anyhow::Result<Cluster> {
    let mut cluster = Cluster::new(Net::new(setup.shape.clone()), setup.settings.clone())?;
    let pause = Duration::from_secs_f64(1.0 / setup.start_rate.max(1) as f64);
    for _ in 0..setup.nodes {
        cluster.add(false).await?;
        tokio::time::sleep(pause).await;
    }
    for _ in 0..setup.hostile {
        cluster.add(true).await?;
        tokio::time::sleep(pause).await;
    }
    tokio::time::sleep(setup.settle).await;
    let waited = quiet(&cluster, setup.nodes + setup.hostile, setup.settle_max).await;
    eprintln!(
        "settled {:.0} s after the last start ({} dials so far)",
        (setup.settle + waited).as_secs_f64(),
        cluster.net.dials()
    );
    Ok(cluster)
}

/// Publishes `msgs` one every `interval` at random nodes of `nodes`, then waits until every
/// one has reached all of `nodes` or `tail` has passed; returns the ids.
async fn publish_and_wait(
    cluster: &mut Cluster,
    msgs: &[Message],
    nodes: &[usize],
    interval: Duration,
    tail: Duration,
) -> anyhow::Result<Vec<[u8; 32]>> {
    let mut ids = Vec::with_capacity(msgs.len());
    let mut tick = tokio::time::interval(interval);
    for m in msgs {
        tick.tick().await;
        let at = nodes[cluster.draw(nodes.len())];
        ids.push(cluster.publish(at, m).await?);
    }
    let deadline = Instant::now() + tail;
    while Instant::now() < deadline
        && ids
            .iter()
            .any(|id| cluster.recorder.reached(id, nodes) < nodes.len())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(ids)
}

/// Figures of one propagation run.
#[derive(Clone, Debug)]
pub struct Figures {
    /// Relays or bare.
    pub kind: Kind,
    /// Honest nodes.
    pub nodes: usize,
    /// Frame bytes.
    pub frame: usize,
    /// Messages published.
    pub messages: usize,
    /// Reach times for 50/90/99/100% of nodes.
    pub reach: [Stat; 4],
    /// Duplicates received per node per message.
    pub duplicates: f64,
    /// Topic-message bytes received per node per message (duplicates included).
    pub payload: f64,
    /// Other wire bytes received per node per message (gossip control, Noise, Yamux, and the
    /// background traffic of the measurement window: heartbeats, pings, identify, DHT).
    pub control: f64,
    /// Background wire bytes per node per second with no messages.
    pub background: f64,
    /// CPU during the publishing window.
    pub cpu: Cpu,
    /// Mean connected peers per relay (0 for bare).
    pub degree: f64,
}

/// Publishes `msgs` one every `interval` at random honest nodes, waits for every one to reach
/// every honest node (or `tail` after the last), and measures.
pub async fn propagate(
    cluster: &mut Cluster,
    msgs: &[Message],
    interval: Duration,
    tail: Duration,
) -> anyhow::Result<Figures> {
    let nodes = cluster.live();
    let frame = msgs.first().map_or(0, Message::encoded_len);

    let quiet = Duration::from_secs(5);
    let before_quiet = measure::counters(cluster, &nodes).await;
    tokio::time::sleep(quiet).await;
    let idle = measure::counters(cluster, &nodes).await - before_quiet;
    let background = idle.wire_in / nodes.len() as f64 / quiet.as_secs_f64();

    let before = measure::counters(cluster, &nodes).await;
    let cpu0 = measure::cpu_seconds();
    let started = Instant::now();
    let ids = publish_and_wait(cluster, msgs, &nodes, interval, tail).await?;
    let wall = started.elapsed();
    let cpu = measure::cpu_since(cpu0, wall);
    let after = measure::counters(cluster, &nodes).await;
    let d: Counters = after - before;
    let per = (nodes.len() * msgs.len()).max(1) as f64;
    let mut degree = 0.0;
    for &i in &nodes {
        degree += cluster.peers(i).await.unwrap_or(0) as f64;
    }
    Ok(Figures {
        kind: cluster.kind(),
        nodes: nodes.len(),
        frame,
        messages: msgs.len(),
        reach: measure::reach(&cluster.recorder, &ids, &nodes),
        duplicates: (d.recv_all - d.recv_first) / per,
        payload: d.recv_bytes / per,
        control: (d.wire_in - d.recv_bytes) / per,
        background,
        cpu,
        degree: degree / nodes.len() as f64,
    })
}

/// Outcome of the hostile-nodes scenario.
#[derive(Clone, Debug)]
pub struct Attacked {
    /// Honest messages published.
    pub published: usize,
    /// Fraction of honest messages that reached every honest node.
    pub complete: f64,
    /// Fraction of (message, honest node) pairs delivered.
    pub delivered: f64,
    /// Reach times over honest nodes.
    pub reach: [Stat; 4],
    /// CPU over the scenario.
    pub cpu: Cpu,
    /// Each (message, honest node) pair missing at the end of the tail.
    pub missed: Vec<Missed>,
}

/// A message an honest node did not have at the end of the tail, and what became of it.
#[derive(Clone, Debug)]
pub struct Missed {
    /// The message's place in publication order (measured messages only).
    pub message: usize,
    /// The node that lacked it.
    pub node: usize,
    /// Its connected peers then.
    pub peers: usize,
    /// Frames it had dropped unread by then: skipped over a budget, and from banned senders.
    pub unread: (f64, f64),
    /// When it arrived after all, counted from the end of the tail ([`LATE_WAIT`] at most).
    pub late: Option<Duration>,
}

/// How long the hostile scenario keeps watching for the messages missing at the end of its
/// tail: those that arrive within it came by a slow path (gossip's IWANT, history sync), those
/// that do not were lost.
pub const LATE_WAIT: Duration = Duration::from_secs(60);

/// Hostile members flood invalid frames (half of them) or replay honest frames (the other
/// half) at `rate` a second each while honest nodes publish `msgs`. The first ten of `msgs`
/// are published before the attack (they are what is replayed) and not measured.
pub async fn hostile(
    cluster: &mut Cluster,
    msgs: &[Message],
    interval: Duration,
    rate: u32,
    tail: Duration,
) -> anyhow::Result<Attacked> {
    let nodes = cluster.live();
    let frame = msgs.first().map_or(1024, Message::encoded_len);
    // Honest traffic first, so that there is something to replay.
    let (old, msgs) = msgs.split_at(msgs.len().min(10));
    for m in old {
        let at = nodes[cluster.draw(nodes.len())];
        cluster.publish(at, m).await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let replays: Vec<Vec<u8>> = old.iter().map(Message::encode).collect();
    let span = interval * msgs.len() as u32 + tail;
    let count = (span.as_secs_f64() * f64::from(rate)) as usize;
    let mut k = 0;
    for m in cluster.members.iter().filter(|m| m.hostile) {
        if let Some(crate::cluster::Handle::Bare(b)) = &m.handle {
            if k % 2 == 0 {
                b.flood(frame, rate, count);
            } else {
                b.replay(replays.clone(), rate, count);
            }
            k += 1;
        }
    }
    let cpu0 = measure::cpu_seconds();
    let started = Instant::now();
    let ids = publish_and_wait(cluster, msgs, &nodes, interval, tail).await?;
    let cpu = measure::cpu_since(cpu0, started.elapsed());
    let reached: Vec<usize> = ids
        .iter()
        .map(|id| cluster.recorder.reached(id, &nodes))
        .collect();
    let mut missed = Vec::new();
    for (message, id) in ids.iter().enumerate() {
        for &node in &nodes {
            if cluster.recorder.reached(id, &[node]) == 0 {
                let peers = cluster.peers(node).await.unwrap_or(0);
                let metrics = cluster.metrics(node).await;
                let rejected = |reason: &str| {
                    measure::labelled(
                        &metrics,
                        "ems_messages_rejected_total",
                        &format!("reason=\"{reason}\""),
                    )
                };
                missed.push(Missed {
                    message,
                    node,
                    peers,
                    unread: (rejected("over_budget"), rejected("banned")),
                    late: None,
                });
            }
        }
    }
    let watch = Instant::now();
    while missed.iter().any(|m| m.late.is_none()) && watch.elapsed() < LATE_WAIT {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for m in missed.iter_mut().filter(|m| m.late.is_none()) {
            if cluster.recorder.reached(&ids[m.message], &[m.node]) == 1 {
                m.late = Some(watch.elapsed());
            }
        }
    }
    Ok(Attacked {
        published: ids.len(),
        complete: reached.iter().filter(|&&r| r == nodes.len()).count() as f64
            / ids.len().max(1) as f64,
        delivered: reached.iter().sum::<usize>() as f64 / (ids.len() * nodes.len()).max(1) as f64,
        reach: measure::reach(&cluster.recorder, &ids, &nodes),
        cpu,
        missed,
    })
}
