//! History sync (`/qrl/ems/sync/1`) requests and answers from peers: `Request::decode`,
//! `Response::decode` (input byte 0 picks which; the rest is a message body).
//!
//! - decoding allocates within a small multiple of the input's length, whatever counts the
//!   message claims;
//! - what decodes encodes back to the same bytes and respects the protocol's limits.
#![no_main]

use ems_fuzz::alloc;
use ems_relay::sync::{Request, Response, MAX_FETCH, MAX_INVENTORY};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&which, body)) = bytes.split_first() else {
        return;
    };
    // Digests and frames are copied once; a list of frames costs a 24-byte entry per frame, and
    // each frame takes at least its 2-byte length; a list's first growth reserves four entries.
    let limit = 16 * body.len() + 128;
    if which & 1 == 0 {
        if let Ok(request) = alloc::bounded("Request::decode", limit, || Request::decode(body)) {
            assert_eq!(request.encode(), body, "re-encoding gives the same bytes");
            if let Request::Fetch { digests } = &request {
                assert!(digests.len() <= MAX_FETCH);
            }
        }
    } else if let Ok(response) =
        alloc::bounded("Response::decode", limit, || Response::decode(body))
    {
        assert_eq!(response.encode(), body, "re-encoding gives the same bytes");
        match &response {
            Response::Inventory { digests, .. } => assert!(digests.len() <= MAX_INVENTORY),
            Response::Frames { frames } => assert!(frames.len() <= MAX_FETCH),
        }
    }
});
