//! Command-line options and the runs they select.

use crate::cluster::{Kind, Settings};
use crate::report;
use crate::scenario::{self, Setup};
use crate::transport::{Latency, Shape};
use clap::{Parser, ValueEnum};
use ems_relay::Gossip;
use std::time::Duration;

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Propagation figures (reach times, duplicates, bytes) for each N, frame and kind.
    Propagation,
    /// Two halves for `--split-s`, then healed.
    Partition,
    /// 10% of nodes replaced each minute.
    Churn,
    /// 10% hostile nodes flooding invalid frames or replays.
    Hostile,
}

/// Options.
#[derive(Debug, Parser)]
#[command(
    name = "ems-sim",
    about = "EMS relays on an emulated network, measured"
)]
pub struct Args {
    /// Scenario.
    #[arg(long, value_enum, default_value = "propagation")]
    pub scenario: Scenario,
    /// Node counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100")]
    pub nodes: Vec<usize>,
    /// Frame sizes in bytes (encoded), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8192,1024")]
    pub frames: Vec<usize>,
    /// What runs on the nodes: relay (EMS) and/or bare (gossipsub only).
    #[arg(long, value_delimiter = ',', default_value = "relay,bare")]
    pub kinds: Vec<String>,
    /// Messages per frame size.
    #[arg(long, default_value_t = 100)]
    pub messages: usize,
    /// Milliseconds between publications.
    #[arg(long, default_value_t = 500)]
    pub interval_ms: u64,
    /// One-way latency per link, ms.
    #[arg(long, default_value_t = 100)]
    pub latency_ms: u64,
    /// With a value above `--latency-ms`, each link draws its latency uniformly in between.
    #[arg(long)]
    pub latency_max_ms: Option<u64>,
    /// Upload and download rate per node, Mbit/s (0: unlimited).
    #[arg(long, default_value_t = 0.0)]
    pub bandwidth_mbit: f64,
    /// Packet loss probability per link.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// Gossipsub D (D_low, D_high follow as D-1 and 2D unless given).
    #[arg(long)]
    pub mesh_n: Option<usize>,
    /// Gossipsub D_low.
    #[arg(long)]
    pub mesh_n_low: Option<usize>,
    /// Gossipsub D_high.
    #[arg(long)]
    pub mesh_n_high: Option<usize>,
    /// Gossipsub D_lazy.
    #[arg(long)]
    pub gossip_lazy: Option<usize>,
    /// Flood publish on or off.
    #[arg(long)]
    pub flood_publish: Option<bool>,
    /// IDONTWANT size threshold, bytes (a huge value turns IDONTWANT off).
    #[arg(long)]
    pub idontwant: Option<usize>,
    /// Bootstrap peers per node.
    #[arg(long, default_value_t = 3)]
    pub bootstrap: usize,
    /// Established connections per node (relays' `Tuning::max_connections`; bare nodes get the
    /// same cap). Connections cost memory per end, so 1,000 nodes fit this machine only with a
    /// lower cap than the relay's default.
    #[arg(long, default_value_t = ems_relay::Tuning::default().max_connections)]
    pub max_connections: u32,
    /// Nodes started per second.
    #[arg(long, default_value_t = 50)]
    pub start_rate: usize,
    /// Seconds to let meshes form after the last start.
    #[arg(long, default_value_t = 20)]
    pub settle_s: u64,
    /// Longest further wait, in seconds, for the nodes to stop dialling (fewer than one dial
    /// per ten nodes in 10 s) before publishing: started together, relays look for peers at
    /// once for minutes. 0 publishes right after `--settle-s`.
    #[arg(long, default_value_t = 900)]
    pub settle_max_s: u64,
    /// Seconds to wait after the last publication for stragglers.
    #[arg(long, default_value_t = 15)]
    pub tail_s: u64,
    /// Partition length, seconds.
    #[arg(long, default_value_t = 60)]
    pub split_s: u64,
    /// Relays' bootstrap redial interval, seconds (the relay's default unless given).
    #[arg(long, default_value_t = ems_relay::Tuning::default().redial.as_secs_f64())]
    pub redial_s: f64,
    /// Relays' periodic history sync interval, seconds.
    #[arg(long, default_value_t = 300)]
    pub resync_s: u64,
    /// Churn minutes.
    #[arg(long, default_value_t = 3)]
    pub minutes: u32,
    /// Frames a second each hostile node sends.
    #[arg(long, default_value_t = 50)]
    pub hostile_rate: u32,
}

