//! The emulation does what it claims: latency and bandwidth hold, a partition cuts and
//! refuses, and a small cluster of real relays delivers everything, also after a heal.

use crate::cluster::{Cluster, Kind, Settings};
use crate::scenario::{self, Setup};
use crate::transport::{Latency, Net, Shape};
use ems_relay::Gossip;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportEvent};
use libp2p::core::{Endpoint, Transport};
use std::time::Duration;
use tokio::time::Instant;

fn shape(latency_ms: u64, bandwidth: Option<u64>) -> Shape {
    Shape {
        latency: Latency::Fixed(Duration::from_millis(latency_ms)),
        bandwidth,
        loss: 0.0,
    }
}

fn dial_opts() -> DialOpts {
    DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::New,
    }
}

/// A raw (unupgraded) connection between fresh ports `a` (dialer) and `b` (listener).
async fn raw_pair(
    net: &std::sync::Arc<Net>,
    a: u64,
    b: u64,
) -> (crate::link::Link, crate::link::Link) {
    let mut listener = crate::transport::raw(net, b);
    listener
        .listen_on(ListenerId::next(), format!("/memory/{b}").parse().unwrap())
        .unwrap();
    let mut dialer = crate::transport::raw(net, a);
    let dial = dialer
        .dial(format!("/memory/{b}").parse().unwrap(), dial_opts())
        .unwrap();
    let accept = async {
        loop {
            if let TransportEvent::Incoming { upgrade, .. } =
                futures::future::poll_fn(|cx| std::pin::Pin::new(&mut listener).poll(cx)).await
            {
                return upgrade.await.unwrap();
            }
        }
    };
    let (d, l) = tokio::join!(dial, accept);
    // The listener's transport must keep running for its port to stay registered.
    tokio::spawn(async move {
        loop {
            let _ = futures::future::poll_fn(|cx| std::pin::Pin::new(&mut listener).poll(cx)).await;
        }
    });
    (d.unwrap(), l)
}

#[tokio::test]
async fn latency_is_added_once_each_way() {
    let net = Net::new(shape(50, None));
    let (mut d, mut l) = raw_pair(&net, 9_001, 9_002).await;
    let sent = Instant::now();
    d.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    l.read_exact(&mut buf).await.unwrap();
    let one_way = sent.elapsed();
    l.write_all(b"pong").await.unwrap();
    d.read_exact(&mut buf).await.unwrap();
    let round = sent.elapsed();
    assert_eq!(&buf, b"pong");
    assert!(
        one_way >= Duration::from_millis(50),
        "one way took {one_way:?}"
    );
    assert!(
        round >= Duration::from_millis(100),
        "round trip took {round:?}"
    );
}

#[tokio::test]
async fn bandwidth_serialises_writes() {
    // 100 kB/s: 50 kB take at least half a second.
    let net = Net::new(shape(0, Some(100_000)));
    let (mut d, mut l) = raw_pair(&net, 9_011, 9_012).await;
    let sent = Instant::now();
    let data = vec![7u8; 50_000];
    d.write_all(&data).await.unwrap();
    let mut got = vec![0u8; 50_000];
    l.read_exact(&mut got).await.unwrap();
    assert_eq!(got, data);
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(net.bytes(9_011).0, 50_000);
    assert_eq!(net.bytes(9_012).1, 50_000);
}

#[tokio::test]
async fn partition_cuts_links_and_refuses_dials() {
    let net = Net::new(shape(1, None));
    let (mut d, mut l) = raw_pair(&net, 9_021, 9_022).await;
    net.partition([9_021]);
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), l.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "listener end still open: {read:?}"
    );
    let read = tokio::time::timeout(Duration::from_secs(5), d.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "dialer end still open: {read:?}"
    );
    let mut dialer = crate::transport::raw(&net, 9_021);
    assert!(dialer
        .dial("/memory/9022".parse().unwrap(), dial_opts())
        .is_err());
    net.heal();
    assert!(dialer
        .dial("/memory/9022".parse().unwrap(), dial_opts())
        .is_ok());
}

#[tokio::test]
async fn links_across_a_healed_partition_are_logged_and_others_not() {
    let net = Net::new(shape(1, None));
    net.partition([9_031]);
    net.heal();
    let _same_side = raw_pair(&net, 9_032, 9_033).await;
    assert!(net.crossings().is_empty(), "a link within one side logged");
    let _across = raw_pair(&net, 9_031, 9_034).await;
    let log = net.crossings();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].1, log[0].2), (9_031, 9_034));
}

fn small_setup(nodes: usize) -> Setup {
    Setup {
        nodes,
        hostile: 0,
        settings: Settings {
            kind: Kind::Ems,
            gossip: Gossip::default(),
            bootstrap: 2,
            max_connections: 32,
            heartbeat: Duration::from_millis(300),
            redial: Duration::from_secs(1),
            // A short periodic round as well, so a relay that missed a message while no
            // neighbour had it yet catches up within the test.
            resync: Duration::from_secs(2),
        },
        shape: shape(10, None),
        start_rate: 20,
        settle: Duration::from_secs(3),
        settle_max: Duration::from_secs(30),
    }
}

