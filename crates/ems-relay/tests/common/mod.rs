//! Helpers shared by the multi-node tests: real nodes on 127.0.0.1, real redb stores in
//! temporary directories, real proofs at a low difficulty, and polling with deadlines.

#![allow(dead_code)] // each test file uses a different subset

pub mod hostile;
pub mod stalling;
pub mod syncpeer;

use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{BlockRef, ChainError, ChainView, Message, Policy};
use ems_pow::{Algorithm, WorkParams};
use ems_relay::{Multiaddr, Node, NodeConfig, PeerId, Tuning};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// `policy` that also accepts Argon2id proofs, at one try a message.
pub fn with_argon2id(mut p: Policy) -> Policy {
    p.pow.algorithms = vec![Algorithm::Sha256, Algorithm::Argon2id];
    p.pow.argon2id = WorkParams {
        min_work: 1,
        size_factor: 0,
        ttl_factor: 0,
    };
    p
}

/// A valid message with an Argon2id proof (the policy must accept Argon2id).
pub fn argon2id_message(
    policy: &Policy,
    id0: [u8; 32],
    payload_len: usize,
    ttl_secs: u64,
) -> Message {
    let mut m = message(policy, id0, payload_len, ttl_secs);
    m.mine(policy, Algorithm::Argon2id, now());
    m
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

/// A bare libp2p swarm for a scripted peer, as identity `key`: TCP, noise and yamux like a
/// node's, `behaviour` and nothing else, connections kept for a minute when idle.
pub fn bare_swarm<B: libp2p::swarm::NetworkBehaviour>(
    key: libp2p::identity::Keypair,
    behaviour: B,
) -> libp2p::Swarm<B> {
    use libp2p::{noise, tcp, yamux};
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
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

/// A chain view a test steers: a fixed list of blocks (block `h` has prefix `[0xc4, h, h, 1]`,
/// ten seconds apart, the newest now), how many of them it shows, and whether it answers at
/// all. Two of them showing different counts are two nodes whose views differ.
pub struct SteeredChain {
    blocks: Vec<BlockRef>,
    shown: AtomicUsize,
    up: AtomicBool,
}

impl SteeredChain {
    /// `n` blocks (at most 256), the first `shown` of them visible.
    pub fn new(n: usize, shown: usize) -> Arc<SteeredChain> {
        let now = now();
        let blocks = (0..n as u64)
            .map(|h| BlockRef {
                height: h,
                prefix: [0xc4, h as u8, h as u8, 1],
                time: now - (n as u64 - 1 - h) * 10,
            })
            .collect();
        Arc::new(SteeredChain {
            blocks,
            shown: AtomicUsize::new(shown),
            up: AtomicBool::new(true),
        })
    }

    /// Another view of the same blocks, showing the first `shown`.
    pub fn fork(&self, shown: usize) -> Arc<SteeredChain> {
        Arc::new(SteeredChain {
            blocks: self.blocks.clone(),
            shown: AtomicUsize::new(shown),
            up: AtomicBool::new(true),
        })
    }

    pub fn block(&self, height: usize) -> BlockRef {
        self.blocks[height]
    }

    /// Shows the first `n` blocks (the head moves to block `n - 1`).
    pub fn show(&self, n: usize) {
        self.shown.store(n, Ordering::SeqCst);
    }

    /// Whether the source answers (a restarted chain node does not, for a while).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    fn visible(&self) -> Result<&[BlockRef], ChainError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(ChainError::Unavailable("steered chain is down".into()));
        }
        Ok(&self.blocks[..self.shown.load(Ordering::SeqCst)])
    }
}

impl ChainView for SteeredChain {
    fn source(&self) -> String {
        "steered".into()
    }
    fn head(&self, _now: u64) -> Result<BlockRef, ChainError> {
        self.visible()?
            .last()
            .copied()
            .ok_or_else(|| ChainError::Unavailable("no blocks".into()))
    }
    fn find(&self, prefix: [u8; 4], _now: u64) -> Result<Option<BlockRef>, ChainError> {
        Ok(self
            .visible()?
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .copied())
    }
}

/// A node's data directory, kept across restarts, removed when dropped.
pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub node: Option<Node>,
    /// The chain view; `None`: a devnet chain of its own, as real nodes have.
    pub chain: Option<Arc<dyn ChainView>>,
    pub bootstrap: Vec<Multiaddr>,
    pub policy: Policy,
    pub tuning: Tuning,
}

impl TestNode {
    pub async fn start(bootstrap: Vec<Multiaddr>, policy: Policy) -> TestNode {
        Self::start_with(bootstrap, policy, tuning()).await
    }

    pub async fn start_with(bootstrap: Vec<Multiaddr>, policy: Policy, tuning: Tuning) -> TestNode {
        Self::start_on(bootstrap, policy, tuning, None).await
    }

    /// Starts with the given chain view (`None`: its own devnet chain).
    pub async fn start_on(
        bootstrap: Vec<Multiaddr>,
        policy: Policy,
        tuning: Tuning,
        chain: Option<Arc<dyn ChainView>>,
    ) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let mut t = TestNode {
            dir,
            node: None,
            chain,
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
        let view = self.chain.clone().unwrap_or_else(|| chain(&self.policy));
        let node = Node::start(self.config(), view).await.unwrap();
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

/// Gossip messages `node` received on any topic, duplicates included (gossipsub's own count).
pub fn gossip_received(node: &Node) -> f64 {
    node.metrics()
        .lines()
        .filter(|l| l.starts_with("libp2p_gossipsub_topic_msg_recv_counts_unfiltered_total"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
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

/// A message whose proof hash starts with `lead` (the store does not check proofs): the lower
/// `lead`, the more work the proof shows. 1 KiB payload, `life` seconds from `now`, an `ID0`
/// of its own.
pub fn paid(lead: u64, life: u64, now: u64) -> Message {
    let mut id0 = [0u8; 32];
    id0[..8].copy_from_slice(&next_serial().to_be_bytes());
    id0[8..16].copy_from_slice(&lead.to_be_bytes());
    paid_tagged(id0, lead, life, now)
}

/// [`paid`] with the `ID0` given.
pub fn paid_tagged(id0: [u8; 32], lead: u64, life: u64, now: u64) -> Message {
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&id0);
    id[32..40].copy_from_slice(&next_serial().to_be_bytes());
    let mut m = Message::new(id, vec![7; 1024], (now + life) as u32, [0; 4]).unwrap();
    let mut hash = [0xff; 32];
    hash[..8].copy_from_slice(&lead.to_be_bytes());
    m.set_pow(
        ems_pow::Algorithm::Sha256,
        ems_pow::Proof { nonce: 0, hash },
    );
    m
}

/// A number no other call in this process returned.
fn next_serial() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
