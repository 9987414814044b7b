//! Channel opens, as Bob's end tries every frame tagged with the open tag (`recognise`).
//!
//! Input byte 0 picks what arrives:
//! - even: Alice's open to Bob whose sealed part (`bundle body ‖ salt ‖ signature`) is the rest
//!   of the input; it passes the KEM and the AEAD and reaches the body parser and the signature
//!   check. The randomness is fixed, so the seed holding Alice's genuine plaintext opens;
//! - odd: a frame of the fuzzer's own (the rest), tagged with the open tag: unless it is the
//!   conversation's own open, it is never recognised, only ignored.
//!
//! An open that is recognised names Alice (no one else's signature can be made), and its accept
//! opens at Alice's end.
#![no_main]

use ems_core::channel::fuzzing::with_plaintext_edit;
use ems_core::channel::{open_tag, recognise, OPEN_PAYLOAD_LEN};
use ems_core::suite::{AEAD_TAG_LEN, KEM_CIPHERTEXT_LEN};
use ems_core::{Channel, Message, Received};
use ems_fuzz::people::{self, alice, bob, BLOCKHASH, NOW, TTL};
use ems_fuzz::rng;
use libfuzzer_sys::fuzz_target;

/// The largest sealed part an open can carry.
const MAX_SEALED: usize = ems_core::message::MAX_PAYLOAD - KEM_CIPHERTEXT_LEN - AEAD_TAG_LEN;

fuzz_target!(|bytes: &[u8]| {
    let Some((&mode, rest)) = bytes.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let Ok(message) = Message::decode(rest) else {
            return;
        };
        let mut id = *message.id();
        id[..32].copy_from_slice(&open_tag());
        let forged = Message::new(
            id,
            message.payload().to_vec(),
            message.ttl(),
            message.blockhash(),
        )
        .expect("same payload");
        // The fuzzer cannot forge an open, but it can replay the conversation's own.
        let genuine = people::is_conversation_frame(&forged);
        let out = recognise(bob(), &forged, NOW);
        assert!(
            genuine || matches!(out, Ok(None)),
            "a forged open was not ignored: {out:?}"
        );
        return;
    }
    let sealed = rest[..rest.len().min(MAX_SEALED)].to_vec();
    let sealed_len = sealed.len();
    let mut rng = rng(7);
    let (mut a, open) = with_plaintext_edit(
        move |plaintext| *plaintext = sealed.clone(),
        || Channel::open(alice(), bob().bundle(), NOW, TTL, BLOCKHASH, &mut rng),
    )
    .expect("Alice opens");
    match recognise(bob(), &open, NOW) {
        Ok(Some(incoming)) => {
            assert_eq!(
                sealed_len + KEM_CIPHERTEXT_LEN + AEAD_TAG_LEN,
                OPEN_PAYLOAD_LEN
            );
            assert_eq!(incoming.sender_fingerprint(), alice().fingerprint());
            assert_eq!(incoming.channel_id(), a.id());
            let (_, accept) = incoming
                .accept(bob(), TTL, BLOCKHASH, &mut rng)
                .expect("Bob accepts");
            assert_eq!(
                a.unseal(alice(), &accept, NOW).ok(),
                Some(Received::Rekey { epoch: 1 })
            );
        }
        Ok(None) => assert_ne!(
            sealed_len + KEM_CIPHERTEXT_LEN + AEAD_TAG_LEN,
            OPEN_PAYLOAD_LEN,
            "an open of the right length for Bob was ignored"
        ),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
