//! `emsd demo` tells the two-user story with the client's code and it holds: a channel opens
//! across relays, messages go both ways and across a rekey, and the third user reads nothing.

use std::process::Command;

#[test]
fn the_demo_shows_alice_and_bob_talking_and_carol_reading_nothing() {
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
        "Alice uses node-A, Bob node-C, Carol node-B",
        "publish: Bob announced his bundle",
        "lookup: Alice found Bob's bundle",
        "accept: Bob trial-decapsulated the open at node-C",
        r#"Alice → Bob in"#,
        r#"["Hi Bob, this is Alice.", "Nobody else can read this."]"#,
        r#"["Hi Alice, signed by Bob."] (ML-DSA signature verified)"#,
        "(Bob followed to epoch 1); Bob read [\"This one uses keys from after the rekey.\"]",
        "none was for her) and read 0 messages",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
