//! The fast path of algorithm `0x01`: four nonces at a time with the x86 SHA extensions, from a
//! per-message midstate.
//!
//! A try hashes one pre-padded block, `digest ‖ nonce ‖ 0x80 ‖ 0… ‖ 320`. Its first eight words
//! are the digest, the same for every nonce, so the first 8 of the 64 rounds are run once per
//! message ([`Midstate::new`]); each try runs the other 56. One message's rounds form a chain
//! in which each `sha256rnds2` waits for the previous one's result (which is all a single-stream
//! hasher such as OpenSSL can do), so four independent nonces are interleaved to keep the unit
//! busy: measured here, 2 lanes give ~1.3x OpenSSL's compression rate, 4 lanes ~2x, 6 and 8 no
//! more than 4. Only the top 64 bits of the state (`a`, `b`) are produced: that is what the
//! target is compared with, and a candidate is re-hashed by the reference before it is returned.
//!
//! This is the only module of the workspace that allows `unsafe`: calling functions compiled
//! with `#[target_feature(enable = "sha,…")]` from code compiled without those features is
//! `unsafe`. What makes each call sound is that a [`Midstate`] exists only after
//! `is_x86_feature_detected!` said yes for `sha`, `sse2`, `ssse3` and `sse4.1`. The intrinsics
//! used take and return registers only (no pointers). It is measured by
//! `cargo run --release -p ems-pow --example hashrate` and `benches/pow.rs`, and held to the
//! portable path and to `sha2::Sha256` by the property test
//! `fast_and_portable_paths_agree_with_sha2` in `sha256.rs`.
#![allow(unsafe_code)]

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_extract_epi64, _mm_set_epi32,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
};

use super::{BIT_LEN, IV, PAD_BYTE};

/// Nonces hashed side by side (see the module comment for why four).
const LANES: usize = 4;

/// SHA-256 round constants (FIPS 180-4, 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Everything about one message's tries that does not depend on the nonce.
///
/// Holding one proves the CPU has the SHA extensions (see the module comment).
#[derive(Clone, Copy, Debug)]
pub(super) struct Midstate {
    /// `a b e f` of the initial state, added back at the end.
    iv_abef: __m128i,
    /// `a b e f` and `c d g h` after rounds 0..8, which read only the digest.
    after8: [__m128i; 2],
    /// Message words 0..4 and 4..8 (the digest).
    w0: __m128i,
    w1: __m128i,
    /// `sha256msg1(w0, w1)`: the nonce-free half of the first schedule step.
    msg1_w0_w1: __m128i,
    /// Message words 12..16: zeros, then the message length in bits.
    w3: __m128i,
    /// `w3` plus its round constants.
    wk3: __m128i,
}

/// Whether this CPU has every feature the kernel is compiled for.
pub(super) fn supported() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

impl Midstate {
    /// The midstate for `digest`, or `None` if this CPU lacks the SHA extensions.
    pub(super) fn new(digest: &[u8; 32]) -> Option<Self> {
        if supported() {
            // SAFETY: the features `midstate` is compiled for were detected just above.
            Some(unsafe { midstate(digest) })
        } else {
            None
        }
    }

    /// The first nonce of `start .. start + count` (wrapping) whose hash's top 64 bits are at
    /// most `target`.
    pub(super) fn scan(&self, start: u64, count: u64, target: u64) -> Option<u64> {
        // SAFETY: a `Midstate` is only built after the features were detected (`new`).
        unsafe { scan(self, start, count, target) }
    }
}

/// Four round constants starting at round `4 * group`, as a vector.
#[inline]
#[target_feature(enable = "sse2")]
fn k4(group: usize) -> __m128i {
    let k = |i: usize| K[4 * group + i] as i32;
    _mm_set_epi32(k(3), k(2), k(1), k(0))
}

/// Four message words as a vector, word 0 in the lowest lane.
#[inline]
#[target_feature(enable = "sse2")]
fn words(w: [u32; 4]) -> __m128i {
    _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32)
}

