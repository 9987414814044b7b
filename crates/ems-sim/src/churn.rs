//! The churn scenario: nodes leave for good and new ones join while messages are published.
//! Which (message, node) pairs must be delivered, and, for each message some of them missed,
//! what its publisher was doing.

use crate::cluster::Cluster;
use crate::measure::{self, Cpu, Stat};
use ems_core::Message;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// Outcome of the churn scenario.
#[derive(Clone, Debug)]
pub struct Churned {
    /// Messages published.
    pub published: usize,
    /// Nodes replaced.
    pub replaced: usize,
    /// (message, node) pairs that must be delivered: the node was live when the message was
    /// published and still is at the end, and the message reached a node other than its
    /// publisher (one stopped before it sent the message anywhere took it with it).
    pub due: usize,
    /// Of those, delivered.
    pub delivered: usize,
    /// Pairs of a node live at the publication and at the end, stranded messages included
    /// (the measure of earlier runs).
    pub live_pairs: usize,
    /// Messages that reached no node but their publisher, whose publisher was stopped.
    pub stranded: usize,
    /// Reach times over the nodes live at the end.
    pub reach: [Stat; 4],
    /// Every message with a pair due and not delivered.
    pub missed: Vec<Missed>,
    /// Every node that missed a message due to it: (seconds it had been running at the end,
    /// `None` if since before the run; its connected peers at the end; messages it missed).
    pub missing_nodes: Vec<(Option<f64>, usize, usize)>,
    /// CPU over the scenario.
    pub cpu: Cpu,
}

/// A message some node that was due to receive it did not.
#[derive(Clone, Copy, Debug)]
pub struct Missed {
    /// Seconds into the run it was published.
    pub at: f64,
    /// Seconds its publisher had been running (`None`: since before the run).
    pub publisher_age: Option<f64>,
    /// The publisher's connected peers just before it published.
    pub publisher_peers: usize,
    /// Seconds after the publication the publisher was stopped (`None`: it was not).
    pub publisher_stopped: Option<f64>,
    /// Due nodes that have it, and due nodes.
    pub reached: usize,
    /// Due nodes.
    pub due: usize,
}

/// What the run knows of one publication.
struct Publication {
    id: [u8; 32],
    at: Instant,
    publisher: usize,
    peers: usize,
    live: Vec<usize>,
}

/// For `minutes`, replaces `fraction` of the nodes each minute (stopped ones never return,
/// new ones bootstrap from random live nodes), spread over the minute, while publishing
/// `msgs` evenly; then waits up to `tail` for every due pair.
pub async fn churn(
    cluster: &mut Cluster,
    msgs: &[Message],
    minutes: u32,
    fraction: f64,
    tail: Duration,
) -> anyhow::Result<Churned> {
    let cpu0 = measure::cpu_seconds();
    let started = Instant::now();
    let per_minute = ((cluster.live().len() as f64) * fraction).round().max(1.0) as usize;
    let events = per_minute * minutes as usize;
    let span = Duration::from_secs(60 * u64::from(minutes));
    let step = span / (events + msgs.len()).max(1) as u32;
    let mut pubs: Vec<Publication> = Vec::new();
    let mut joined: HashMap<usize, Instant> = HashMap::new();
    let mut stopped: HashMap<usize, Instant> = HashMap::new();
    let (mut replaced, mut next_msg) = (0, 0);
    for k in 0..(events + msgs.len()) {
        tokio::time::sleep(step).await;
        let churn_now = replaced < events && (next_msg >= msgs.len() || k % 2 == 0);
        let live = cluster.live();
        if churn_now {
            let victim = live[cluster.draw(live.len())];
            cluster.stop(victim).await;
            stopped.insert(victim, Instant::now());
            let new = cluster.add(false).await?;
            joined.insert(new, Instant::now());
            replaced += 1;
        } else if next_msg < msgs.len() {
            let at = live[cluster.draw(live.len())];
            let peers = cluster.peers(at).await.unwrap_or(0);
            let id = cluster.publish(at, &msgs[next_msg]).await?;
            pubs.push(Publication {
                id,
                at: Instant::now(),
                publisher: at,
                peers,
                live,
            });
            next_msg += 1;
        }
    }
    let end_live = cluster.live();
    // Due: live at publication and at the end; none for a message that never left a
    // publisher stopped since.
    let left = |c: &Cluster, p: &Publication| {
        c.recorder
            .arrivals(&p.id)
            .is_some_and(|(_, a)| a.iter().any(|(n, _)| *n != p.publisher))
    };
    let due_of = |c: &Cluster, p: &Publication| -> Vec<usize> {
        if stopped.contains_key(&p.publisher) && !left(c, p) {
            return Vec::new();
        }
        p.live
            .iter()
            .copied()
            .filter(|n| end_live.contains(n))
            .collect()
    };
    let deadline = Instant::now() + tail;
    while Instant::now() < deadline
        && pubs.iter().any(|p| {
            let due = due_of(cluster, p);
            cluster.recorder.reached(&p.id, &due) < due.len()
        })
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (mut delivered, mut due_all, mut stranded, mut live_pairs) = (0, 0, 0, 0);
    let mut missed = Vec::new();
    let mut by_node: HashMap<usize, usize> = HashMap::new();
    for p in &pubs {
        let due = due_of(cluster, p);
        let live_now = p.live.iter().filter(|n| end_live.contains(n)).count();
        live_pairs += live_now;
        if due.is_empty() && live_now > 0 {
            stranded += 1;
        }
        let reached = cluster.recorder.reached(&p.id, &due);
        for &n in &due {
            if cluster.recorder.reached(&p.id, &[n]) == 0 {
                *by_node.entry(n).or_default() += 1;
            }
        }
        delivered += reached;
        due_all += due.len();
        if reached < due.len() {
            missed.push(Missed {
                at: p.at.duration_since(started).as_secs_f64(),
                publisher_age: joined
                    .get(&p.publisher)
                    .map(|t| p.at.duration_since(*t).as_secs_f64()),
                publisher_peers: p.peers,
                publisher_stopped: stopped
                    .get(&p.publisher)
                    .map(|t| t.duration_since(p.at).as_secs_f64()),
                reached,
                due: due.len(),
            });
        }
    }
    let ids: Vec<[u8; 32]> = pubs.iter().map(|p| p.id).collect();
    let mut missing_nodes = Vec::new();
    for (&n, &count) in &by_node {
        let age = joined.get(&n).map(|t| t.elapsed().as_secs_f64());
        missing_nodes.push((age, cluster.peers(n).await.unwrap_or(0), count));
    }
    Ok(Churned {
        published: pubs.len(),
        replaced,
        due: due_all,
        delivered,
        live_pairs,
        stranded,
        reach: measure::reach(&cluster.recorder, &ids, &end_live),
        missed,
        missing_nodes,
        cpu: measure::cpu_since(cpu0, started.elapsed()),
    })
}
