//! The HTTP API v1's bodies, typed: `emsd`'s handlers build their answers from these types and
//! [`NodeClient`](crate::NodeClient) reads them with the same types, so server and client cannot
//! drift. `docs/openapi.json` describes the same JSON (its component schemas carry the names
//! used here), and a test holds these types to it.
//!
//! | route | body |
//! | --- | --- |
//! | `GET /v1/chain/head` | [`ChainHead`] |
//! | `POST /v1/messages` (202 new, 200 already stored) | [`Accepted`] |
//! | `GET /v1/messages?tag=…` | [`MessagePage`] of [`StoredMessage`] |
//! | `GET /v1/status` | [`NodeStatus`] |
//! | any failure | [`ErrorBody`]: an [`ErrorCode`] (which fixes the HTTP status) and a sentence |
//!
//! Hex fields are lower-case hex on the wire and fixed-size byte arrays here; a node answer
//! whose hex is not the right length does not parse. Clients accept fields they do not know
//! (a newer node may add some); emsd never sends any.

use base64::Engine;
use ems_core::message::MAX_FRAME;
use ems_core::{Message, Policy, Reject};
use serde::{Deserialize, Serialize};

/// `GET /v1/chain/head`: what a sender binds a message to, and the policy it must meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The head's height.
    pub height: u64,
    /// The head's 4-byte hash prefix: the BLOCKHASH a new frame carries.
    #[serde(with = "hex_bytes")]
    pub blockhash: [u8; 4],
    /// The node's policy (proof of work, TTL limit).
    pub policy: Policy,
}

/// `POST /v1/messages`: the frame's digest (202 when it is new, 200 when already stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// `SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)` of the frame.
    #[serde(with = "hex_bytes")]
    pub digest: [u8; 32],
    /// The frame is committed to the node's store and survives a crash of the node. `false`:
    /// it is not in the node's store, because the node runs without one (`--no-store`:
    /// validated and relayed only) or, with 200, because the node did not keep it when it first
    /// came by gossip (store full).
    pub stored: bool,
}

/// `GET /v1/messages?tag=…`: one page of stored messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    /// The messages, oldest first.
    pub messages: Vec<StoredMessage>,
    /// Where the next page starts; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// One message of a [`MessagePage`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The frame's digest, hex.
    pub digest: String,
    /// The raw frame, standard base64.
    pub wire: String,
}

impl StoredMessage {
    /// The entry for `message`.
    pub fn new(message: &Message) -> Self {
        StoredMessage {
            digest: hex::encode(message.digest()),
            wire: base64::engine::general_purpose::STANDARD.encode(message.encode()),
        }
    }

    /// The frame, if `wire` is base64 of one valid frame; `None` otherwise (checked for length
    /// before anything is decoded), so one bad entry from a faulty node costs nothing but itself.
    pub fn frame(&self) -> Option<Message> {
        if self.wire.len() > MAX_FRAME.div_ceil(3) * 4 {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.wire.as_bytes())
            .ok()?;
        Message::decode(&bytes).ok()
    }
}

/// `GET /v1/status`: the node, its chain, its store and its policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// Its bound addresses, each ending in `/p2p/<peer id>`.
    pub listen_addrs: Vec<String>,
    /// The network name.
    pub network: String,
    /// Connected peers.
    pub peers: u64,
    /// The chain as the node sees it.
    pub chain: ChainStatus,
    /// Store figures.
    pub store: StoreStatus,
    /// The node's policy.
    pub policy: Policy,
}

/// The chain part of [`NodeStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// `devnet`, `static` or `qrl://HOST:PORT`.
    pub source: String,
    /// The head's height, when the chain can answer.
    pub height: Option<u64>,
    /// Hex of the head's 4-byte hash prefix, when the chain can answer.
    pub head_prefix: Option<String>,
    /// Whether the chain source is healthy; when it cannot answer at all, every message is
    /// refused.
    pub healthy: bool,
}

/// The store part of [`NodeStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreStatus {
    /// Messages held.
    pub messages: u64,
    /// Their encoded bytes.
    pub bytes: u64,
}

/// Every failure's body: `{"error": {"code", "message"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The failure.
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The stable code.
    pub code: ErrorCode,
    /// A sentence for people; it may change between versions.
    pub message: String,
}

impl ErrorBody {
    /// The body for `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody {
            error: ErrorDetail {
                code,
                message: message.into(),
            },
        }
    }
}

