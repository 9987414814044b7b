use super::*;
use std::io::Write;

/// One row per key: a value for the file, a different one for `--set`, and the flag (with its
/// value as the config shows it) that overrides both, where the key has a flag.
/// A flag setter and the value the config then shows.
type Flag = (fn(&mut Overrides), &'static str);

struct Row {
    key: &'static str,
    file: &'static str,
    set: &'static str,
    flag: Option<Flag>,
}

const PEER_A: &str =
    "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
const PEER_B: &str =
    "/ip4/127.0.0.1/tcp/2/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
const PEER_C: &str =
    "/ip4/127.0.0.1/tcp/3/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

fn rows() -> Vec<Row> {
    vec![
        Row {
            key: "network",
            file: "\"file-net\"",
            set: "set-net",
            flag: Some((|o| o.network = Some("flag-net".into()), "\"flag-net\"")),
        },
        Row {
            key: "data_dir",
            file: "\"/tmp/emsd-file\"",
            set: "/tmp/emsd-set",
            flag: Some((
                |o| o.data_dir = Some("/tmp/emsd-flag".into()),
                "\"/tmp/emsd-flag\"",
            )),
        },
        Row {
            key: "listen",
            file: "[\"/ip4/127.0.0.1/tcp/1\"]",
            set: "[\"/ip4/127.0.0.1/tcp/2\"]",
            flag: Some((
                |o| o.listen = vec!["/ip4/127.0.0.1/tcp/3".into()],
                "[\"/ip4/127.0.0.1/tcp/3\"]",
            )),
        },
        Row {
            key: "bootstrap",
            file: const_format_array(PEER_A),
            set: const_format_array(PEER_B),
            flag: Some((
                |o| o.bootstrap = vec![PEER_C.into()],
                const_format_array(PEER_C),
            )),
        },
        Row {
            key: "api.addr",
            file: "\"127.0.0.1:1001\"",
            set: "127.0.0.1:1002",
            flag: Some((
                |o| o.api = Some("127.0.0.1:1003".parse().unwrap()),
                "\"127.0.0.1:1003\"",
            )),
        },
        Row {
            key: "api.token",
            file: "\"file-token-0123456789\"",
            set: "set-token-0123456789",
            flag: Some((
                |o| o.api_token = Some("flag-token-0123456789".into()),
                "\"flag-token-0123456789\"",
            )),
        },
        Row {
            key: "api.rate_limit",
            file: "5",
            set: "6",
            flag: None,
        },
        Row {
            key: "api.rate_burst",
            file: "7",
            set: "8",
            flag: None,
        },
        Row {
            key: "api.header_timeout",
            file: "11",
            set: "12",
            flag: None,
        },
        Row {
            key: "api.max_connections",
            file: "100",
            set: "101",
            flag: None,
        },
        Row {
            key: "api.max_connections_per_client",
            file: "20",
            set: "21",
            flag: None,
        },
        Row {
            key: "chain.source",
            file: "\"static\"",
            set: "qrl://127.0.0.1:19009",
            flag: Some((|o| o.chain = Some("devnet".into()), "\"devnet\"")),
        },
        Row {
            key: "chain.devnet.genesis_seed",
            file: "\"file seed\"",
            set: "\"set seed\"",
            flag: None,
        },
        Row {
            key: "chain.devnet.genesis_time",
            file: "1000",
            set: "2000",
            flag: None,
        },
        Row {
            key: "chain.devnet.block_interval",
            file: "3",
            set: "4",
            flag: None,
        },
        Row {
            key: "chain.static.blocks",
            file: "[{ height = 1, prefix = \"aabbccdd\", time = 5 }]",
            set: "[{ height = 2, prefix = \"01020304\", time = 6 }]",
            flag: None,
        },
        Row {
            key: "chain.qrl.grace",
            file: "30",
            set: "40",
            flag: None,
        },
        Row {
            key: "chain.qrl.timeout",
            file: "2",
            set: "3",
            flag: None,
        },
        Row {
            key: "chain.qrl.stall_after",
            file: "50",
            set: "60",
            flag: None,
        },
        Row {
            key: "relay.enabled",
            file: "false",
            set: "true",
            flag: Some((|o| o.no_relay = true, "false")),
        },
        Row {
            key: "store.enabled",
            file: "false",
            set: "true",
            flag: Some((|o| o.no_store = true, "false")),
        },
        Row {
            key: "store.max_bytes",
            file: "100000",
            set: "200000",
            flag: None,
        },
        Row {
            key: "policy.max_ttl",
            file: "600",
            set: "700",
            flag: None,
        },
        Row {
            key: "policy.block_depth",
            file: "5",
            set: "6",
            flag: None,
        },
        Row {
            key: "policy.clock_skew",
            file: "10",
            set: "20",
            flag: None,
        },
        Row {
            key: "pow.algorithms",
            file: "[\"sha256\", \"argon2id\"]",
            set: "[\"sha256\"]",
            flag: None,
        },
        Row {
            key: "pow.sha256.min_work",
            file: "11",
            set: "12",
            flag: None,
        },
        Row {
            key: "pow.sha256.size_factor",
            file: "13",
            set: "14",
            flag: None,
        },
        Row {
            key: "pow.sha256.ttl_factor",
            file: "15",
            set: "16",
            flag: None,
        },
        Row {
            key: "pow.argon2id.min_work",
            file: "17",
            set: "18",
            flag: None,
        },
        Row {
            key: "pow.argon2id.size_factor",
            file: "19",
            set: "20",
            flag: None,
        },
        Row {
            key: "pow.argon2id.ttl_factor",
            file: "21",
            set: "22",
            flag: None,
        },
    ]
}

fn const_format_array(addr: &'static str) -> &'static str {
    Box::leak(format!("[\"{addr}\"]").into_boxed_str())
}

/// The value of a dotted key in the configuration, as TOML text.
fn get(config: &Config, key: &str) -> String {
    let table = toml::Table::try_from(config).unwrap();
    let mut value = toml::Value::Table(table);
    for part in key.split('.') {
        value = value
            .get(part)
            .unwrap_or_else(|| panic!("{key} missing"))
            .clone();
    }
    value_text(&value)
}

fn value_text(value: &toml::Value) -> String {
    let mut t = toml::Table::new();
    t.insert("v".into(), value.clone());
    let text = toml::to_string(&t).unwrap();
    text.trim()
        .strip_prefix("v = ")
        .unwrap_or(text.trim())
        .to_string()
}

/// The TOML text `raw` denotes, normalised through the same printer.
fn normal(raw: &str) -> String {
    let (_, value) = parse_set(&format!("k={raw}")).unwrap();
    value_text(&value)
}

/// A config file setting one dotted key (plus what the key needs to be valid).
fn file_with(key: &str, value: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    let (section, leaf) = key.rsplit_once('.').map_or(("", key), |(s, l)| (s, l));
    if !section.is_empty() {
        writeln!(f, "[{section}]").unwrap();
    }
    writeln!(f, "{leaf} = {value}").unwrap();
    f
}

fn leaf_keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => leaf_keys(&key, t, out),
            _ => out.push(key),
        }
    }
}

