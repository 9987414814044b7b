//! Helpers shared by the multi-node tests: real nodes on 127.0.0.1, real redb stores in
//! temporary directories, real proofs at a low difficulty, and polling with deadlines.

#![allow(dead_code)] // each test file uses a different subset

use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{ChainView, Message, Policy};
use ems_pow::{Algorithm, WorkParams};
use ems_relay::{Multiaddr, Node, NodeConfig, PeerId, Tuning};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Generous: gossip meshes form in a few heartbeats, but a loaded 2-core machine is slow.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The default policy with cheap proofs (about 64 hashes a message) and a one-hour max TTL.
pub fn policy() -> Policy {
    let mut p = Policy::default();
    p.pow.sha256 = WorkParams {
        min_work: 64,
        size_factor: 0,
        ttl_factor: 0,
    };
    p.limits.max_ttl = 3_600;
    p
}

/// Every node gets its own devnet chain with the shared default genesis, as real nodes do.
pub fn chain(policy: &Policy) -> Arc<dyn ChainView> {
    Arc::new(DevnetChain::new(
        &DevnetConfig::default(),
        policy.limits.max_ttl + policy.limits.clock_skew,
    ))
}

/// A valid message: random ID, `payload_len` bytes, `ttl_secs` to live, bound to the head.
pub fn message(policy: &Policy, id0: [u8; 32], payload_len: usize, ttl_secs: u64) -> Message {
    let now = now();
    let head = chain(policy).head(now).unwrap();
    message_at(policy, id0, payload_len, now + ttl_secs, head.prefix, now)
}

/// A message with an explicit TTL and block prefix, mined at `now`.
pub fn message_at(
    policy: &Policy,
    id0: [u8; 32],
    payload_len: usize,
    ttl: u64,
    prefix: [u8; 4],
    now: u64,
) -> Message {
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&id0);
    id[32..].copy_from_slice(&rand_bytes());
    let payload = vec![0x42; payload_len];
    let mut m = Message::new(id, payload, ttl as u32, prefix).unwrap();
    m.mine(policy, Algorithm::Sha256, now);
    m
}

/// 32 bytes unique within the test run (ID1 must make every message distinct).
fn rand_bytes() -> [u8; 32] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&n.to_be_bytes());
    out[8..24].copy_from_slice(&t.to_be_bytes());
    out[24..28].copy_from_slice(&std::process::id().to_be_bytes());
    out
}

/// Test timings: short heartbeats and redials; a fixed topology (no discovery dials).
pub fn tuning() -> Tuning {
    Tuning {
        heartbeat: Duration::from_millis(200),
        redial: Duration::from_secs(1),
        discovery: false,
        ..Tuning::default()
    }
}

/// A node's data directory, kept across restarts, removed when dropped.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub node: Option<Node>,
    pub bootstrap: Vec<Multiaddr>,
    pub policy: Policy,
    pub tuning: Tuning,
}

impl TestNode {
    pub async fn start(bootstrap: Vec<Multiaddr>, policy: Policy) -> TestNode {
        Self::start_with(bootstrap, policy, tuning()).await
    }

    pub async fn start_with(bootstrap: Vec<Multiaddr>, policy: Policy, tuning: Tuning) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let mut t = TestNode {
            dir,
            node: None,
            bootstrap,
            policy,
            tuning,
        };
        t.restart().await;
        t
    }

    pub fn config(&self) -> NodeConfig {
        NodeConfig {
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            bootstrap: self.bootstrap.clone(),
            policy: self.policy.clone(),
            tuning: self.tuning.clone(),
            ..NodeConfig::new(self.dir.path(), "test")
        }
    }

    /// Starts (again) from the same data directory.
    pub async fn restart(&mut self) {
        assert!(self.node.is_none(), "node already running");
        let node = Node::start(self.config(), chain(&self.policy))
            .await
            .unwrap();
        self.node = Some(node);
    }

    pub async fn stop(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }

    pub fn node(&self) -> &Node {
        self.node.as_ref().expect("node is running")
    }

    pub async fn addr(&self) -> Multiaddr {
        self.node().listen_addrs().await[0].clone()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// `n` nodes in a line: node `i` knows only node `i - 1`.
pub async fn line(n: usize, policy: &Policy) -> Vec<TestNode> {
    let mut nodes: Vec<TestNode> = Vec::new();
    for _ in 0..n {
        let bootstrap = match nodes.last() {
            Some(prev) => vec![prev.addr().await],
            None => vec![],
        };
        nodes.push(TestNode::start(bootstrap, policy.clone()).await);
    }
    nodes
}

/// Polls `check` every 50 ms until it returns true; panics with `what` after `deadline`.
pub async fn eventually<F, Fut>(what: &str, deadline: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() >= end {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every node sees the peers a line gives it.
pub async fn wait_for_line(nodes: &[TestNode]) {
    let n = nodes.len();
    for (i, t) in nodes.iter().enumerate() {
        let want = usize::from(i > 0) + usize::from(i + 1 < n);
        eventually("line connected", DEADLINE, || async {
            t.node().status().await.peers >= want
        })
        .await;
    }
}

/// A metric's value from the Prometheus text (`name{labels}` as written there), 0 if absent.
pub fn metric(node: &Node, series: &str) -> f64 {
    node.metrics()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

pub fn peer_of(addr: &Multiaddr) -> PeerId {
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(p)) => p,
        _ => panic!("{addr} has no /p2p/"),
    }
}

pub fn store_file(dir: &Path) -> PathBuf {
    dir.join("store.redb")
}
