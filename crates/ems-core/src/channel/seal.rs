//! Sealing channel messages: the plaintext format, padding buckets and AES-256-GCM.
//!
//! ```text
//! payload   = AES-256-GCM(key_i, nonce = ID1[0..12], aad = ID ‖ TTL ‖ BLOCKHASH, padded) ‖ tag (16)
//! padded    = body ‖ zeros, so that the payload is one of PAYLOAD_BUCKETS bytes
//! body      = 0x00 data  | ack (u32) | signed (1) | length (u16) | data | [ML-DSA signature (3309)]
//!           | 0x01 rekey | ack (u32) | target ratchet key (u32) | count (u64)
//!                        | KEM ciphertext (1088) | new ratchet key (1184) | ML-DSA signature (3309)
//! ack       = the sender's receiving epoch: the newest epoch of the recipient's it has reached
//! ```

use super::error::ChannelError;
use crate::cursor::Cursor;
use crate::message::{Message, ID_LEN, MAX_PAYLOAD};
use crate::secret::hex_bytes;
use crate::suite::{
    aead_open, aead_seal, Key, AEAD_NONCE_LEN, AEAD_TAG_LEN, DSA_SIGNATURE_LEN, KEM_CIPHERTEXT_LEN,
    KEM_PUBLIC_KEY_LEN,
};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Payload sizes a channel message is padded to: an observer learns only the bucket.
pub const PAYLOAD_BUCKETS: [usize; 6] = [256, 512, 1024, 2048, 4096, MAX_PAYLOAD];
const KIND_DATA: u8 = 0;
const KIND_REKEY: u8 = 1;
const DATA_HEADER: usize = 1 + 4 + 1 + 2;
const REKEY_LEN: usize =
    1 + 4 + 4 + 8 + KEM_CIPHERTEXT_LEN + KEM_PUBLIC_KEY_LEN + DSA_SIGNATURE_LEN;
/// The largest plaintext one unsigned message carries.
pub const MAX_PLAINTEXT: usize = MAX_PAYLOAD - AEAD_TAG_LEN - DATA_HEADER;
/// The largest plaintext one signed message carries.
pub const MAX_SIGNED_PLAINTEXT: usize = MAX_PLAINTEXT - DSA_SIGNATURE_LEN;

/// A KEM ratchet step as it travels inside a sealed message (without the ack, which is added
/// each time it is sealed).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Rekey {
    pub(crate) target: u32,
    pub(crate) count: u64,
    #[serde(with = "hex_bytes::boxed")]
    pub(crate) ct: Box<[u8; KEM_CIPHERTEXT_LEN]>,
    #[serde(with = "hex_bytes::boxed")]
    pub(crate) new_key: Box<[u8; KEM_PUBLIC_KEY_LEN]>,
    #[serde(with = "hex_bytes::boxed")]
    pub(crate) signature: Box<[u8; DSA_SIGNATURE_LEN]>,
}

/// An opened message body, with the sender's ack.
pub(crate) struct Opened {
    pub(crate) ack: u32,
    pub(crate) body: Body,
}

/// What an opened message carries.
pub(crate) enum Body {
    Data {
        data: Zeroizing<Vec<u8>>,
        signature: Option<Box<[u8; DSA_SIGNATURE_LEN]>>,
    },
    Rekey(Rekey),
}

/// The padded plaintext of a data message; `data` must fit (checked by the caller).
pub(crate) fn encode_data(
    ack: u32,
    data: &[u8],
    signature: Option<&[u8; DSA_SIGNATURE_LEN]>,
) -> Zeroizing<Vec<u8>> {
    let signature_len = signature.map_or(0, |s| s.len());
    let mut out = buffer_for(DATA_HEADER + data.len() + signature_len);
    out.push(KIND_DATA);
    out.extend_from_slice(&ack.to_be_bytes());
    out.push(u8::from(signature.is_some()));
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    if let Some(signature) = signature {
        out.extend_from_slice(signature);
    }
    pad(&mut out);
    out
}

