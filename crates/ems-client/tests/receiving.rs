//! Receiving against real `emsd` nodes (and, for the limits, a hostile one): which opens are
//! accepted, what a channel is named after, what the node is told, and what a hostile node or a
//! damaged record can cost.

mod support;

use ems_client::node::{History, HistoryLimits, NodeClient};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{check_one_line_error, texts, wait_for, Node, User};

/// The JSON events of one `ems recv --json ARGS`.
fn recv_with(user: &User, args: &[&str]) -> Vec<serde_json::Value> {
    user.ems_keys_ok(&[&["recv", "--json"], args].concat())
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn fingerprint(user: &User) -> String {
    let shown = user.ems_ok(&["keys", "show", user.bundle().to_str().unwrap()]);
    shown
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint"))
        .unwrap()
        .trim()
        .to_string()
}

fn stored(node: &Node) -> u64 {
    node.status()["store"]["messages"].as_u64().unwrap()
}

#[test]
fn an_address_no_chain_vouched_for_never_names_a_channel_and_shows_as_unverified() {
    let node = Node::start(&[]);
    // Mallory's bundle claims an address she does not own; nobody here checks the chain.
    let address = format!("Q{}", "0a".repeat(39));
    let mallory = User::new(&node.api, &["--qrl-address", &address]);
    let bob = User::new(&node.api, &[]);
    mallory.open_channel(&bob, "bob");
    let events = bob.recv_until("Bob to accept", |e| {
        e.iter().any(|e| e["event"] == "opened")
    });
    let opened = events.iter().find(|e| e["event"] == "opened").unwrap();
    let fp = fingerprint(&mallory);
    assert_eq!(opened["channel"], fp[..12], "{opened}");
    assert_eq!(opened["address"], address.as_str());
    assert_eq!(opened["committed"], false);
    let list = bob.ems_keys_ok(&["channel", "list"]);
    assert!(list.starts_with(&fp[..12]), "{list}");
    assert!(
        list.contains(&format!("(claims {address}: unverified)")),
        "{list}"
    );
    // Text output says so too, and a channel opened *to* such a bundle is not named after it.
    let alice = User::new(&node.api, &[]);
    let out = alice.ems_keys_ok(&[
        "channel",
        "open",
        "--to",
        mallory.bundle().to_str().unwrap(),
    ]);
    assert!(
        out.starts_with(&format!("opened channel {} ", &fp[..12])),
        "{out}"
    );
    let list = alice.ems_keys_ok(&["channel", "list"]);
    assert!(
        list.contains("unverified") && !list.starts_with('Q'),
        "{list}"
    );
}

#[test]
fn opens_the_policy_does_not_accept_wait_and_cost_nothing_until_accepted() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    // A damaged record of tried opens costs re-trying, never a failure.
    std::fs::create_dir_all(bob.state_dir()).unwrap();
    std::fs::write(bob.state_dir().join("tried.state"), b"not a record").unwrap();

    check_one_line_error(
        &bob.ems_keys(&["recv", "--accept", "committed"]),
        "--accept committed needs --chain",
    );
    alice.open_channel(&bob, "bob");
    let before = stored(&node);
    let mut events = Vec::new();
    wait_for("Bob to see the open", || {
        events.extend(recv_with(&bob, &["--accept", "none"]));
        events.iter().any(|e| e["event"] == "pending").then_some(())
    });
    let digest = events[0]["open"].as_str().unwrap().to_string();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["peer"], fingerprint(&alice).as_str());
    // Nothing was mined or sent, no channel made; the open is listed, and tried only once.
    assert_eq!(stored(&node), before, "something was submitted");
    assert!(bob.ems_keys_ok(&["channel", "list"]).is_empty());
    let pending = bob.ems_keys_ok(&["channel", "pending"]);
    assert!(pending.starts_with(&digest), "{pending}");
    assert!(recv_with(&bob, &["--accept", "none"]).is_empty());
    // `known` does not take a stranger either.
    let carol = User::new(&node.api, &[]);
    carol.open_channel(&bob, "bob");
    let mut known = Vec::new();
    wait_for("Bob to see Carol's open", || {
        known.extend(recv_with(&bob, &["--accept", "known"]));
        (!known.is_empty()).then_some(())
    });
    assert_eq!(known[0]["event"], "pending", "{known:?}");
    assert_eq!(stored(&node), before + 1, "only Carol's open was added");

    // Accepting by a digest prefix mines and sends the accept; Alice sees it.
    let out = bob.ems_keys_ok(&["channel", "accept", &digest[..12]]);
    assert!(out.contains("new channel"), "{out}");
    assert_eq!(stored(&node), before + 2);
    alice.recv_until("Alice to see the accept", |e| {
        e.iter().any(|e| e["event"] == "accepted")
    });
    let pending = bob.ems_keys_ok(&["channel", "pending"]);
    assert!(
        !pending.contains(&digest) && pending.lines().count() == 1,
        "{pending}"
    );
    check_one_line_error(
        &bob.ems_keys(&["channel", "accept", &digest[..12]]),
        "none is named",
    );

    // `known` accepts a trusted fingerprint, after the random delay it reports.
    let erin = User::new(&node.api, &[]);
    erin.open_channel(&bob, "bob");
    let erin_fp = fingerprint(&erin);
    let start = ems_client::time::now();
    let mut trusted = Vec::new();
    wait_for("Bob to accept Erin", || {
        trusted.extend(recv_with(
            &bob,
            &[
                "--accept",
                "known",
                "--trust",
                &erin_fp,
                "--accept-delay",
                "2s",
            ],
        ));
        trusted.iter().any(|e| e["event"] == "opened").then_some(())
    });
    let opened = trusted.iter().find(|e| e["event"] == "opened").unwrap();
    assert_eq!(opened["peer"], erin_fp.as_str());
    let at = opened["accept_at"].as_u64().unwrap();
    assert!((start..=ems_client::time::now()).contains(&at), "{at}");
    erin.recv_until("Erin to see the accept", |e| {
        e.iter().any(|e| e["event"] == "accepted")
    });
}

