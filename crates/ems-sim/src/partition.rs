//! The partition scenario, and the timeline of its heal: when connections across re-form,
//! when sync rounds and fetches run, how messages arrive (gossip or sync), and the CPU the
//! simulator had meanwhile.

use crate::cluster::Cluster;
use crate::measure::{self, Cpu};
use ems_core::Message;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How often the heal is sampled.
const SAMPLE: Duration = Duration::from_millis(500);

/// Outcome of the partition scenario.
#[derive(Clone, Debug)]
pub struct Healed {
    /// Messages published on each side while partitioned.
    pub published: usize,
    /// Seconds from the heal until every live node had every message (`None`: not within the
    /// wait).
    pub converged: Option<f64>,
    /// (message, node) pairs still missing at the end of the wait.
    pub missing: usize,
    /// CPU over the scenario.
    pub cpu: Cpu,
    /// The heal, sampled every [`SAMPLE`].
    pub timeline: Vec<Sample>,
    /// Per node, seconds from the heal: its first connection across (`None`: none) and when
    /// it had every message (`None`: not within the wait).
    pub nodes: Vec<(Option<f64>, Option<f64>)>,
}

/// The cluster at one moment after the heal; counters are summed over nodes, since the heal.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Seconds since the heal.
    pub at: f64,
    /// Raw links established across the former partition.
    pub crossings: usize,
    /// Nodes at either end of at least one of them.
    pub crossed: usize,
    /// (message, node) pairs missing.
    pub missing: usize,
    /// Sync rounds started.
    pub rounds: f64,
    /// Reconcile exchanges sent.
    pub exchanges: f64,
    /// Fetch requests sent.
    pub fetches: f64,
    /// Requests answered `Busy` (reconcile or fetch).
    pub busy: f64,
    /// Mean connected peers per node.
    pub peers: f64,
    /// Messages first received through sync.
    pub via_sync: f64,
    /// Messages first received through gossip.
    pub via_gossip: f64,
    /// Cores the simulator used since the previous sample.
    pub cores: f64,
}

/// Counters of every node summed: rounds, exchanges, fetch requests, by sync, by gossip,
/// answered busy, mean peers.
async fn counters(cluster: &Cluster, nodes: &[usize]) -> [f64; 7] {
    let mut c = [0.0; 7];
    for &i in nodes {
        let text = cluster.metrics(i).await;
        let sync = "ems_sync_events_total";
        c[0] += measure::labelled(&text, sync, "event=\"rounds\"");
        c[1] += measure::labelled(&text, sync, "event=\"exchanges\"");
        c[2] += measure::labelled(&text, sync, "event=\"fetch_requests\"");
        let received = "ems_messages_received_total";
        c[3] += measure::labelled(&text, received, "source=\"sync\"");
        c[4] += measure::labelled(&text, received, "source=\"gossip\"");
        c[5] += measure::labelled(&text, sync, "event=\"busy\"");
        c[6] += measure::metric(&text, "ems_peers") / nodes.len().max(1) as f64;
    }
    c
}

/// Splits the cluster into halves for `split`, publishing `msgs` (half on each side) during
/// it, heals, and follows the heal until every node has every message or `wait` has passed.
pub async fn partition(
    cluster: &mut Cluster,
    msgs: &[Message],
    split: Duration,
    wait: Duration,
) -> anyhow::Result<Healed> {
    let nodes = cluster.live();
    let cpu0 = measure::cpu_seconds();
    let started = Instant::now();
    let half: Vec<usize> = nodes[..nodes.len() / 2].to_vec();
    let other: Vec<usize> = nodes[nodes.len() / 2..].to_vec();
    cluster
        .net
        .partition(half.iter().map(|&i| cluster.members[i].port));
    let interval = split / (msgs.len() as u32 + 1);
    let mut ids = Vec::new();
    for (k, m) in msgs.iter().enumerate() {
        tokio::time::sleep(interval).await;
        let side = if k % 2 == 0 { &half } else { &other };
        let at = side[cluster.draw(side.len())];
        ids.push(cluster.publish(at, m).await?);
    }
    tokio::time::sleep_until(started + split).await;
    let base = counters(cluster, &nodes).await;
    cluster.net.heal();
    let healed = Instant::now();
    let deadline = healed + wait;
    let missing = |c: &Cluster| -> usize {
        ids.iter()
            .map(|id| nodes.len() - c.recorder.reached(id, &nodes))
            .sum()
    };
    let by_port: HashMap<u64, usize> = nodes
        .iter()
        .map(|&i| (cluster.members[i].port, i))
        .collect();
    let mut timeline = Vec::new();
    let (mut cpu_at, mut at) = (measure::cpu_seconds(), healed);
    loop {
        let now = Instant::now();
        let crossings = cluster.net.crossings();
        let mut crossed: Vec<u64> = crossings.iter().flat_map(|c| [c.1, c.2]).collect();
        crossed.sort_unstable();
        crossed.dedup();
        let c = counters(cluster, &nodes).await;
        let cpu = measure::cpu_seconds();
        let left = missing(cluster);
        timeline.push(Sample {
            at: now.duration_since(healed).as_secs_f64(),
            crossings: crossings.len(),
            crossed: crossed.len(),
            missing: left,
            rounds: c[0] - base[0],
            exchanges: c[1] - base[1],
            fetches: c[2] - base[2],
            via_sync: c[3] - base[3],
            via_gossip: c[4] - base[4],
            busy: c[5] - base[5],
            peers: c[6],
            // The CPU clock ticks every 10 ms: no figure for the first, instant sample.
            cores: if now.duration_since(at) >= SAMPLE / 2 {
                (cpu - cpu_at) / now.duration_since(at).as_secs_f64()
            } else {
                0.0
            },
        });
        (cpu_at, at) = (cpu, now);
        if left == 0 || now >= deadline {
            break;
        }
        tokio::time::sleep(SAMPLE.saturating_sub(now.elapsed())).await;
    }
    let mut first: HashMap<usize, f64> = HashMap::new();
    for (t, a, b) in cluster.net.crossings() {
        let s = t.duration_since(healed).as_secs_f64();
        for port in [a, b] {
            if let Some(&i) = by_port.get(&port) {
                first.entry(i).or_insert(s);
            }
        }
    }
    let complete = |i: usize| -> Option<f64> {
        let mut last = healed;
        for id in &ids {
            let (_, arrivals) = cluster.recorder.arrivals(id)?;
            last = last.max(arrivals.iter().find(|(n, _)| *n == i)?.1);
        }
        Some(last.duration_since(healed).as_secs_f64())
    };
    let per_node: Vec<(Option<f64>, Option<f64>)> = nodes
        .iter()
        .map(|&i| (first.get(&i).copied(), complete(i)))
        .collect();
    let left = missing(cluster);
    Ok(Healed {
        published: msgs.len(),
        converged: (left == 0).then(|| per_node.iter().filter_map(|n| n.1).fold(0.0, f64::max)),
        missing: left,
        cpu: measure::cpu_since(cpu0, started.elapsed()),
        timeline,
        nodes: per_node,
    })
}
