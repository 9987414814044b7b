//! The `ems` client: keys, key announcements, channels, sending and receiving over a node's
//! HTTP API. The binary `ems` (`src/bin/ems.rs`) parses the command line and prints; this module
//! does the work, blocking, with no async runtime except for the one gRPC call to `qrl-node`.
//!
//! # Layout
//! - [`error`]: [`ClientError`], one line naming each problem.
//! - [`node`]: [`NodeClient`], the node's HTTP API and live stream.
//! - [`keys`]: key files (0600, atomic, no silent overwrite) and bundles from files or text.
//! - [`state`]: channel state, outbox and tried opens beside the key file, under a lock.
//! - [`sealed`]: those files encrypted under a key derived from the identity.
//! - [`mine`]: proof of work on every core with a progress bar or plain progress lines.
//! - [`lattice`]: a QRL address's on-chain commitments, from `qrl-node`.
//! - [`resolve`]: what `--to` names, turned into a verified bundle.
//! - [`session`]: one user's client and the steps that send frames (announce, open, send, rekey).
//! - [`receive`]: finding, opening and accepting what is addressed to the user.
//! - [`envelope`]: the sending time and text inside a channel message.
//! - [`time`]: durations and times as users type and read them.

pub mod envelope;
pub mod error;
pub mod keys;
pub mod lattice;
pub mod mine;
pub mod node;
pub mod receive;
pub mod resolve;
pub mod sealed;
pub mod session;
pub mod state;
pub mod time;

pub use error::ClientError;
pub use node::NodeClient;
pub use session::Session;

/// The operating system's random number generator, which every key and nonce comes from.
pub fn rng() -> impl rand::CryptoRng {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}