/// A TCP proxy in front of `api` that records every byte clients send.
fn recording_proxy(api: &str) -> (String, Arc<Mutex<Vec<u8>>>) {
    let upstream = api.trim_start_matches("http://").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let record = record.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    record.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = s_write.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    (url, seen)
}

/// `ems recv --follow --json --history-by-time` of `user` through the node at `node`, with the
/// events it printed so far.
struct Follow {
    _child: support::Kill,
    lines: std::sync::mpsc::Receiver<String>,
    live: Vec<serde_json::Value>,
}

impl Follow {
    fn start(user: &User, node: &str) -> Follow {
        let (child, lines) = support::spawn_lines(
            Command::new(support::ems())
                .args(["recv", "--follow", "--json", "--history-by-time", "--keys"])
                .arg(&user.keys)
                .env("EMS_NODE", node)
                .env("EMS_QUIET", "true")
                .env("EMS_ACCEPT_DELAY", "0")
                .stderr(Stdio::null()),
        );
        Follow {
            _child: child,
            lines,
            live: Vec::new(),
        }
    }

    /// Waits until the events printed so far satisfy `done`.
    fn wait(&mut self, what: &str, done: &dyn Fn(&[serde_json::Value]) -> bool) {
        wait_for(what, || {
            while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(100)) {
                self.live.push(serde_json::from_str(&line).unwrap());
            }
            done(&self.live).then_some(())
        });
    }
}

#[test]
fn follow_by_time_never_names_a_tag_to_the_node() {
    let node = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    let (proxy, sent) = recording_proxy(&node.api);
    let mut follow = Follow::start(&bob, &proxy);
    // Bob's follow accepts, steps to Alice's rekey and reads her messages, live.
    alice.open_channel(&bob, "bob");
    follow.wait("the follow to accept", &|e| {
        e.iter().any(|e| e["event"] == "opened")
    });
    alice.recv_until("the accept", |e| e.iter().any(|e| e["event"] == "accepted"));
    follow.wait("the follow to follow Alice's rekey", &|e| {
        e.iter().any(|e| e["event"] == "rekeyed")
    });
    alice.recv_until("Bob's rekey", |e| e.iter().any(|e| e["event"] == "rekeyed"));
    for text in ["one", "two"] {
        alice.ems_keys_ok(&["send", "--channel", "bob", text]);
    }
    follow.wait("the follow to read both", &|e| texts(e).len() >= 2);
    assert_eq!(texts(&follow.live), ["one", "two"]);
    let sent = String::from_utf8_lossy(&sent.lock().unwrap()).into_owned();
    assert!(sent.contains("GET /v1/messages?since="), "{sent}");
    assert!(!sent.contains("tag="), "the follow named a tag: {sent}");
}

