//! History sync: the `/qrl/ems/sync/2` request-response protocol, by range-based set
//! reconciliation ([negentropy](https://github.com/hoytech/negentropy), protocol 0x61, as in
//! NIP-77 and Waku's store sync).
//!
//! The items are (TTL, digest) of every stored message whose TTL is more than the clock skew
//! away: both nodes agree on a message's TTL (it is in the frame), unlike its arrival time. Of
//! two connected peers, the one with the smaller peer id initiates a round; the reconcilers
//! exchange fingerprints of ranges until every difference is found, so two nodes sharing N
//! messages and differing by Δ exchange O(Δ log N) bytes, not O(N). The initiator fetches what
//! it lacks, and offers the peer the digests the peer lacks, which the peer fetches in turn:
//! one round per connection. The other peer starts its own only if no complete round reached
//! it in time.
//!
//! Every message on a stream is a `u32` big-endian length, then that many bytes:
//!
//! ```text
//! request  Reconcile: 0x01 | round u32 | step u8 | negentropy message (1..=128 KiB)
//! request  Fetch:     0x02 | id u32 | n u8 | n × digest 32                (n ≤ 64)
//! request  Offer:     0x04 | round u32 | part u8 | flags u8 | n u16 | n × digest 32 (n ≤ 2,000)
//! response Reconcile: 0x01 | round u32 | step u8 | negentropy message (1..=1 MiB − 6 B)
//! response Frames:    0x02 | id u32 | n u8 | n × (len u16 | frame)      (n ≤ 64, ≤ 512 KiB)
//! response Taken:     0x04 | round u32 | part u8
//! response Busy:      0x03 | the request's tag (kind, and round and step, id, or round and part)
//! ```
//!
//! Lengths are checked before anything is allocated; requests over [`MAX_REQUEST_LEN`] and
//! responses over [`MAX_RESPONSE_LEN`] are refused unread; trailing bytes are refused.
//!
//! - `codec`: the wire types ([`Request`], [`Response`], [`Tag`]) and [`SyncCodec`];
//! - `items`: the (TTL, digest) snapshot the reconcilers read;
//! - `round`: rounds with peers and the answers to them; `offer`: who starts the rounds, and
//!   handing over what the peer lacks; `serve`: answering peers;
//! - `fetch`: the node-wide fetch window; `score`: faults and cut-off; `state`: all of it.

mod codec;
mod fetch;
mod items;
mod offer;
mod round;
mod score;
mod serve;
mod state;

pub use codec::{
    Request, Response, SyncCodec, SyncError, Tag, MAX_FETCH, MAX_FETCH_BYTES, MAX_OFFER,
    MAX_OFFER_PARTS, MAX_RECONCILE, MAX_RECONCILE_ANSWER, MAX_REQUEST_LEN, MAX_RESPONSE_LEN,
    PROTOCOL,
};
pub(crate) use fetch::MAX_WANTED;
pub(crate) use state::SyncState;
pub use state::MAX_EXCHANGES;

/// Sync streams open at once on one connection, both ways: an honest peer has at most 10 of its
/// own (8 fetches, a reconcile exchange, an offer), and this node as many. Each incoming request
/// is read whole, so a peer can hold at most 32 × 128 KiB of this node's memory (the libp2p
/// default of 100 streams would let it hold 12.5 MiB); a stream past the cap is dropped unread,
/// and one that stalls is dropped at `Tuning::sync_timeout`.
pub const SYNC_STREAMS: usize = 32;

/// Why one of this node's sync requests brought no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No answer: timed out, the connection closed, the stream failed (the request is given
    /// up without blame, and retried later).
    Lost,
    /// The codec refused the answer's bytes: a fault of the peer's.
    Invalid,
    /// The peer does not speak `/qrl/ems/sync/2`: no round is started with it again while it
    /// stays connected.
    Unsupported,
}
