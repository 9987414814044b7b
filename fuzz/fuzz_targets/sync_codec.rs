//! History sync (`/qrl/ems/sync/2`) requests and answers from peers: `Request::decode`,
//! `Response::decode` (input byte 0 picks which; the rest is a message body).
//!
//! - decoding allocates within a small multiple of the input's length, whatever counts the
//!   message claims;
//! - what decodes encodes back to the same bytes, respects the protocol's limits, and an
//!   answer's tag is the tag it was decoded with.
#![no_main]

use ems_fuzz::alloc;
use ems_relay::sync::{
    Request, Response, MAX_FETCH, MAX_FETCH_BYTES, MAX_OFFER, MAX_RECONCILE, MAX_RECONCILE_ANSWER,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, body)) = bytes.split_first() else {
        return;
    };
    // Digests, frames and negentropy messages are copied once; a list of frames costs a
    // 24-byte entry per frame, and each frame takes at least its 2-byte length; a list's first
    // growth reserves four entries.
    let limit = 16 * body.len() + 128;
    if which & 1 == 0 {
        if let Ok(request) = alloc::bounded("Request::decode", limit, || Request::decode(body)) {
            assert_eq!(request.encode(), body, "re-encoding gives the same bytes");
            match &request {
                Request::Fetch { digests, .. } => assert!(digests.len() <= MAX_FETCH),
                Request::Offer {
                    digests,
                    last,
                    complete,
                    ..
                } => assert!(digests.len() <= MAX_OFFER && (*last || !*complete)),
                Request::Reconcile { message, .. } => {
                    assert!(!message.is_empty() && message.len() <= MAX_RECONCILE)
                }
            }
        }
    } else if let Ok(response) =
        alloc::bounded("Response::decode", limit, || Response::decode(body))
    {
        assert_eq!(response.encode(), body, "re-encoding gives the same bytes");
        match &response {
            Response::Reconcile { message, .. } => {
                assert!(!message.is_empty() && message.len() <= MAX_RECONCILE_ANSWER)
            }
            Response::Frames { frames, .. } => {
                assert!(frames.len() <= MAX_FETCH);
                assert!(frames.iter().map(Vec::len).sum::<usize>() <= MAX_FETCH_BYTES);
            }
            Response::Busy(_) | Response::Taken { .. } => {}
        }
    }
});
