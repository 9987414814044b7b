//! The demo's relays: real `emsd run` processes in one temporary directory, started one by one,
//! stopped with SIGTERM (killed if they hang), the directory removed with them.

use super::{step, DemoError};
use crate::run::NodeInfo;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a node may take to start.
const START: Duration = Duration::from_secs(60);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP: Duration = Duration::from_secs(30);

/// The running nodes and their directory; stopping is idempotent and also happens on drop.
pub struct Cluster {
    dir: Mutex<Option<tempfile::TempDir>>,
    children: Mutex<Vec<(String, Child)>>,
}

/// One node as the demo sees it.
pub(super) struct Relay {
    /// `node-A`, `node-B`, ...
    pub(super) name: String,
    /// What it wrote to `node.json`: API address, peer id, listen addresses.
    pub(super) info: NodeInfo,
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

    pub(super) fn root(&self) -> Result<PathBuf, DemoError> {
        lock(&self.dir)
            .as_ref()
            .map(|d| d.path().to_owned())
            .ok_or_else(|| step("the demo was stopped"))
    }

    /// Starts `emsd run` for node `name`, bootstrapping from `bootstrap`, and waits for its
    /// `node.json`.
    pub(super) fn start(
        &self,
        exe: &Path,
        name: &str,
        bootstrap: Option<&str>,
    ) -> Result<Relay, DemoError> {
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
    /// the directory, and returns each node's name and, unless it exited 0, why not (with
    /// the end of its log).
    pub fn stop(&self) -> Vec<(String, Result<(), String>)> {
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
                let ended = loop {
                    match child.try_wait() {
                        Ok(Some(status)) if status.success() => break Ok(()),
                        Ok(Some(status)) => break Err(format!("it exited with {status}")),
                        Ok(None) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        _ => {
                            let _ = child.kill();
                            let _ = child.wait();
                            break Err(format!(
                                "it was still running after {STOP:?} and was killed"
                            ));
                        }
                    }
                };
                let ended = ended.map_err(|why| {
                    let log = dir.as_ref().map(|d| d.path().join(&name).join("emsd.log"));
                    format!(
                        "{why}; the end of its log:\n{}",
                        log.map(|l| log_tail(&l)).unwrap_or_default()
                    )
                });
                (name, ended)
            })
            .collect();
        if let Some(dir) = dir {
            let _ = dir.close();
        }
        outcome
    }
}

/// The last lines of a node's log, for the error that says why it did not stop cleanly (the
/// temporary directory holding the log is removed right after).
fn log_tail(path: &Path) -> String {
    const LINES: usize = 20;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LINES)..].join("\n")
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
