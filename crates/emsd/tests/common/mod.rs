//! Shared by the end-to-end tests: real `emsd` processes in temporary directories, a small
//! HTTP helper, and frame builders.
#![allow(dead_code)] // each test file uses a different part

use ems_core::{Message, Policy};
use emsd::run::NodeInfo;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a node may take to start on a loaded machine.
pub const START: Duration = Duration::from_secs(60);

/// `--set` arguments that make proof of work trivial (one expected try), so tests can submit
/// thousands of frames; validation still checks every proof hash.
pub const CHEAP_POW: &[&str] = &[
    "--set",
    "pow.sha256.min_work=1",
    "--set",
    "pow.sha256.size_factor=0",
    "--set",
    "pow.sha256.ttl_factor=0",
];
/// `--set` arguments that lift the API rate limit, for tests that send many requests.
pub const NO_RATE_LIMIT: &[&str] = &[
    "--set",
    "api.rate_limit=1000000",
    "--set",
    "api.rate_burst=1000000",
];

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A running `emsd run`; killed (SIGKILL) on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub info: NodeInfo,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `emsd run` on loopback in `data_dir` with `extra` arguments and waits for its
    /// `node.json`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Daemon {
        let log = data_dir.with_extension(format!("{}.log", unix_now_nanos()));
        std::fs::create_dir_all(data_dir).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_emsd"))
            .arg("run")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("emsd starts");
        let mut daemon = Daemon {
            info: NodeInfo {
                peer_id: String::new(),
                listen_addrs: Vec::new(),
                api: String::new(),
                pid: child.id(),
            },
            child,
            data_dir: data_dir.to_owned(),
            log,
        };
        let deadline = Instant::now() + START;
        loop {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!(
                    "emsd exited with {status} before listening:\n{}",
                    daemon.log_text()
                );
            }
            if let Ok(info) =
                NodeInfo::wait(data_dir, daemon.child.id(), Duration::from_millis(100))
            {
                daemon.info = info;
                return daemon;
            }
            assert!(
                Instant::now() < deadline,
                "emsd did not write node.json:\n{}",
                daemon.log_text()
            );
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.info.api)
    }

    pub fn bootstrap_addr(&self) -> String {
        self.info
            .listen_addrs
            .first()
            .expect("a listen address")
            .clone()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal)
            .unwrap();
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "emsd did not exit within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `/v1/status` reports at least `n` peers.
    pub fn wait_peers(&self, n: u64, within: Duration) {
        wait_until(within, &format!("{n} peers at {}", self.info.api), || {
            let (status, body) = get(&self.url("/v1/status"), None);
            status == 200 && json(&body)["peers"].as_u64().unwrap_or(0) >= n
        });
    }

    /// The chain head's blockhash and the node's policy.
    pub fn head(&self) -> ([u8; 4], Policy) {
        let (status, body) = get(&self.url("/v1/chain/head"), None);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let v = json(&body);
        let mut prefix = [0u8; 4];
        hex::decode_to_slice(v["blockhash"].as_str().unwrap(), &mut prefix).unwrap();
        (prefix, serde_json::from_value(v["policy"].clone()).unwrap())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn unix_now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

pub fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Vec<u8>) {
    let mut response = response.expect("the node answers");
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_vec()
        .unwrap();
    (status, body)
}

/// `GET url`, with a bearer token if given: status and body.
pub fn get(url: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = agent().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    finish(request.call())
}

/// `POST url` with `body`: status and body.
pub fn post(url: &str, body: &[u8], token: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = agent()
        .post(url)
        .header("content-type", "application/octet-stream");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    finish(request.send(body))
}

/// `POST url` with `body`; `None` when the node does not answer (it is stopping).
pub fn try_post(url: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut response = agent().post(url).send(body).ok()?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_vec().ok()?;
    Some((status, body))
}

pub fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// The error code of an API error body.
pub fn code(body: &[u8]) -> String {
    let v = json(body);
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "no message: {v}"
    );
    v["error"]["code"]
        .as_str()
        .expect("an error code")
        .to_string()
}

/// A mined frame with tag `tag`, a random nonce, `payload`, and `ttl`, bound to `blockhash`.
pub fn frame(
    tag: [u8; 32],
    payload: &[u8],
    ttl: u64,
    blockhash: [u8; 4],
    policy: &Policy,
) -> Message {
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&tag);
    id[32..].copy_from_slice(&rand::random::<[u8; 32]>());
    let mut msg = Message::new(id, payload.to_vec(), ttl as u32, blockhash).unwrap();
    msg.mine(policy, ems_pow::Algorithm::Sha256, unix_now());
    msg
}

/// A temporary directory for one test's nodes.
pub fn temp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("emsd-test-")
        .tempdir()
        .unwrap()
}
