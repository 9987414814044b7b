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
//! Whatever arrives: when unseal fails, Alice's state is unchanged (byte-for-byte, serialised in
//! binary form: `people::compact`);
//! a frame whose ID, payload, TTL or blockhash was altered never opens; a replay is refused; a
//! body that opens is one the encoder writes back identically.
#![no_main]

use ems_core::channel::fuzzing::{reencode_body, with_plaintext_edit};
use ems_core::message::MAX_PAYLOAD;
use ems_core::suite::AEAD_TAG_LEN;
use ems_core::{Channel, ChannelError, Message, Received};
use ems_fuzz::people::{self, alice, bob, BLOCKHASH, NOW, TTL};
use ems_fuzz::prepared;
use ems_fuzz::rng;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

/// Where a data body's data starts: after its kind (1), ack (4), signed flag (1) and length (2)
/// (`docs/crypto.md`).
const DATA_OFFSET: usize = 8;

thread_local! {
    /// Alice's state at each point, kept from one input to the next while no frame has opened
    /// in it: a refused frame leaves it unchanged (checked on its whole serialisation, which is
    /// all the state there is), so it is still the point's state and need not be restored.
    static KEPT: RefCell<Vec<Option<Channel>>> = const { RefCell::new(Vec::new()) };
}

/// Alice's end at one point: her state, and its serialisation while that is known without
/// serialising it again.
struct Alice {
    point: usize,
    channel: Option<Channel>,
    /// Whether a frame has opened since the point's state.
    changed: bool,
    saved: Option<Vec<u8>>,
}

impl Alice {
    /// Alice at point `at`: the kept state, else the point's state restored.
    fn at(at: usize) -> Self {
        let kept = KEPT.with(|kept| kept.borrow_mut().get_mut(at).and_then(Option::take));
        let channel = kept.unwrap_or_else(|| people::from_compact(&prepared::points()[at].alice));
        Alice {
            point: at,
            channel: Some(channel),
            changed: false,
            saved: None,
        }
    }

    fn channel(&self) -> &Channel {
        self.channel.as_ref().expect("Alice's state")
    }

    /// Unseals `message`; if it fails, the state must not have changed.
    fn deliver(&mut self, message: &Message) -> Result<Received, ChannelError> {
        let point = &prepared::points()[self.point].alice;
        let before = match (self.changed, self.saved.take()) {
            (false, _) => None,
            (true, Some(saved)) => Some(saved),
            (true, None) => Some(people::compact(self.channel())),
        };
        let channel = self.channel.as_mut().expect("Alice's state");
        let out = channel.unseal(alice(), message, NOW);
        match &out {
            Err(e) => {
                let after = people::compact(channel);
                let unchanged = &after == before.as_ref().unwrap_or(point);
                // A changed state is never kept, even while the panic unwinds.
                self.changed |= !unchanged;
                assert!(unchanged, "a refused frame ({e}) changed the state");
                self.saved = Some(after);
            }
            Ok(_) => self.changed = true,
        }
        out
    }
}

impl Drop for Alice {
    /// Keeps the state for the next input if it is still the point's.
    fn drop(&mut self) {
        if !self.changed {
            let channel = self.channel.take();
            KEPT.with(|kept| {
                let mut kept = kept.borrow_mut();
                if kept.len() <= self.point {
                    kept.resize_with(self.point + 1, || None);
                }
                kept[self.point] = channel;
            });
        }
    }
}

fuzz_target!(|bytes: &[u8]| {
    let [state, mode, rest @ ..] = bytes else {
        return;
    };
    let points = prepared::points();
    let at = usize::from(*state) % points.len();
    let point = &points[at];
    // Taken only once the input is known to reach her.
    let take_alice = || Alice::at(at);
    match mode % 4 {
        0 => {
            let body = rest[..rest.len().min(MAX_PAYLOAD - AEAD_TAG_LEN)].to_vec();
            let edit = body.clone();
            let mut b = people::from_compact(&point.bob);
            let mut rng = rng(u64::from(*state));
            let message = with_plaintext_edit(
                move |plaintext| *plaintext = edit.clone(),
                || b.seal(bob(), b"", TTL, BLOCKHASH, false, &mut rng),
            )
            .expect("Bob seals");
            let mut a = take_alice();
            let reencoded = reencode_body(&body);
            if let Some(again) = &reencoded {
                assert_eq!(again, &body, "a body that decodes encodes back the same");
            }
            match a.deliver(&message) {
                Ok(received) => {
                    assert!(reencoded.is_some(), "a body that opens decodes");
                    if let Received::Data { plaintext, .. } = received {
                        let at = DATA_OFFSET;
                        assert_eq!(plaintext, body[at..at + plaintext.len()]);
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
            let mut a = take_alice();
            let tags = a.channel().watch_tags(NOW);
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
            let out = a.deliver(&message);
            assert!(genuine || out.is_err(), "a forged frame opened");
        }
        2 => {
            let genuine = &point.tamper;
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
            let out = take_alice().deliver(&message);
            assert_eq!(out.is_err(), altered, "altered: {altered}, unseal: {out:?}");
        }
        _ => {
            let Some((&count, order)) = rest.split_first() else {
                return;
            };
            let sent = &point.sent[..usize::from(count % 8) + 1];
            let mut a = take_alice();
            let mut opened = vec![false; sent.len()];
            // Refused since the state last changed: unseal is a function of the state and the
            // frame, so the same frame is refused again the same way.
            let mut refused = vec![false; sent.len()];
            for &pick in order.iter().take(32) {
                let i = usize::from(pick) % sent.len();
                if refused[i] {
                    continue;
                }
                match a.deliver(&sent[i]) {
                    Ok(Received::Data { plaintext, .. }) => {
                        assert!(!opened[i], "message {i} opened twice");
                        assert_eq!(plaintext, [i as u8; 3]);
                        opened[i] = true;
                        refused.fill(false);
                    }
                    Ok(other) => panic!("a data message unsealed as {other:?}"),
                    Err(ChannelError::Replay) => {
                        assert!(opened[i], "refused as a replay unopened");
                        refused[i] = true;
                    }
                    Err(e) => panic!("message {i} of {} refused: {e}", sent.len()),
                }
            }
        }
    }
});
