//! The daemon's configuration: defaults, then a TOML file, then `--set KEY=VALUE`, then flags.
//!
//! Every key has a default, so an empty file (or none) runs a devnet node on loopback. The
//! file and `--set` are merged onto the defaults as TOML tables before anything is read, so a
//! partial section (`[pow.sha256] min_work = 5`) keeps the other keys of that section. An
//! unknown key or a value of the wrong type is refused with its dotted path; a value the node
//! cannot run with is refused by [`Config::check`], naming the key and why.
//!
//! # Layout
//! - `schema`: the keys ([`Config`] and its sections), their defaults, and the TOML
//!   `emsd config` prints.
//! - `args`: [`ConfigArgs`], the flags of `emsd run` and `emsd config`, each declared once,
//!   and the key each named flag sets.
//! - `loading`: [`ConfigArgs::load`], the defaults, then the file, then each `--set`, then
//!   the flags.
//! - `checks`: [`Config::check`], whether the node can run with the values, and the typed
//!   values it runs with ([`ChainSource`], multiaddrs, the node policy).
//! - `error`: [`ConfigError`], naming the key and where its value came from.

mod args;
mod checks;
mod error;
mod loading;
mod schema;

pub use args::ConfigArgs;
pub use checks::ChainSource;
pub use error::ConfigError;
pub use schema::{
    default_data_dir, ApiConfig, ChainConfig, Config, StaticBlock, StaticChainConfig,
};

#[cfg(test)]
mod tests;
