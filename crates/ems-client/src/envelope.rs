//! What `ems` puts inside a channel message: the time the sender wrote it, then the text.
//!
//! ```text
//! plaintext = 0x01 | sent (u64, unix seconds, big-endian) | text (UTF-8)
//! ```
//!
//! The channel authenticates all of it as the peer's, so the time is the peer's claim, not a
//! relay's.

use ems_core::channel::{MAX_PLAINTEXT, MAX_SIGNED_PLAINTEXT};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 8;

/// The largest text one message carries, signed or not.
pub fn max_text(signed: bool) -> usize {
    (if signed {
        MAX_SIGNED_PLAINTEXT
    } else {
        MAX_PLAINTEXT
    }) - HEADER
}

/// The plaintext for `text` written at `sent`.
pub fn encode(sent: u64, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + text.len());
    out.push(VERSION);
    out.extend_from_slice(&sent.to_be_bytes());
    out.extend_from_slice(text);
    out
}

/// The sending time and text of a plaintext; `None` if it is not this format (the caller shows
/// such a message as raw bytes).
pub fn decode(plaintext: &[u8]) -> Option<(u64, &[u8])> {
    let (&version, rest) = plaintext.split_first()?;
    if version != VERSION || rest.len() < 8 {
        return None;
    }
    let (sent, text) = rest.split_at(8);
    Some((u64::from_be_bytes(sent.try_into().ok()?), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reads_what_encode_wrote_and_refuses_other_bytes() {
        let plaintext = encode(1_800_000_000, b"hello");
        assert_eq!(decode(&plaintext), Some((1_800_000_000, &b"hello"[..])));
        assert_eq!(decode(&encode(7, b"")), Some((7, &b""[..])));
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[2, 0, 0, 0, 0, 0, 0, 0, 7]), None);
        assert_eq!(decode(&[1, 0, 0]), None);
        assert_eq!(encode(0, &vec![b'x'; max_text(false)]).len(), MAX_PLAINTEXT);
    }
}
