//! The files operators and users get from the two binaries, exercised so they cannot drift:
//! `--version` with the git commit (the same for `emsd` and `ems`: one `VERSION`), shell
//! completions and man pages.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{ems, emsd};

fn run(binary: &Path, args: &[&str]) -> Output {
    let out = Command::new(binary).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}\n{}",
        binary.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(binary: &Path, args: &[&str]) -> String {
    String::from_utf8(run(binary, args).stdout).unwrap()
}

#[test]
fn version_names_the_git_commit_built_from() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".into(), |o| {
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        });
    let emsd = emsd();
    let ems = ems();
    for (binary, name) in [(emsd.as_path(), "emsd"), (ems.as_path(), "ems")] {
        let expected = format!("{name} {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
        assert_eq!(stdout(binary, &["--version"]), expected);
    }
}

#[test]
fn completions_for_each_shell_name_the_subcommands() {
    let emsd = emsd();
    let ems = ems();
    for (binary, name, subcommand) in [
        (emsd.as_path(), "emsd", "demo"),
        (ems.as_path(), "ems", "keygen"),
    ] {
        for shell in ["bash", "zsh", "fish"] {
            let script = stdout(binary, &["completions", shell]);
            assert!(script.contains(subcommand), "{name} {shell}: {script}");
        }
        // The bash script loads and registers a completion for the command.
        let script = stdout(binary, &["completions", "bash"]);
        let out = Command::new("bash")
            .args(["-c", &format!("{script}\ncomplete -p {name}")])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(name));
        // An unknown shell is a usage error.
        let out = Command::new(binary)
            .args(["completions", "cmd.exe"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
    }
}

#[test]
fn man_pages_are_generated_for_every_command() {
    let emsd = emsd();
    let ems = ems();
    for (binary, name, subcommand) in [
        (emsd.as_path(), "emsd", "run"),
        (ems.as_path(), "ems", "send"),
    ] {
        let page = stdout(binary, &["man"]);
        assert!(page.contains(&format!("\n.TH {name} 1 ")), "{page}");
        assert!(page.contains(".SH NAME") && page.contains(subcommand));
        let dir = tempfile::tempdir().unwrap();
        run(binary, &["man", "--dir", dir.path().to_str().unwrap()]);
        let sub =
            std::fs::read_to_string(dir.path().join(format!("{name}-{subcommand}.1"))).unwrap();
        assert!(
            sub.contains(&format!("\n.TH {name}-{subcommand} 1 ")),
            "{sub}"
        );
    }
}
