//! The daemon's configuration: a `--config` TOML file and `--set KEY=VALUE` overrides
//! (`emsd::config::ConfigArgs::load`), as an operator's file or a deployment script gives them.
//!
//! The input is the file's text, then each `--set` argument, separated by NUL bytes.
//! - loading never panics, and a refusal says what was wrong: an unknown or bad key is named
//!   with its dotted path and the layer it came from (the file or the `--set` argument; a
//!   value unusable only in combination, by `configuration`), never by an empty key;
//! - a configuration that loads is a fixed point: written back as TOML (as `emsd config` prints
//!   it) and loaded again, it is the same configuration.
#![no_main]

use emsd::config::{ConfigArgs, ConfigError};
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// At most this many `--set` arguments per input.
const MAX_SETS: usize = 16;

/// The file this process writes each input's config text to: in memory (`/dev/shm`) where there
/// is one. On a disk file system each rewrite is flushed (ext4 writes out a file truncated and
/// written again when it is closed), which made the target wait on the disk for most of its
/// time.
fn config_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        dir.join(format!("ems-fuzz-config-{}.toml", std::process::id()))
    })
    .clone()
}

fn load(text: &str, sets: Vec<String>) -> Result<emsd::config::Config, ConfigError> {
    let path = config_path();
    std::fs::write(&path, text).expect("the fuzz process writes its temp config file");
    ConfigArgs {
        config: Some(path),
        sets,
        ..ConfigArgs::default()
    }
    .load()
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let mut parts = input.split('\0');
    let text = parts.next().unwrap_or_default();
    let sets: Vec<String> = parts.take(MAX_SETS).map(str::to_owned).collect();
    match load(text, sets.clone()) {
        Ok(config) => {
            let written = toml::to_string(&config).expect("a loaded configuration serializes");
            let again = load(&written, Vec::new())
                .unwrap_or_else(|e| panic!("a loaded configuration reloads: {e}\n{written}"));
            assert_eq!(again, config, "written back and loaded again:\n{written}");
        }
        Err(ConfigError::Read { source, .. }) => panic!("the config file was written: {source}"),
        Err(ConfigError::Syntax { reason, .. }) => assert!(!reason.is_empty()),
        Err(ConfigError::SetSyntax { arg }) => {
            assert!(sets.contains(&arg), "names a --set argument given: {arg:?}");
        }
        Err(ConfigError::Invalid {
            key,
            reason,
            origin,
        }) => {
            assert!(!key.is_empty() && !reason.is_empty(), "{key:?}: {reason:?}");
            assert!(
                origin == "defaults"
                    || origin == "configuration"
                    || origin.starts_with("config file ")
                    || sets.iter().any(|arg| origin == format!("--set {arg}"))
                    || origin.starts_with("--"),
                "the origin names where the value came from: {origin:?}"
            );
        }
    }
});
