//! [`ConfigError`]: why the daemon refuses a configuration, naming the key.

use std::path::PathBuf;

/// A configuration the daemon refuses to run with. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file named by `--config`.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The config file is not TOML.
    #[error("config file {path}: {reason}")]
    Syntax {
        /// The file named by `--config`.
        path: PathBuf,
        /// The parser's description, with line and column.
        reason: String,
    },
    /// A `--set` argument is not `KEY=VALUE`.
    #[error("--set {arg:?}: expected KEY=VALUE, e.g. --set policy.max_ttl=3600")]
    SetSyntax {
        /// The argument as given.
        arg: String,
    },
    /// A key is unknown or its value has the wrong type or cannot be used.
    #[error("{key}: {reason} (from {origin})")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Why the value is refused.
        reason: String,
        /// Where the value came from: `defaults`, the file, `--set` or a flag.
        origin: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, when it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }

    /// `key` of the merged configuration cannot be used, for `reason`.
    pub(crate) fn unusable(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
            origin: "configuration".into(),
        }
    }
}
