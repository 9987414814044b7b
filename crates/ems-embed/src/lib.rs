//! EMS for host programs: what a node written in another language needs to embed EMS, in safe
//! Rust, for the Python (`ems-py`) and C (`ems-ffi`) bindings to wrap without logic of their own.
//!
//! - [`Relay`]: an `ems-relay` node on a Tokio runtime of its own (its own threads), driven by
//!   blocking calls: start from a JSON [`RelayConfig`], publish, subscribe, status, stop.
//! - [`PushedChain`]: a chain view the host feeds with its blocks, so validation never calls
//!   back into the host.
//! - [`mine`](mine::mine): proof of work for a policy, cancellable, with progress.
//! - [`Code`] and [`Error`]: every failure as one of the HTTP API's codes plus a sentence.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use ems_embed::{PushedChain, PushedConfig, Relay, RelayConfig};
//!
//! let chain = Arc::new(PushedChain::new(PushedConfig::default()));
//! chain.push(1, &[0xaa, 0xbb, 0xcc, 0xdd], 1_800_000_000, 1_800_000_000)?;
//! let config = RelayConfig::from_json(r#"{"data_dir": "/tmp/ems", "listen": ["/ip4/127.0.0.1/tcp/0"]}"#)?;
//! let relay = Relay::start(&config, chain)?;
//! let incoming = relay.subscribe(vec![[0xab; 32]])?;
//! println!("{}", relay.status()?);
//! relay.stop();
//! # Ok::<(), ems_embed::Error>(())
//! ```
//!
//! The public interface is: [`Relay`], [`Subscription`], [`Next`], [`RelayConfig`],
//! [`TuningConfig`], [`policy_from_json`], [`PushedChain`], [`PushedConfig`], [`PushOutcome`], [`mine::mine`],
//! [`MineOptions`], [`Code`], [`Error`].

#![forbid(unsafe_code)]

pub mod code;
pub mod config;
pub mod mine;
pub mod pushed;
pub mod relay;

pub use code::{Code, Error};
pub use config::{policy_from_json, RelayConfig, TuningConfig};
pub use mine::MineOptions;
pub use pushed::{PushOutcome, PushedChain, PushedConfig};
pub use relay::{Next, Relay, Subscription};
