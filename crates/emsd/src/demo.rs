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
//! when it fails or is interrupted (`demo/cluster.rs`). Every request goes through
//! `ems-client`'s [`NodeClient`], every proof through its miner, as any client's would.

mod channel;
mod cluster;

pub use cluster::Cluster;

use cluster::Relay;
use ems_client::node::Subscription;
use ems_client::report::Report;
use ems_client::{ClientError, NodeClient};
use ems_core::clock::unix_now;
use ems_core::pow::Solver;
use ems_core::Message;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::time::{Duration, Instant};

/// Most relays the demo starts.
pub const MAX_NODES: usize = 10;
/// How long the nodes may take to find each other, and a message to cross the network.
const SPREAD: Duration = Duration::from_secs(60);
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

/// A client failure, as a failed step.
fn client(e: ClientError) -> DemoError {
    step(e.to_string())
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

    let mut relays: Vec<(Relay, NodeClient)> = Vec::new();
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
        let api = NodeClient::new(&relay.info.api, None).map_err(client)?;
        relays.push((relay, api));
    }

    let t = Instant::now();
    wait_until(SPREAD, "the nodes to connect", || {
        relays
            .iter()
            .all(|(_, api)| api.status().is_ok_and(|s| s.peers >= 1))
    })?;
    println!(
        "\nEvery node has a peer after {}: each dialled only the one before it.",
        ms(t.elapsed())
    );

    let (first, first_api) = &relays[0];
    let (last, last_api) = relays.last().expect("at least two relays");
    let mut live = last_api.subscribe().map_err(client)?;
    println!(
        "A WebSocket subscriber is listening at {} (GET /v1/subscribe).",
        last.name
    );

    let head = first_api.head().map_err(client)?;
    println!(
        "\nChain head at {}: block {} with hash prefix {}. A message binds to a recent",
        first.name,
        head.height,
        hex::encode(head.blockhash)
    );
    println!("block, so nobody can mine a stock of messages in advance for a later flood.");

    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&tag_for("ems demo"));
    id[32..].copy_from_slice(&rand::random::<[u8; 32]>());
    let now = unix_now();
    let text = format!("hello from {}, sent at unix time {now}", first.name);
    let ttl = head.expiry(TTL).map_err(client)?;
    let mut msg = Message::new(id, text.clone().into_bytes(), ttl, head.blockhash)
        .map_err(|e| step(e.to_string()))?;
    let t = Instant::now();
    let tries = Cell::new(0);
    let report = |r: &Report<'_>| {
        if let Report::Mined { expected_tries, .. } = r {
            tries.set(*expected_tries);
        }
    };
    let solver = Solver::new();
    ems_client::mine::mine(&mut msg, &solver, &head.policy, now, "message", &report)
        .map_err(client)?;
    let tries = tries.get();
    println!(
        "\nMined a {}-byte message living {} minutes: ~{tries} expected hashes, {} on {} threads",
        msg.encoded_len(),
        TTL / 60,
        ms(t.elapsed()),
        solver.thread_count()
    );
    println!("(the default policy charges by size and lifetime). Payload: {text:?}");

    let sent = Instant::now();
    let submitted = first_api.submit(&msg).map_err(client)?;
    if submitted.duplicate {
        return Err(step(format!(
            "{} answered HTTP 200 (already stored) to a new message",
            first.name
        )));
    }
    println!(
        "Submitted to {}: accepted (HTTP 202) in {}, digest {}.\n",
        first.name,
        ms(sent.elapsed()),
        short(&submitted.digest)
    );

    for (relay, api) in &relays[1..] {
        wait_until(
            SPREAD,
            &format!("the message to reach {}", relay.name),
            || matches!(api.message(&msg.digest()), Ok(Some(m)) if m == msg),
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

    if !first_api.submit(&msg).map_err(client)?.duplicate {
        return Err(step(
            "a second submission answered HTTP 202, not 200 (duplicate)",
        ));
    }
    println!(
        "\nSubmitting it again: HTTP 200, already stored; nothing is stored or gossiped twice."
    );
    let mut tampered = Message::new(*msg.id(), b"tampered".to_vec(), msg.ttl(), msg.blockhash())
        .map_err(|e| step(e.to_string()))?;
    tampered.set_pow(
        ems_client::mine::algorithm(&head.policy).map_err(client)?,
        msg.pow().proof,
    );
    match first_api.submit(&tampered) {
        Err(ClientError::Refused {
            status: 422, code, ..
        }) => println!(
            "Changing the payload but keeping the proof: HTTP 422 {code}: the work was done for other bytes."
        ),
        other => return Err(step(format!("a tampered frame was answered {other:?}"))),
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
        .filter_map(|(name, ended)| ended.as_ref().err().map(|why| format!("{name}: {why}")))
        .collect();
    if !unclean.is_empty() {
        return Err(step(format!(
            "these nodes did not exit cleanly:\n{}",
            unclean.join("\n")
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
fn next_matching(live: &mut Subscription, msg: &Message) -> Result<Message, DemoError> {
    let deadline = Instant::now() + SPREAD;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match live.next(left.min(Duration::from_millis(500))) {
            Ok(Some(m)) if m == *msg => return Ok(m),
            Ok(_) => {}
            Err(e) => return Err(step(format!("the WebSocket stream failed: {e}"))),
        }
    }
    Err(step("the WebSocket subscriber did not receive the message"))
}
