//! The demo's second act: two users talk over the relays with the `ems` client's code, and a
//! third user, whose node relays and stores the same traffic, reads none of it.
//!
//! Alice uses the first relay, Bob the last, Carol one in between. Each has a key file and
//! channel state in the demo's temporary directory and talks to their node over its HTTP API,
//! exactly as `ems` does: keygen → Bob announces his bundle → Alice finds it through her own
//! node → open → Bob recognises and accepts → messages both ways → Alice rekeys → a message on
//! the new keys.

use super::{client, ms, short, step, wait_until, DemoError, SPREAD};
use ems_client::keys::{self, Passphrase};
use ems_client::receive::{Event, Receiver};
use ems_client::resolve::{resolve, Target};
use ems_client::{NodeClient, Session};
use ems_core::channel::open_tag;
use ems_core::Identity;
use std::path::Path;
use std::time::Instant;

/// Seconds every demo message lives: short, so mining at the default policy takes moments.
const TTL: u64 = 600;
/// How long users' key bundles are valid.
const VALIDITY: u64 = 86_400;

/// A relay as this act needs it: its name and API URL.
pub(super) struct Home<'a> {
    pub(super) name: &'a str,
    pub(super) api: &'a str,
}

/// Runs the act; `alice`, `carol` and `bob` name the relays each user talks to.
pub(super) fn run(
    root: &Path,
    alice: Home<'_>,
    carol: Home<'_>,
    bob: Home<'_>,
) -> Result<(), DemoError> {
    println!(
        "\nTwo users, and a third who listens. Alice uses {}, Bob {}, Carol {}.",
        alice.name, bob.name, carol.name
    );
    let now = ems_client::time::now();
    let t = Instant::now();
    let [a, b, c] = ["alice", "bob", "carol"].map(|name| user(root, name, now));
    let (a, b, c) = (a?, b?, c?);
    println!(
        "  keygen: three identities (ML-DSA-65 signing key, ML-KEM-768 key, signed bundle), key files 0600, in {}",
        ms(t.elapsed())
    );
    let alice_session = session(&a, alice.api)?;
    let bob_session = session(&b, bob.api)?;
    let carol_session = session(&c, carol.api)?;

    let fingerprint = bob_session.identity.fingerprint();
    let t = Instant::now();
    let announced = bob_session.announce_keys(TTL).map_err(client)?;
    println!(
        "  publish: Bob announced his bundle (6502 bytes) at {}, message {}, in {} (mining included);",
        bob.name,
        short(&announced.digest),
        ms(t.elapsed())
    );
    println!(
        "           on QRL his address would commit to it with a lattice transaction, pk3 = {}",
        short(&hex::encode(
            bob_session.identity.bundle().body().commitment()
        ))
    );

    let t = Instant::now();
    let target = Target::Fingerprint(fingerprint);
    let mut found = None;
    wait_until(SPREAD, "Bob's announcement to reach Alice's node", || {
        found = resolve(&target, &alice_session.node, None, ems_client::time::now()).ok();
        found.is_some()
    })?;
    let peer = found.ok_or_else(|| step("Bob's bundle was not found"))?;
    println!(
        "  lookup: Alice found Bob's bundle by its fingerprint {} at {} after {}",
        short(&fingerprint.to_string()),
        alice.name,
        ms(t.elapsed())
    );

    let t = Instant::now();
    let (record, open) = alice_session
        .open_channel(&peer, "bob", TTL)
        .map_err(client)?;
    println!(
        "  open: Alice encapsulated to Bob's ML-KEM key, signed the transcript, mined and sent the open ({}) in {}",
        short(&open.digest),
        ms(t.elapsed())
    );
    println!("        its ID0 is the same public open tag as everyone's: relays cannot tell who it is for.");

    let t = Instant::now();
    let bob_events = until(&bob_session, "Bob to recognise and accept the open", |e| {
        e.iter().any(|e| matches!(e, Event::Opened { .. }))
    })?;
    let bob_channel = bob_events
        .iter()
        .find_map(|e| match e {
            Event::Opened { channel, .. } => Some(channel.clone()),
            _ => None,
        })
        .ok_or_else(|| step("Bob saw no open"))?;
    println!(
        "  accept: Bob trial-decapsulated the open at {}, verified Alice's signature, accepted (his first KEM ratchet step) in {}",
        bob.name,
        ms(t.elapsed())
    );
    let t = Instant::now();
    until(&alice_session, "Alice to see the accept", |e| {
        e.iter().any(|e| matches!(e, Event::Accepted { .. }))
    })?;
    println!(
        "  Alice received the accept in {}: both sides now hold the channel's keys.",
        ms(t.elapsed())
    );

    let t = Instant::now();
    for text in ["Hi Bob, this is Alice.", "Nobody else can read this."] {
        alice_session
            .send(&record.name, text.as_bytes(), TTL, false, None)
            .map_err(client)?;
    }
    let got = until(&bob_session, "Bob to read Alice's messages", |e| {
        texts(e).len() >= 2
    })?;
    println!("  Alice → Bob in {}: {:?}", ms(t.elapsed()), texts(&got));

    let t = Instant::now();
    bob_session
        .send(&bob_channel, b"Hi Alice, signed by Bob.", TTL, true, None)
        .map_err(client)?;
    let got = until(&alice_session, "Alice to read Bob's reply", |e| {
        !texts(e).is_empty()
    })?;
    let signed = got
        .iter()
        .any(|e| matches!(e, Event::Message { signed: true, .. }));
    println!(
        "  Bob → Alice in {}: {:?} ({})",
        ms(t.elapsed()),
        texts(&got),
        if signed {
            "ML-DSA signature verified"
        } else {
            "unsigned"
        }
    );

    let t = Instant::now();
    alice_session.rekey(&record.name, TTL).map_err(client)?;
    alice_session
        .send(
            &record.name,
            b"This one uses keys from after the rekey.",
            TTL,
            false,
            None,
        )
        .map_err(client)?;
    let got = until(&bob_session, "Bob to follow the rekey", |e| {
        !texts(e).is_empty()
    })?;
    let rekeyed = got.iter().find_map(|e| match e {
        Event::Rekeyed { epoch, .. } => Some(*epoch),
        _ => None,
    });
    println!(
        "  rekey: Alice stepped her KEM ratchet ({}); Bob read {:?} in {}",
        match rekeyed {
            Some(epoch) => format!("Bob followed to epoch {epoch}"),
            None => "Bob did not see it".to_string(),
        },
        texts(&got),
        ms(t.elapsed())
    );
    if rekeyed.is_none() {
        return Err(step("Bob did not see Alice's rekey"));
    }

    let carol_events = collect(&carol_session)?;
    let stored = carol_session.node.status().map_err(client)?.store.messages;
    let opens = carol_session
        .node
        .by_tags(&[open_tag()])
        .map_err(client)?
        .len();
    if opens == 0 {
        return Err(step(format!(
            "{} holds no open for Carol to try",
            carol.name
        )));
    }
    println!(
        "\n  Carol: {} stores {stored} messages, the whole conversation included. She trial-decapsulated the",
        carol.name
    );
    println!(
        "  {opens} open(s) it holds with her own keys (none was for her) and read {} messages.",
        carol_events.len()
    );
    if !carol_events.is_empty() {
        return Err(step(format!("Carol read something: {carol_events:?}")));
    }
    Ok(())
}

