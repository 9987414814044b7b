//! Tests that look inside the state: what a used key leaves behind.

use super::*;
use crate::channel::schedule::message_key;
use crate::secret::Secret;
use crate::Identity;
use rand::SeedableRng;

const NOW: u64 = 1_800_000_000;
const TTL: u32 = 1_800_003_600;
const BLOCKHASH: [u8; 4] = [1, 2, 3, 4];

fn pair(rng: &mut rand::rngs::StdRng) -> (Identity, Identity, Channel, Channel) {
    let alice = Identity::generate(rng, NOW, NOW + 1000, None).unwrap();
    let bob = Identity::generate(rng, NOW, NOW + 1000, None).unwrap();
    let (mut a, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, rng).unwrap();
    let incoming = recognise(&bob, &open, NOW).unwrap().unwrap();
    let (b, accept) = incoming.accept(&bob, TTL, BLOCKHASH, rng).unwrap();
    assert_eq!(
        a.unseal(&alice, &accept, NOW).unwrap(),
        Received::Rekey { epoch: 1 }
    );
    (alice, bob, a, b)
}

#[test]
fn a_used_message_key_cannot_be_recovered_from_either_state() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let (alice, bob, mut a, mut b) = pair(&mut rng);
    // Bob's chain key before the message is what derives its key.
    let chain_key = Secret(b.receiver.epoch.secrets()[0]);
    let key = message_key(&chain_key);
    let sealed = a
        .seal(&alice, b"forward secret", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    assert!(matches!(
        b.unseal(&bob, &sealed, NOW).unwrap(),
        Received::Data { plaintext, signature: None, .. } if plaintext == b"forward secret"
    ));
    for (side, state) in [
        ("sender", serde_json::to_string(&a).unwrap()),
        ("recipient", serde_json::to_string(&b).unwrap()),
    ] {
        assert!(
            !state.contains(&hex::encode(key.bytes())),
            "{side} state holds the used message key"
        );
        assert!(
            !state.contains(&hex::encode(chain_key.bytes())),
            "{side} state holds the chain key that made it"
        );
    }
    assert!(!b.receiver.secrets().contains(key.bytes()));
    // Restored from its serialised form, Bob's state refuses the message again.
    let mut restored: Channel = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    assert!(matches!(
        restored.unseal(&bob, &sealed, NOW),
        Err(ChannelError::Replay)
    ));
}

#[test]
fn a_state_in_a_binary_format_holds_bytes_not_hex_and_restores_the_same_channel() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (alice, bob, mut a, b) = pair(&mut rng);
    let cbor = |c: &Channel| {
        let mut out = Vec::new();
        ciborium::into_writer(c, &mut out).unwrap();
        out
    };
    let binary = cbor(&b);
    let json = serde_json::to_string(&b).unwrap();
    let mut restored: Channel = ciborium::from_reader(binary.as_slice()).unwrap();
    // The same state: written back identically in both forms.
    assert_eq!(cbor(&restored), binary);
    assert_eq!(serde_json::to_string(&restored).unwrap(), json);
    // Keys are byte strings there, hex in JSON.
    let key = b.receiver.epoch.secrets()[0];
    let holds =
        |haystack: &[u8], needle: &[u8]| haystack.windows(needle.len()).any(|w| w == needle);
    assert!(holds(&binary, &key) && !holds(&binary, hex::encode(key).as_bytes()));
    assert!(json.contains(&hex::encode(key)));
    // A hex string where bytes belong is refused, not misread.
    let as_text: Result<Channel, _> = ciborium::from_reader(
        {
            let mut out = Vec::new();
            ciborium::into_writer(
                &serde_json::from_str::<ciborium::Value>(&json).unwrap(),
                &mut out,
            )
            .unwrap();
            out
        }
        .as_slice(),
    );
    assert!(as_text.is_err());
    // And it works: it opens what Alice sends next.
    let sealed = a
        .seal(&alice, b"after a restore", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    assert!(matches!(
        restored.unseal(&bob, &sealed, NOW).unwrap(),
        Received::Data { plaintext, .. } if plaintext == b"after a restore"
    ));
}

#[test]
fn a_skipped_key_is_erased_once_its_message_arrives() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let (alice, bob, mut a, mut b) = pair(&mut rng);
    let first = a
        .seal(&alice, b"one", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    let key = message_key(&Secret(b.receiver.epoch.secrets()[0]));
    let second = a
        .seal(&alice, b"two", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    b.unseal(&bob, &second, NOW).unwrap();
    assert!(
        b.receiver.secrets().contains(key.bytes()),
        "the skipped key is kept for the late message"
    );
    b.unseal(&bob, &first, NOW).unwrap();
    assert!(
        !b.receiver.secrets().contains(key.bytes()),
        "the skipped key is gone once used"
    );
}

#[test]
fn state_of_another_version_is_refused() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let (_, _, a, _) = pair(&mut rng);
    let mut state: serde_json::Value = serde_json::to_value(&a).unwrap();
    state["version"] = 3.into();
    let error = serde_json::from_value::<Channel>(state)
        .unwrap_err()
        .to_string();
    assert!(error.contains("channel state version 3"), "{error}");
}

#[test]
fn hostile_counters_in_a_stored_state_do_not_panic() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let (alice, bob, mut a, b) = pair(&mut rng);
    let mut state: serde_json::Value = serde_json::to_value(&b).unwrap();
    state["receiver"]["epoch"]["next"] = u64::MAX.into();
    state["receiver"]["epoch"]["epoch"] = u32::MAX.into();
    let mut b: Channel = serde_json::from_value(state).unwrap();
    assert_eq!(b.watch_tags(NOW).len(), 1, "only the control tag is left");
    let m = a
        .seal(&alice, b"x", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
    assert!(matches!(
        b.unseal(&bob, &m, NOW),
        Err(ChannelError::UnknownTag { .. })
    ));
    let mut state: serde_json::Value = serde_json::to_value(&a).unwrap();
    state["send"]["next"] = u64::MAX.into();
    let mut a: Channel = serde_json::from_value(state).unwrap();
    a.seal(&alice, b"x", TTL, BLOCKHASH, false, &mut rng)
        .unwrap();
}
