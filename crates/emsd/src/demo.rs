//! `emsd demo`: a local EMS network of real `emsd run` processes, exercised end to end.
//!
//! Starts N relays on loopback (the devnet chain, one temporary data directory each), wires
//! each to the one before it by `--bootstrap` (a line, so messages must be relayed), mines a raw
//! message against the default policy (real proof of work and real validation), submits it at
//! the first node, and shows it arriving at every other node, both in the store
//! (`GET /v1/messages?tag=`) and on a live WebSocket at the last node. It then shows what the
//! network refuses (a duplicate, a tampered frame) and stops every node with SIGTERM, checking
//! each exits 0. In between, two users talk over the same relays with the `ems` client's code
//! and a third reads nothing (`demo/channel.rs`). The temporary directories go with the demo, also
//! when it fails or is interrupted.

mod channel;

use crate::run::NodeInfo;
use ems_core::clock::unix_now;
use ems_core::{Message, Policy};
use ems_pow::{Algorithm, Solver};
use sha2::{Digest, Sha256};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most relays the demo starts.
pub const MAX_NODES: usize = 10;
/// How long a node may take to start.
const START: Duration = Duration::from_secs(60);
/// How long the nodes may take to find each other, and a message to cross the network.
const SPREAD: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP: Duration = Duration::from_secs(30);
/// The demo message lives this long.
const TTL: u64 = 600;

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The number of nodes is out of range.
    #[error("--nodes must be from 2 to {MAX_NODES}, not {0}")]
    Nodes(usize),
    /// A step did not work; the message says which and why.
    #[error("{0}")]
    Step(String),
}

fn step(what: impl Into<String>) -> DemoError {
    DemoError::Step(what.into())
}

/// The running nodes and their directory; stopping is idempotent and also happens on drop.
pub struct Cluster {
    dir: Mutex<Option<tempfile::TempDir>>,
    children: Mutex<Vec<(String, Child)>>,
}

/// One node as the demo sees it.
struct Relay {
    name: String,
    info: NodeInfo,
}

impl Cluster {
    /// An empty cluster with a fresh temporary directory.
    pub fn new() -> Result<Cluster, DemoError> {
        let dir = tempfile::Builder::new()
            .prefix("emsd-demo-")
            .tempdir()
            .map_err(|e| step(format!("cannot create a temporary directory: {e}")))?;
        Ok(Cluster {
            dir: Mutex::new(Some(dir)),
            children: Mutex::new(Vec::new()),
        })
    }

    fn root(&self) -> Result<PathBuf, DemoError> {
        lock(&self.dir)
            .as_ref()
            .map(|d| d.path().to_owned())
            .ok_or_else(|| step("the demo was stopped"))
    }

