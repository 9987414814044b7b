//! `emsd`, the EMS relay daemon node operators run beside `qrl-node`.
//!
//! The daemon is glue: the protocol lives in `ems-core` (frames, validation), `ems-relay`
//! (network, store, sync) and `ems-chain` (block hashes). This crate reads the configuration,
//! starts a relay, serves the HTTP API, and stops cleanly.
//!
//! # Layout
//! - [`config`]: defaults, TOML file, `--set KEY=VALUE` and flags, checked with the key named.
//! - [`run`]: `emsd run`: chain view, relay, API, `node.json`, drain on SIGTERM.
//! - [`api`]: the HTTP API v1 (axum): routes, error model, rate limit, bearer token.
//! - [`demo`]: `emsd demo`: a local network of real `emsd` processes, exercised end to end.
//! - [`shutdown`]: the stop signal every task watches.
//! - [`logging`]: `tracing` output, human or JSON.
//!
//! The client side (the `ems` command, and the library the demo's users and any embedder talk to
//! a node with) is the `ems-client` crate.

#![forbid(unsafe_code)]

/// `--version` of `emsd` (and `ems`): the crate version and the git commit built from
/// (`unknown` outside a git checkout).
pub use ems_client::VERSION;

pub mod api;
pub mod config;
pub mod demo;
pub mod logging;
pub mod run;
pub mod shutdown;
