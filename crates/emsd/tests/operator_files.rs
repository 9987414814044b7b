//! What operators get around the daemon, exercised so it cannot drift: the example config
//! (`contrib/emsd.toml`) loaded by `emsd` itself, the systemd unit (`contrib/emsd.service`),
//! `--version` with the git commit, shell completions and man pages (of `emsd` and `ems`
//! together, in `crates/ems-client/tests/cli_files.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(binary: &str, args: &[&str]) -> Output {
    let out = Command::new(binary).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{binary} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(binary: &str, args: &[&str]) -> String {
    String::from_utf8(run(binary, args).stdout).unwrap()
}

const EMSD: &str = env!("CARGO_BIN_EXE_emsd");

#[test]
fn emsd_loads_the_example_config_as_the_defaults() {
    let example = repository().join("contrib/emsd.toml");
    let example = example.to_str().unwrap();
    // data_dir defaults to a per-user path; pin it so both runs print the same.
    let defaults = stdout(EMSD, &["config", "--data-dir", "/var/lib/emsd"]);
    let loaded = stdout(
        EMSD,
        &["config", "--config", example, "--data-dir", "/var/lib/emsd"],
    );
    assert_eq!(
        loaded, defaults,
        "contrib/emsd.toml differs from the defaults"
    );

    // (The unit test
    // `config::tests::precedence::the_example_config_is_the_defaults_and_names_every_key`
    // checks that the file names every key.)
    let text = std::fs::read_to_string(example).unwrap();
    // A key emsd does not know is refused by name, so the file is really read.
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, format!("{text}\n[extra]\nkey = 1\n")).unwrap();
    let out = Command::new(EMSD)
        .args(["config", "--config", wrong.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("extra"));
}

/// `[Section] Key=Value` lines of a unit file; a key given twice keeps every value.
fn unit_directives(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut section = String::new();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else {
            let (key, value) = line.split_once('=').expect("Key=Value");
            out.entry(format!("{section}.{key}"))
                .or_default()
                .push(value.to_string());
        }
    }
    out
}

#[test]
fn the_unit_file_is_hardened_and_waits_for_the_drain() {
    let path = repository().join("contrib/emsd.service");
    let text = std::fs::read_to_string(&path).unwrap();
    let unit = unit_directives(&text);
    let one = |key: &str| -> &str {
        match unit.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key}: expected one value, found {other:?}"),
        }
    };
    for (key, value) in [
        ("Service.DynamicUser", "yes"),
        ("Service.User", "emsd"),
        ("Service.NoNewPrivileges", "yes"),
        ("Service.ProtectSystem", "strict"),
        ("Service.ProtectHome", "yes"),
        ("Service.PrivateTmp", "yes"),
        ("Service.StateDirectory", "emsd"),
        ("Service.CapabilityBoundingSet", ""),
        ("Service.Restart", "on-failure"),
        ("Service.RestartPreventExitStatus", "2"),
        ("Service.KillSignal", "SIGTERM"),
        ("Install.WantedBy", "multi-user.target"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    // systemd kills what is still running at TimeoutStopSec: the drain plus 20 s for the store.
    let stop: u64 = one("Service.TimeoutStopSec").parse().unwrap();
    assert_eq!(stop, emsd::run::DRAIN.as_secs() + 20);

    // ExecStart's arguments are ones emsd accepts, with the example config.
    let exec = one("Service.ExecStart");
    let args: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(args[..2], ["/usr/local/bin/emsd", "run"]);
    let example = repository().join("contrib/emsd.toml");
    let mut check: Vec<String> = vec!["config".into()];
    for arg in &args[2..] {
        check.push(match *arg {
            "/etc/emsd/emsd.toml" => example.to_str().unwrap().into(),
            "${STATE_DIRECTORY}" => "/var/lib/emsd".into(),
            other => other.into(),
        });
    }
    let check: Vec<&str> = check.iter().map(String::as_str).collect();
    assert!(stdout(EMSD, &check).contains("data_dir = \"/var/lib/emsd\""));

    // systemd's own checker, where systemd is installed (with ExecStart pointing at this build).
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("systemd-analyze is not installed: checked the directives above only");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("emsd.service");
    std::fs::write(&copy, text.replace("/usr/local/bin/emsd", EMSD)).unwrap();
    let out = Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("emsd.service"))
        .map(String::from)
        .collect();
    assert!(
        out.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {}\n{complaints:#?}",
        out.status
    );
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