    /// Starts `emsd run` for node `name`, bootstrapping from `bootstrap`, and waits for its
    /// `node.json`.
    fn start(&self, exe: &Path, name: &str, bootstrap: Option<&str>) -> Result<Relay, DemoError> {
        let data_dir = self.root()?.join(name);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| step(format!("cannot create {}: {e}", data_dir.display())))?;
        let log = std::fs::File::create(data_dir.join("emsd.log"))
            .map_err(|e| step(format!("cannot create the log of {name}: {e}")))?;
        let mut cmd = Command::new(exe);
        cmd.arg("run")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--network", "demo", "--chain", "devnet"])
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(peer) = bootstrap {
            cmd.args(["--bootstrap", peer]);
        }
        let child = cmd
            .spawn()
            .map_err(|e| step(format!("cannot start {}: {e}", exe.display())))?;
        let pid = child.id();
        {
            // Under the children lock: a stop() that already began (it takes the directory
            // first) must not miss this child.
            let mut children = lock(&self.children);
            if lock(&self.dir).is_none() {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(step("the demo was stopped"));
            }
            children.push((name.to_string(), child));
        }
        let info = NodeInfo::wait(&data_dir, pid, START).map_err(|why| {
            step(format!(
                "{name} did not start: {why}; see {}",
                data_dir.join("emsd.log").display()
            ))
        })?;
        Ok(Relay {
            name: name.to_string(),
            info,
        })
    }

    /// Sends SIGTERM to every node, waits for each to exit (killing any that hangs), removes
    /// the directory, and returns each node's name and whether it exited 0.
    pub fn stop(&self) -> Vec<(String, bool)> {
        let dir = lock(&self.dir).take();
        let children = std::mem::take(&mut *lock(&self.children));
        for (_, child) in &children {
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_child(child),
                rustix::process::Signal::TERM,
            );
        }
        let deadline = Instant::now() + STOP;
        let outcome = children
            .into_iter()
            .map(|(name, mut child)| {
                let clean = loop {
                    match child.try_wait() {
                        Ok(Some(status)) => break status.success(),
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break false;
                        }
                    }
                };
                (name, clean)
            })
            .collect();
        if let Some(dir) = dir {
            let _ = dir.close();
        }
        outcome
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The demo's routing tag: `SHA2-256(label)`, so anyone can compute it.
fn tag_for(label: &str) -> [u8; 32] {
    Sha256::digest(label.as_bytes()).into()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

/// Runs the demo with `nodes` relays, printing each step; `cluster` holds the processes so the
/// caller can stop them if the demo is interrupted.
pub fn run(cluster: &Cluster, nodes: usize) -> Result<(), DemoError> {
    if !(2..=MAX_NODES).contains(&nodes) {
        return Err(DemoError::Nodes(nodes));
    }
    let exe =
        std::env::current_exe().map_err(|e| step(format!("cannot find the emsd binary: {e}")))?;
    let started = Instant::now();
    println!(
        "EMS demo: {nodes} relays on this machine, each a separate `emsd run` process with its own"
    );
    println!("store, talking libp2p over loopback, all following the same devnet chain.");
    println!("Temporary data: {}\n", cluster.root()?.display());

    let mut relays: Vec<(Relay, Api)> = Vec::new();
    for i in 0..nodes {
        let name = format!("node-{}", (b'A' + i as u8) as char);
        let bootstrap = relays
            .last()
            .and_then(|(r, _)| r.info.listen_addrs.first().cloned());
        let t = Instant::now();
        let relay = cluster.start(&exe, &name, bootstrap.as_deref())?;
        println!(
            "  started {name} in {}: API {}, peer {}{}",
            ms(t.elapsed()),
            relay.info.api,
            short(&relay.info.peer_id),
            match relays.last() {
                Some((prev, _)) => format!(", bootstrapping from {}", prev.name),
                None => String::new(),
            }
        );
        let api = Api::new(&relay.info.api);
        relays.push((relay, api));
    }

    let t = Instant::now();
    wait_until(SPREAD, "the nodes to connect", || {
        relays
            .iter()
            .all(|(_, api)| api.peers().is_some_and(|p| p >= 1))
    })?;
    println!(
        "\nEvery node has a peer after {}: each dialled only the one before it.",
        ms(t.elapsed())
    );

    let (first, first_api) = &relays[0];
    let (last, last_api) = relays.last().expect("at least two relays");
    let mut live = last_api.subscribe()?;
    println!(
        "A WebSocket subscriber is listening at {} (GET /v1/subscribe).",
        last.name
    );

    let (height, blockhash, policy) = first_api.head()?;
    println!(
        "\nChain head at {}: block {height} with hash prefix {}. A message binds to a recent",
        first.name,
        hex::encode(blockhash)
    );
    println!("block, so nobody can mine a stock of messages in advance for a later flood.");

    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&tag_for("ems demo"));
    id[32..].copy_from_slice(&rand::random::<[u8; 32]>());
    let now = unix_now();
    let text = format!("hello from {}, sent at unix time {now}", first.name);
    let mut msg = Message::new(id, text.clone().into_bytes(), (now + TTL) as u32, blockhash)
        .map_err(|e| step(e.to_string()))?;
    let t = Instant::now();
    let tries = mine(&mut msg, &policy, now)?;
    println!(
        "\nMined a {}-byte message living {} minutes: ~{tries} expected hashes, {} on {} threads",
        msg.encoded_len(),
        TTL / 60,
        ms(t.elapsed()),
        Solver::new().thread_count()
    );
    println!("(the default policy charges by size and lifetime). Payload: {text:?}");

    let digest = hex::encode(msg.digest());
    let sent = Instant::now();
    let (status, _) = first_api.submit(&msg)?;
    if status != 202 {
        return Err(step(format!(
            "{} answered HTTP {status} to a valid message",
            first.name
        )));
    }
    println!(
        "Submitted to {}: accepted (HTTP 202) in {}, digest {}.\n",
        first.name,
        ms(sent.elapsed()),
        short(&digest)
    );

    for (relay, api) in &relays[1..] {
        wait_until(
            SPREAD,
            &format!("the message to reach {}", relay.name),
            || api.has(&digest, &msg),
        )?;
        println!(
            "  {} serves it (GET /v1/messages/{{digest}}) {} after submission.",
            relay.name,
            ms(sent.elapsed())
        );
    }
    let pushed = next_matching(&mut live, &msg)?;
    println!(
        "  {}'s WebSocket subscriber received it, byte for byte: {} bytes, payload {:?}.",
        last.name,
        pushed.encoded_len(),
        String::from_utf8_lossy(pushed.payload())
    );

    let (again, _) = first_api.submit(&msg)?;
    if again != 200 {
        return Err(step(format!(
            "a second submission answered HTTP {again}, not 200 (duplicate)"
        )));
    }
    println!(
        "\nSubmitting it again: HTTP 200, already stored; nothing is stored or gossiped twice."
    );
    let mut tampered = Message::new(*msg.id(), b"tampered".to_vec(), msg.ttl(), msg.blockhash())
        .map_err(|e| step(e.to_string()))?;
    tampered.set_pow(Algorithm::Sha256, msg.pow().proof);
    match first_api.submit(&tampered)? {
        (422, body) => println!(
            "Changing the payload but keeping the proof: HTTP 422 {}: the work was done for other bytes.",
            body["error"]["code"].as_str().unwrap_or("?")
        ),
        (status, body) => return Err(step(format!("a tampered frame was answered {status} {body}"))),
    }

    let home = |i: usize| channel::Home {
        name: &relays[i].0.name,
        api: &relays[i].0.info.api,
    };
    channel::run(
        &cluster.root()?,
        home(0),
        home(relays.len() / 2),
        home(relays.len() - 1),
    )?;

    println!("\nStopping the nodes (SIGTERM: each drains its API and closes its store)...");
    let outcome = cluster.stop();
    let unclean: Vec<_> = outcome
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    if !unclean.is_empty() {
        return Err(step(format!(
            "these nodes did not exit cleanly: {}",
            unclean.join(", ")
        )));
    }
    println!("All {nodes} exited with status 0; temporary data removed.");
    println!(
        "\nWhat this proved, in {:.1} s:",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  - {nodes} independent relay processes found each other from bootstrap addresses alone;"
    );
    println!(
        "  - a message with real proof of work, bound to a recent block, was accepted by one node"
    );
    println!(
        "    and relayed over gossipsub to every other node's store and to a live subscriber;"
    );
    println!("  - every relay validated it on arrival; a replay is a duplicate and a tampered frame is refused;");
    println!("  - Alice and Bob, on different relays, opened a post-quantum channel (ML-KEM-768, ML-DSA-65),");
    println!("    exchanged messages both ways and rotated keys, while Carol relayed it all and read nothing;");
    println!("  - every node shut down cleanly on SIGTERM.");
    Ok(())
}

