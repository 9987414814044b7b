//! Opening a channel by QRL address against a real `qrl-node` (the isolated testnet of
//! `../shared/qrl-node`): an address with no commitment, an announced bundle the address did not
//! commit to, and the committed one.

mod client_common;

use client_common::{check_one_line_error, texts, Node, User};
use std::path::PathBuf;
use std::process::Command;

/// The address of the mocknet key `publish_lattice.py` signs with.
const MOCKNET_ADDRESS: &str =
    "Q01050058bb3f8cb66fd90d0347478e5bdf3a475e82cfc5fe5dc276500ca21531e6edaf3d2d0f7e";

fn shared() -> PathBuf {
    std::env::var_os("EMS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

fn python() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/ems/qrl-node-venv/bin/python")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real qrl-node, killed when dropped.
struct QrlNode {
    pid: i32,
    api: String,
    _dir: tempfile::TempDir,
}

impl QrlNode {
    fn start() -> QrlNode {
        let dir = tempfile::tempdir().unwrap();
        let (api, p2p) = (free_port(), free_port());
        let out = Command::new(shared().join("qrl-node/start.sh"))
            .arg(dir.path().join("qrl"))
            .args([api.to_string(), p2p.to_string()])
            .output()
            .expect("start.sh runs (scripts/test.sh installs the QRL node)");
        assert!(
            out.status.success(),
            "qrl-node did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("start.sh prints the PID");
        QrlNode {
            pid,
            api: format!("127.0.0.1:{api}"),
            _dir: dir,
        }
    }

    /// Publishes a lattice transaction with `pk3` from the mocknet address and waits until mined.
    fn publish_pk3(&self, pk3: &str) {
        let out = Command::new(python())
            .arg(shared().join("qrl-node/publish_lattice.py"))
            .args([&self.api, "--pk3", pk3])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "publish_lattice failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["address"], MOCKNET_ADDRESS);
    }
}

impl Drop for QrlNode {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
    }
}

fn commitment(user: &User) -> String {
    let out = user.ems_ok(&["keys", "show", user.bundle().to_str().unwrap()]);
    out.lines()
        .find_map(|l| l.trim().strip_prefix("pk3"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn opening_by_address_accepts_only_the_bundle_committed_on_chain() {
    let qrl = QrlNode::start();
    let node = Node::start(&[]);
    let chain = format!("qrl://{}", qrl.api);
    let alice = User::new(&node.api, &[]);
    let bob = User::new(&node.api, &["--qrl-address", MOCKNET_ADDRESS]);
    let other = User::new(&node.api, &["--qrl-address", MOCKNET_ADDRESS]);
    let open = |to: &str| alice.ems_keys(&["channel", "open", "--chain", &chain, "--to", to]);

    // An address that never published a lattice transaction, and Bob's before he commits.
    let nobody = format!("Q{}", "02".repeat(39));
    check_one_line_error(
        &open(&nobody),
        &format!("address {nobody} has published no EMS key commitment"),
    );
    check_one_line_error(
        &open(MOCKNET_ADDRESS),
        "has published no EMS key commitment",
    );

    // The address commits to another bundle, which nobody announced.
    qrl.publish_pk3(&commitment(&other));
    check_one_line_error(&open(MOCKNET_ADDRESS), "no valid key announcement");
    // Bob announces a bundle the address did not commit to.
    bob.ems_keys_ok(&["keys", "announce"]);
    check_one_line_error(&open(MOCKNET_ADDRESS), "is not committed on chain");
    // A bundle handed over directly is checked against the chain too.
    check_one_line_error(
        &open(bob.bundle().to_str().unwrap()),
        "no on-chain commitment matches",
    );

    // Bob's address commits to his bundle: now it resolves, and the channel works.
    qrl.publish_pk3(&commitment(&bob));
    let out = client_common::check_ok(&["channel", "open"], open(MOCKNET_ADDRESS));
    assert!(out.contains("committed on chain"), "{out}");
    alice.ems_keys_ok(&[
        "send",
        "--channel",
        &MOCKNET_ADDRESS[..13],
        "hello by address",
    ]);
    let events = bob.recv_until("Bob to read it", |e| !texts(e).is_empty());
    assert_eq!(texts(&events), ["hello by address"]);
}
