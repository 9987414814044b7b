//! Figures from a run: reach times, duplicates, bytes, CPU.

use crate::cluster::Cluster;
use crate::recorder::Recorder;
use std::time::Duration;

/// Fractions of nodes whose reach time is reported.
pub const FRACTIONS: [f64; 4] = [0.5, 0.9, 0.99, 1.0];

/// Mean and 99th percentile of a set of durations, and how many messages had one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    /// Mean, ms.
    pub mean: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Messages that got there.
    pub count: usize,
}

impl Stat {
    fn of(mut ms: Vec<f64>) -> Stat {
        if ms.is_empty() {
            return Stat::default();
        }
        ms.sort_by(|a, b| a.total_cmp(b));
        let idx = ((ms.len() as f64 * 0.99).ceil() as usize).clamp(1, ms.len()) - 1;
        Stat {
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
            p99: ms[idx],
            count: ms.len(),
        }
    }
}

/// Reach time statistics for `ids` over the honest nodes `nodes`: one [`Stat`] per fraction.
pub fn reach(rec: &Recorder, ids: &[[u8; 32]], nodes: &[usize]) -> [Stat; 4] {
    let mut per_fraction: [Vec<f64>; 4] = Default::default();
    for id in ids {
        let Some((published, arrivals)) = rec.arrivals(id) else {
            continue;
        };
        let mut times: Vec<f64> = arrivals
            .iter()
            .filter(|(n, _)| nodes.contains(n))
            .map(|(_, t)| t.saturating_duration_since(published).as_secs_f64() * 1e3)
            .collect();
        times.sort_by(|a, b| a.total_cmp(b));
        for (f, out) in FRACTIONS.iter().zip(per_fraction.iter_mut()) {
            let k = ((nodes.len() as f64 * f).ceil() as usize).max(1);
            if let Some(t) = times.get(k - 1) {
                out.push(*t);
            }
        }
    }
    per_fraction.map(Stat::of)
}

/// Summed counters of a set of nodes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Topic messages received, duplicates included.
    pub recv_all: f64,
    /// Topic messages received the first time.
    pub recv_first: f64,
    /// Bytes of topic messages received, duplicates included.
    pub recv_bytes: f64,
    /// Bytes on the wire received (Noise, Yamux and every protocol included).
    pub wire_in: f64,
    /// Bytes on the wire sent.
    pub wire_out: f64,
}

impl std::ops::Sub for Counters {
    type Output = Counters;
    fn sub(self, o: Counters) -> Counters {
        Counters {
            recv_all: self.recv_all - o.recv_all,
            recv_first: self.recv_first - o.recv_first,
            recv_bytes: self.recv_bytes - o.recv_bytes,
            wire_in: self.wire_in - o.wire_in,
            wire_out: self.wire_out - o.wire_out,
        }
    }
}

/// The sum of the samples of metric `name` (any labels) in Prometheus text.
pub fn metric(text: &str, name: &str) -> f64 {
    labelled(text, name, "")
}

/// The sum of the samples of metric `name` whose labels contain `label` (e.g.
/// `source="sync"`) in Prometheus text.
pub fn labelled(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name).is_some_and(|rest| {
                (rest.starts_with('{') || rest.starts_with(' '))
                    && rest.split(' ').next().is_some_and(|ls| ls.contains(label))
            })
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Current counters summed over `nodes`.
pub async fn counters(cluster: &Cluster, nodes: &[usize]) -> Counters {
    let mut c = Counters::default();
    for &i in nodes {
        let text = cluster.metrics(i).await;
        c.recv_all += metric(
            &text,
            "libp2p_gossipsub_topic_msg_recv_counts_unfiltered_total",
        );
        c.recv_first += metric(&text, "libp2p_gossipsub_topic_msg_recv_counts_total");
        c.recv_bytes += metric(
            &text,
            "libp2p_gossipsub_topic_msg_recv_bytes_unfiltered_total",
        );
        let (out, inn) = cluster.net.bytes(cluster.members[i].port);
        c.wire_in += inn as f64;
        c.wire_out += out as f64;
    }
    c
}

/// CPU seconds this process has used (user + system).
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The machine's 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// CPU use over a span: this process's cores and the machine's load average at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    /// Cores this process kept busy on average.
    pub cores: f64,
    /// CPU seconds this process used over the span.
    pub seconds: f64,
    /// Machine 1-minute load average at the end.
    pub load: f64,
}

/// Measures CPU use from `start` (a [`cpu_seconds`] reading) over `wall`.
pub fn cpu_since(start: f64, wall: Duration) -> Cpu {
    let seconds = cpu_seconds() - start;
    Cpu {
        cores: seconds / wall.as_secs_f64().max(1e-9),
        seconds,
        load: loadavg(),
    }
}
