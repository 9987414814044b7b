//! What can go wrong talking to a qrl-node, each variant saying what and where.

/// An error of the QRL backend.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrlError {
    /// The endpoint text is not `qrl://HOST:PORT`.
    #[error("chain endpoint {text:?}: {why} (expected qrl://HOST:PORT)")]
    Endpoint {
        /// The text given.
        text: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A call failed: the node is unreachable, timed out, or answered with an error status.
    #[error("{call} failed: {code:?}: {message}")]
    Rpc {
        /// The gRPC method.
        call: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The status message.
        message: String,
    },
    /// The node answered with something that cannot be right.
    #[error("{call} returned {what}")]
    Garbage {
        /// The gRPC method.
        call: &'static str,
        /// What was wrong with the answer.
        what: String,
    },
}

impl QrlError {
    /// A failed call from its status.
    pub(crate) fn rpc(call: &'static str, status: &tonic::Status) -> Self {
        QrlError::Rpc {
            call,
            code: status.code(),
            message: status.message().to_string(),
        }
    }

    /// An answer that cannot be right.
    pub(crate) fn garbage(call: &'static str, what: impl Into<String>) -> Self {
        QrlError::Garbage {
            call,
            what: what.into(),
        }
    }
}
