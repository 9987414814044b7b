//! The emulated network: libp2p's in-memory transport, wrapped so that every connection is a
//! pair of shaped [`Link`] ends, then upgraded with Noise and Yamux exactly like TCP in
//! production.
//!
//! Nodes listen on `/memory/<port>`. The [`Net`] knows each port's access link (upload and
//! download rate, byte counters) and the current partition; a dial across the partition is
//! refused, and a partition cuts every connection that crosses it.

use crate::link::{Bucket, Cut, Link, Stage};
use ems_relay::{BoxedTransport, TransportFactory};
use futures::future::BoxFuture;
use futures::FutureExt;
use libp2p::core::transport::{
    DialOpts, ListenerId, MemoryTransport, TransportError, TransportEvent,
};
use libp2p::core::{upgrade, Multiaddr, Transport};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{noise, yamux};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Link latency: one value for every link, or drawn per link.
#[derive(Clone, Copy, Debug)]
pub enum Latency {
    /// Every link has this one-way latency.
    Fixed(Duration),
    /// Each link draws its one-way latency uniformly from `[low, high]`.
    Uniform(Duration, Duration),
}

impl Latency {
    /// The latency of the link between ports `a` and `b` (the same whichever end asks).
    pub(crate) fn of(&self, a: u64, b: u64) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform(low, high) => {
                let (x, y) = (a.min(b), a.max(b));
                let mut h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ y.rotate_left(29);
                h = (h ^ (h >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                let unit = (h >> 11) as f64 / (1u64 << 53) as f64;
                low + (high.saturating_sub(low)).mul_f64(unit)
            }
        }
    }
}

/// Network-wide link parameters.
#[derive(Clone, Debug)]
pub struct Shape {
    /// One-way latency per link.
    pub latency: Latency,
    /// Each node's upload and download rate, bytes per second (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// Packet loss probability on every link.
    pub loss: f64,
}

/// One node's access link.
#[derive(Debug)]
pub struct Access {
    /// Upload.
    pub up: Arc<Bucket>,
    /// Download.
    pub down: Arc<Bucket>,
}

/// The emulated network.
#[derive(Debug)]
pub struct Net {
    shape: Shape,
    nodes: Mutex<HashMap<u64, Arc<Access>>>,
    /// Side of each port while partitioned; ports not listed are on side 0.
    partition: Mutex<Option<HashMap<u64, u8>>>,
    /// Cut signals of live dialer ends, by (dialer port, listener port).
    cuts: Mutex<Vec<DialerCut>>,
    /// The sides of the last partition, kept after the heal to tell crossing connections.
    healed: Mutex<Option<HashMap<u64, u8>>>,
    /// Connections between the sides of the last partition established since its heal:
    /// (when, dialer port, listener port).
    crossings: Mutex<Vec<(Instant, u64, u64)>>,
    /// Dials made by every node so far.
    dials: AtomicU64,
}

/// A live dialer end's cut signal, by (dialer port, listener port).
type DialerCut = ((u64, u64), watch::Sender<bool>);

impl Net {
    /// An empty network with this link shape.
    pub fn new(shape: Shape) -> Arc<Net> {
        Arc::new(Net {
            shape,
            nodes: Mutex::default(),
            partition: Mutex::default(),
            cuts: Mutex::default(),
            healed: Mutex::default(),
            crossings: Mutex::default(),
            dials: AtomicU64::new(0),
        })
    }

    /// Dials every node has made so far, refused ones included: a network still looking for
    /// peers dials many times a second, a settled one next to never.
    pub fn dials(&self) -> u64 {
        self.dials.load(Ordering::Relaxed)
    }

    /// Registers the node listening on `port`, returning its access link.
    pub fn attach(&self, port: u64) -> Arc<Access> {
        let access = Arc::new(Access {
            up: Arc::new(Bucket::new(self.shape.bandwidth)),
            down: Arc::new(Bucket::new(self.shape.bandwidth)),
        });
        lock(&self.nodes).insert(port, access.clone());
        access
    }

    /// Bytes sent and received by the node on `port` so far.
    pub fn bytes(&self, port: u64) -> (u64, u64) {
        lock(&self.nodes)
            .get(&port)
            .map_or((0, 0), |a| (a.up.bytes(), a.down.bytes()))
    }

    fn separated(&self, a: u64, b: u64) -> bool {
        apart(lock(&self.partition).as_ref(), a, b)
    }

    /// Splits the network: the ports in `side_one` on one side, every other port on the other.
    /// Connections that cross are cut at once; dials across are refused until [`Net::heal`].
    pub fn partition(&self, side_one: impl IntoIterator<Item = u64>) {
        *lock(&self.partition) = Some(side_one.into_iter().map(|p| (p, 1)).collect());
        let mut cuts = lock(&self.cuts);
        cuts.retain(|(_, tx)| !tx.is_closed());
        for ((a, b), tx) in cuts.iter() {
            if self.separated(*a, *b) {
                tx.send_replace(true);
            }
        }
    }

