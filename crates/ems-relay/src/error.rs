//! What can go wrong in a relay, by cause.

use ems_core::Reject;

/// The store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb failed (I/O, corruption, a transaction error).
    #[error("store database error: {0}")]
    Database(#[from] redb::Error),
    /// A stored record does not decode: the file was damaged or written by something else.
    #[error("store record for digest {digest} is corrupt: {why}")]
    Corrupt {
        /// Hex digest of the record.
        digest: String,
        /// What is wrong with it.
        why: String,
    },
    /// The blocking task running a store operation failed.
    #[error("store worker failed: {0}")]
    Worker(String),
    /// The store was closed by shutdown.
    #[error("store is closed")]
    Closed,
    /// The store file holds another table layout than this version reads.
    #[error("store {path} has table layout {found}, this version reads layout {expected}: move it away (its messages expire anyway) and start again")]
    Schema {
        /// The store file.
        path: String,
        /// The layout found (1 = the first release, which recorded none).
        found: u64,
        /// The layout this version reads.
        expected: u64,
    },
}

macro_rules! store_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Database(e.into())
            }
        }
    )*};
}
store_error_from!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Why a node could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The data directory or the key file could not be used.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `node.key` exists but is not a libp2p key.
    #[error("node key {path} is not a valid libp2p key: {why}")]
    BadKey {
        /// The key file.
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The configuration cannot be used (names the setting).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The libp2p transport or a listener could not be set up.
    #[error("network setup failed: {0}")]
    Network(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A query cursor is not one this node handed out.
    #[error("bad cursor: {0}")]
    BadCursor(String),
    /// A query asks for something this node does not serve (names the limit).
    #[error("bad query: {0}")]
    BadQuery(String),
    /// The node has been shut down.
    #[error("node is shut down")]
    Closed,
}

/// Why [`crate::Node::publish`] did not accept a message.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The validator refused it (`Reject::code()` is the API's error code).
    #[error("rejected: {0}")]
    Rejected(Reject),
    /// The store is at `store.max_bytes`, and every message that would make room paid more
    /// work per byte-second than this one.
    #[error("store is full (store.max_bytes reached) of messages that paid more work per byte-second; pay more, or wait until stored ones expire")]
    StoreFull,
    /// The node is shutting down.
    #[error("node is shut down")]
    Closed,
    /// The store failed to commit it.
    #[error(transparent)]
    Store(#[from] StoreError),
}
