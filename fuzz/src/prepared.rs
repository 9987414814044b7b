//! What the channel targets need at each point of the fixtures' conversation
//! ([`crate::people`]), made once per process so that an input costs only what it exercises:
//! Alice's state (in binary form, checked to serialise back to itself) and Bob's frames from
//! there.

use crate::people::{self, bob, BLOCKHASH, TTL};
use crate::rng;
use ems_core::Message;
use std::sync::OnceLock;

/// One point of the conversation, as Alice's end receives Bob's frames there.
pub struct Point {
    /// Alice's state, [`people::compact`]: also what it serialises back to (checked when made).
    pub alice: Vec<u8>,
    /// Bob's state, [`people::compact`].
    pub bob: Vec<u8>,
    /// Bob's first frame from that point, `b"tamper with me"`, sealed with `rng(point)`.
    pub tamper: Message,
    /// Bob's first eight frames from that point, frame `i` holding `[i; 3]`, sealed one after
    /// the other with `rng(point)`.
    pub sent: Vec<Message>,
}

/// Every point of [`people::conversation`] (made once).
pub fn points() -> &'static [Point] {
    static POINTS: OnceLock<Vec<Point>> = OnceLock::new();
    POINTS.get_or_init(|| {
        let conversation = people::conversation();
        conversation
            .states
            .iter()
            .enumerate()
            .map(|(i, (a_state, b_state))| {
                let alice = people::compact(&people::restore(a_state));
                assert_eq!(
                    people::compact(&people::from_compact(&alice)),
                    alice,
                    "Alice's state restores to itself"
                );
                let seed = i as u64;
                let tamper = people::restore(b_state)
                    .seal(
                        bob(),
                        b"tamper with me",
                        TTL,
                        BLOCKHASH,
                        false,
                        &mut rng(seed),
                    )
                    .expect("Bob seals");
                let mut b = people::restore(b_state);
                let mut rng = rng(seed);
                let sent = (0..8u8)
                    .map(|k| {
                        b.seal(bob(), &[k; 3], TTL, BLOCKHASH, false, &mut rng)
                            .expect("Bob seals")
                    })
                    .collect();
                Point {
                    alice,
                    bob: people::compact(&people::restore(b_state)),
                    tamper,
                    sent,
                }
            })
            .collect()
    })
}