    /// Ends the partition.
    pub fn heal(&self) {
        let sides = lock(&self.partition).take();
        lock(&self.crossings).clear();
        *lock(&self.healed) = sides;
    }

    /// Connections established across the last partition since it healed: (when, dialer
    /// port, listener port), in order.
    pub fn crossings(&self) -> Vec<(Instant, u64, u64)> {
        lock(&self.crossings).clone()
    }

    fn crossed(&self, dialer: u64, listener: u64) {
        if apart(lock(&self.healed).as_ref(), dialer, listener) {
            lock(&self.crossings).push((Instant::now(), dialer, listener));
        }
    }

    /// The transport of the node listening on `port`: shaped in-memory links, Noise, Yamux.
    pub fn transport(self: &Arc<Net>, port: u64) -> TransportFactory {
        let net = self.clone();
        TransportFactory::new(move |key: &Keypair| net.build(port, key))
    }

    fn build(self: &Arc<Net>, port: u64, key: &Keypair) -> BoxedTransport {
        let raw = raw(self, port);
        // A key the node itself produced always yields a Noise configuration.
        let noise = noise::Config::new(key).expect("noise keys from an ed25519 identity");
        raw.upgrade(upgrade::Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .boxed()
    }
}

/// The raw transport of the node on `port`, before Noise and Yamux.
pub(crate) fn raw(net: &Arc<Net>, port: u64) -> SimTransport {
    let known = lock(&net.nodes).get(&port).cloned();
    let access = known.unwrap_or_else(|| net.attach(port));
    SimTransport {
        inner: MemoryTransport::default(),
        net: net.clone(),
        port,
        access,
    }
}

/// Whether ports `a` and `b` are on different sides of `sides` (ports not listed: side 0).
fn apart(sides: Option<&HashMap<u64, u8>>, a: u64, b: u64) -> bool {
    sides.is_some_and(|sides| sides.get(&a).unwrap_or(&0) != sides.get(&b).unwrap_or(&0))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A node's raw transport: in-memory channels with shaped ends.
pub(crate) struct SimTransport {
    inner: MemoryTransport,
    net: Arc<Net>,
    port: u64,
    access: Arc<Access>,
}

impl SimTransport {
    fn stages(&self, delay: Duration, seed: u64) -> (Stage, Stage) {
        let stage = |bucket: &Arc<crate::link::Bucket>, seed| Stage {
            delay,
            loss: self.net.shape.loss,
            bucket: bucket.clone(),
            seed,
        };
        (
            stage(&self.access.up, seed),
            stage(&self.access.down, !seed),
        )
    }
}

fn memory_port(addr: &Multiaddr) -> Option<u64> {
    addr.iter().find_map(|p| match p {
        Protocol::Memory(port) => Some(port),
        _ => None,
    })
}

fn other(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::other(e)
}

impl Transport for SimTransport {
    type Output = Link;
    type Error = io::Error;
    type ListenerUpgrade = BoxFuture<'static, Result<Link, io::Error>>;
    type Dial = BoxFuture<'static, Result<Link, io::Error>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<io::Error>> {
        self.inner.listen_on(id, addr).map_err(|e| e.map(other))
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<io::Error>> {
        let Some(remote) = memory_port(&addr) else {
            return Err(TransportError::MultiaddrNotSupported(addr));
        };
        self.net.dials.fetch_add(1, Ordering::Relaxed);
        if self.net.separated(self.port, remote) {
            return Err(TransportError::Other(
                io::ErrorKind::ConnectionRefused.into(),
            ));
        }
        let delay = self.net.shape.latency.of(self.port, remote);
        let (up, down) = self.stages(delay, self.port.rotate_left(32) ^ remote);
        let (cut_tx, cut_rx) = watch::channel(false);
        lock(&self.net.cuts).push(((self.port, remote), cut_tx));
        let dial = self.inner.dial(addr, opts).map_err(|e| e.map(other))?;
        let (net, port) = (self.net.clone(), self.port);
        Ok(async move {
            // TCP's handshake: one round trip before the first byte.
            tokio::time::sleep(delay * 2).await;
            let raw = dial.await.map_err(other)?;
            net.crossed(port, remote);
            Ok(Link::spawn(raw, up, down, Some(cut_rx)))
        }
        .boxed())
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, io::Error>> {
        let (up, down) = self.stages(Duration::ZERO, self.port);
        Pin::new(&mut self.inner).poll(cx).map(|event| {
            event
                .map_upgrade(move |upgrade| {
                    async move {
                        let raw = upgrade.await.map_err(other)?;
                        let cut: Cut = None;
                        Ok(Link::spawn(raw, up, down, cut))
                    }
                    .boxed()
                })
                .map_err(other)
        })
    }
}
