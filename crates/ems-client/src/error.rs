//! What can go wrong in the client, each variant one line naming the problem. The sentences name
//! no command-line flags: a program with a command line (the `ems` binary) says which of its
//! flags to change.

use ems_core::{BundleError, ChannelError, IdentityError};
use std::path::PathBuf;

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached at all.
    #[error("node {url} is unreachable: {reason}")]
    NodeDown {
        /// The node's base URL.
        url: String,
        /// What the transport said.
        reason: String,
    },
    /// The node answered with an API error.
    #[error("node refused {what} (HTTP {status} {code}): {message}")]
    Refused {
        /// What was asked.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// The API's snake_case error code.
        code: String,
        /// The API's sentence.
        message: String,
    },
    /// The node answered something that is not what the API promises.
    #[error("node answered {what} with something unexpected: {reason}")]
    BadResponse {
        /// What was asked.
        what: &'static str,
        /// What was wrong with the answer.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The key file exists and overwriting was not asked for.
    #[error("{} already exists", .0.display())]
    KeyFileExists(PathBuf),
    /// The key file could not be loaded (corrupt, wrong passphrase, no passphrase).
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why it could not be loaded.
        source: IdentityError,
    },
    /// The environment variable named to hold the passphrase is not set.
    #[error("environment variable {0}, named to hold the passphrase, is not set")]
    PassphraseEnv(String),
    /// The file named to hold the passphrase gave none (`-` is stdin).
    #[error("passphrase file {}: {problem}", if path.as_os_str() == crate::passphrase::STDIN { "(stdin)".into() } else { path.display().to_string() })]
    PassphraseFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        problem: crate::passphrase::PassphraseFileProblem,
    },
    /// Stored channel state cannot be read.
    #[error("channel state {}: {reason}", path.display())]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No channel has the given name.
    #[error("no channel named {0:?}")]
    UnknownChannel(String),
    /// A channel name is taken.
    #[error("a channel named {0:?} already exists")]
    ChannelNameTaken(String),
    /// The channel's keys have expired.
    #[error("channel {name:?} expired at {at}; open a new channel")]
    ChannelExpired {
        /// The channel's name.
        name: String,
        /// When it expired (UTC).
        at: String,
    },
    /// The message does not fit one channel message.
    #[error("message of {len} bytes exceeds the {max}-byte maximum{}", if *.signed { " for a signed message" } else { "" })]
    MessageTooLarge {
        /// Bytes offered.
        len: usize,
        /// The largest that fits.
        max: usize,
        /// Whether a signature was asked for.
        signed: bool,
    },
    /// A bundle was refused.
    #[error("bundle refused: {0}")]
    Bundle(#[from] BundleError),
    /// No announced bundle was found for an address or fingerprint.
    #[error("no valid key announcement for {0} on the node")]
    NotAnnounced(String),
    /// The address has no EMS commitment on chain.
    #[error("address {0} has published no EMS key commitment on chain")]
    UnknownAddress(String),
    /// Bundles are announced for the address, but none is committed on chain.
    #[error(
        "the bundle announced for {address} (fingerprint {fingerprint}) is not committed on chain"
    )]
    NotCommitted {
        /// The address.
        address: String,
        /// The fingerprint of the newest announced bundle.
        fingerprint: String,
    },
    /// The chain could not be asked.
    #[error("chain: {0}")]
    Chain(String),
    /// A channel operation failed.
    #[error("channel: {0}")]
    Channel(#[from] ChannelError),
    /// A QRL address was to be resolved, but no chain was given to check its commitments on.
    #[error("resolving QRL address {0} needs a chain to check its commitments on")]
    NeedsChain(String),
    /// Mining was cancelled through the solver's token.
    #[error("{0}")]
    Cancelled(#[from] ems_core::pow::Cancelled),
    /// A value given to the client is not acceptable.
    #[error("invalid {what}: {reason}")]
    Input {
        /// Which value, by what it is (see the `what_*` constants of [`ClientError`]).
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl ClientError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }

    /// The node URL, in [`ClientError::Input`].
    pub const WHAT_NODE: &'static str = "node URL";
    /// The chain URL (`qrl://HOST:PORT`), in [`ClientError::Input`].
    pub const WHAT_CHAIN: &'static str = "chain URL";
    /// A message's lifetime, in [`ClientError::Input`].
    pub const WHAT_TTL: &'static str = "lifetime";
    /// The time a message is to be sent at, in [`ClientError::Input`].
    pub const WHAT_SEND_TIME: &'static str = "sending time";
    /// Who a channel is to be opened to, in [`ClientError::Input`].
    pub const WHAT_PEER: &'static str = "peer";
    /// A key file's passphrase, in [`ClientError::Input`].
    pub const WHAT_PASSPHRASE: &'static str = "passphrase";

    /// A value given to the client that is not acceptable; `what` says which.
    pub fn input(what: &'static str, reason: impl Into<String>) -> Self {
        ClientError::Input {
            what,
            reason: reason.into(),
        }
    }
}
