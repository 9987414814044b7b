//! Real `emsd` processes, each in its own network namespace, joined by veth links through a
//! bridge, with `tc netem` delay and loss where the kernel has `sch_netem`: a loop kills a node
//! with SIGKILL during traffic and restarts it, then the network is split into halves and healed.
//!
//! Claims tested: no message any node acknowledged (202) is lost, through kills, restarts and
//! the partition; after the heal every live node holds every acknowledged, unexpired message.
//! The time from the heal until then is printed (timings are reported, not asserted; the
//! deadline here is only a bound).
//!
//! Needs root and iproute2 (`ip`, `tc`; `.ci/run` installs it): without them the test prints
//! why and passes without running. Without `sch_netem` (`tc qdisc add … netem` fails) it prints
//! that and runs the same scenario without delay and loss: the veths and the bridge still make
//! separate hosts, and the kills and the partition still apply.
//!
//! Each run claims a free /24 `10.213.<x>.0` atomically by creating the bridge `ems16b<x>`
//! (creating a link whose name exists fails, so two runs at once get different subnets), puts
//! node `i` in namespace `ems16s<x>n<i>` with `10.213.<x>.<i+1>`, talks only to those
//! addresses, and removes the namespaces (their veths go with them) and the bridge on drop,
//! also on failure.
//!
//! CI runs the short form (8 nodes, 4 kills, a 10 s split). The long form of the issue
//! (20 kills, a 60 s split) is `scripts/netns-long.sh`:
//! `EMS_NETNS_NODES=12 EMS_NETNS_KILLS=20 EMS_NETNS_SPLIT_S=60 cargo test --release -p emsd --test netns -- --nocapture`.

mod common;

use common::*;
use emsd::run::NodeInfo;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "netns-test-token";
/// Each veth end delays its egress by this much: 2x between two nodes.
const DELAY: &str = "10ms";
/// Loss on each node's egress.
const LOSS: &str = "1%";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Namespaces, veths and the bridge of this test, removed on drop.
struct Lab {
    /// The third octet of this run's subnet `10.213.<x>.0/24`.
    octet: u8,
    namespaces: Vec<String>,
    bridge: Option<String>,
    /// Why `tc netem` could not be used, if it could not.
    no_netem: Option<String>,
}

impl Lab {
    fn ns(&self, i: usize) -> String {
        format!("ems16s{}n{i}", self.octet)
    }

    /// The bridge's end of node `i`'s veth.
    fn veth(&self, i: usize) -> String {
        format!("ems16s{}v{i}", self.octet)
    }

