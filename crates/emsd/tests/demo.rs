//! `emsd demo` runs a small network end to end and exits 0: raw messages cross the relays, then
//! Alice and Bob talk over a channel (both ways, across a rekey) while Carol reads nothing.

use std::process::Command;

#[test]
fn demo_with_three_nodes_shows_relaying_and_a_private_channel_and_says_what_it_proved() {
    let out = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args(["demo", "--nodes", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        // raw messages across the relays
        "What this proved",
        "node-C serves it",
        "WebSocket subscriber received it",
        // two users and a channel, with the client's code; the third user reads nothing
        "Alice uses node-A, Bob node-C, Carol node-B",
        "publish: Bob announced his bundle",
        "lookup: Alice found Bob's bundle",
        "accept: Bob trial-decapsulated the open at node-C",
        "Alice → Bob in",
        r#"["Hi Alice, signed by Bob."] (ML-DSA signature verified)"#,
        "(Bob followed to epoch 3); Bob read [\"This one uses keys from after the rekey.\"]",
        "none was for her) and read 0 messages",
        "All 3 exited with status 0",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    // Bob reads both of Alice's messages; gossip does not order two messages sent back to
    // back, so they may come in either order.
    let read = stdout
        .lines()
        .find(|l| l.contains("Alice → Bob in"))
        .unwrap_or_default();
    for text in [
        "\"Hi Bob, this is Alice.\"",
        "\"Nobody else can read this.\"",
    ] {
        assert!(read.contains(text), "Bob did not read {text} in:\n{stdout}");
    }
}

#[test]
fn demo_refuses_a_single_node_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args(["demo", "--nodes", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn interrupting_the_demo_stops_its_nodes_and_removes_its_files() {
    use std::io::{BufRead, BufReader};
    let mut demo = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args(["demo", "--nodes", "3"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut dir = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(path) = line.strip_prefix("Temporary data: ") {
            dir = Some(std::path::PathBuf::from(path));
        }
        if line.contains("started node-A") {
            break;
        }
    }
    let dir = dir.expect("the demo prints its directory");
    let node_a = dir.join("node-A");
    let pid: i32 = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(node_a.join("node.json")).unwrap(),
    )
    .unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&demo),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = demo.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!dir.exists(), "{} is left behind", dir.display());
    // node-A's process is gone (signal 0 only checks that it exists).
    let alive = rustix::process::test_kill_process(rustix::process::Pid::from_raw(pid).unwrap());
    assert!(alive.is_err(), "node-A (pid {pid}) still runs");
}