/// The padded plaintext of a rekey message.
pub(crate) fn encode_rekey(ack: u32, rekey: &Rekey) -> Zeroizing<Vec<u8>> {
    let mut out = buffer_for(REKEY_LEN);
    out.push(KIND_REKEY);
    out.extend_from_slice(&ack.to_be_bytes());
    out.extend_from_slice(&rekey.target.to_be_bytes());
    out.extend_from_slice(&rekey.count.to_be_bytes());
    out.extend_from_slice(&rekey.ct[..]);
    out.extend_from_slice(&rekey.new_key[..]);
    out.extend_from_slice(&rekey.signature[..]);
    pad(&mut out);
    out
}

/// The payload size a body of `len` bytes is padded to.
pub fn bucket(len: usize) -> Option<usize> {
    PAYLOAD_BUCKETS
        .into_iter()
        .find(|&bucket| len + AEAD_TAG_LEN <= bucket)
}

/// An empty buffer with room for a body of `len` bytes and its padding (one allocation, and the
/// zeroizing drop wipes no more than that).
fn buffer_for(len: usize) -> Zeroizing<Vec<u8>> {
    let padded = bucket(len).unwrap_or(MAX_PAYLOAD) - AEAD_TAG_LEN;
    Zeroizing::new(Vec::with_capacity(padded))
}

fn pad(body: &mut Vec<u8>) {
    let bucket = bucket(body.len()).expect("bodies are built within the largest bucket");
    body.resize(bucket - AEAD_TAG_LEN, 0);
}

/// Decodes a padded plaintext, refusing anything not exactly as [`encode_data`] or
/// [`encode_rekey`] would write it.
pub(crate) fn decode(plaintext: &[u8]) -> Result<Opened, ChannelError> {
    if bucket(plaintext.len()) != Some(plaintext.len() + AEAD_TAG_LEN) {
        return Err(ChannelError::Malformed(
            "message: payload is not a padding bucket",
        ));
    }
    let mut cursor = Cursor::new(plaintext);
    let kind = cursor.u8();
    let ack = cursor
        .u32()
        .ok_or(ChannelError::Malformed("message: ack"))?;
    let body = match kind {
        Some(KIND_DATA) => {
            let signed = match cursor.u8() {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(ChannelError::Malformed("message: signed flag")),
            };
            let len = cursor
                .array()
                .map(u16::from_be_bytes)
                .ok_or(ChannelError::Malformed("message: length"))?;
            let data = cursor
                .take(usize::from(len))
                .ok_or(ChannelError::Malformed("message: length"))?;
            let signature = if signed {
                Some(Box::new(
                    cursor
                        .array()
                        .ok_or(ChannelError::Malformed("message: signature"))?,
                ))
            } else {
                None
            };
            Body::Data {
                data: Zeroizing::new(data.to_vec()),
                signature,
            }
        }
        Some(KIND_REKEY) => {
            let malformed = || ChannelError::Malformed("rekey: truncated");
            Body::Rekey(Rekey {
                target: cursor.u32().ok_or_else(malformed)?,
                count: cursor
                    .array()
                    .map(u64::from_be_bytes)
                    .ok_or_else(malformed)?,
                ct: Box::new(cursor.array().ok_or_else(malformed)?),
                new_key: Box::new(cursor.array().ok_or_else(malformed)?),
                signature: Box::new(cursor.array().ok_or_else(malformed)?),
            })
        }
        _ => return Err(ChannelError::Malformed("message: unknown kind")),
    };
    // One encoding per body: the smallest bucket that holds it, as `pad` chooses. A larger
    // bucket would let the sender re-pad a message into another size class unnoticed.
    if bucket(plaintext.len() - cursor.remaining()) != Some(plaintext.len() + AEAD_TAG_LEN) {
        return Err(ChannelError::Malformed(
            "message: padded past its smallest bucket",
        ));
    }
    let padding = cursor.take(cursor.remaining()).unwrap_or_default();
    if padding.iter().any(|&byte| byte != 0) {
        return Err(ChannelError::Malformed("message: non-zero padding"));
    }
    Ok(Opened { ack, body })
}