impl Args {
    fn gossip(&self) -> Gossip {
        let mut g = Gossip::default();
        if let Some(d) = self.mesh_n {
            g.mesh_n = d;
            g.mesh_n_low = d.saturating_sub(1).max(1);
            g.mesh_n_high = 2 * d;
            g.mesh_outbound_min = (d / 2).min(g.mesh_n_low.saturating_sub(1));
        }
        if let Some(v) = self.mesh_n_low {
            g.mesh_n_low = v;
        }
        if let Some(v) = self.mesh_n_high {
            g.mesh_n_high = v;
        }
        if let Some(v) = self.gossip_lazy {
            g.gossip_lazy = v;
        }
        if let Some(v) = self.flood_publish {
            g.flood_publish = v;
        }
        if let Some(v) = self.idontwant {
            g.idontwant_threshold = v;
        }
        g
    }

    fn setup(&self, nodes: usize, kind: Kind, hostile: usize) -> Setup {
        let latency = Duration::from_millis(self.latency_ms);
        Setup {
            nodes,
            hostile,
            settings: Settings {
                kind,
                gossip: self.gossip(),
                bootstrap: self.bootstrap,
                max_connections: self.max_connections,
                heartbeat: Duration::from_secs(1),
                redial: Duration::from_secs_f64(self.redial_s),
                resync: Duration::from_secs(self.resync_s),
            },
            shape: Shape {
                latency: match self.latency_max_ms {
                    Some(max) if max > self.latency_ms => {
                        Latency::Uniform(latency, Duration::from_millis(max))
                    }
                    _ => Latency::Fixed(latency),
                },
                bandwidth: (self.bandwidth_mbit > 0.0)
                    .then(|| (self.bandwidth_mbit * 1e6 / 8.0) as u64),
                loss: self.loss,
            },
            start_rate: self.start_rate,
            settle: Duration::from_secs(self.settle_s),
            settle_max: Duration::from_secs(self.settle_max_s),
        }
    }

    fn kinds(&self) -> anyhow::Result<Vec<Kind>> {
        self.kinds
            .iter()
            .map(|k| match k.as_str() {
                "relay" | "ems" => Ok(Kind::Ems),
                "bare" => Ok(Kind::Bare),
                other => anyhow::bail!("unknown kind {other:?} (relay, bare)"),
            })
            .collect()
    }
}

