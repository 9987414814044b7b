//! What the load examples measure, shared by `load.rs` and `attack.rs`: publishing with many
//! in flight, and delivery at the far end of a line of nodes with its latency.

use anyhow::{bail, Context as _};
use ems_core::Message;
use ems_relay::{Filter, Node};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Reads `--name N` pairs from the command line into the entry of `flags` with that name.
pub fn parse_flags(flags: &mut [(&str, &mut usize)]) -> anyhow::Result<()> {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .parse()
            .with_context(|| format!("{flag} needs a number"))?;
        let Some((_, slot)) = flags.iter_mut().find(|(name, _)| *name == flag) else {
            bail!("unknown flag {flag}");
        };
        **slot = value;
    }
    Ok(())
}

/// The `p` quantile (0..=1) of `sorted`, zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// `d` in milliseconds, one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// Publishes every message with `concurrency` in flight; returns the time each publish
/// started, by digest, and each publish's own latency (validate + durable commit), sorted.
pub async fn publish_all(
    node: &Node,
    msgs: &[Message],
    concurrency: usize,
) -> anyhow::Result<(HashMap<[u8; 32], Instant>, Vec<Duration>)> {
    let results: Vec<_> = futures::stream::iter(msgs.iter().cloned())
        .map(|m| async move {
            let digest = m.digest();
            let started = Instant::now();
            let outcome = node.publish(m).await;
            (digest, started, started.elapsed(), outcome)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut sent = HashMap::new();
    let mut acks = Vec::new();
    for (digest, started, took, outcome) in results {
        outcome.with_context(|| format!("publishing {}", hex::encode(digest)))?;
        sent.insert(digest, started);
        acks.push(took);
    }
    acks.sort();
    Ok((sent, acks))
}

/// Publishes `probes` at `from` one by one until one reaches `to`, so the gossip mesh exists.
pub async fn warm_up(from: &Node, to: &Node, probes: Vec<Message>) -> anyhow::Result<()> {
    let mut warm = to.subscribe(Filter::All);
    for probe in probes {
        from.publish(probe).await?;
        if tokio::time::timeout(Duration::from_secs(2), warm.next())
            .await
            .is_ok()
        {
            return Ok(());
        }
    }
    bail!("no probe crossed the line")
}

/// Honest delivery through a line: how many of the published messages arrived at the far
/// end, over how long, and each one's publish→delivery latency (sorted).
pub struct Delivery {
    /// Messages published.
    pub sent: usize,
    /// From the first publish to the last delivery.
    pub took: Duration,
    /// Publish→delivery latency of each delivered message, sorted.
    pub latencies: Vec<Duration>,
}

impl Delivery {
    /// Delivered messages per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.took.as_secs_f64().max(1e-9)
    }

    /// One line: rate, count, time, median, p99 and max latency.
    pub fn summary(&self) -> String {
        format!(
            "{:>7.0} delivered msgs/s at the far end ({} of {} in {:.2} s); publish→delivery median {}, p99 {}, max {}",
            self.rate(),
            self.latencies.len(),
            self.sent,
            self.took.as_secs_f64(),
            ms(percentile(&self.latencies, 0.5)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
        )
    }
}

/// Publishes `msgs` at `from` with `concurrency` in flight and collects them at `to` until
/// all arrived or none arrived for 30 s.
pub async fn deliver(
    from: &Node,
    to: &Node,
    msgs: &[Message],
    concurrency: usize,
) -> anyhow::Result<Delivery> {
    let delivered: Arc<Mutex<HashMap<[u8; 32], Instant>>> = Arc::default();
    let mut sub = to.subscribe(Filter::All);
    let sink = delivered.clone();
    let expected = msgs.len();
    let collector = tokio::spawn(async move {
        while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(30), sub.next()).await {
            let mut d = sink.lock().unwrap_or_else(|e| e.into_inner());
            d.insert(m.digest(), Instant::now());
            if d.len() >= expected {
                break;
            }
        }
    });
    let t0 = Instant::now();
    let (sent, _) = publish_all(from, msgs, concurrency).await?;
    collector.await?;
    let delivered = delivered.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut latencies: Vec<Duration> = delivered
        .iter()
        .filter_map(|(d, at)| sent.get(d).map(|s| at.saturating_duration_since(*s)))
        .collect();
    latencies.sort();
    let last = delivered.values().max().copied().unwrap_or(t0);
    Ok(Delivery {
        sent: msgs.len(),
        took: last.saturating_duration_since(t0),
        latencies,
    })
}