/// The AEAD nonce of a message: the first 12 bytes of its random `ID1`. Message keys are unique
/// per message already; the random nonce keeps a sender whose state was restored from a backup
/// from reusing a key with the same nonce.
pub(crate) fn nonce(id: &[u8; ID_LEN]) -> [u8; AEAD_NONCE_LEN] {
    id[32..32 + AEAD_NONCE_LEN]
        .try_into()
        .expect("ID1 holds 12 bytes")
}

/// Encrypts `plaintext` into the payload for `id`, `ttl`, `blockhash`.
pub(crate) fn seal(
    key: &Key,
    id: &[u8; ID_LEN],
    ttl: u32,
    blockhash: [u8; 4],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(plaintext.len() + AEAD_TAG_LEN);
    payload.extend_from_slice(plaintext);
    aead_seal(
        key,
        &nonce(id),
        &Message::aad(id, ttl, blockhash),
        &mut payload,
    );
    payload
}

/// Decrypts `sealed` (all or the end of `message`'s payload).
pub(crate) fn open(
    key: &Key,
    message: &Message,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
    let mut plaintext = Zeroizing::new(sealed.to_vec());
    let aad = Message::aad(message.id(), message.ttl(), message.blockhash());
    aead_open(key, &nonce(message.id()), &aad, &mut plaintext)
        .map_err(|_| ChannelError::Tampered)?;
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_body_pads_to_the_smallest_bucket_that_holds_it() {
        assert_eq!(encode_data(0, b"", None).len() + AEAD_TAG_LEN, 256);
        assert_eq!(encode_data(0, &[1; 232], None).len() + AEAD_TAG_LEN, 256);
        assert_eq!(encode_data(0, &[1; 233], None).len() + AEAD_TAG_LEN, 512);
        assert_eq!(encode_data(0, &[1; 1024], None).len() + AEAD_TAG_LEN, 2048);
        assert_eq!(
            encode_data(0, &[1; MAX_PLAINTEXT], None).len() + AEAD_TAG_LEN,
            MAX_PAYLOAD
        );
        let signature = [9; DSA_SIGNATURE_LEN];
        assert_eq!(
            encode_data(0, &[1; MAX_SIGNED_PLAINTEXT], Some(&signature)).len() + AEAD_TAG_LEN,
            MAX_PAYLOAD
        );
        assert_eq!(MAX_PLAINTEXT, 8168);
        assert_eq!(MAX_SIGNED_PLAINTEXT, 4859);
    }

    #[test]
    fn decode_reads_back_what_encode_wrote_and_refuses_altered_bodies() {
        let body = encode_data(7, b"hello", None);
        let opened = decode(&body).unwrap();
        assert_eq!(opened.ack, 7);
        match opened.body {
            Body::Data { data, signature } => {
                assert_eq!(&data[..], b"hello");
                assert!(signature.is_none());
            }
            Body::Rekey(_) => panic!("decoded a data body as a rekey"),
        }
        let mut bad_padding = body.clone();
        bad_padding[200] = 1;
        assert!(matches!(
            decode(&bad_padding),
            Err(ChannelError::Malformed(_))
        ));
        let mut bad_kind = body.clone();
        bad_kind[0] = 7;
        assert!(matches!(decode(&bad_kind), Err(ChannelError::Malformed(_))));
        let mut bad_length = body.clone();
        bad_length[6..8].copy_from_slice(&1000u16.to_be_bytes());
        assert!(matches!(
            decode(&bad_length),
            Err(ChannelError::Malformed(_))
        ));
        assert!(matches!(
            decode(&body[..100]),
            Err(ChannelError::Malformed(_))
        ));
    }

    #[test]
    fn a_body_padded_past_its_smallest_bucket_is_refused() {
        // Found by the channel_body fuzz target: an empty data body zero-padded to the 512
        // bucket decoded, and encoded back to 256.
        let mut body = encode_data(9, b"", None).to_vec();
        body.resize(512 - AEAD_TAG_LEN, 0);
        assert!(matches!(
            decode(&body),
            Err(ChannelError::Malformed(
                "message: padded past its smallest bucket"
            ))
        ));
        let full = encode_data(9, &[1; 233], None);
        assert_eq!(full.len() + AEAD_TAG_LEN, 512);
        assert!(decode(&full).is_ok());
    }
}
