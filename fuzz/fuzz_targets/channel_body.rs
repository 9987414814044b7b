//! Channel messages against channel state: Bob's frames, as Alice's end unseals them, at three
//! points of a conversation (input byte 0 picks one).
//!
//! Input byte 1 picks what Bob sends:
//! - 0: an authentic frame whose padded body is the rest of the input (sealed on Bob's chain, so
//!   it passes the AEAD and reaches the body parser and the signature checks);
//! - 1: a frame of the fuzzer's own (the rest), its `ID0` replaced by one Alice watches for when
//!   the next byte says so: unless it is one of the conversation's frames, it never opens;
//! - 2: a genuine message, then the rest applied to its wire bytes as `(offset u16, xor u8)`
//!   edits;
//! - 3: several genuine messages delivered in the order (and with the repeats) the rest gives.
//!
//! Whatever arrives: when unseal fails, Alice's state is unchanged (byte-for-byte, serialised);
//! a frame whose ID, payload, TTL or blockhash was altered never opens; a replay is refused; a
//! body that opens is one the encoder writes back identically.
#![no_main]

use ems_core::channel::fuzzing::{reencode_body, with_plaintext_edit};
use ems_core::message::MAX_PAYLOAD;
use ems_core::suite::AEAD_TAG_LEN;
use ems_core::{Channel, ChannelError, Message, Received};
use ems_fuzz::people::{self, alice, bob, BLOCKHASH, NOW, TTL};
use ems_fuzz::rng;
use libfuzzer_sys::fuzz_target;

/// Unseals `message` at Alice's end; if it fails, her state must not have changed.
fn deliver(a: &mut Channel, message: &Message) -> Result<Received, ChannelError> {
    let before = people::save(a);
    let out = a.unseal(alice(), message, NOW);
    if let Err(e) = &out {
        assert_eq!(
            people::save(a),
            before,
            "a refused frame ({e}) changed the state"
        );
    }
    out
}

fuzz_target!(|bytes: &[u8]| {
    let [state, mode, rest @ ..] = bytes else {
        return;
    };
    let conversation = people::conversation();
    let (a_state, b_state) = &conversation.states[usize::from(*state) % conversation.states.len()];
    let (mut a, mut b) = (people::restore(a_state), people::restore(b_state));
    let mut rng = rng(u64::from(*state));
    match mode % 4 {
        0 => {
            let body = rest[..rest.len().min(MAX_PAYLOAD - AEAD_TAG_LEN)].to_vec();
            let edit = body.clone();
            let message = with_plaintext_edit(
                move |plaintext| *plaintext = edit.clone(),
                || b.seal(bob(), b"", TTL, BLOCKHASH, false, &mut rng),
            )
            .expect("Bob seals");
            let reencoded = reencode_body(&body);
            if let Some(again) = &reencoded {
                assert_eq!(again, &body, "a body that decodes encodes back the same");
            }
            match deliver(&mut a, &message) {
                Ok(received) => {
                    assert!(reencoded.is_some(), "a body that opens decodes");
                    if let Received::Data { plaintext, .. } = received {
                        assert_eq!(plaintext, body[4..4 + plaintext.len()]);
                    }
                }
                Err(
                    ChannelError::Tampered | ChannelError::Replay | ChannelError::UnknownTag { .. },
                ) => {
                    panic!("an authentic frame on the current chain was refused as unauthentic")
                }
                Err(_) => {}
            }
        }
        1 => {
            let Some((&tag, frame)) = rest.split_first() else {
                return;
            };
            let Ok(mut message) = Message::decode(frame) else {
                return;
            };
            let tags = a.watch_tags(NOW);
            if tag & 0x80 != 0 && !tags.is_empty() {
                let mut id = *message.id();
                id[..32].copy_from_slice(&tags[usize::from(tag) % tags.len()]);
                message = Message::new(
                    id,
                    message.payload().to_vec(),
                    message.ttl(),
                    message.blockhash(),
                )
                .expect("same payload");
            }
            // The fuzzer cannot forge a frame, but it can replay the conversation's own.
            let genuine = people::is_conversation_frame(&message);
            let out = deliver(&mut a, &message);
            assert!(genuine || out.is_err(), "a forged frame opened");
        }
        2 => {
            let genuine = b
                .seal(bob(), b"tamper with me", TTL, BLOCKHASH, false, &mut rng)
                .expect("Bob seals");
            let mut wire = genuine.encode();
            for edit in rest.chunks_exact(3) {
                let at = usize::from(u16::from_be_bytes([edit[0], edit[1]])) % wire.len();
                wire[at] ^= edit[2];
            }
            let Ok(message) = Message::decode(&wire) else {
                return;
            };
            let altered = message.id() != genuine.id()
                || message.payload() != genuine.payload()
                || message.ttl() != genuine.ttl()
                || message.blockhash() != genuine.blockhash();
            let out = deliver(&mut a, &message);
            assert_eq!(out.is_err(), altered, "altered: {altered}, unseal: {out:?}");
        }
        _ => {
            let Some((&count, order)) = rest.split_first() else {
                return;
            };
            let sent: Vec<Message> = (0..usize::from(count % 8) + 1)
                .map(|i| {
                    b.seal(bob(), &[i as u8; 3], TTL, BLOCKHASH, false, &mut rng)
                        .expect("Bob seals")
                })
                .collect();
            let mut opened = vec![false; sent.len()];
            for &pick in order.iter().take(32) {
                let i = usize::from(pick) % sent.len();
                match deliver(&mut a, &sent[i]) {
                    Ok(Received::Data { plaintext, .. }) => {
                        assert!(!opened[i], "message {i} opened twice");
                        assert_eq!(plaintext, [i as u8; 3]);
                        opened[i] = true;
                    }
                    Ok(other) => panic!("a data message unsealed as {other:?}"),
                    Err(ChannelError::Replay) => assert!(opened[i], "refused as a replay unopened"),
                    Err(e) => panic!("message {i} of {} refused: {e}", sent.len()),
                }
            }
        }
    }
});
