//! What the C and Go tests share: where `libems` was built, and compiling a C file against it.
#![allow(dead_code)] // each test uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../../../tests/support/workspace_build.rs"]
mod workspace_build;

/// This crate's directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding `libems.so` and `libems.a`: `deps/` of this profile, where this test
/// build compiled the library with every crate type it declares. (Only `cargo build` copies them
/// up into the profile directory; `cargo test` does not.)
pub fn lib_dir() -> PathBuf {
    let dir = workspace_build::profile_dir().join("deps");
    for wanted in ["libems.so", "libems.a"] {
        assert!(
            dir.join(wanted).exists(),
            "{wanted} not found in {}",
            dir.display()
        );
    }
    dir
}

/// Compiles `source` with the system C compiler into `exe`, linked against `libems.so`.
pub fn cc(source: &Path, exe: &Path) {
    let lib = lib_dir();
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(source)
        .arg("-o")
        .arg(exe)
        .arg("-L")
        .arg(&lib)
        .args(["-lems", "-lpthread", "-ldl", "-lm"])
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .expect("the system C compiler (cc) runs");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `go` command (Debian installs it at /usr/lib/go/bin when not on PATH).
pub fn go() -> PathBuf {
    for candidate in ["go", "/usr/lib/go/bin/go"] {
        if Command::new(candidate).arg("version").output().is_ok() {
            return candidate.into();
        }
    }
    panic!("Go is not installed: run scripts/install-embedding-tools.sh");
}

/// The `emsd` binary of this build (cargo puts binaries in the profile directory).
pub fn emsd() -> PathBuf {
    workspace_build::binary("emsd")
}

/// A separate `emsd run` on loopback, killed on drop.
pub struct Emsd {
    child: std::process::Child,
    /// Its first p2p listen address, with `/p2p/<peer id>`.
    pub p2p: String,
    /// Its API base URL.
    pub api: String,
    log: PathBuf,
}

impl Emsd {
    /// Starts emsd in `dir` on network `network` with a static chain of one block and cheap
    /// proof of work, and waits for its `node.json`.
    pub fn start(dir: &Path, network: &str, block: (u64, [u8; 4], u64)) -> Emsd {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("emsd.toml");
        std::fs::write(
            &config,
            format!(
                "network = \"{network}\"\n[chain]\nsource = \"static\"\n\
                 static = {{ blocks = [{{ height = {}, prefix = \"{}\", time = {} }}] }}\n\
                 [pow.sha256]\nmin_work = 2000\nsize_factor = 0\nttl_factor = 0\n",
                block.0,
                hex::encode(block.1),
                block.2
            ),
        )
        .unwrap();
        let log = dir.join("emsd.log");
        let data = dir.join("data");
        let child = Command::new(emsd())
            .arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("emsd starts");
        let mut emsd = Emsd {
            child,
            p2p: String::new(),
            api: String::new(),
            log,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = emsd.child.try_wait() {
                panic!("emsd exited with {status}:\n{}", emsd.log_text());
            }
            let info = std::fs::read(data.join("node.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .filter(|v| v["pid"] == emsd.child.id());
            if let Some(info) = info {
                emsd.p2p = info["listen_addrs"][0].as_str().unwrap().to_string();
                emsd.api = info["api"].as_str().unwrap().to_string();
                return emsd;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "emsd wrote no node.json:\n{}",
                emsd.log_text()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// What emsd logged.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Emsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
