//! The workspace's test build, made current once per test process, for tests that run the
//! workspace's binaries or link its libraries (`emsd`, `ems`, `libems`).
//!
//! Included with `#[path]` by the test supports of `ems-client` and `ems-ffi`, so there is one
//! copy of this rule: run the command `scripts/test.sh` builds with,
//! `cargo test --workspace --all-targets --no-run`. Inside the suite it compiles nothing; run
//! alone (`cargo test -p ems-ffi`) it builds `emsd` and `ems` too. Any other cargo command would
//! resolve another feature set, compile much of the tree a second time and overwrite
//! `deps/libems.*`, whose names carry no hash.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The profile directory (`target/<profile>`) of this test executable, once the workspace's
/// test build is current. The first caller builds; the other threads wait for it.
pub fn profile_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        // target/<profile>/deps/<test> → target/<profile>
        let exe = std::env::current_exe().expect("test executable path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut command = Command::new(cargo);
        command.args([
            "test",
            "--workspace",
            "--all-targets",
            "--no-run",
            "--quiet",
        ]);
        if dir.file_name().is_some_and(|name| name == "release") {
            command.arg("--release");
        }
        let status = command.status().expect("cargo runs");
        assert!(status.success(), "cargo test --workspace --no-run failed");
        dir
    })
}

/// The binary `name` of this build, which must exist.
pub fn binary(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(path.exists(), "{name} not found at {}", path.display());
    path
}
