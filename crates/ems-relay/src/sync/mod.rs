//! History sync: the `/qrl/ems/sync/1` request-response protocol and its codec.
//!
//! A node that connects to a peer asks for its inventory (digests of unexpired messages, in
//! pages, optionally only some tags or those received since a time), looks up which it lacks,
//! and fetches only those. What arrives is validated like gossip, in the history context. The
//! asker never receives a frame it already holds; the cost of a round is 32 bytes per message
//! the peer holds.
//!
//! Every message on a stream is a `u32` big-endian length, then that many bytes:
//!
//! ```text
//! request  Inventory: 0x01 | flags (bit0 since, bit1 after) | [since u64] | [after 72] | limit u16 | n u8 | n × tag 32
//! request  Fetch:     0x02 | n u16 | n × digest 32                      (n ≤ MAX_FETCH)
//! response Inventory: 0x01 | flags (bit0 next) | [next 72] | n u16 | n × digest 32
//! response Frames:    0x02 | n u16 | n × (len u16 | wire frame)
//! ```
//!
//! A position (`after`, `next`) is `tag 32 ‖ received_at u64 ‖ digest 32` in the answering
//! node's index; the asker hands back what it was given. Lengths are checked before anything
//! is allocated; requests over [`MAX_REQUEST_LEN`] and responses over [`MAX_RESPONSE_LEN`] are
//! refused unread.

//!
//! The protocol lives here whole, the way rust-libp2p gives each protocol its room:
//! - `codec`: the wire types ([`Request`], [`Response`]) and [`SyncCodec`];
//! - `round`: the rounds with peers and the answers to them (methods of the node's `Core`).

mod codec;
mod round;

pub use codec::{
    Request, Response, SyncCodec, SyncError, MAX_FETCH, MAX_FETCH_BYTES, MAX_INVENTORY,
    MAX_REQUEST_LEN, MAX_RESPONSE_LEN, PROTOCOL,
};
