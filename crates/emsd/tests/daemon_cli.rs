//! The `emsd` command line as an operator meets it: `emsd config`, exit codes, the token rule.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Output};

fn emsd(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args(args)
        .env("HOME", "/tmp/emsd-cli-home")
        .env_remove("XDG_DATA_HOME")
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn effective(out: &Output) -> toml::Table {
    assert!(out.status.success(), "{}", stderr(out));
    String::from_utf8_lossy(&out.stdout).parse().unwrap()
}

#[test]
fn config_prints_the_defaults_with_the_xdg_data_dir() {
    let t = effective(&emsd(&["config"]));
    assert_eq!(t["network"].as_str(), Some("devnet"));
    assert_eq!(
        t["data_dir"].as_str(),
        Some("/tmp/emsd-cli-home/.local/share/emsd")
    );
    assert_eq!(t["api"]["addr"].as_str(), Some("127.0.0.1:19101"));
    assert_eq!(t["chain"]["source"].as_str(), Some("devnet"));
    assert_eq!(t["policy"]["block_depth"].as_integer(), Some(30));
}

#[test]
fn flags_win_over_set_which_wins_over_the_file_which_wins_over_defaults() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(
        file,
        "network = \"file\"\n[policy]\nmax_ttl = 600\nblock_depth = 7\n[store]\nenabled = true"
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let t = effective(&emsd(&[
        "config",
        "--config",
        path,
        "--set",
        "network=set",
        "--set",
        "policy.max_ttl=700",
        "--network",
        "flag",
        "--no-store",
    ]));
    assert_eq!(
        t["network"].as_str(),
        Some("flag"),
        "flag over --set over file"
    );
    assert_eq!(
        t["policy"]["max_ttl"].as_integer(),
        Some(700),
        "--set over file"
    );
    assert_eq!(
        t["policy"]["block_depth"].as_integer(),
        Some(7),
        "file over default"
    );
    assert_eq!(t["policy"]["clock_skew"].as_integer(), Some(60), "default");
    assert_eq!(
        t["store"]["enabled"].as_bool(),
        Some(false),
        "--no-store over file"
    );
}

#[test]
fn a_bad_key_or_value_exits_2_naming_the_key() {
    for (args, key) in [
        (
            vec!["config", "--set", "policy.block_depth=0"],
            "policy.block_depth",
        ),
        (
            vec!["config", "--set", "policy.max_tll=5"],
            "policy.max_tll",
        ),
        (
            vec!["config", "--set", "store.max_bytes=lots"],
            "store.max_bytes",
        ),
        (
            vec!["run", "--set", "pow.algorithms=[\"md5\"]"],
            "pow.algorithms",
        ),
        (
            vec!["run", "--bootstrap", "/ip4/127.0.0.1/tcp/1"],
            "bootstrap",
        ),
        (vec!["run", "--listen", "not-an-address"], "listen"),
        (vec!["run", "--chain", "ethereum"], "chain.source"),
    ] {
        let out = emsd(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(key),
            "{args:?} must name {key}: {}",
            stderr(&out)
        );
    }
    let out = emsd(&["run", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "an unknown flag is exit 2");
}

#[test]
fn a_non_loopback_api_without_a_token_refuses_to_start() {
    let dir = temp();
    let out = Command::new(env!("CARGO_BIN_EXE_emsd"))
        .args([
            "run",
            "--api",
            "0.0.0.0:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("api.token"), "{}", stderr(&out));
    assert!(!dir.path().join("node.json").exists(), "it did not start");
    // With a token the same configuration is accepted (checked without binding it).
    let ok = emsd(&[
        "config",
        "--api",
        "0.0.0.0:19101",
        "--api-token",
        "0123456789abcdef",
    ]);
    let t = effective(&ok);
    assert_eq!(t["api"]["token"].as_str(), Some("<redacted>"));
}

#[test]
fn with_a_token_every_request_needs_the_bearer_header() {
    let dir = temp();
    let token = "e2e-token-0123456789";
    let a = Daemon::start(&dir.path().join("a"), &["--api-token", token]);
    for path in [
        "/v1/status",
        "/v1/chain/head",
        "/metrics",
        "/v1/messages?limit=1",
    ] {
        let (status, body) = get(&a.url(path), None);
        assert_eq!(
            (status, code(&body).as_str()),
            (401, "unauthorized"),
            "{path} without a token"
        );
        let (status, body) = get(&a.url(path), Some("e2e-token-0123456780"));
        assert_eq!(
            (status, code(&body).as_str()),
            (401, "unauthorized"),
            "{path} with a wrong token"
        );
        assert_eq!(
            get(&a.url(path), Some(token)).0,
            200,
            "{path} with the token"
        );
    }
    let (status, body) = post(&a.url("/v1/messages"), b"x", None);
    assert_eq!((status, code(&body).as_str()), (401, "unauthorized"));
    assert_eq!(post(&a.url("/v1/messages"), b"x", Some(token)).0, 400);
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = temp();
    let mut a = Daemon::start(&dir.path().join("a"), &["--log-format", "json"]);
    a.signal(rustix::process::Signal::TERM);
    assert_eq!(
        a.wait_exit(std::time::Duration::from_secs(60)).code(),
        Some(0)
    );
    let log = a.log_text();
    let lines: Vec<_> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("node listening") && l.contains(&a.info.peer_id)),
        "{log}"
    );
}
