//! Frames from anyone (gossip, the API, sync): `Message::decode`.
//!
//! - decoding never allocates more than the input's length (the payload, nothing else);
//! - what decodes encodes back to the same bytes, and its length and digest are consistent;
//! - what fails names the reason `docs/wire-format.md` gives for those bytes.
#![no_main]

use ems_core::{message::MAX_FRAME, Context, Message, Reject};
use ems_fuzz::{alloc, reference, vectors};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let decoded = alloc::bounded("Message::decode", bytes.len(), || Message::decode(bytes));
    // Before the clock and the chain, the reference's verdict is the decoder's.
    let documented = reference::verdict(bytes, Context::Live, vectors::get());
    match decoded {
        Ok(message) => {
            assert_eq!(message.encode(), bytes, "re-encoding gives the same bytes");
            assert_eq!(message.encoded_len(), bytes.len());
            assert!(bytes.len() <= MAX_FRAME);
            assert_eq!(Message::decode(&message.encode()).as_ref(), Ok(&message));
            assert!(!matches!(documented, Err("malformed" | "too_large")));
        }
        Err(e) => {
            assert!(!e.to_string().is_empty() && !e.kind().is_empty());
            assert_eq!(Err(Reject::from(e).code()), documented.map(|_| ()));
        }
    }
});
