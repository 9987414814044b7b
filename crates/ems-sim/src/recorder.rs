//! When each node first had each message.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::time::Instant;

/// Arrival times of messages at nodes, and the time each was published.
#[derive(Debug, Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    published: HashMap<[u8; 32], Instant>,
    /// Per message: node index → first arrival.
    arrivals: HashMap<[u8; 32], HashMap<usize, Instant>>,
}

impl Recorder {
    /// Notes that `id` is being published now.
    pub fn published(&self, id: [u8; 32]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.published.entry(id).or_insert_with(Instant::now);
    }

    /// Notes that node `node` has `id` now (only the first arrival counts).
    pub fn received(&self, id: [u8; 32], node: usize) {
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .arrivals
            .entry(id)
            .or_default()
            .entry(node)
            .or_insert(now);
    }

    /// For message `id`: its publication time and each node's arrival time.
    pub fn arrivals(&self, id: &[u8; 32]) -> Option<(Instant, Vec<(usize, Instant)>)> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let published = *inner.published.get(id)?;
        let arrivals = inner
            .arrivals
            .get(id)
            .map(|m| m.iter().map(|(n, t)| (*n, *t)).collect())
            .unwrap_or_default();
        Some((published, arrivals))
    }

    /// How many of `nodes` have `id`.
    pub fn reached(&self, id: &[u8; 32], nodes: &[usize]) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .arrivals
            .get(id)
            .map_or(0, |m| nodes.iter().filter(|n| m.contains_key(n)).count())
    }
}