/// A node that answers every history request with a full page of junk and a new cursor, for
/// ever; or, with `huge`, one page far larger than any real one.
fn hostile_node(huge: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let entry = format!(r#"{{"digest":"{}","wire":"AAAA"}}"#, "00".repeat(32));
        let mut n = 0u64;
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                // Read one request's head.
                let mut ok = false;
                while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                    if line.ends_with("\r\n\r\n") {
                        ok = true;
                        break;
                    }
                }
                if !ok {
                    break;
                }
                n += 1;
                let count = if huge { 60_000 } else { 200 };
                let body = format!(
                    r#"{{"messages":[{}],"next_cursor":"c{n}"}}"#,
                    vec![entry.as_str(); count].join(",")
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).is_err()
                    || stream.write_all(body.as_bytes()).is_err()
                {
                    break;
                }
            }
        }
    });
    url
}

#[test]
fn a_hostile_node_costs_at_most_the_history_limits() {
    let node = NodeClient::new(&hostile_node(false), None).unwrap();
    let limits = HistoryLimits {
        max_messages: 1_000,
        max_bytes: 1 << 30,
    };
    let mut pages = 0;
    let read = node
        .history(&History::Since(0), limits, &mut |page| {
            assert!(page.is_empty(), "junk decoded as frames");
            pages += 1;
            Ok(())
        })
        .unwrap();
    assert!(read.truncated);
    assert_eq!((read.messages, pages), (1_000, 5));
    // A byte limit stops it too.
    let limits = HistoryLimits {
        max_messages: usize::MAX,
        max_bytes: 100_000,
    };
    let read = node
        .history(&History::Tags(&[[7; 32]]), limits, &mut |_| Ok(()))
        .unwrap();
    assert!(
        read.truncated && read.bytes >= 100_000 && read.bytes < 200_000,
        "{read:?}"
    );
    // A page larger than any real one is refused before it is held.
    let huge = NodeClient::new(&hostile_node(true), None).unwrap();
    let error = huge
        .history(&History::Since(0), HistoryLimits::RECEIVE, &mut |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(error.contains("history"), "{error}");
}

#[test]
fn follow_reads_a_message_that_passed_before_its_rekey_by_time_not_by_tag() {
    let node = Node::start(&[]);
    // An isolated node: a rekey sent there reaches Bob's node only when the test carries it.
    let elsewhere = Node::start(&[]);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &[]);
    let (proxy, sent) = recording_proxy(&node.api);
    let mut follow = Follow::start(&bob, &proxy);
    alice.open_channel(&bob, "bob");
    follow.wait("the follow to accept", &|e| {
        e.iter().any(|e| e["event"] == "opened")
    });
    alice.recv_until("the accept", |e| e.iter().any(|e| e["event"] == "accepted"));
    alice.recv_until("Bob's rekey", |e| e.iter().any(|e| e["event"] == "rekeyed"));

    // Alice rekeys on the isolated node, then sends on her new epoch through Bob's node: the
    // follow sees the message before it knows its tag, and lets it pass.
    let out = alice.ems_keys_ok(&[
        "channel",
        "rekey",
        "--channel",
        "bob",
        "--node",
        &elsewhere.api,
    ]);
    let digest = out.rsplit("message ").next().unwrap().trim().to_string();
    alice.ems_keys_ok(&["send", "--channel", "bob", "sent before its rekey arrived"]);
    let before = sent.lock().unwrap().len();
    // The rekey reaches Bob's node late.
    let frame = ureq::get(format!("{}/v1/messages/{digest}", elsewhere.api))
        .call()
        .unwrap()
        .into_body()
        .read_to_vec()
        .unwrap();
    ureq::post(format!("{}/v1/messages", node.api))
        .header("content-type", "application/octet-stream")
        .send(&frame[..])
        .unwrap();
    follow.wait("the follow to read the message that passed", &|e| {
        texts(e).contains(&"sent before its rekey arrived".to_string())
    });
    let after = String::from_utf8_lossy(&sent.lock().unwrap()[before..]).into_owned();
    assert!(after.contains("GET /v1/messages?since="), "{after}");
    assert!(!after.contains("since=0&"), "re-read everything: {after}");
    assert!(!after.contains("tag="), "the follow named a tag: {after}");
}