/// The API's stable error codes (snake_case on the wire), each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request or the frame cannot be read.
    Malformed,
    /// 413: longer than any valid frame or payload.
    TooLarge,
    /// 422: the frame's TTL has passed.
    Expired,
    /// 422: the TTL is further ahead than the node's `max_ttl`.
    TtlTooFar,
    /// 422: the BLOCKHASH is not a recent block's.
    StaleBlockhash,
    /// 422: the proof of work is below the target.
    InsufficientWork,
    /// 422: the node does not accept the frame's proof-of-work algorithm.
    UnsupportedPow,
    /// 404: no such path or message.
    NotFound,
    /// 405: the path does not take that method.
    MethodNotAllowed,
    /// 401: the node requires its API token.
    Unauthorized,
    /// 429: too many requests, or every live-stream slot is taken.
    RateLimited,
    /// 503: the chain cannot be asked.
    ChainUnavailable,
    /// 503: the node is stopping.
    ShuttingDown,
    /// 507: the store is full.
    StoreFull,
    /// 500: the node failed; its log says more.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order `docs/openapi.json` lists them.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::Malformed,
        ErrorCode::TooLarge,
        ErrorCode::Expired,
        ErrorCode::TtlTooFar,
        ErrorCode::StaleBlockhash,
        ErrorCode::InsufficientWork,
        ErrorCode::UnsupportedPow,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthorized,
        ErrorCode::RateLimited,
        ErrorCode::ChainUnavailable,
        ErrorCode::ShuttingDown,
        ErrorCode::StoreFull,
        ErrorCode::Internal,
    ];

    /// The snake_case name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "malformed",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Expired => "expired",
            ErrorCode::TtlTooFar => "ttl_too_far",
            ErrorCode::StaleBlockhash => "stale_blockhash",
            ErrorCode::InsufficientWork => "insufficient_work",
            ErrorCode::UnsupportedPow => "unsupported_pow",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::ChainUnavailable => "chain_unavailable",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::StoreFull => "store_full",
            ErrorCode::Internal => "internal",
        }
    }

    /// The code named `name`, if it is one.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::Malformed => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TooLarge => 413,
            ErrorCode::Expired
            | ErrorCode::TtlTooFar
            | ErrorCode::StaleBlockhash
            | ErrorCode::InsufficientWork
            | ErrorCode::UnsupportedPow => 422,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::ChainUnavailable | ErrorCode::ShuttingDown => 503,
            ErrorCode::StoreFull => 507,
        }
    }

    /// Whether a frame refused with this code will never be accepted, by this node or any
    /// other (it is malformed, too large, expired or its proof falls short), so a client
    /// drops it from its outbox instead of trying again. The others (the chain, the store, the
    /// rate limit, a stopping node) may pass later.
    pub fn is_permanent_refusal(self) -> bool {
        matches!(
            self,
            ErrorCode::Malformed
                | ErrorCode::TooLarge
                | ErrorCode::Expired
                | ErrorCode::TtlTooFar
                | ErrorCode::StaleBlockhash
                | ErrorCode::InsufficientWork
                | ErrorCode::UnsupportedPow
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&Reject> for ErrorCode {
    fn from(reject: &Reject) -> Self {
        match reject {
            Reject::Malformed(_) => ErrorCode::Malformed,
            Reject::PayloadTooLarge { .. } => ErrorCode::TooLarge,
            Reject::Expired { .. } => ErrorCode::Expired,
            Reject::TtlTooFar { .. } => ErrorCode::TtlTooFar,
            Reject::StaleBlockhash { .. } => ErrorCode::StaleBlockhash,
            Reject::ChainUnavailable(_) => ErrorCode::ChainUnavailable,
            Reject::UnsupportedPow { .. } => ErrorCode::UnsupportedPow,
            Reject::InsufficientWork(_) => ErrorCode::InsufficientWork,
        }
    }
}

/// Fixed-size byte arrays as lower-case hex strings.
/// `text` quoted for an error message, cut to its first 64 characters: an error never echoes
/// an unbounded string from the other side (a client's query to the node, a node's answer to
/// the client).
pub fn quoted(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut out = [0u8; N];
        hex::decode_to_slice(text.as_bytes(), &mut out).map_err(|_| {
            let text = super::quoted(&text);
            serde::de::Error::custom(format!("{text} is not {N} bytes of hex"))
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
