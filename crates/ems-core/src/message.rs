//! The EMS wire frame, v1.
//!
//! ```text
//! ID (64) | PAYLOAD LENGTH (u16) | PAYLOAD (≤ 8192) | TTL (u32) | BLOCKHASH (4) | POW ALG (1) | PROOF (40)
//! ```
//!
//! Integers are big-endian. `ID0` is bytes 0..32 of the ID (a routing tag), `ID1` bytes 32..64
//! (a unique random nonce). The digest, the message's identity, is
//! `SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)` with the payload bytes taken without their length
//! prefix. `docs/wire-format.md` is the byte-exact specification.

use crate::cursor::Cursor;
use crate::policy::Policy;
use ems_pow::{Algorithm, Cancelled, Progress, Proof, Solver, PROOF_LEN};
use sha2::{Digest, Sha256};

/// Length of the ID field.
pub const ID_LEN: usize = 64;
/// Largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 8192;
/// Length of the BLOCKHASH field.
pub const BLOCKHASH_LEN: usize = 4;
/// Bytes a frame has besides its payload: ID, payload length, TTL, BLOCKHASH, POW.
pub const OVERHEAD: usize = ID_LEN + 2 + 4 + BLOCKHASH_LEN + 1 + PROOF_LEN;
/// Smallest valid frame (empty payload).
pub const MIN_FRAME: usize = OVERHEAD;
/// Largest valid frame: anything longer is refused unread.
pub const MAX_FRAME: usize = OVERHEAD + MAX_PAYLOAD;

/// A 32-byte message digest, the message's identity.
pub type Digest32 = [u8; 32];

/// One field of the frame, named in decode errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The 64-byte ID.
    Id,
    /// The u16 payload length.
    PayloadLength,
    /// The payload bytes.
    Payload,
    /// The u32 TTL.
    Ttl,
    /// The 4-byte block-hash prefix.
    Blockhash,
    /// The proof-of-work algorithm byte.
    PowAlgorithm,
    /// The proof-of-work proof.
    PowProof,
}

impl Field {
    /// The field's name as the wire-format document and test vectors spell it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::PayloadLength => "payload_length",
            Field::Payload => "payload",
            Field::Ttl => "ttl",
            Field::Blockhash => "blockhash",
            Field::PowAlgorithm => "pow_algorithm",
            Field::PowProof => "pow_proof",
        }
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why bytes are not a v1 frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is longer than any valid frame; it was not read.
    #[error("frame of {len} bytes exceeds the {MAX_FRAME}-byte maximum")]
    FrameTooLarge {
        /// The length offered.
        len: usize,
    },
    /// The frame ends inside a field.
    #[error("frame ends inside the {field} field: {needed} bytes needed, {available} left")]
    Truncated {
        /// The field that is cut short.
        field: Field,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The payload length field exceeds the protocol maximum.
    #[error("payload length {len} exceeds the {MAX_PAYLOAD}-byte maximum")]
    PayloadTooLarge {
        /// The declared payload length.
        len: usize,
    },
    /// Bytes follow the proof.
    #[error("{extra} unexpected bytes after the pow_proof field")]
    TrailingBytes {
        /// How many bytes follow the frame.
        extra: usize,
    },
}

impl DecodeError {
    /// A stable snake_case name for the error kind (used by the test vectors).
    pub fn kind(&self) -> String {
        match self {
            DecodeError::FrameTooLarge { .. } => "frame_too_large".into(),
            DecodeError::Truncated { field, .. } => format!("truncated:{field}"),
            DecodeError::PayloadTooLarge { .. } => "payload_too_large".into(),
            DecodeError::TrailingBytes { .. } => "trailing_bytes".into(),
        }
    }
}

/// The proof-of-work field: the algorithm byte and its proof.
///
/// The byte is kept as sent so that a frame naming an algorithm this node does not know still
/// decodes, and validation can refuse it as unsupported with the id in hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PowField {
    /// The algorithm id byte.
    pub algorithm: u8,
    /// The proof (nonce and hash).
    pub proof: Proof,
}

/// An EMS message: one v1 frame, decoded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    id: [u8; ID_LEN],
    payload: Vec<u8>,
    ttl: u32,
    blockhash: [u8; BLOCKHASH_LEN],
    pow: PowField,
}

