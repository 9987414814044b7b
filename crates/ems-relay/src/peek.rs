//! What the relay reads from a frame without decoding it: its digest (the gossipsub message
//! id, computed on the swarm task for every copy that arrives, duplicates included) and its
//! proof-of-work algorithm (to charge an expensive proof to the sender's budget before it is
//! checked). Neither allocates; both return `None` for bytes that are not a well-formed frame
//! (`Message::decode` then says why).

use ems_core::message::{ID_LEN, MAX_FRAME, MAX_PAYLOAD, OVERHEAD};
use sha2::{Digest, Sha256};

/// Where the payload length sits, and where the payload starts.
const LEN_AT: usize = ID_LEN;
const PAYLOAD_AT: usize = ID_LEN + 2;

/// The payload length, if `frame` is exactly as long as it announces.
fn payload_len(frame: &[u8]) -> Option<usize> {
    if frame.len() < OVERHEAD || frame.len() > MAX_FRAME {
        return None;
    }
    let n = usize::from(u16::from_be_bytes([frame[LEN_AT], frame[LEN_AT + 1]]));
    (n <= MAX_PAYLOAD && frame.len() == OVERHEAD + n).then_some(n)
}

/// `SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)`, as `Message::digest` computes it.
pub(crate) fn digest(frame: &[u8]) -> Option<[u8; 32]> {
    let n = payload_len(frame)?;
    let end = PAYLOAD_AT + n + 8;
    Some(
        Sha256::new()
            .chain_update(&frame[..ID_LEN])
            .chain_update(&frame[PAYLOAD_AT..end])
            .finalize()
            .into(),
    )
}

/// The proof-of-work algorithm byte.
pub(crate) fn algorithm(frame: &[u8]) -> Option<u8> {
    let n = payload_len(frame)?;
    Some(frame[PAYLOAD_AT + n + 8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::Message;

    fn frame(payload: usize) -> Message {
        let mut id = [7u8; 64];
        id[40] = payload as u8;
        Message::new(id, vec![0x5a; payload], 1_900_000_000, [1, 2, 3, 4]).unwrap()
    }

    #[test]
    fn the_digest_is_the_decoded_messages_digest() {
        for n in [0, 1, 100, MAX_PAYLOAD] {
            let m = frame(n);
            let wire = m.encode();
            assert_eq!(digest(&wire), Some(m.digest()), "payload {n}");
            assert_eq!(algorithm(&wire), Some(m.pow().algorithm));
        }
    }

    #[test]
    fn bytes_that_are_not_a_frame_have_no_digest() {
        let wire = frame(10).encode();
        assert_eq!(digest(&wire[..wire.len() - 1]), None, "truncated");
        assert_eq!(digest(&[wire.clone(), vec![0]].concat()), None, "trailing");
        assert_eq!(digest(&[0u8; 20]), None, "shorter than the overhead");
        let mut lying = wire.clone();
        lying[LEN_AT..LEN_AT + 2].copy_from_slice(&9_000u16.to_be_bytes());
        assert_eq!(digest(&lying), None, "length above the maximum");
        assert_eq!(digest(&vec![0u8; MAX_FRAME + 1]), None, "too long");
        assert_eq!(algorithm(&wire[..50]), None);
    }
}