/// A key file for `name` in `root`.
fn user(root: &Path, name: &str, now: u64) -> Result<std::path::PathBuf, DemoError> {
    let identity = Identity::generate(&mut ems_client::rng(), now, now + VALIDITY, None)
        .map_err(|e| step(format!("keygen for {name}: {e}")))?;
    let path = root.join(format!("{name}.key"));
    keys::save_new(&identity, &path, &Passphrase::default(), false).map_err(client)?;
    Ok(path)
}

fn session(key_file: &Path, api: &str) -> Result<Session, DemoError> {
    let node = NodeClient::new(api, None).map_err(client)?;
    Session::open(key_file, &Passphrase::default(), node).map_err(client)
}

/// One receive pass's events.
fn collect(session: &Session) -> Result<Vec<Event>, DemoError> {
    let mut events = Vec::new();
    Receiver::new(session, None, TTL)
        .catch_up(&mut |e| events.push(e))
        .map_err(client)?;
    Ok(events)
}

/// Receives until the events so far satisfy `done`.
fn until(
    session: &Session,
    what: &str,
    done: impl Fn(&[Event]) -> bool,
) -> Result<Vec<Event>, DemoError> {
    let mut events = Vec::new();
    let mut failure = None;
    wait_until(SPREAD, what, || match collect(session) {
        Ok(more) => {
            events.extend(more);
            done(&events)
        }
        Err(e) => {
            failure = Some(e);
            true
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(events),
    }
}

fn texts(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { text, .. } => Some(String::from_utf8_lossy(text).into_owned()),
            _ => None,
        })
        .collect()
}