/// Mines `msg` on every core for the work `policy` asks; returns the expected number of tries.
fn mine(msg: &mut Message, policy: &Policy, now: u64) -> Result<u64, DemoError> {
    let algorithm = Algorithm::Sha256;
    let lifetime = u64::from(msg.ttl()).saturating_sub(now);
    let target = policy.target(algorithm, msg.encoded_len(), lifetime);
    let proof = Solver::new()
        .solve(algorithm, &msg.digest(), target)
        .map_err(|e| step(format!("mining: {e}")))?;
    msg.set_pow(algorithm, proof);
    Ok(ems_pow::expected_tries(target))
}

/// The few API calls the demo makes, over plain HTTP and a WebSocket.
struct Api {
    base: String,
    agent: ureq::Agent,
}

impl Api {
    fn new(base: &str) -> Api {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build();
        Api {
            base: base.to_string(),
            agent: config.into(),
        }
    }

    fn read(
        &self,
        path: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Vec<u8>), DemoError> {
        let mut response = response.map_err(|e| step(format!("{}{path}: {e}", self.base)))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| step(format!("{}{path}: {e}", self.base)))?;
        Ok((status, body))
    }

    fn get(&self, path: &str) -> Result<(u16, Vec<u8>), DemoError> {
        self.read(path, self.agent.get(format!("{}{path}", self.base)).call())
    }

    fn get_json(&self, path: &str) -> Result<serde_json::Value, DemoError> {
        match self.get(path)? {
            (200, body) => serde_json::from_slice(&body)
                .map_err(|e| step(format!("{}{path}: not JSON: {e}", self.base))),
            (status, body) => Err(step(format!(
                "{}{path}: HTTP {status} {}",
                self.base,
                String::from_utf8_lossy(&body)
            ))),
        }
    }

    fn peers(&self) -> Option<u64> {
        self.get_json("/v1/status").ok()?.get("peers")?.as_u64()
    }

    fn head(&self) -> Result<(u64, [u8; 4], Policy), DemoError> {
        let head = self.get_json("/v1/chain/head")?;
        let mut blockhash = [0u8; 4];
        hex::decode_to_slice(head["blockhash"].as_str().unwrap_or(""), &mut blockhash)
            .map_err(|e| step(format!("chain head blockhash: {e}")))?;
        let policy = serde_json::from_value(head["policy"].clone())
            .map_err(|e| step(format!("chain head policy: {e}")))?;
        Ok((head["height"].as_u64().unwrap_or(0), blockhash, policy))
    }

    /// Status and JSON body of `POST /v1/messages`.
    fn submit(&self, msg: &Message) -> Result<(u16, serde_json::Value), DemoError> {
        let path = "/v1/messages";
        let request = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/octet-stream");
        let (status, body) = self.read(path, request.send(&msg.encode()[..]))?;
        let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        Ok((status, json))
    }

    /// Whether the node serves exactly this frame under `digest`.
    fn has(&self, digest: &str, msg: &Message) -> bool {
        matches!(self.get(&format!("/v1/messages/{digest}")), Ok((200, body)) if body == msg.encode())
    }

    fn subscribe(&self) -> Result<tungstenite::WebSocket<TcpStream>, DemoError> {
        let host = self.base.trim_start_matches("http://");
        let stream =
            TcpStream::connect(host).map_err(|e| step(format!("WebSocket to {host}: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .map_err(|e| step(e.to_string()))?;
        let (socket, _) = tungstenite::client(format!("ws://{host}/v1/subscribe"), stream)
            .map_err(|e| step(format!("WebSocket to {host}: {e}")))?;
        Ok(socket)
    }
}

fn short(text: &str) -> String {
    let n = text.len();
    if n > 16 {
        format!("{}…{}", &text[..8], &text[n - 6..])
    } else {
        text.to_string()
    }
}

fn wait_until(
    within: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> Result<(), DemoError> {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return Err(step(format!(
                "gave up waiting for {what} after {} s",
                within.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The next frame on the live stream equal to `msg`.
fn next_matching(
    live: &mut tungstenite::WebSocket<TcpStream>,
    msg: &Message,
) -> Result<Message, DemoError> {
    let deadline = Instant::now() + SPREAD;
    while Instant::now() < deadline {
        match live.read() {
            Ok(tungstenite::Message::Binary(bytes)) => {
                if let Ok(m) = Message::decode(&bytes) {
                    if m == *msg {
                        return Ok(m);
                    }
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(step(format!("the WebSocket stream failed: {e}"))),
        }
    }
    Err(step("the WebSocket subscriber did not receive the message"))
}