/// Runs what `args` select, printing tables to stdout.
pub async fn run(args: Args) -> anyhow::Result<()> {
    println!(
        "ems-sim {:?}: latency {} ms{}, bandwidth {}, loss {}, gossip {:?}, {} cores, load {:.1}",
        args.scenario,
        args.latency_ms,
        args.latency_max_ms
            .map(|m| format!("..{m}"))
            .unwrap_or_default(),
        if args.bandwidth_mbit > 0.0 {
            format!("{} Mbit/s", args.bandwidth_mbit)
        } else {
            "unlimited".into()
        },
        args.loss,
        args.gossip(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        crate::measure::loadavg(),
    );
    match args.scenario {
        Scenario::Propagation => propagation(&args).await,
        Scenario::Partition | Scenario::Churn | Scenario::Hostile => faults(&args).await,
    }
}

async fn propagation(args: &Args) -> anyhow::Result<()> {
    let interval = Duration::from_millis(args.interval_ms);
    let tail = Duration::from_secs(args.tail_s);
    println!("{}", report::header());
    let mut rows = Vec::new();
    for &n in &args.nodes {
        for kind in args.kinds()? {
            let setup = args.setup(n, kind, 0);
            let mut cluster = scenario::build(&setup).await?;
            for &frame in &args.frames {
                let msgs = scenario::frames(cluster.policy(), frame, args.messages, 3_600).await?;
                let f = scenario::propagate(&mut cluster, &msgs, interval, tail).await?;
                println!("{}", report::row(&f));
                rows.push(f);
            }
            cluster.shutdown().await;
        }
    }
    for ems in rows.iter().filter(|f| f.kind == Kind::Ems) {
        if let Some(bare) = rows
            .iter()
            .find(|b| b.kind == Kind::Bare && b.nodes == ems.nodes && b.frame == ems.frame)
        {
            println!("{}", report::ratio(ems, bare));
        }
    }
    Ok(())
}

async fn faults(args: &Args) -> anyhow::Result<()> {
    let frame = args.frames.first().copied().unwrap_or(1024);
    let tail = Duration::from_secs(args.tail_s);
    for &n in &args.nodes {
        let hostile = if args.scenario == Scenario::Hostile {
            n / 10
        } else {
            0
        };
        let mut cluster = scenario::build(&args.setup(n, Kind::Ems, hostile)).await?;
        let msgs = scenario::frames(cluster.policy(), frame, args.messages, 3_600).await?;
        match args.scenario {
            Scenario::Partition => {
                let h = crate::partition::partition(
                    &mut cluster,
                    &msgs,
                    Duration::from_secs(args.split_s),
                    tail.max(Duration::from_secs(30)),
                )
                .await?;
                println!(
                    "partition N={n} split {} s: {} messages published during it; every node had every message {} after the heal; {} (message, node) pairs missing at the end; sim CPU {:.2} cores, load {:.1}",
                    args.split_s,
                    h.published,
                    h.converged.map_or("NOT within the wait".into(), |s| format!("{s:.1} s")),
                    h.missing,
                    h.cpu.cores,
                    h.cpu.load,
                );
                println!("{}", report::heal(&h));
            }
            Scenario::Churn => {
                let c = crate::churn::churn(&mut cluster, &msgs, args.minutes, 0.1, tail).await?;
                println!(
                    "churn N={n} {} min, {} nodes replaced: {} messages ({} stranded: never left a publisher stopped since); {}/{} = {:.2}% of due (message, node) pairs delivered ({:.2}% of all {} pairs of nodes live at publication and at the end); 100% reach mean {:.0} ms (of {} complete); sim CPU {:.2} cores, load {:.1}",
                    args.minutes,
                    c.replaced,
                    c.published,
                    c.stranded,
                    c.delivered,
                    c.due,
                    c.delivered as f64 * 100.0 / c.due.max(1) as f64,
                    c.delivered as f64 * 100.0 / c.live_pairs.max(1) as f64,
                    c.live_pairs,
                    c.reach[3].mean,
                    c.reach[3].count,
                    c.cpu.cores,
                    c.cpu.load,
                );
                println!("{}", report::missed(&c));
            }
            Scenario::Hostile => {
                let a = scenario::hostile(
                    &mut cluster,
                    &msgs,
                    Duration::from_millis(args.interval_ms),
                    args.hostile_rate,
                    tail,
                )
                .await?;
                println!(
                    "hostile N={n} + {hostile} hostile at {}/s each: {} honest messages, {:.2}% reached every honest node, {:.3}% of (message, node) delivered; 100% reach mean {:.0} ms p99 {:.0} ms; sim CPU {:.2} cores, load {:.1}",
                    args.hostile_rate,
                    a.published,
                    a.complete * 100.0,
                    a.delivered * 100.0,
                    a.reach[3].mean,
                    a.reach[3].p99,
                    a.cpu.cores,
                    a.cpu.load,
                );
                print!("{}", report::unreached(&a.missed));
            }
            Scenario::Propagation => {}
        }
        cluster.shutdown().await;
    }
    Ok(())
}
