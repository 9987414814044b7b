//! Values the daemon refuses, each named by its dotted key (or, for a file or `--set` that
//! cannot be read at all, by the file or the argument).

use super::*;

/// The error loading `file` (its text) with `sets` on top of `args` gives.
fn refused(file: Option<&str>, sets: &[&str], args: ConfigArgs) -> ConfigError {
    let f = file.map(text_file);
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match load(f.as_ref().map(|f| f.path()), &sets, args) {
        Ok(c) => panic!("expected refusal of {file:?} {sets:?}, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_values_are_refused_naming_their_key() {
    let cases: &[(&str, &str)] = &[
        ("network=", "network"),
        ("network=a/b", "network"),
        ("api.addr=nonsense", "api.addr"),
        ("api.token=short", "api.token"),
        ("api.rate_limit=0", "api.rate_limit"),
        ("api.rate_limit=-1", "api.rate_limit"),
        ("api.rate_burst=0", "api.rate_burst"),
        ("api.header_timeout=0", "api.header_timeout"),
        ("api.max_connections=0", "api.max_connections"),
        (
            "api.max_connections_per_client=0",
            "api.max_connections_per_client",
        ),
        ("chain.source=ethereum", "chain.source"),
        ("chain.source=qrl://nohost", "chain.source"),
        ("chain.source=qrl://host:0", "chain.source"),
        (
            "chain.devnet.block_interval=0",
            "chain.devnet.block_interval",
        ),
        (
            "chain.devnet.genesis_time=soon",
            "chain.devnet.genesis_time",
        ),
        ("relay.enabled=maybe", "relay.enabled"),
        ("store.max_bytes=10", "store.max_bytes"),
        ("policy.max_ttl=0", "policy.max_ttl"),
        ("policy.block_depth=0", "policy.block_depth"),
        ("policy.clock_skew=7200", "policy.clock_skew"),
        ("pow.algorithms=[]", "pow.algorithms"),
        ("pow.algorithms=[\"md5\"]", "pow.algorithms[0]"),
        ("pow.sha256.min_work=lots", "pow.sha256.min_work"),
        ("policy.max_tll=5", "policy.max_tll"),
        ("nonsense=1", "nonsense"),
        ("listen=[\"not an address\"]", "listen"),
        ("bootstrap=[\"/ip4/127.0.0.1/tcp/1\"]", "bootstrap"),
    ];
    for (set, key) in cases {
        let e = refused(None, &[set], with_data_dir());
        assert_eq!(e.key(), Some(*key), "--set {set}: {e}");
        assert!(
            e.to_string().starts_with(key),
            "--set {set}: message {e} must start with the key"
        );
    }
}

#[test]
fn an_empty_data_dir_is_refused() {
    assert_eq!(
        refused(None, &["data_dir=\"\""], ConfigArgs::default()).key(),
        Some("data_dir")
    );
}

#[test]
fn a_static_prefix_that_is_not_hex_is_refused() {
    let e = refused(
        Some("[chain]\nsource = \"static\"\nstatic.blocks = [{ height = 1, prefix = \"xyz\", time = 0 }]\n"),
        &[],
        ConfigArgs::default(),
    );
    assert_eq!(e.key(), Some("chain.static.blocks"), "{e}");
}

#[test]
fn an_unknown_key_in_the_file_is_named_with_its_path() {
    let e = refused(Some("[policy]\nmax_tll = 5\n"), &[], ConfigArgs::default());
    assert_eq!(e.key(), Some("policy.max_tll"), "{e}");
    assert!(e.to_string().contains("config file"), "{e}");
}

#[test]
fn an_empty_quoted_key_is_named_as_written() {
    // Found by fuzzing (fuzz/fuzz_targets/config.rs): the key was named by the empty string.
    let e = refused(Some("[\"\"]\nx = 1\n"), &[], ConfigArgs::default());
    assert_eq!(e.key(), Some("\"\""), "{e}");
}

#[test]
fn a_file_that_is_not_toml_is_refused_with_its_line() {
    let e = refused(Some("network = \n"), &[], ConfigArgs::default());
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn a_missing_file_is_refused() {
    let e = load(
        Some(std::path::Path::new("/nonexistent/emsd.toml")),
        &[],
        ConfigArgs::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn set_without_equals_is_refused() {
    // ` =5` and `a. .b=1` were found by fuzzing (fuzz/fuzz_targets/config.rs): a key of blanks
    // was trimmed to an empty key after the check.
    for arg in ["policy.max_ttl", "=5", "a..b=1", " =5", "a. .b=1", ". =1"] {
        let e = refused(None, &[arg], ConfigArgs::default());
        assert!(matches!(e, ConfigError::SetSyntax { .. }), "{arg}: {e}");
    }
}

#[test]
fn set_cannot_descend_into_a_value() {
    let e = refused(None, &["network.sub=1"], ConfigArgs::default());
    assert_eq!(e.key(), Some("network.sub"), "{e}");
}

#[test]
fn non_loopback_api_without_token_is_refused_and_with_one_is_accepted() {
    let open = ConfigArgs {
        api: Some("0.0.0.0:19101".parse().unwrap()),
        ..with_data_dir()
    };
    assert_eq!(refused(None, &[], open.clone()).key(), Some("api.token"));
    let with_token = ConfigArgs {
        api_token: Some("0123456789abcdef".into()),
        ..open
    };
    assert!(with_token.load().is_ok());
}
