//! Key announcements, as a client reads them from a node: a frame, its payload decoded as a
//! bundle, kept only if it verifies and is filed under the tag of the subject it names.
//!
//! - the frame and the bundle each decode within the input's length of allocation;
//! - a kept announcement re-encodes to the same frame, and an announcement rebuilt from its
//!   bundle carries the same tag and payload.
#![no_main]

use ems_core::announce::{announcement, Subject};
use ems_core::{Bundle, Message};
use ems_fuzz::{alloc, people::NOW, rng};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = alloc::bounded("Message::decode", bytes.len(), || Message::decode(bytes))
    else {
        return;
    };
    let payload = message.payload();
    let Ok(bundle) = alloc::bounded("Bundle::decode", payload.len(), || Bundle::decode(payload))
    else {
        return;
    };
    let subject = Subject::of(&bundle);
    if *message.id0() != subject.tag() || bundle.verify(NOW).is_err() {
        return;
    }
    assert!(subject.names(&bundle));
    assert_eq!(message.encode(), bytes);
    let rebuilt = announcement(&bundle, message.ttl(), message.blockhash(), &mut rng(0));
    assert_eq!(rebuilt.id0(), message.id0());
    assert_eq!(rebuilt.payload(), message.payload());
});
