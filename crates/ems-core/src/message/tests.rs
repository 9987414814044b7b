//! Codec tests: round trips, every length check, hostile bytes.

use super::*;
use proptest::prelude::*;

fn sample(payload_len: usize) -> Message {
    let mut m = Message::new(
        [7; 64],
        vec![0x5a; payload_len],
        1_800_000_000,
        [1, 2, 3, 4],
    )
    .unwrap();
    m.set_pow(
        Algorithm::Sha256,
        Proof {
            nonce: 99,
            hash: [3; 32],
        },
    );
    m
}

#[test]
fn frame_sizes_are_as_documented() {
    assert_eq!(MIN_FRAME, 115);
    assert_eq!(MAX_FRAME, 8307);
    assert_eq!(sample(0).encode().len(), MIN_FRAME);
    assert_eq!(sample(MAX_PAYLOAD).encode().len(), MAX_FRAME);
}

#[test]
fn id_halves_are_the_tag_and_the_nonce() {
    let mut id = [0u8; 64];
    id[..32].fill(0xaa);
    id[32..].fill(0xbb);
    let m = Message::new(id, vec![], 1, [0; 4]).unwrap();
    assert_eq!(m.id0(), &[0xaa; 32]);
    assert_eq!(m.id1(), &[0xbb; 32]);
}

#[test]
fn digest_covers_id_payload_ttl_and_blockhash_but_not_the_proof() {
    let m = sample(10);
    let mut h = Sha256::new();
    h.update([7u8; 64]);
    h.update([0x5a; 10]);
    h.update(1_800_000_000u32.to_be_bytes());
    h.update([1, 2, 3, 4]);
    let expected: [u8; 32] = h.finalize().into();
    assert_eq!(m.digest(), expected);
    let mut other = m.clone();
    other.set_pow(
        Algorithm::Sha256,
        Proof {
            nonce: 1,
            hash: [0; 32],
        },
    );
    assert_eq!(other.digest(), m.digest());
}

#[test]
fn oversized_payload_cannot_be_built() {
    assert_eq!(
        Message::new([0; 64], vec![0; MAX_PAYLOAD + 1], 1, [0; 4]),
        Err(DecodeError::PayloadTooLarge {
            len: MAX_PAYLOAD + 1
        })
    );
}

#[test]
fn oversized_frame_is_refused_unread() {
    let bytes = vec![0u8; MAX_FRAME + 1];
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::FrameTooLarge { len: MAX_FRAME + 1 })
    );
}

#[test]
fn payload_length_above_maximum_is_refused_before_reading_it() {
    let mut bytes = sample(0).encode();
    bytes[64..66].copy_from_slice(&(MAX_PAYLOAD as u16 + 1).to_be_bytes());
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::PayloadTooLarge {
            len: MAX_PAYLOAD + 1
        })
    );
}

#[test]
fn each_truncation_names_its_field() {
    let bytes = sample(10).encode();
    let cases = [
        (0, Field::Id),
        (63, Field::Id),
        (65, Field::PayloadLength),
        (66 + 9, Field::Payload),
        (76 + 3, Field::Ttl),
        (80 + 3, Field::Blockhash),
        (84, Field::PowAlgorithm),
        (85 + 39, Field::PowProof),
    ];
    for (cut, field) in cases {
        match Message::decode(&bytes[..cut]) {
            Err(DecodeError::Truncated { field: f, .. }) => assert_eq!(f, field, "cut {cut}"),
            other => panic!("cut at {cut}: expected truncated {field}, got {other:?}"),
        }
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = sample(10).encode();
    bytes.push(0);
    assert_eq!(
        Message::decode(&bytes),
        Err(DecodeError::TrailingBytes { extra: 1 })
    );
}

#[test]
fn unknown_algorithm_byte_still_decodes() {
    let mut bytes = sample(1).encode();
    let alg_at = bytes.len() - PROOF_LEN - 1;
    bytes[alg_at] = 0xee;
    assert_eq!(Message::decode(&bytes).unwrap().pow().algorithm, 0xee);
}

#[test]
fn aad_is_id_ttl_blockhash() {
    let aad = Message::aad(&[9; 64], 0x01020304, [5, 6, 7, 8]);
    assert_eq!(&aad[..64], &[9; 64]);
    assert_eq!(&aad[64..], &[1, 2, 3, 4, 5, 6, 7, 8]);
}

fn arb_message() -> impl Strategy<Value = Message> {
    (
        prop::array::uniform32(any::<u8>()),
        prop::array::uniform32(any::<u8>()),
        prop::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD),
        any::<u32>(),
        any::<[u8; 4]>(),
        any::<u8>(),
        any::<u64>(),
        prop::array::uniform32(any::<u8>()),
    )
        .prop_map(|(id0, id1, payload, ttl, bh, alg, nonce, hash)| {
            let mut id = [0u8; 64];
            id[..32].copy_from_slice(&id0);
            id[32..].copy_from_slice(&id1);
            let mut m = Message::new(id, payload, ttl, bh).unwrap();
            m.pow = PowField {
                algorithm: alg,
                proof: Proof { nonce, hash },
            };
            m
        })
}

proptest! {
    #[test]
    fn decode_inverts_encode(m in arb_message()) {
        let bytes = m.encode();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert_eq!(Message::decode(&bytes), Ok(m));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..9000)) {
        let _ = Message::decode(&bytes);
    }

    #[test]
    fn decoding_a_mutated_frame_never_panics(m in arb_message(), at in any::<prop::sample::Index>(), byte: u8, cut in any::<prop::sample::Index>()) {
        let mut bytes = m.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let n = cut.index(bytes.len() + 1);
        let _ = Message::decode(&bytes[..n]);
    }
}
