//! Talking to an EMS node: what a wallet, a bot or the `ems` command embeds to publish and read
//! messages, open channels and keep their state.
//!
//! Blocking, with no async runtime except for the one gRPC call to `qrl-node` that checks a QRL
//! address's commitments. It prints nothing: mining progress and other news reach the caller
//! through a [`Report`] callback, and every failure is a [`ClientError`] whose sentence names
//! the problem (never a command-line flag: the `ems` binary adds those).
//!
//! # Layout
//! - [`error`]: [`ClientError`], one line naming each problem.
//! - [`schema`]: the HTTP API v1's bodies and error codes, typed; `emsd` answers with them.
//! - [`node`]: [`NodeClient`], the node's HTTP API and live stream.
//! - [`mine`]: proof of work on ems-core's solver path, with progress and cancellation.
//! - [`raw`]: a raw, unencrypted message (a routing tag and a payload), mined and submitted.
//! - [`report`]: [`Report`], what a session tells its caller while it works.
//! - [`file`]: files read up to a limit and written whole or not at all (`emsd` uses it too).
//! - [`keys`]: key files (0600, atomic, no silent overwrite) and bundles from files or text.
//! - [`passphrase`]: a key file's passphrase from a variable, a file or stdin.
//! - [`state`]: channel state and outbox beside the key file, under a lock.
//! - [`tried`]: the opens already tried, bounded, written once per receive pass.
//! - [`policy`]: which incoming opens are accepted on their own, and the accept's random delay.
//! - [`pending`]: opens the policy left for the user to accept.
//! - [`sealed`]: those files encrypted under a key derived from the identity.
//! - [`lattice`]: a QRL address's on-chain commitments, from `qrl-node`.
//! - [`resolve`]: a peer named by bundle, fingerprint or address, turned into a verified bundle.
//! - [`rotate`]: a new KEM key and bundle (`ems keys rotate`), crash-safe, the old key kept a while.
//! - [`session`]: one user's client and the steps that send frames (announce, open, send, rekey).
//! - [`outbox`]: frames mined, queued, submitted; data staged with its keys, sealed again when
//!   refused.
//! - [`control`]: control frames re-sent until the peer acknowledges them.
//! - [`fault`]: crash points for durability tests (`EMS_CLIENT_FAULT`).
//! - [`receive`]: finding and opening what is addressed to the user, history page by page.
//! - [`opening`]: incoming opens recognised, then accepted or kept pending.
//! - [`envelope`]: the sending time and text inside a channel message.
//! - [`time`]: durations and times as users type and read them.
//!
//! The `ems` binary (`src/bin/ems/`, feature `cli`, on by default) parses the command line,
//! draws the progress bar and prints; embedders turn the feature off.
//!
//! # Example
//! ```no_run
//! use ems_client::keys::Passphrase;
//! use ems_client::{NodeClient, Report, Session};
//! use std::sync::Arc;
//!
//! let node = NodeClient::new("http://127.0.0.1:19101", None)?;
//! let head = node.head()?;
//! println!("chain height {}, TTL at most {} s", head.height, head.policy.limits.max_ttl);
//! let session = Session::open("alice.key".as_ref(), &Passphrase::default(), node)?
//!     .with_reporter(Arc::new(|report: &Report<'_>| {
//!         if let Report::Mined { label, elapsed, .. } = report {
//!             println!("mined {label} in {elapsed:?}");
//!         }
//!     }));
//! session.send("bob", b"hello Bob", 3_600, false, None)?;
//! # Ok::<(), ems_client::ClientError>(())
//! ```

#![forbid(unsafe_code)]

/// `--version` of `ems` (and `emsd`): the crate version and the git commit built from
/// (`unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("EMS_GIT_COMMIT"),
    ")"
);

pub mod control;
pub mod envelope;
pub mod error;
pub mod fault;
pub mod file;
pub mod keys;
pub mod lattice;
pub mod mine;
pub mod node;
pub mod opening;
pub mod outbox;
pub mod passphrase;
pub mod pending;
pub mod policy;
pub mod raw;
pub mod receive;
pub mod report;
pub mod resolve;
pub mod rotate;
pub mod schema;
pub mod sealed;
pub mod session;
pub mod state;
pub mod time;
pub mod tried;

pub use error::ClientError;
pub use node::NodeClient;
pub use report::Report;
pub use session::Session;

/// The operating system's random number generator, which every key and nonce comes from.
pub fn rng() -> impl rand::CryptoRng {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}