async fn wait_all(cluster: &Cluster, ids: &[[u8; 32]], nodes: &[usize], within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ids
            .iter()
            .all(|id| cluster.recorder.reached(id, nodes) == nodes.len())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn the_network_counts_every_dial_refused_ones_too() {
    let net = Net::new(shape(1, None));
    assert_eq!(net.dials(), 0);
    raw_pair(&net, 9_041, 9_042).await;
    assert_eq!(net.dials(), 1);
    net.partition([9_041]);
    let mut dialer = crate::transport::raw(&net, 9_041);
    assert!(dialer
        .dial("/memory/9042".parse().unwrap(), dial_opts())
        .is_err());
    assert_eq!(net.dials(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_deliver_everything_and_catch_up_after_a_heal() {
    let cluster = scenario::build(&small_setup(8)).await.unwrap();
    let nodes = cluster.live();
    let msgs = scenario::frames(cluster.policy(), 1_024, 6, 600)
        .await
        .unwrap();

    let mut ids = Vec::new();
    for (k, m) in msgs[..2].iter().enumerate() {
        ids.push(cluster.publish(nodes[k], m).await.unwrap());
    }
    assert!(
        wait_all(&cluster, &ids, &nodes, Duration::from_secs(60)).await,
        "gossip did not reach every relay"
    );

    let (left, right) = nodes.split_at(4);
    cluster
        .net
        .partition(left.iter().map(|&i| cluster.members[i].port));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut split_ids = Vec::new();
    for (k, m) in msgs[2..].iter().enumerate() {
        let at = if k % 2 == 0 {
            left[k / 2]
        } else {
            right[k / 2]
        };
        split_ids.push(cluster.publish(at, m).await.unwrap());
    }
    assert!(wait_all(&cluster, &split_ids[..1], left, Duration::from_secs(30)).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster.recorder.reached(&split_ids[0], right),
        0,
        "a message crossed the partition"
    );

    cluster.net.heal();
    let healed = wait_all(&cluster, &split_ids, &nodes, Duration::from_secs(60)).await;
    if !healed {
        let mut peers = Vec::new();
        for &i in &nodes {
            peers.push(cluster.peers(i).await);
        }
        let reached: Vec<Vec<usize>> = split_ids
            .iter()
            .map(|id| {
                nodes
                    .iter()
                    .copied()
                    .filter(|&n| cluster.recorder.reached(id, &[n]) == 1)
                    .collect()
            })
            .collect();
        panic!("not every relay had every message after the heal: peers {peers:?}, holders {reached:?}");
    }
    cluster.shutdown().await;
}

#[test]
fn uniform_latency_is_symmetric_and_in_range() {
    let l = Latency::Uniform(Duration::from_millis(20), Duration::from_millis(200));
    for (a, b) in [(1, 2), (5, 900), (77, 3)] {
        let x = l.of(a, b);
        assert_eq!(x, l.of(b, a));
        assert!(x >= Duration::from_millis(20) && x <= Duration::from_millis(200));
    }
}

/// Each live relay's (connected peers, DHT lookups started so far).
async fn peers_and_lookups(cluster: &Cluster, nodes: &[usize]) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for &i in nodes {
        let peers = cluster.peers(i).await.unwrap_or(0);
        let lookups =
            crate::measure::metric(&cluster.metrics(i).await, "ems_discovery_lookups_total");
        out.push((peers, lookups));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_look_up_peers_while_short_of_them_and_not_after() {
    let cluster = scenario::build(&small_setup(16)).await.unwrap();
    let nodes = cluster.live();
    let before = peers_and_lookups(&cluster, &nodes).await;
    // Every relay started with two bootstrap peers; those that others had not dialled up to
    // `DISCOVERY_LOW` (8) by their first redial tick looked for more (the metric counts).
    assert!(
        before.iter().any(|&(_, lookups)| lookups >= 1.0),
        "no relay started a lookup: {before:?}"
    );
    // The observation window: three redial ticks (1 s each in this setup).
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let after = peers_and_lookups(&cluster, &nodes).await;
    let low = ems_relay::DISCOVERY_LOW;
    let settled: Vec<usize> = (0..nodes.len())
        .filter(|&k| before[k].0 >= low && after[k].0 >= low)
        .collect();
    assert!(
        settled.len() >= nodes.len() / 2,
        "too few relays found {low} peers: {before:?} then {after:?}"
    );
    for k in settled {
        assert_eq!(
            before[k].1, after[k].1,
            "relay {k} kept its peers and still started a lookup: {before:?} then {after:?}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_nodes_find_peers_beyond_their_bootstrap_list_and_deliver_every_message() {
    let mut setup = small_setup(16);
    setup.settings.kind = Kind::Bare;
    let cluster = scenario::build(&setup).await.unwrap();
    let nodes = cluster.live();
    let low = ems_relay::DISCOVERY_LOW;
    // Two bootstrap peers each, and as many dialling in: about four peers a node without
    // discovery. With the relay's rules a node looks for more while it has fewer than `low`.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut peers = Vec::new();
    while Instant::now() < deadline {
        peers.clear();
        for &i in &nodes {
            peers.push(cluster.peers(i).await.unwrap_or(0));
        }
        if peers.iter().filter(|&&p| p >= low).count() >= nodes.len() / 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        peers.iter().filter(|&&p| p >= low).count() >= nodes.len() / 2,
        "bare nodes did not discover peers: {peers:?}"
    );
    let msgs = scenario::frames(cluster.policy(), 1_024, 3, 600)
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (k, m) in msgs.iter().enumerate() {
        ids.push(cluster.publish(nodes[k * 5], m).await.unwrap());
    }
    assert!(
        wait_all(&cluster, &ids, &nodes, Duration::from_secs(30)).await,
        "gossip did not reach every bare node"
    );
    cluster.shutdown().await;
}
