//! A cluster of simulated nodes (relays or bare gossipsub nodes) on one emulated network.

use crate::bare::{Bare, BareConfig};
use crate::recorder::Recorder;
use crate::transport::Net;
use anyhow::Context as _;
use ems_chain::{DevnetChain, DevnetConfig};
use ems_core::{ChainView, Message, Policy};
use ems_pow::WorkParams;
use ems_relay::{Filter, Gossip, Multiaddr, Node, NodeConfig, Tuning};
use futures::StreamExt;
use libp2p::gossipsub::IdentTopic;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Network name of every simulated relay.
pub const NETWORK: &str = "sim";

/// What runs on each node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A real relay: validation, redb store, sync.
    Ems,
    /// Bare gossipsub: no validation, no store.
    Bare,
}

/// A node of the cluster.
#[derive(Debug)]
pub enum Handle {
    /// A relay.
    Ems(Node),
    /// A bare node.
    Bare(Bare),
}

/// One member: its port (address) and handle; `None` once stopped.
#[derive(Debug)]
pub struct Member {
    /// `/memory/<port>`.
    pub port: u64,
    /// Full address, with `/p2p/<id>`.
    pub addr: Multiaddr,
    /// The running node.
    pub handle: Option<Handle>,
    /// Hostile members are not measured.
    pub hostile: bool,
}

/// Cluster settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Relays or bare nodes.
    pub kind: Kind,
    /// Gossipsub parameters.
    pub gossip: Gossip,
    /// Bootstrap peers each new node is given (drawn from the nodes already running).
    pub bootstrap: usize,
    /// Established connections per node.
    pub max_connections: u32,
    /// Gossipsub heartbeat.
    pub heartbeat: Duration,
    /// Bootstrap redial interval of relays.
    pub redial: Duration,
    /// Relays' periodic history sync interval.
    pub resync: Duration,
}

/// The proof-of-work policy of the simulation: the default policy with cheap SHA-256 proofs
/// (validating one costs the same one hash as at any difficulty), and a block depth of an hour:
/// frames are mined before a run publishes them, and a run of 1,000 nodes on two cores can
/// publish for longer than the default depth (30 devnet blocks, 5 minutes).
pub fn policy() -> Policy {
    let mut p = Policy::default();
    p.limits.block_depth = 360;
    p.pow.sha256 = WorkParams {
        min_work: 64,
        size_factor: 0,
        ttl_factor: 0,
    };
    p
}

fn chain(policy: &Policy) -> Arc<dyn ChainView> {
    Arc::new(DevnetChain::new(
        &DevnetConfig::default(),
        policy.limits.max_ttl + policy.limits.clock_skew,
    ))
}

/// The running cluster.
pub struct Cluster {
    /// The network.
    pub net: Arc<Net>,
    /// Every node ever started, by index.
    pub members: Vec<Member>,
    /// Arrivals.
    pub recorder: Arc<Recorder>,
    settings: Settings,
    policy: Policy,
    dir: tempfile::TempDir,
    seed: u64,
}

static PORTS: AtomicU64 = AtomicU64::new(1);

