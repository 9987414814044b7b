//! The frame layout and the validation rules as `docs/wire-format.md` states them, written out
//! again without `ems-core`'s code, so a target can judge the validator by the document.
//! SHA-256 proofs only (the vectors' policy accepts no other algorithm).

use crate::vectors::Vectors;
use ems_core::Context;
use sha2::{Digest, Sha256};

/// What the document says a node does with `bytes`: `Ok(digest)` if it accepts them, else the
/// API reason code of the first check that fails.
pub fn verdict(bytes: &[u8], context: Context, v: &Vectors) -> Result<[u8; 32], &'static str> {
    let n = bytes.len();
    if n > 8307 {
        return Err("too_large");
    }
    if n < 66 {
        return Err("malformed");
    }
    let payload_len = usize::from(u16::from_be_bytes([bytes[64], bytes[65]]));
    if payload_len > 8192 {
        return Err("too_large");
    }
    if n != 115 + payload_len {
        return Err("malformed");
    }
    let be = |at: usize, len: usize| {
        bytes[at..at + len]
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
    };
    let after = 66 + payload_len;
    let ttl = be(after, 4);
    let blockhash = &bytes[after + 4..after + 8];
    let algorithm = bytes[after + 8];
    let nonce = &bytes[after + 9..after + 17];
    let proof_hash = &bytes[after + 17..after + 49];

    let limits = &v.policy.limits;
    let (now, skew) = (v.now, limits.clock_skew);
    if ttl + skew <= now {
        return Err("expired");
    }
    if ttl > now + limits.max_ttl + skew {
        return Err("ttl_too_far");
    }
    let name = match algorithm {
        1 => "sha256",
        2 => "argon2id",
        _ => return Err("unsupported_pow"),
    };
    if !v.policy.pow.algorithms.iter().any(|a| a.name() == name) {
        return Err("unsupported_pow");
    }
    assert_eq!(name, "sha256", "the reference judges SHA-256 proofs only");
    let head = v.blocks.iter().map(|b| b.height).max().expect("a head");
    let Some(block) = v
        .blocks
        .iter()
        .filter(|b| b.prefix == blockhash)
        .max_by_key(|b| b.height)
    else {
        return Err("stale_blockhash");
    };
    match context {
        Context::Live if head - block.height >= limits.block_depth => {
            return Err("stale_blockhash")
        }
        Context::History
            if block.time + limits.max_ttl + skew < now || ttl > block.time + limits.max_ttl =>
        {
            return Err("stale_blockhash")
        }
        _ => {}
    }
    let digest: [u8; 32] = Sha256::new()
        .chain_update(&bytes[..64])
        .chain_update(&bytes[66..after])
        .chain_update(&bytes[after..after + 8])
        .finalize()
        .into();
    let pow_hash: [u8; 32] = Sha256::new()
        .chain_update(digest)
        .chain_update(nonce)
        .finalize()
        .into();
    let params = &v.policy.pow.sha256;
    let lifetime = u128::from(ttl.saturating_sub(now + skew));
    let size = n as u128;
    let work = u128::from(params.min_work)
        + u128::from(params.size_factor) * size
        + u128::from(params.ttl_factor) * size * lifetime / 3600;
    let target = u64::MAX / work.clamp(1, u128::from(u64::MAX)) as u64;
    let leading = u64::from_be_bytes(pow_hash[..8].try_into().expect("8 bytes"));
    if pow_hash != proof_hash || leading > target {
        return Err("insufficient_work");
    }
    Ok(digest)
}
