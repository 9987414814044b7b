//! A real qrl-node for tests, installed and started with the repository's harness in
//! `scripts/qrl-node/`, on free loopback ports in a temporary directory, and stopped when
//! dropped. Shared with `crates/emsd/tests/` by `#[path]`.
//!
//! Tests that use it do not skip when the node cannot be installed or started: they fail saying
//! what to run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The harness: `<workspace>/scripts/qrl-node`.
pub fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/qrl-node")
}

/// The Python of the virtualenv `install.sh` fills: `$EMS_QRL_NODE_VENV`, by default
/// `~/.cache/ems/qrl-node-venv` (as in `scripts/qrl-node/common.sh`).
fn venv_python() -> PathBuf {
    let venv = std::env::var_os("EMS_QRL_NODE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            Path::new(&home).join(".cache/ems/qrl-node-venv")
        });
    venv.join("bin/python")
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{what} failed ({}).\nstdout: {}\nstderr: {}\n\
             The QRL node tests need the real node: run {}/install.sh (see README.md there).",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            scripts().display()
        );
    }
    output
}

/// A free TCP port on loopback (free when asked; the node binds it moments later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// What `publish_lattice.py` reports.
#[derive(Debug, serde::Deserialize)]
pub struct Published {
    /// `Q…` of the miner's address, which signed the transaction.
    pub address: String,
    /// Transaction hash, hex.
    pub tx_hash: String,
    /// The block it was mined in.
    pub block: u64,
}

/// A running qrl-node; stopped on drop.
pub struct QrlNode {
    running: bool,
    api_port: u16,
    p2p_port: u16,
    dir: tempfile::TempDir,
}

impl QrlNode {
    /// Installs the node if needed (instant when cached) and starts an isolated single-node
    /// testnet mining about a block a second.
    pub fn start() -> QrlNode {
        run(
            Command::new("bash").arg(scripts().join("install.sh")),
            "installing the QRL node",
        );
        let mut node = QrlNode {
            running: false,
            api_port: free_port(),
            p2p_port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        run(
            Command::new("bash")
                .arg(scripts().join("start.sh"))
                .arg(self.dir.path())
                .arg(self.api_port.to_string())
                .arg(self.p2p_port.to_string()),
            "starting the QRL node",
        );
        self.running = true;
    }

    /// `qrl://127.0.0.1:PORT` of the node's public API.
    pub fn endpoint(&self) -> String {
        format!("qrl://127.0.0.1:{}", self.api_port)
    }

    /// The node's height, asked with the scripts' `height.py`.
    pub fn height(&self) -> u64 {
        let output = run(
            Command::new(venv_python())
                .arg(scripts().join("height.py"))
                .arg(format!("127.0.0.1:{}", self.api_port)),
            "asking the QRL node's height",
        );
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .expect("height.py prints a number")
    }

    /// Publishes a lattice transaction with `pk3` from the miner's address and waits until it is
    /// mined.
    pub fn publish_lattice(&self, pk3: &[u8]) -> Published {
        let output = run(
            Command::new(venv_python())
                .arg(scripts().join("publish_lattice.py"))
                .arg(format!("127.0.0.1:{}", self.api_port))
                .arg("--pk3")
                .arg(hex::encode(pk3)),
            "publishing a lattice transaction",
        );
        serde_json::from_slice(&output.stdout).expect("publish_lattice.py prints JSON")
    }

    /// Stops the node (`stop.sh`: SIGTERM, then SIGKILL if it lingers) and waits until it is gone.
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            run(&mut self.stop_command(), "stopping the QRL node");
        }
    }

    fn stop_command(&self) -> Command {
        let mut command = Command::new("bash");
        command.arg(scripts().join("stop.sh")).arg(self.dir.path());
        command
    }

    /// Starts the stopped node again on the same ports and data.
    pub fn restart(&mut self) {
        assert!(!self.running, "restart() needs a stopped node");
        self.launch();
    }
}

impl Drop for QrlNode {
    /// Stops the node without panicking (drop may run while a failed test unwinds).
    fn drop(&mut self) {
        if std::mem::take(&mut self.running) {
            if let Err(e) = self.stop_command().output() {
                eprintln!(
                    "could not stop the QRL node in {}: {e}",
                    self.dir.path().display()
                );
            }
        }
    }
}