    fn ip_of(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.octet, i + 1)
    }

    /// Why this test cannot run here, if it cannot.
    fn unavailable() -> Option<String> {
        if !rustix::process::geteuid().is_root() {
            return Some("not root: creating network namespaces needs CAP_SYS_ADMIN".into());
        }
        for tool in ["ip", "tc"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return Some(format!(
                    "`{tool}` not found (iproute2; .ci/run installs it)"
                ));
            }
        }
        None
    }

    /// Claims a subnet no other run on this host uses: its bridge name is the lock.
    fn claim() -> Result<Lab, String> {
        let used = Command::new("ip")
            .args(["-4", "addr"])
            .output()
            .map_err(|e| format!("ip -4 addr: {e}"))?;
        let used = String::from_utf8_lossy(&used.stdout).into_owned();
        let first = (std::process::id() % 250) as u8;
        let mut last_error = String::new();
        for k in 0..250u8 {
            let octet = (first + k) % 250 + 1;
            if used.contains(&format!("10.213.{octet}.")) {
                continue;
            }
            let bridge = format!("ems16b{octet}");
            match run("ip", &["link", "add", &bridge, "type", "bridge"]) {
                Ok(()) => {
                    return Ok(Lab {
                        octet,
                        namespaces: Vec::new(),
                        bridge: Some(bridge),
                        no_netem: None,
                    })
                }
                Err(e) => last_error = e,
            }
        }
        Err(format!("no free subnet 10.213.x.0/24: {last_error}"))
    }

    fn create(nodes: usize) -> Result<Lab, String> {
        if !(2..=200).contains(&nodes) {
            return Err(format!("{nodes} nodes: 2 to 200 fit the subnet"));
        }
        let mut lab = Self::claim()?;
        let bridge = lab.bridge.clone().unwrap_or_default();
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("10.213.{}.254/24", lab.octet),
                "dev",
                &bridge,
            ],
        )?;
        run("ip", &["link", "set", &bridge, "up"])?;
        for i in 0..nodes {
            let ns = lab.ns(i);
            // A namespace of this name is a leftover of a killed run (we hold its bridge).
            let _ = run("ip", &["netns", "del", &ns]);
            run("ip", &["netns", "add", &ns])?;
            lab.namespaces.push(ns.clone());
            let outer = lab.veth(i);
            run(
                "ip",
                &[
                    "link", "add", &outer, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            run("ip", &["link", "set", &outer, "master", &bridge])?;
            run("ip", &["link", "set", &outer, "up"])?;
            let ip = lab.ip_of(i);
            let inside = |args: &[&str]| {
                let mut all = vec!["netns", "exec", &ns];
                all.extend_from_slice(args);
                run("ip", &all)
            };
            inside(&["ip", "link", "set", "lo", "up"])?;
            inside(&["ip", "addr", "add", &format!("{ip}/24"), "dev", "eth0"])?;
            inside(&["ip", "link", "set", "eth0", "up"])?;
            if lab.no_netem.is_none() {
                let netem = run(
                    "tc",
                    &[
                        "qdisc", "add", "dev", &outer, "root", "netem", "delay", DELAY,
                    ],
                )
                .and_then(|()| {
                    inside(&[
                        "tc", "qdisc", "add", "dev", "eth0", "root", "netem", "delay", DELAY,
                        "loss", LOSS,
                    ])
                });
                if let Err(e) = netem {
                    if i > 0 {
                        // Netem worked on the first links: this is a real failure.
                        return Err(e);
                    }
                    lab.no_netem = Some(e);
                }
            }
        }
        Ok(lab)
    }

    /// Adds (or removes) blackhole routes in every namespace of one half towards every address
    /// of the other.
    fn split(&self, nodes: usize, add: bool) {
        let half = nodes / 2;
        for a in 0..nodes {
            for b in 0..nodes {
                if (a < half) != (b < half) {
                    let ns = self.ns(a);
                    let dst = format!("{}/32", self.ip_of(b));
                    let verb = if add { "add" } else { "del" };
                    run(
                        "ip",
                        &["netns", "exec", &ns, "ip", "route", verb, "blackhole", &dst],
                    )
                    .unwrap();
                }
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The veths first: a deleted namespace lives on in the kernel (with its veth) while
        // sockets of its killed processes linger, and deleting one end deletes both.
        for (i, ns) in self.namespaces.iter().enumerate() {
            let _ = run("ip", &["link", "del", &self.veth(i)]);
            if let Err(e) = run("ip", &["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
        if let Some(bridge) = &self.bridge {
            if let Err(e) = run("ip", &["link", "del", bridge]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// One `emsd` in its namespace; killed on drop.
struct Relay {
    ns: String,
    ip: String,
    dir: PathBuf,
    bootstrap: Vec<String>,
    child: Option<Child>,
    info: Option<NodeInfo>,
}

impl Relay {
    fn start(&mut self) {
        let log =
            std::fs::File::create(self.dir.with_extension(format!("{}.log", unix_now()))).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns,
            env!("CARGO_BIN_EXE_emsd"),
            "run",
            "--data-dir",
        ])
        .arg(&self.dir)
        .args(["--network", "netns", "--api-token", TOKEN])
        .args(["--listen", &format!("/ip4/{}/tcp/19100", self.ip)])
        .args(["--api", &format!("{}:19101", self.ip)])
        .args(CHEAP_POW)
        .args(NO_RATE_LIMIT);
        for b in &self.bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        std::fs::create_dir_all(&self.dir).unwrap();
        let child = cmd
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // `ip netns exec` execs the program: the child's pid is emsd's. Held before waiting, so
        // a node that never starts is still killed on drop.
        let pid = child.id();
        self.child = Some(child);
        let info = NodeInfo::wait(&self.dir, pid, START)
            .unwrap_or_else(|e| panic!("emsd in {}: {e}", self.ns));
        self.info = Some(info);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.info = None;
    }

    fn api(&self) -> Option<String> {
        self.info.as_ref().map(|i| i.api.clone())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

fn has(api: &str, digest: &str) -> bool {
    agent()
        .get(format!("{api}/v1/messages/{digest}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .call()
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// Seconds until every live relay holds every digest in `acked`, polled in parallel.
fn converge(relays: &[Relay], acked: &[String], within: Duration) -> Result<f64, String> {
    let started = Instant::now();
    let handles: Vec<_> = relays
        .iter()
        .filter_map(Relay::api)
        .map(|api| {
            let mut missing: Vec<String> = acked.to_vec();
            std::thread::spawn(move || {
                while !missing.is_empty() && started.elapsed() < within {
                    missing.retain(|d| !has(&api, d));
                    if !missing.is_empty() {
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                (api, missing)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for h in handles {
        let (api, missing) = h.join().unwrap();
        if !missing.is_empty() {
            failures.push(format!("{api} lacks {} of {}", missing.len(), acked.len()));
        }
    }
    if failures.is_empty() {
        Ok(started.elapsed().as_secs_f64())
    } else {
        Err(failures.join("; "))
    }
}

#[test]
fn relays_in_namespaces_lose_nothing_acknowledged_through_kills_and_a_partition() {
    if let Some(why) = Lab::unavailable() {
        eprintln!("netns: NOT RUN, {why}");
        return;
    }
    let began = Instant::now();
    let nodes = env_or("EMS_NETNS_NODES", 8) as usize;
    let kills = env_or("EMS_NETNS_KILLS", 4);
    let split = Duration::from_secs(env_or("EMS_NETNS_SPLIT_S", 10));
    let lab = Lab::create(nodes).unwrap_or_else(|e| panic!("building the namespaces: {e}"));
    match &lab.no_netem {
        None => eprintln!(
            "netns: subnet 10.213.{}.0/24, tc netem {DELAY} per veth end, {LOSS} loss per node",
            lab.octet
        ),
        Some(why) => eprintln!(
            "netns: subnet 10.213.{}.0/24, tc netem UNAVAILABLE ({why}; the kernel lacks sch_netem): running without delay and loss",
            lab.octet
        ),
    }
    let dir = temp();

    let mut relays: Vec<Relay> = Vec::new();
    for i in 0..nodes {
        let mut bootstrap = Vec::new();
        if i > 0 {
            bootstrap.push(relays[0].info.as_ref().unwrap().listen_addrs[0].clone());
            if i > 1 {
                let j = 1 + (i * 7) % (i - 1);
                bootstrap.push(relays[j].info.as_ref().unwrap().listen_addrs[0].clone());
            }
        }
        let mut r = Relay {
            ns: lab.ns(i),
            ip: lab.ip_of(i),
            dir: dir.path().join(format!("n{i}")),
            bootstrap,
            child: None,
            info: None,
        };
        r.start();
        relays.push(r);
    }
    let (_, policy) = head_of(&relays[0].api().unwrap()).expect("the chain head");

    // Traffic: a frame every 150 ms to a random live relay; 202s are recorded.
    let apis: Arc<Mutex<Vec<Option<String>>>> =
        Arc::new(Mutex::new(relays.iter().map(Relay::api).collect()));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (apis, acked, stop) = (apis.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                std::thread::sleep(Duration::from_millis(150));
                let target = {
                    let apis = apis.lock().unwrap();
                    let live: Vec<&String> = apis.iter().flatten().collect();
                    match live.len() {
                        0 => continue,
                        n => live[(k * 31) % n].clone(),
                    }
                };
                let Some((blockhash, _)) = head_of(&target) else {
                    continue;
                };
                let msg = frame(
                    [0x5a; 32],
                    &k.to_be_bytes(),
                    unix_now() + 1_800,
                    blockhash,
                    &policy,
                );
                let wire = msg.encode();
                if let Some((202, _)) = try_post_token(&format!("{target}/v1/messages"), &wire) {
                    acked.lock().unwrap().push(hex::encode(msg.digest()));
                }
            }
        })
    };

    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(1_500));
        let i = (k as usize * 7 + 3) % nodes;
        apis.lock().unwrap()[i] = None;
        relays[i].kill();
        std::thread::sleep(Duration::from_millis(500));
        relays[i].start();
        apis.lock().unwrap()[i] = relays[i].api();
    }
    let before_split = acked.lock().unwrap().clone();
    let settled = converge(&relays, &before_split, Duration::from_secs(120));
    assert!(
        settled.is_ok(),
        "after {kills} kills: {}",
        settled.unwrap_err()
    );

    lab.split(nodes, true);
    let split_start = acked.lock().unwrap().len();
    std::thread::sleep(split / 2);
    let split_early = acked.lock().unwrap()[split_start..].to_vec();
    std::thread::sleep(split - split / 2);
    // Frames acknowledged in the first half of the split, checked at its end: without a real
    // partition gossip would have brought each to both sides by now.
    let (a, b) = (relays[0].api(), relays[nodes - 1].api());
    let separated = match (a, b) {
        (Some(a), Some(b)) => split_early
            .iter()
            .filter(|d| has(&a, d) != has(&b, d))
            .count(),
        _ => panic!("relays 0 and {} run through the split", nodes - 1),
    };
    lab.split(nodes, false);
    let healed = Instant::now();
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let all = acked.lock().unwrap().clone();
    let unique: HashSet<&String> = all.iter().collect();
    assert!(
        !split_early.is_empty(),
        "no frame acknowledged in the first half of the split"
    );
    assert!(
        separated > 0,
        "the split did not separate the halves: all {} early frames reached both sides",
        split_early.len()
    );
    let outcome = converge(&relays, &all, Duration::from_secs(240));
    match outcome {
        Ok(_) => eprintln!(
            "netns: {nodes} relays, {kills} kills, {} frames acknowledged, 0 lost ({} after the kills; {separated} of {} early in the {:?} split were on only one side at its end): every live relay had every one {:.1} s after the heal; whole test {:.1} s",
            unique.len(),
            all.len() - before_split.len(),
            split_early.len(),
            split,
            healed.elapsed().as_secs_f64(),
            began.elapsed().as_secs_f64()
        ),
        Err(e) => panic!("acknowledged frames missing after the heal: {e}"),
    }
    drop(relays);
    drop(lab);
}

/// The chain head's blockhash and the node's policy; `None` if the node does not answer.
fn head_of(api: &str) -> Option<([u8; 4], ems_core::Policy)> {
    let mut response = agent()
        .get(format!("{api}/v1/chain/head"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .call()
        .ok()?;
    let v: serde_json::Value =
        serde_json::from_slice(&response.body_mut().read_to_vec().ok()?).ok()?;
    let mut prefix = [0u8; 4];
    hex::decode_to_slice(v["blockhash"].as_str()?, &mut prefix).ok()?;
    Some((prefix, serde_json::from_value(v["policy"].clone()).ok()?))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn try_post_token(url: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut response = agent()
        .post(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .send(body)
        .ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().ok()?;
    Some((status, body))
}
