//! `GetLatestData` answers from a qrl-node (hostile or broken), as the chain backend checks them
//! and feeds them to its block window.
//!
//! The input is a sequence of steps, each `op (1) | quantity (1) | length (u16) | bytes`: the
//! bytes are a protobuf answer to a request for `quantity` newest headers (op 0) or for a page
//! below the oldest kept header (op 1), or a trim horizon (op 2, 8 bytes). After every step:
//! - an answer the checks refuse leaves the window as it was;
//! - an answer the checks pass has at most `quantity` headers, consecutive and linked;
//! - the window's heights are contiguous and linked, within its bound, and its prefix index finds
//!   every block (the tip by its own prefix).
#![no_main]

use ems_chain::qrl::fuzzing::{headers, Follower};
use ems_chain::qrl::proto::GetLatestDataResp;
use ems_fuzz::alloc;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let mut follower = Follower::default();
    let mut rest = bytes;
    while let [op, quantity, hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (chunk, tail) = tail.split_at(len);
        rest = tail;
        let quantity = u32::from(*quantity);
        let before = (follower.tip(), follower.len());
        match op % 3 {
            2 => {
                let mut horizon = [0u8; 8];
                horizon[..chunk.len().min(8)].copy_from_slice(&chunk[..chunk.len().min(8)]);
                follower.trim(u64::from_be_bytes(horizon));
                assert!(follower.tip() == before.0, "trimming keeps the tip");
            }
            op => {
                let Ok(answer) = GetLatestDataResp::decode(chunk) else {
                    continue;
                };
                let count = answer.blockheaders.len();
                // The checked headers (80 bytes each) and their block references, or an error message.
                let copy = answer.clone();
                let checked = alloc::bounded("check_headers", 128 * count + 1024, || {
                    headers(copy, quantity)
                });
                match checked {
                    Ok(run) => {
                        assert!(!run.is_empty() && run.len() <= quantity as usize);
                        assert!(run.windows(2).all(|w| w[0].height + 1 == w[1].height));
                    }
                    Err(e) => assert!(!e.to_string().is_empty()),
                }
                let fed = match op {
                    0 => follower.newest(answer, quantity).map(|()| true),
                    _ => follower.older(answer, quantity),
                };
                if !matches!(fed, Ok(true)) {
                    assert_eq!(
                        (follower.tip(), follower.len()),
                        before,
                        "a refused answer changed the window"
                    );
                }
            }
        }
        if let Some(problem) = follower.invariant_violation() {
            panic!("window invariant broken: {problem}");
        }
        if let Some(tip) = follower.tip() {
            assert_eq!(
                follower.find(tip.prefix),
                Some(tip),
                "the tip is found by its prefix"
            );
        }
    }
});
