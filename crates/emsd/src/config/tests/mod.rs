//! The configuration as `emsd run` and `emsd config` build it: which layer wins for every key
//! ([`precedence`]), and which values are refused, naming the key ([`refusals`]).

use super::*;
use std::io::Write;
use std::path::PathBuf;

mod precedence;
mod refusals;

/// A temporary file holding `text`.
fn text_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

/// Only `--data-dir` (so the defaults load whatever `$HOME` is).
fn with_data_dir() -> ConfigArgs {
    ConfigArgs {
        data_dir: Some("/tmp/x".into()),
        ..ConfigArgs::default()
    }
}

/// `args` plus `--config file` (when given) and `--set` for each of `sets`, loaded.
fn load(
    file: Option<&std::path::Path>,
    sets: &[String],
    args: ConfigArgs,
) -> Result<Config, ConfigError> {
    ConfigArgs {
        config: file.map(PathBuf::from),
        sets: sets.to_vec(),
        ..args
    }
    .load()
}

/// The dotted paths of every leaf key of `table`.
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

/// Every key of the configuration, the optional `api.token` included.
fn every_key() -> Vec<String> {
    let mut keys = Vec::new();
    leaf_keys(
        "",
        &toml::Table::try_from(Config::default()).unwrap(),
        &mut keys,
    );
    keys.push("api.token".into()); // optional, so absent from the defaults
    keys
}
