//! Channel state files read back (the JSON `ems-core` serialises a [`Channel`] to, which the
//! client keeps encrypted beside the key file): a damaged or hostile file must be refused or
//! used without a panic.
//!
//! A state that parses serialises to a fixed point (parse, write, parse, write gives the same
//! text), and Alice can then list its watch tags, seal to it, unseal a forged frame addressed to
//! one of its tags (refused, state unchanged) and try a rekey.
#![no_main]

use ems_core::Channel;
use ems_fuzz::people::{alice, save, BLOCKHASH, NOW, TTL};
use ems_fuzz::rng;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut channel) = serde_json::from_slice::<Channel>(bytes) else {
        return;
    };
    let written = save(&channel);
    let again: Channel = serde_json::from_str(&written).expect("written state parses");
    assert_eq!(
        save(&again),
        written,
        "state serialisation is a fixed point"
    );

    let tags = channel.watch_tags(NOW);
    let mut rng = rng(0);
    if let Some(tag) = tags.first() {
        let mut id = [0u8; 64];
        id[..32].copy_from_slice(tag);
        let forged = ems_core::Message::new(id, vec![0; 256], TTL, BLOCKHASH).expect("frame");
        let before = save(&channel);
        assert!(
            channel.unseal(alice(), &forged, NOW).is_err(),
            "a forged frame opened"
        );
        assert_eq!(save(&channel), before, "a refused frame changed the state");
    }
    let _ = channel.seal(alice(), b"hello", TTL, BLOCKHASH, false, &mut rng);
    let _ = channel.rekey(alice(), TTL, BLOCKHASH, &mut rng);
    let _ = channel.watch_tags(NOW);
});
