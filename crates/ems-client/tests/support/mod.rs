//! What the client end-to-end tests share: real `emsd` processes on loopback with cheap proof of
//! work, the real `ems` binary, and polling with a deadline.

#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../../../../tests/support/workspace_build.rs"]
mod workspace_build;

/// The `ems` binary of this build. `emsd` depends on this crate, so it cannot be a
/// dev-dependency (a cycle) and cargo does not build it for these tests: the workspace's test
/// build does ([`workspace_build`]). Both binaries are taken from its profile directory, so a
/// test never runs an `ems` that this build is replacing.
pub fn ems() -> PathBuf {
    workspace_build::binary("ems")
}

/// The `emsd` binary of this build.
pub fn emsd() -> PathBuf {
    workspace_build::binary("emsd")
}

/// How long any one condition may take on a loaded two-core machine.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Proof-of-work parameters cheap enough that a maximal frame mines in milliseconds.
pub const CHEAP_POW: &[&str] = &[
    "--set",
    "pow.sha256.min_work=1000",
    "--set",
    "pow.sha256.size_factor=1",
    "--set",
    "pow.sha256.ttl_factor=1",
];

/// Polls `f` every 100 ms until it returns `Some`, panicking with `what` at the deadline.
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running `emsd`, killed (and its data removed) when dropped.
pub struct Node {
    child: Child,
    /// The API base URL.
    pub api: String,
    /// A p2p address with `/p2p/<peer id>`.
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Node {
    /// Starts a node dialling `bootstrap`, and waits until it has written `node.json`.
    pub fn start(bootstrap: &[&Node]) -> Node {
        Node::start_with(bootstrap, &[])
    }

    /// [`Node::start`] with `extra` arguments to `emsd run` (a later `--set` overrides
    /// [`CHEAP_POW`]).
    pub fn start_with(bootstrap: &[&Node], extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log = std::fs::File::create(dir.path().join("emsd.log")).unwrap();
        let mut command = Command::new(emsd());
        command
            .args(["run", "--data-dir"])
            .arg(&data)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
            .args(CHEAP_POW)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        for peer in bootstrap {
            command.args(["--bootstrap", &peer.addr]);
        }
        let mut child = command.spawn().expect("emsd starts");
        let info: serde_json::Value = wait_for("emsd to write node.json", || {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("emsd.log")).unwrap_or_default();
                panic!("emsd exited with {status}: {log}");
            }
            let text = std::fs::read_to_string(data.join("node.json")).ok()?;
            serde_json::from_str(&text).ok()
        });
        Node {
            child,
            api: info["api"]
                .as_str()
                .expect("node.json has api")
                .trim_end_matches('/')
                .to_string(),
            addr: info["listen_addrs"][0]
                .as_str()
                .expect("node.json has a listen address")
                .to_string(),
            dir,
        }
    }

    /// The node's `/v1/status`.
    pub fn status(&self) -> serde_json::Value {
        let body = ureq::get(format!("{}/v1/status", self.api))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    /// Waits until the node has at least `n` peers.
    pub fn wait_for_peers(&self, n: u64) {
        wait_for("peers to connect", || {
            (self.status()["peers"].as_u64()? >= n).then_some(())
        });
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("emsd.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A user: a key file in a temporary directory and the node they use.
pub struct User {
    /// The directory holding the key file and its state.
    pub dir: tempfile::TempDir,
    /// The key file.
    pub keys: PathBuf,
    /// The node's API URL.
    pub node: String,
    /// Extra environment (a passphrase).
    pub env: Vec<(String, String)>,
}

impl User {
    /// Generates a key file for a user of `node` (`extra` goes to `ems keygen`).
    pub fn new(node: &str, extra: &[&str]) -> User {
        User::with_env(node, extra, &[])
    }

    /// [`User::new`] with environment variables set for every `ems` run (a passphrase).
    pub fn with_env(node: &str, extra: &[&str], env: &[(&str, &str)]) -> User {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("user.key");
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let user = User {
            dir,
            keys,
            node: node.to_string(),
            env,
        };
        let out = user.ems_ok(&[&["keygen", "--out", user.keys.to_str().unwrap()], extra].concat());
        assert!(out.contains("fingerprint"), "{out}");
        user
    }

    /// The public bundle file.
    pub fn bundle(&self) -> PathBuf {
        let mut path = self.keys.clone().into_os_string();
        path.push(".bundle");
        path.into()
    }

    /// Runs `ems ARGS`, adding `--keys` (and `--node`) where the command takes them.
    pub fn ems(&self, args: &[&str]) -> Output {
        self.ems_stdin(args, None)
    }

    /// Runs `ems ARGS` with `stdin` on its standard input (none if `None`).
    pub fn ems_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut command = Command::new(ems());
        command
            .args(args)
            .env("EMS_NODE", &self.node)
            .env("EMS_QUIET", "true")
            // Accepts leave at once: the tests that need the random delay set it themselves.
            .env("EMS_ACCEPT_DELAY", "0")
            .env_remove("EMS_ACCEPT")
            .env_remove("EMS_CHAIN")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("ems runs");
        if let Some(bytes) = stdin {
            // ems may exit before reading all of it (a refusal): a broken pipe is no failure.
            let _ = child.stdin.take().expect("piped stdin").write_all(bytes);
        }
        child.wait_with_output().expect("ems runs")
    }

    /// Runs `ems ARGS --keys KEYFILE`.
    pub fn ems_keys(&self, args: &[&str]) -> Output {
        self.ems(&[args, &["--keys", self.keys.to_str().unwrap()]].concat())
    }

    /// Runs `ems ARGS`, which must succeed; returns stdout.
    pub fn ems_ok(&self, args: &[&str]) -> String {
        check_ok(args, self.ems(args))
    }

    /// Runs `ems ARGS --keys KEYFILE`, which must succeed; returns stdout.
    pub fn ems_keys_ok(&self, args: &[&str]) -> String {
        check_ok(args, self.ems_keys(args))
    }

    /// Opens a channel named `name` to `to`'s bundle file; returns stdout.
    pub fn open_channel(&self, to: &User, name: &str) -> String {
        let bundle = to.bundle();
        self.ems_keys_ok(&[
            "channel",
            "open",
            "--to",
            bundle.to_str().unwrap(),
            "--name",
            name,
        ])
    }

    /// Opens channel `name` to `to` and runs both clients until the channel's keys are ready on
    /// both sides: `to` accepts, this side sees the accept and rekeys to `to`'s fresh ratchet
    /// key, `to` follows and rekeys in turn. From then on a send goes out at once.
    pub fn open_ready_channel(&self, to: &User, name: &str) -> String {
        let out = self.open_channel(to, name);
        self.establish(to);
        out
    }

    /// Runs this user's client and `to`'s until the channel this user just opened to `to` is
    /// ready on both sides (see [`User::open_ready_channel`]).
    pub fn establish(&self, to: &User) {
        let has = |event: &'static str| {
            move |e: &[serde_json::Value]| e.iter().any(|e| e["event"] == event)
        };
        to.recv_until("the peer to accept", has("opened"));
        self.recv_until("the accept", has("accepted"));
        to.recv_until("the opener's first rekey", has("rekeyed"));
        self.recv_until("the peer's first rekey", has("rekeyed"));
    }

    /// The JSON events of one `ems recv --json`.
    pub fn recv(&self) -> Vec<serde_json::Value> {
        self.ems_keys_ok(&["recv", "--json"])
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
            .collect()
    }

    /// Runs `ems recv` until the events seen so far satisfy `done`; returns all of them.
    pub fn recv_until(
        &self,
        what: &str,
        done: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        wait_for(what, || {
            events.extend(self.recv());
            done(&events).then_some(())
        });
        events
    }

    /// The state directory beside the key file.
    pub fn state_dir(&self) -> PathBuf {
        let mut path = self.keys.clone().into_os_string();
        path.push(".d");
        path.into()
    }
}

/// Asserts `out` succeeded; returns its stdout.
pub fn check_ok(args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "ems {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Asserts `out` failed with exactly one line on stderr containing `needle`.
pub fn check_one_line_error(out: &Output, needle: &str) {
    assert!(
        !out.status.success(),
        "expected failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        lines[0].contains(needle),
        "expected {needle:?} in: {stderr}"
    );
}

/// Runs `ems ARGS --keys …` as `user` with `EMS_CLIENT_FAULT=fault`.
pub fn run_faulted(user: &User, args: &[&str], fault: &str) -> Output {
    let mut command = Command::new(ems());
    command
        .args(args)
        .args(["--keys", user.keys.to_str().unwrap()])
        .env("EMS_NODE", &user.node)
        .env("EMS_QUIET", "true")
        .env("EMS_CLIENT_FAULT", fault)
        .env_remove("EMS_CHAIN")
        .stdin(Stdio::null());
    for (key, value) in &user.env {
        command.env(key, value);
    }
    command.output().expect("ems runs")
}

/// Runs the command with the fault, which must kill it.
pub fn crash(user: &User, args: &[&str], fault: &str) {
    let out = run_faulted(user, args, fault);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(libc_sigabrt()),
        "ems {args:?} with {fault} did not crash: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// SIGABRT, which `std::process::abort` raises.
pub fn libc_sigabrt() -> i32 {
    6
}

/// A child process, killed and reaped when dropped (also when a test fails).
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with stdout piped; returns it (killed when dropped) and its stdout's
/// lines as they come.
pub fn spawn_lines(command: &mut Command) -> (Kill, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = command.stdout(Stdio::piped()).spawn().expect("ems runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    (Kill(child), rx)
}

/// The texts of the `message` events, in order.
pub fn texts(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

/// Every file under `dir` with its bytes, for checking that a failed command changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "lock") {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}