impl Cluster {
    /// An empty cluster; stores go to a temporary directory on tmpfs when there is one.
    pub fn new(net: Arc<Net>, settings: Settings) -> anyhow::Result<Cluster> {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)?
        } else {
            tempfile::tempdir()?
        };
        Ok(Cluster {
            net,
            members: Vec::new(),
            recorder: Arc::default(),
            settings,
            policy: policy(),
            dir,
            seed: 0x5EED,
        })
    }

    /// The simulation's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A pseudo-random index below `n`.
    pub fn draw(&mut self, n: usize) -> usize {
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.seed >> 33) as usize) % n.max(1)
    }

    /// Indices of running, honest members.
    pub fn live(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].handle.is_some() && !self.members[i].hostile)
            .collect()
    }

    fn bootstrap_for(&mut self) -> Vec<Multiaddr> {
        let live: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].handle.is_some())
            .collect();
        let mut picked = Vec::new();
        for _ in 0..self.settings.bootstrap.min(live.len()) * 3 {
            if picked.len() == self.settings.bootstrap.min(live.len()) {
                break;
            }
            let i = live[self.draw(live.len())];
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked
            .iter()
            .map(|&i| self.members[i].addr.clone())
            .collect()
    }

    /// Starts one more node (of the cluster's kind, or a hostile bare node).
    pub async fn add(&mut self, hostile: bool) -> anyhow::Result<usize> {
        let index = self.members.len();
        let port = PORTS.fetch_add(1, Ordering::Relaxed);
        self.net.attach(port);
        let listen: Multiaddr = format!("/memory/{port}").parse()?;
        let bootstrap = self.bootstrap_for();
        let s = &self.settings;
        let recorder = (!hostile).then(|| (self.recorder.clone(), index));
        let handle = if s.kind == Kind::Bare || hostile {
            Handle::Bare(Bare::start(BareConfig {
                transport: self.net.transport(port),
                listen: listen.clone(),
                bootstrap,
                topic: IdentTopic::new(format!("/qrl/ems/1/{NETWORK}")),
                gossip: s.gossip.clone(),
                heartbeat: s.heartbeat,
                redial: s.redial,
                max_connections: s.max_connections,
                discovery: true,
                recorder,
            })?)
        } else {
            let config = NodeConfig {
                listen: vec![listen.clone()],
                bootstrap,
                policy: self.policy.clone(),
                tuning: Tuning {
                    heartbeat: s.heartbeat,
                    redial: s.redial,
                    resync: s.resync,
                    gossip: s.gossip.clone(),
                    max_connections: s.max_connections,
                    ..Tuning::default()
                },
                transport: Some(self.net.transport(port)),
                ..NodeConfig::new(self.dir.path().join(format!("n{index}")), NETWORK)
            };
            let node = Node::start(config, chain(&self.policy))
                .await
                .with_context(|| format!("starting node {index}"))?;
            let mut sub = node.subscribe(Filter::All);
            let rec = self.recorder.clone();
            tokio::spawn(async move {
                while let Some(m) = sub.next().await {
                    rec.received(m.digest(), index);
                }
            });
            Handle::Ems(node)
        };
        let peer = match &handle {
            Handle::Ems(n) => n.peer_id(),
            Handle::Bare(b) => b.peer_id,
        };
        self.members.push(Member {
            port,
            addr: listen.with(libp2p::multiaddr::Protocol::P2p(peer)),
            handle: Some(handle),
            hostile,
        });
        Ok(index)
    }

    /// Stops member `i` (its store is kept on disk but never reopened).
    pub async fn stop(&mut self, i: usize) {
        match self.members[i].handle.take() {
            Some(Handle::Ems(node)) => node.shutdown().await,
            Some(Handle::Bare(_)) | None => {}
        }
    }

    /// Publishes `msg` at member `i`; returns the id arrivals are recorded under.
    pub async fn publish(&self, i: usize, msg: &Message) -> anyhow::Result<[u8; 32]> {
        match &self.members[i].handle {
            Some(Handle::Ems(node)) => {
                let id = msg.digest();
                self.recorder.published(id);
                node.publish(msg.clone()).await?;
                Ok(id)
            }
            Some(Handle::Bare(bare)) => {
                let data = msg.encode();
                let id = crate::bare::message_id(&data);
                self.recorder.published(id);
                bare.publish(data).await;
                Ok(id)
            }
            None => anyhow::bail!("member {i} is not running"),
        }
    }

    /// The Prometheus text of member `i` (gossipsub metrics included).
    pub async fn metrics(&self, i: usize) -> String {
        match &self.members[i].handle {
            Some(Handle::Ems(node)) => node.metrics(),
            Some(Handle::Bare(bare)) => bare.metrics().await,
            None => String::new(),
        }
    }

    /// Connected peers of node `i` (`None` once it is stopped).
    pub async fn peers(&self, i: usize) -> Option<usize> {
        match &self.members[i].handle {
            Some(Handle::Ems(node)) => Some(node.status().await.peers),
            Some(Handle::Bare(bare)) => Some(bare.peers().await),
            None => None,
        }
    }

    /// What runs on the cluster's honest nodes.
    pub fn kind(&self) -> Kind {
        self.settings.kind
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for i in 0..self.members.len() {
            self.stop(i).await;
        }
    }
}
