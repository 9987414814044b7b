//! Error codes: the stable snake_case names of the HTTP API (`docs/api.md`), as numbers for
//! the C ABI and as exception classes in Python, so a host reports a refusal the same way
//! whichever door the message came through.

use ems_core::{DecodeError, Reject};
use ems_relay::{PublishError, RelayError};

/// Why a call failed. The numbers are part of the C ABI: never renumber, only append.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Code {
    /// Success (the C ABI's return value when nothing went wrong).
    Ok = 0,
    /// The bytes are not a v1 frame.
    Malformed = 1,
    /// The frame or payload is larger than the protocol allows.
    TooLarge = 2,
    /// The TTL has passed.
    Expired = 3,
    /// The TTL is further ahead than `policy.max_ttl`.
    TtlTooFar = 4,
    /// The BLOCKHASH is not a recent enough block.
    StaleBlockhash = 5,
    /// The chain view cannot answer.
    ChainUnavailable = 6,
    /// The proof uses an algorithm the policy does not accept.
    UnsupportedPow = 7,
    /// The proof does not show the work required.
    InsufficientWork = 8,
    /// The store is at `store.max_bytes`.
    StoreFull = 9,
    /// The relay is stopping or stopped.
    ShuttingDown = 10,
    /// The library failed (a store error, a panic caught at the boundary); the message says where.
    Internal = 11,
    /// An argument or configuration value cannot be used; the message names it.
    InvalidArgument = 12,
    /// A mining run was cancelled.
    Cancelled = 13,
    /// Nothing is stored under that digest.
    NotFound = 14,
    /// A channel frame failed to open, verify or decode (channels only).
    Channel = 15,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 16] = [
        Code::Ok,
        Code::Malformed,
        Code::TooLarge,
        Code::Expired,
        Code::TtlTooFar,
        Code::StaleBlockhash,
        Code::ChainUnavailable,
        Code::UnsupportedPow,
        Code::InsufficientWork,
        Code::StoreFull,
        Code::ShuttingDown,
        Code::Internal,
        Code::InvalidArgument,
        Code::Cancelled,
        Code::NotFound,
        Code::Channel,
    ];

    /// The snake_case name; for validation and publish failures it is the HTTP API's `code`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "ok",
            Code::Malformed => "malformed",
            Code::TooLarge => "too_large",
            Code::Expired => "expired",
            Code::TtlTooFar => "ttl_too_far",
            Code::StaleBlockhash => "stale_blockhash",
            Code::ChainUnavailable => "chain_unavailable",
            Code::UnsupportedPow => "unsupported_pow",
            Code::InsufficientWork => "insufficient_work",
            Code::StoreFull => "store_full",
            Code::ShuttingDown => "shutting_down",
            Code::Internal => "internal",
            Code::InvalidArgument => "invalid_argument",
            Code::Cancelled => "cancelled",
            Code::NotFound => "not_found",
            Code::Channel => "channel",
        }
    }

    /// The code with this number, if there is one.
    pub fn from_i32(n: i32) -> Option<Code> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Code::ALL.get(i))
            .copied()
    }
}

/// A failure: its [`Code`] and a sentence saying what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What kind of failure.
    pub code: Code,
    /// A sentence for people; may change between versions.
    pub message: String,
}

impl Error {
    /// A failure with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }

    /// [`Code::InvalidArgument`] naming what was wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }
}

impl From<Reject> for Error {
    fn from(r: Reject) -> Self {
        let code = match r {
            Reject::Malformed(_) => Code::Malformed,
            Reject::PayloadTooLarge { .. } => Code::TooLarge,
            Reject::Expired { .. } => Code::Expired,
            Reject::TtlTooFar { .. } => Code::TtlTooFar,
            Reject::StaleBlockhash { .. } => Code::StaleBlockhash,
            Reject::ChainUnavailable(_) => Code::ChainUnavailable,
            Reject::UnsupportedPow { .. } => Code::UnsupportedPow,
            Reject::InsufficientWork(_) => Code::InsufficientWork,
        };
        debug_assert_eq!(code.name(), r.code());
        Error::new(code, r.to_string())
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Reject::from(e).into()
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Rejected(r) => r.into(),
            PublishError::StoreFull => Error::new(Code::StoreFull, e.to_string()),
            PublishError::Closed => Error::new(Code::ShuttingDown, e.to_string()),
            other => Error::new(Code::Internal, other.to_string()),
        }
    }
}

impl From<RelayError> for Error {
    fn from(e: RelayError) -> Self {
        let code = match e {
            RelayError::Config(_) | RelayError::BadCursor(_) | RelayError::BadQuery(_) => {
                Code::InvalidArgument
            }
            RelayError::Closed => Code::ShuttingDown,
            _ => Code::Internal,
        };
        Error::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::ChainError;

    #[test]
    fn numbers_are_positions_and_round_trip() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(*code as i32, i as i32);
            assert_eq!(Code::from_i32(i as i32), Some(*code));
        }
        assert_eq!(Code::from_i32(-1), None);
        assert_eq!(Code::from_i32(Code::ALL.len() as i32), None);
    }

    #[test]
    fn validator_reasons_keep_the_api_codes() {
        let cases = [
            Reject::Expired { ttl: 1, now: 2 },
            Reject::TtlTooFar { ttl: 1, latest: 0 },
            Reject::StaleBlockhash {
                prefix: [0; 4],
                why: "old",
            },
            Reject::ChainUnavailable(ChainError::Unavailable("down".into())),
            Reject::UnsupportedPow { algorithm: 9 },
            Reject::PayloadTooLarge { len: 9000 },
        ];
        for r in cases {
            let want = r.code();
            assert_eq!(Error::from(r).code.name(), want);
        }
        assert_eq!(
            Error::from(PublishError::StoreFull).code.name(),
            "store_full"
        );
        assert_eq!(
            Error::from(PublishError::Closed).code.name(),
            "shutting_down"
        );
    }
}
