//! `emsd demo` runs a small network end to end and exits 0.

use std::process::Command;

#[test]
fn demo_with_three_nodes_succeeds_and_says_what_it_proved() {
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
    assert!(stdout.contains("What this proved"), "{stdout}");
    assert!(stdout.contains("node-C serves it"), "{stdout}");
    assert!(
        stdout.contains("WebSocket subscriber received it"),
        "{stdout}"
    );
    assert!(stdout.contains("All 3 exited with status 0"), "{stdout}");
}

#[test]
fn demo_refuses_a_single_node_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args(["demo", "--nodes", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
