//! The node's JSON answers as a client reads them (`ems-client`'s `schema` types, which
//! `NodeClient` parses from any node it is pointed at): input byte 0 picks the answer
//! (`GET /v1/chain/head`, `POST /v1/messages`, `GET /v1/messages`, `GET /v1/status`, a
//! failure's body), the rest is the body.
//!
//! - parsing allocates within a small multiple of the body's length;
//! - an answer that parses is a fixed point: written back as JSON, it parses to the same answer;
//! - each entry of a page gives its frame within a bound whatever its length (the length is
//!   checked before anything is decoded), and a frame it gives is written back as the same
//!   entry: one encoding per frame.
#![no_main]

use ems_client::schema::{Accepted, ChainHead, ErrorBody, MessagePage, NodeStatus, StoredMessage};
use ems_core::message::MAX_FRAME;
use ems_fuzz::alloc;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// Parses `body` as a `T` within the allocation bound; if it parses, checks the fixed point.
fn answer<T: DeserializeOwned + Serialize + PartialEq + Debug>(body: &[u8]) -> Option<T> {
    // Strings unescaped, numbers, vectors grown by doubling: a few times the body, plus
    // serde_json's error (a short message with a position).
    let parsed = alloc::bounded("the answer", 8 * body.len() + 4096, || {
        serde_json::from_slice::<T>(body)
    });
    let value = parsed.ok()?;
    let written = serde_json::to_vec(&value).expect("an answer serialises");
    let again: T = serde_json::from_slice(&written).expect("what was written parses");
    assert_eq!(again, value, "an answer written back parses to itself");
    Some(value)
}

fuzz_target!(|bytes: &[u8]| {
    let Some((&kind, body)) = bytes.split_first() else {
        return;
    };
    match kind % 5 {
        0 => {
            answer::<ChainHead>(body);
        }
        1 => {
            answer::<Accepted>(body);
        }
        2 => {
            let Some(page) = answer::<MessagePage>(body) else {
                return;
            };
            for entry in &page.messages {
                // Decoded only when its length allows a frame: base64 of one, then the frame.
                let frame =
                    alloc::bounded("an entry's frame", 3 * MAX_FRAME + 4096, || entry.frame());
                if let Some(frame) = frame {
                    assert!(frame.encoded_len() <= MAX_FRAME);
                    assert_eq!(
                        StoredMessage::new(&frame).wire,
                        entry.wire,
                        "a frame has one encoding"
                    );
                }
            }
        }
        3 => {
            answer::<NodeStatus>(body);
        }
        _ => {
            answer::<ErrorBody>(body);
        }
    }
});
