//! Records the git commit the binaries are built from in `EMS_GIT_COMMIT` (`--version` prints
//! it): `git rev-parse HEAD`, or `unknown` outside a git checkout (a source tarball) or without
//! git. Reruns when HEAD or the branch it points to moves. `emsd` prints
//! `ems_client::VERSION` too, so `ems --version` and `emsd --version` agree.

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    println!(
        "cargo:rustc-env=EMS_GIT_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
    // The files whose change means another commit: HEAD, the branch ref, packed refs (only
    // those that exist: a missing one would rerun this script on every build).
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        let path = git(&["rev-parse", "--path-format=absolute", "--git-path", name]);
        if let Some(path) = path.filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