#[test]
fn every_key_has_a_precedence_test_row() {
    let mut keys = Vec::new();
    leaf_keys(
        "",
        &toml::Table::try_from(Config::default()).unwrap(),
        &mut keys,
    );
    keys.push("api.token".into()); // optional, so absent from the defaults
    let covered: Vec<_> = rows().iter().map(|r| r.key.to_string()).collect();
    for key in &keys {
        assert!(covered.contains(key), "no precedence test for {key}");
    }
    assert_eq!(
        keys.len(),
        covered.len(),
        "rows name keys that do not exist: {covered:?}"
    );
}

#[test]
fn each_key_file_beats_default_set_beats_file_and_flag_beats_both() {
    for row in rows() {
        let file = file_with(row.key, row.file);
        let from_file = Config::load(Some(file.path()), &[], &Overrides::default())
            .unwrap_or_else(|e| panic!("{}: file value refused: {e}", row.key));
        assert_eq!(
            get(&from_file, row.key),
            normal(row.file),
            "{}: file",
            row.key
        );

        let sets = [format!("{}={}", row.key, row.set)];
        let from_set = Config::load(Some(file.path()), &sets, &Overrides::default())
            .unwrap_or_else(|e| panic!("{}: --set value refused: {e}", row.key));
        assert_eq!(
            get(&from_set, row.key),
            normal(row.set),
            "{}: --set over file",
            row.key
        );
        assert_ne!(
            normal(row.file),
            normal(row.set),
            "{}: test values must differ",
            row.key
        );

        if let Some((flag, shown)) = row.flag {
            let mut overrides = Overrides::default();
            flag(&mut overrides);
            let from_flag = Config::load(Some(file.path()), &sets, &overrides)
                .unwrap_or_else(|e| panic!("{}: flag value refused: {e}", row.key));
            assert_eq!(
                get(&from_flag, row.key),
                normal(shown),
                "{}: flag over --set",
                row.key
            );
        }
    }
}