impl Message {
    /// A message with an empty proof (algorithm `0x00`), ready to be mined.
    pub fn new(
        id: [u8; ID_LEN],
        payload: Vec<u8>,
        ttl: u32,
        blockhash: [u8; BLOCKHASH_LEN],
    ) -> Result<Self, DecodeError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(DecodeError::PayloadTooLarge { len: payload.len() });
        }
        Ok(Message {
            id,
            payload,
            ttl,
            blockhash,
            pow: PowField {
                algorithm: 0,
                proof: Proof {
                    nonce: 0,
                    hash: [0; 32],
                },
            },
        })
    }

    /// The full 64-byte ID.
    pub fn id(&self) -> &[u8; ID_LEN] {
        &self.id
    }

    /// `ID0`, the routing tag recipients look for (ID bytes 0..32).
    pub fn id0(&self) -> &[u8; 32] {
        self.id[..32].try_into().expect("ID is 64 bytes")
    }

    /// `ID1`, the unique random nonce (ID bytes 32..64).
    pub fn id1(&self) -> &[u8; 32] {
        self.id[32..].try_into().expect("ID is 64 bytes")
    }

    /// The payload, opaque to relays.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Unix seconds at which the network drops the message.
    pub fn ttl(&self) -> u32 {
        self.ttl
    }

    /// First four bytes of the header hash of the block the message is bound to.
    pub fn blockhash(&self) -> [u8; BLOCKHASH_LEN] {
        self.blockhash
    }

    /// The proof-of-work field.
    pub fn pow(&self) -> &PowField {
        &self.pow
    }

    /// Replaces the proof of work.
    pub fn set_pow(&mut self, algorithm: Algorithm, proof: Proof) {
        self.pow = PowField {
            algorithm: algorithm.id(),
            proof,
        };
    }

    /// The target a proof with `algorithm` must meet for this frame under `policy`, for its
    /// size and its lifetime as of `now` (unix seconds).
    pub fn target(&self, policy: &Policy, algorithm: Algorithm, now: u64) -> u64 {
        let lifetime = u64::from(self.ttl).saturating_sub(now);
        policy.target(algorithm, self.encoded_len(), lifetime)
    }

    /// Mines a proof with `algorithm` on every core, for the work `policy` asks of this frame's
    /// size and its lifetime as of `now` (unix seconds). The proof is the first nonce from 0
    /// that meets the target, whatever the core count. [`Message::mine_with`] shows progress
    /// and can be cancelled.
    pub fn mine(&mut self, policy: &Policy, algorithm: Algorithm, now: u64) {
        self.mine_with(&Solver::new(), policy, algorithm, now, |_| {})
            .expect("a solver with a fresh cancel token is never cancelled");
    }

    /// [`Message::mine`] with `solver` (its threads and cancel token), reporting to
    /// `on_progress` as it goes. On cancellation the frame keeps its old proof.
    pub fn mine_with(
        &mut self,
        solver: &Solver,
        policy: &Policy,
        algorithm: Algorithm,
        now: u64,
        on_progress: impl FnMut(&Progress),
    ) -> Result<(), Cancelled> {
        let target = self.target(policy, algorithm, now);
        let proof = solver.solve_with_progress(algorithm, &self.digest(), target, on_progress)?;
        self.set_pow(algorithm, proof);
        Ok(())
    }

    /// `SHA2-256(ID ‖ PAYLOAD ‖ TTL ‖ BLOCKHASH)`.
    pub fn digest(&self) -> Digest32 {
        let mut h = Sha256::new();
        h.update(self.id);
        h.update(&self.payload);
        h.update(self.ttl.to_be_bytes());
        h.update(self.blockhash);
        h.finalize().into()
    }

    /// Length of the encoded frame, the size the work function charges for.
    pub fn encoded_len(&self) -> usize {
        OVERHEAD + self.payload.len()
    }

    /// The AEAD associated data channels bind a sealed payload to: `ID ‖ TTL ‖ BLOCKHASH`.
    pub fn aad(id: &[u8; ID_LEN], ttl: u32, blockhash: [u8; BLOCKHASH_LEN]) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..64].copy_from_slice(id);
        out[64..68].copy_from_slice(&ttl.to_be_bytes());
        out[68..].copy_from_slice(&blockhash);
        out
    }

    /// The frame's wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&(self.payload.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.payload);
        out.extend_from_slice(&self.ttl.to_be_bytes());
        out.extend_from_slice(&self.blockhash);
        out.push(self.pow.algorithm);
        out.extend_from_slice(&self.pow.proof.to_bytes());
        out
    }

    /// Decodes one frame. Every length is checked before anything is allocated; a frame longer
    /// than [`MAX_FRAME`] is refused without being read, and bytes after the proof are refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_FRAME {
            return Err(DecodeError::FrameTooLarge { len: bytes.len() });
        }
        let mut r = Cursor::new(bytes);
        let id: [u8; ID_LEN] = field(&mut r, Field::Id)?;
        let len = u16::from_be_bytes(field(&mut r, Field::PayloadLength)?) as usize;
        if len > MAX_PAYLOAD {
            return Err(DecodeError::PayloadTooLarge { len });
        }
        let available = r.remaining();
        let payload = r
            .take(len)
            .ok_or(DecodeError::Truncated {
                field: Field::Payload,
                needed: len,
                available,
            })?
            .to_vec();
        let ttl = u32::from_be_bytes(field(&mut r, Field::Ttl)?);
        let blockhash = field(&mut r, Field::Blockhash)?;
        let [algorithm] = field(&mut r, Field::PowAlgorithm)?;
        let proof = Proof::from_bytes(&field(&mut r, Field::PowProof)?);
        let extra = r.remaining();
        if extra > 0 {
            return Err(DecodeError::TrailingBytes { extra });
        }
        Ok(Message {
            id,
            payload,
            ttl,
            blockhash,
            pow: PowField { algorithm, proof },
        })
    }
}

/// The next `N` bytes of the frame as `field`, or which field ran out and by how much.
fn field<const N: usize>(cursor: &mut Cursor<'_>, field: Field) -> Result<[u8; N], DecodeError> {
    let available = cursor.remaining();
    cursor.array().ok_or(DecodeError::Truncated {
        field,
        needed: N,
        available,
    })
}

#[cfg(test)]
mod tests;
