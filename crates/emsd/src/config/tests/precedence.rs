//! Every key: the file beats the default, `--set` beats the file, a named flag beats both; and
//! what the defaults, the printout and `contrib/emsd.toml` hold.

use super::*;
use crate::config::loading::parse_set;

/// A flag setter and the value the config then shows.
type Flag = (fn(&mut ConfigArgs), &'static str);

/// One row per key: a value for the file, a different one for `--set`, and the flag (with its
/// value as the config shows it) that overrides both, where the key has a flag.
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
    let (section, leaf) = key.rsplit_once('.').map_or(("", key), |(s, l)| (s, l));
    let header = if section.is_empty() {
        String::new()
    } else {
        format!("[{section}]\n")
    };
    text_file(&format!("{header}{leaf} = {value}\n"))
}

#[test]
fn every_key_has_a_precedence_test_row() {
    let keys = every_key();
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
        let from_file = load(Some(file.path()), &[], ConfigArgs::default())
            .unwrap_or_else(|e| panic!("{}: file value refused: {e}", row.key));
        assert_eq!(
            get(&from_file, row.key),
            normal(row.file),
            "{}: file",
            row.key
        );

        let sets = [format!("{}={}", row.key, row.set)];
        let from_set = load(Some(file.path()), &sets, ConfigArgs::default())
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
            let mut args = ConfigArgs::default();
            flag(&mut args);
            let from_flag = load(Some(file.path()), &sets, args)
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
    let c = with_data_dir().load().unwrap();
    assert_eq!(c.network, "devnet");
    assert_eq!(c.chain_source().unwrap(), ChainSource::Devnet);
    assert!(c.api.addr.ip().is_loopback());
    assert_eq!(c.api.addr.port(), 19101);
    assert_eq!(c.listen, vec!["/ip4/0.0.0.0/tcp/19100".to_string()]);
    assert_eq!(c.policy(), ems_core::Policy::default());
}

#[test]
fn a_partial_section_keeps_the_other_keys_of_that_section() {
    let file = file_with("pow.sha256.min_work", "5");
    let c = load(Some(file.path()), &[], ConfigArgs::default()).unwrap();
    assert_eq!(c.pow.sha256.min_work, 5);
    assert_eq!(
        c.pow.sha256.size_factor,
        ems_core::policy::PowPolicy::default().sha256.size_factor
    );
}

#[test]
fn printed_configuration_reads_back_to_the_same_and_hides_the_token() {
    let args = ConfigArgs {
        api_token: Some("0123456789abcdef".into()),
        ..with_data_dir()
    };
    let c = load(None, &["policy.max_ttl=600".into()], args).unwrap();
    let text = c.to_toml();
    assert!(!text.contains("0123456789abcdef"), "{text}");
    let f = text_file(&text);
    let back = load(
        Some(f.path()),
        &[],
        ConfigArgs {
            api_token: Some("0123456789abcdef".into()),
            ..ConfigArgs::default()
        },
    )
    .unwrap();
    assert_eq!(back, c);
}

#[test]
fn the_example_config_is_the_defaults_and_names_every_key() {
    let text = include_str!("../../../../../contrib/emsd.toml");
    let file = text_file(text);
    let documented = load(Some(file.path()), &[], with_data_dir()).unwrap();
    assert_eq!(documented, with_data_dir().load().unwrap());
    for key in every_key() {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(
            text.lines().any(|l| l
                .trim_start_matches("# ")
                .starts_with(&format!("{leaf} = "))),
            "contrib/emsd.toml does not document {key}"
        );
    }
}

#[test]
fn set_keys_are_read_with_blanks_around_their_parts_trimmed() {
    let plain = load(None, &["policy.max_ttl=600".into()], with_data_dir()).unwrap();
    let spaced = load(None, &[" policy . max_ttl =600".into()], with_data_dir()).unwrap();
    assert_eq!(spaced, plain);
    assert_ne!(plain, load(None, &[], with_data_dir()).unwrap());
}