#[test]
fn defaults_run_a_devnet_node_on_loopback() {
    let c = Config::load(
        None,
        &[],
        &Overrides {
            data_dir: Some("/tmp/x".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(c.network, "devnet");
    assert_eq!(c.chain_source().unwrap(), ChainSource::Devnet);
    assert!(c.api.addr.ip().is_loopback());
    assert_eq!(c.api.addr.port(), 19101);
    assert_eq!(c.listen, vec!["/ip4/0.0.0.0/tcp/19100".to_string()]);
    assert_eq!(c.policy(), Policy::default());
}

#[test]
fn a_partial_section_keeps_the_other_keys_of_that_section() {
    let file = file_with("pow.sha256.min_work", "5");
    let c = Config::load(Some(file.path()), &[], &Overrides::default()).unwrap();
    assert_eq!(c.pow.sha256.min_work, 5);
    assert_eq!(
        c.pow.sha256.size_factor,
        PowPolicy::default().sha256.size_factor
    );
}

fn refused(file: Option<&str>, sets: &[&str], flags: Overrides) -> ConfigError {
    let f = file.map(|text| {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    });
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match Config::load(f.as_ref().map(|f| f.path()), &sets, &flags) {
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
    ];
    for (set, key) in cases {
        let e = refused(
            None,
            &[set],
            Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Overrides::default()
            },
        );
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
        refused(None, &["data_dir=\"\""], Overrides::default()).key(),
        Some("data_dir")
    );
}

#[test]
fn a_static_prefix_that_is_not_hex_is_refused() {
    let e = refused(
        Some("[chain]\nsource = \"static\"\nstatic.blocks = [{ height = 1, prefix = \"xyz\", time = 0 }]\n"),
        &[],
        Overrides::default(),
    );
    assert_eq!(e.key(), Some("chain.static.blocks"), "{e}");
}

#[test]
fn an_unknown_key_in_the_file_is_named_with_its_path() {
    let e = refused(Some("[policy]\nmax_tll = 5\n"), &[], Overrides::default());
    assert_eq!(e.key(), Some("policy.max_tll"), "{e}");
    assert!(e.to_string().contains("config file"), "{e}");
}

#[test]
fn a_file_that_is_not_toml_is_refused_with_its_line() {
    let e = refused(Some("network = \n"), &[], Overrides::default());
    assert!(matches!(e, ConfigError::Syntax { .. }), "{e}");
    assert!(e.to_string().contains("line 1"), "{e}");
}

#[test]
fn a_missing_file_is_refused() {
    let e = Config::load(
        Some(Path::new("/nonexistent/emsd.toml")),
        &[],
        &Overrides::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn set_without_equals_is_refused() {
    for arg in ["policy.max_ttl", "=5", "a..b=1"] {
        let e = refused(None, &[arg], Overrides::default());
        assert!(matches!(e, ConfigError::SetSyntax { .. }), "{arg}: {e}");
    }
}

#[test]
fn set_cannot_descend_into_a_value() {
    let e = refused(None, &["network.sub=1"], Overrides::default());
    assert_eq!(e.key(), Some("network.sub"), "{e}");
}

#[test]
fn non_loopback_api_without_token_is_refused_and_with_one_is_accepted() {
    let open = Overrides {
        api: Some("0.0.0.0:19101".parse().unwrap()),
        data_dir: Some("/tmp/x".into()),
        ..Overrides::default()
    };
    assert_eq!(refused(None, &[], open.clone()).key(), Some("api.token"));
    let with_token = Overrides {
        api_token: Some("0123456789abcdef".into()),
        ..open
    };
    assert!(Config::load(None, &[], &with_token).is_ok());
}

#[test]
fn printed_configuration_reads_back_to_the_same_and_hides_the_token() {
    let flags = Overrides {
        data_dir: Some("/tmp/x".into()),
        api_token: Some("0123456789abcdef".into()),
        ..Overrides::default()
    };
    let c = Config::load(None, &["policy.max_ttl=600".into()], &flags).unwrap();
    let text = c.to_toml();
    assert!(!text.contains("0123456789abcdef"), "{text}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let back = Config::load(
        Some(f.path()),
        &[],
        &Overrides {
            api_token: Some("0123456789abcdef".into()),
            ..Overrides::default()
        },
    )
    .unwrap();
    assert_eq!(back, c);
}

#[test]
fn the_example_config_is_the_defaults_and_names_every_key() {
    let text = include_str!("../../../../contrib/emsd.toml");
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    let flags = Overrides {
        data_dir: Some("/tmp/x".into()),
        ..Overrides::default()
    };
    let documented = Config::load(Some(file.path()), &[], &flags).unwrap();
    assert_eq!(documented, Config::load(None, &[], &flags).unwrap());
    let mut keys = Vec::new();
    leaf_keys(
        "",
        &toml::Table::try_from(Config::default()).unwrap(),
        &mut keys,
    );
    keys.push("api.token".into());
    for key in keys {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            text.lines().any(|l| l
                .trim_start_matches("# ")
                .starts_with(&format!("{leaf} = "))),
            "contrib/emsd.toml does not document {key}"
        );
    }
}