/// Four rounds given the message words already added to their round constants.
#[inline]
#[target_feature(enable = "sha,sse2")]
fn rounds4(state: &mut [__m128i; 2], wk: __m128i) {
    let [abef, cdgh] = state;
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, wk);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

/// The next four schedule words from the previous sixteen, given `sha256msg1(w0, w1)`.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3")]
fn schedule(msg1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    _mm_sha256msg2_epu32(_mm_add_epi32(msg1, _mm_alignr_epi8(w3, w2, 4)), w3)
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn midstate(digest: &[u8; 32]) -> Midstate {
    let w: [u32; 8] = core::array::from_fn(|i| {
        u32::from_be_bytes([
            digest[4 * i],
            digest[4 * i + 1],
            digest[4 * i + 2],
            digest[4 * i + 3],
        ])
    });
    let dcba = words([IV[0], IV[1], IV[2], IV[3]]);
    let hgfe = words([IV[4], IV[5], IV[6], IV[7]]);
    // Into the `a b e f` / `c d g h` layout `sha256rnds2` works on (as in `sha2`'s backend).
    let cdab = _mm_shuffle_epi32(dcba, 0xB1);
    let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    let iv = [
        _mm_alignr_epi8(cdab, efgh, 8),
        _mm_blend_epi16(efgh, cdab, 0xF0),
    ];
    let w0 = words([w[0], w[1], w[2], w[3]]);
    let w1 = words([w[4], w[5], w[6], w[7]]);
    let w3 = words([0, 0, 0, BIT_LEN]);
    let mut after8 = iv;
    rounds4(&mut after8, _mm_add_epi32(w0, k4(0)));
    rounds4(&mut after8, _mm_add_epi32(w1, k4(1)));
    Midstate {
        iv_abef: iv[0],
        after8,
        w0,
        w1,
        msg1_w0_w1: _mm_sha256msg1_epu32(w0, w1),
        w3,
        wk3: _mm_add_epi32(w3, k4(3)),
    }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn scan(m: &Midstate, start: u64, count: u64, target: u64) -> Option<u64> {
    let mut done = 0u64;
    while done < count {
        let nonces: [u64; LANES] = core::array::from_fn(|l| start.wrapping_add(done + l as u64));
        let tops = top64(m, nonces);
        for l in 0..LANES {
            if done + (l as u64) < count && tops[l] <= target {
                return Some(nonces[l]);
            }
        }
        done = done.saturating_add(LANES as u64);
    }
    None
}

/// The top 64 bits (`a ‖ b`) of `SHA2-256(digest ‖ nonce)` for each nonce.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn top64(m: &Midstate, nonces: [u64; LANES]) -> [u64; LANES] {
    let mut state = [m.after8; LANES];
    // Message words 8..12: the nonce (big-endian), then the 0x80 padding byte.
    let pad = u32::from(PAD_BYTE) << 24;
    let w2: [__m128i; LANES] = nonces.map(|n| words([(n >> 32) as u32, n as u32, pad, 0]));
    let k2 = k4(2);
    for l in 0..LANES {
        rounds4(&mut state[l], _mm_add_epi32(w2[l], k2));
    }
    for s in state.iter_mut() {
        rounds4(s, m.wk3);
    }
    let mut w: [[__m128i; 4]; LANES] = core::array::from_fn(|l| [m.w0, m.w1, w2[l], m.w3]);
    for group in 4..16 {
        let i = group % 4;
        let k = k4(group);
        for l in 0..LANES {
            let [w0, w1, w2, w3] = [
                w[l][i],
                w[l][(i + 1) % 4],
                w[l][(i + 2) % 4],
                w[l][(i + 3) % 4],
            ];
            let msg1 = if group == 4 {
                m.msg1_w0_w1
            } else {
                _mm_sha256msg1_epu32(w0, w1)
            };
            w[l][i] = schedule(msg1, w2, w3);
            rounds4(&mut state[l], _mm_add_epi32(w[l][i], k));
        }
    }
    core::array::from_fn(|l| {
        let abef = _mm_add_epi32(state[l][0], m.iv_abef);
        // Lanes 3 and 2 of `a b e f` are `a` and `b`.
        _mm_extract_epi64(abef, 1) as u64
    })
}
