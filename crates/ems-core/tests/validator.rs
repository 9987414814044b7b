//! Every validator reason, each from a frame that fails for that reason alone.

mod fixture;

use ems_core::StaticChain;
use ems_core::{BlockRef, Context, Message, Policy, Reject, Validator};
use ems_pow::{Algorithm, PowError, Proof, WorkParams};
use fixture::{DAYS_OLD, HEAD, HOURS_OLD, JUST_STALE, NOW, OLDEST_FRESH};

fn chain() -> StaticChain {
    StaticChain::from_blocks(fixture::BLOCKS.to_vec())
}

/// Default limits, light work so debug-build tests mine in milliseconds.
fn policy() -> Policy {
    let mut p = Policy::default();
    p.pow.sha256 = WorkParams {
        min_work: 2_000,
        size_factor: 1,
        ttl_factor: 10,
    };
    p
}

fn validator() -> Validator {
    Validator::new(policy())
}

fn mined(ttl: u64, block: BlockRef, payload: &[u8]) -> Message {
    let mut m = Message::new([0x11; 64], payload.to_vec(), ttl as u32, block.prefix).unwrap();
    m.mine(&policy(), Algorithm::Sha256, NOW);
    m
}

fn live(m: &Message) -> Result<(), Reject> {
    validator().validate(m, &chain(), NOW, Context::Live)
}

#[test]
fn a_fresh_mined_message_is_accepted() {
    assert_eq!(live(&mined(NOW + 3_600, HEAD, b"hello")), Ok(()));
    assert_eq!(live(&mined(NOW + 60, OLDEST_FRESH, b"")), Ok(()));
}

#[test]
fn expired_message_is_rejected() {
    let skew = policy().limits.clock_skew;
    let m = mined(NOW - skew, HEAD, b"x");
    assert!(matches!(live(&m), Err(Reject::Expired { .. })));
    // Within the clock skew allowance it is still accepted.
    assert_eq!(live(&mined(NOW - skew + 1, HEAD, b"x")), Ok(()));
}

#[test]
fn ttl_beyond_max_ttl_is_rejected() {
    let p = policy().limits;
    let latest = NOW + p.max_ttl + p.clock_skew;
    assert!(matches!(
        live(&mined(latest + 1, HEAD, b"x")),
        Err(Reject::TtlTooFar { .. })
    ));
    assert_eq!(live(&mined(latest, HEAD, b"x")), Ok(()));
}

#[test]
fn unknown_algorithm_byte_is_unsupported() {
    let mut bytes = mined(NOW + 60, HEAD, b"x").encode();
    let alg_at = bytes.len() - ems_pow::PROOF_LEN - 1;
    bytes[alg_at] = 0xee;
    let r = validator().validate_bytes(&bytes, &chain(), NOW, Context::Live);
    assert_eq!(r, Err(Reject::UnsupportedPow { algorithm: 0xee }));
}

#[test]
fn known_algorithm_the_policy_does_not_list_is_unsupported() {
    let m = mined(NOW + 60, HEAD, b"x");
    let mut p = policy();
    p.pow.algorithms.clear();
    let r = Validator::new(p).validate(&m, &chain(), NOW, Context::Live);
    assert_eq!(r, Err(Reject::UnsupportedPow { algorithm: 0x01 }));
}

#[test]
fn unknown_blockhash_is_stale() {
    let unknown = BlockRef {
        prefix: [9, 9, 9, 9],
        ..HEAD
    };
    let r = live(&mined(NOW + 60, unknown, b"x"));
    assert!(matches!(
        r,
        Err(Reject::StaleBlockhash {
            prefix: [9, 9, 9, 9],
            ..
        })
    ));
}

#[test]
fn live_message_on_a_block_older_than_block_depth_is_stale() {
    let r = live(&mined(NOW + 60, JUST_STALE, b"x"));
    assert!(matches!(r, Err(Reject::StaleBlockhash { .. })), "{r:?}");
}

#[test]
fn history_accepts_an_older_block_within_max_ttl() {
    let m = mined(NOW + 60, HOURS_OLD, b"x");
    assert!(matches!(live(&m), Err(Reject::StaleBlockhash { .. })));
    assert_eq!(
        validator().validate(&m, &chain(), NOW, Context::History),
        Ok(())
    );
}

#[test]
fn history_refuses_a_block_beyond_max_ttl() {
    let m = mined(NOW + 60, DAYS_OLD, b"x");
    let r = validator().validate(&m, &chain(), NOW, Context::History);
    assert!(matches!(r, Err(Reject::StaleBlockhash { .. })), "{r:?}");
}

#[test]
fn history_refuses_a_ttl_that_outlives_its_block_by_more_than_max_ttl() {
    let max_ttl = policy().limits.max_ttl;
    let m = mined(HOURS_OLD.time + max_ttl + 1, HOURS_OLD, b"x");
    let r = validator().validate(&m, &chain(), NOW, Context::History);
    assert!(matches!(r, Err(Reject::StaleBlockhash { .. })), "{r:?}");
    let ok = mined(HOURS_OLD.time + max_ttl, HOURS_OLD, b"x");
    assert_eq!(
        validator().validate(&ok, &chain(), NOW, Context::History),
        Ok(())
    );
}

#[test]
fn an_unavailable_chain_refuses_rather_than_accepts() {
    let m = mined(NOW + 60, HEAD, b"x");
    let r = validator().validate(
        &m,
        &StaticChain::unavailable("node down"),
        NOW,
        Context::Live,
    );
    assert!(matches!(r, Err(Reject::ChainUnavailable(_))));
    assert_eq!(r.unwrap_err().code(), "chain_unavailable");
}

#[test]
fn proof_for_too_little_work_is_insufficient() {
    let mut m = Message::new(
        [0x22; 64],
        b"cheap".to_vec(),
        (NOW + 3_600) as u32,
        HEAD.prefix,
    )
    .unwrap();
    // Any nonce meets the trivial target; its hash will almost surely miss the real one, and
    // the assertion below says so if it ever does not.
    let proof = ems_pow::solve(Algorithm::Sha256, &m.digest(), u64::MAX, 0);
    m.set_pow(Algorithm::Sha256, proof);
    assert!(matches!(
        live(&m),
        Err(Reject::InsufficientWork(PowError::AboveTarget { .. }))
    ));
}

#[test]
fn message_altered_after_mining_fails_its_proof() {
    let m = mined(NOW + 60, HEAD, b"original");
    let mut altered = Message::new(*m.id(), b"altered!".to_vec(), m.ttl(), m.blockhash()).unwrap();
    altered.set_pow(Algorithm::Sha256, m.pow().proof);
    assert!(matches!(
        live(&altered),
        Err(Reject::InsufficientWork(PowError::HashMismatch { .. }))
    ));
}

#[test]
fn message_mined_for_a_short_life_cannot_claim_a_longer_one() {
    // Mined for one minute of lifetime, presented with a TTL a day away: the TTL is covered by
    // the digest, so the proof no longer matches.
    let m = mined(NOW + 60, HEAD, b"x");
    let mut longer = Message::new(
        *m.id(),
        m.payload().to_vec(),
        m.ttl() + 86_000,
        m.blockhash(),
    )
    .unwrap();
    longer.set_pow(Algorithm::Sha256, m.pow().proof);
    assert!(matches!(live(&longer), Err(Reject::InsufficientWork(_))));
}

#[test]
fn work_required_rises_with_size_and_lifetime() {
    let p = policy();
    let t = |len, life| p.target(Algorithm::Sha256, len, life);
    assert!(t(8_000, 60) < t(200, 60));
    assert!(t(200, 86_400) < t(200, 60));
}

#[test]
fn a_message_valid_when_mined_stays_valid_as_its_lifetime_shrinks() {
    let m = mined(NOW + 3_600, HEAD, &[7; 500]);
    let v = validator();
    for later in [0, 1, 60, 600, 3_000, 3_599] {
        let head = BlockRef {
            height: HEAD.height + later / 60,
            ..HEAD
        };
        let chain = StaticChain::from_blocks(vec![head]);
        assert_eq!(
            v.validate(&m, &chain, NOW + later, Context::Live),
            Ok(()),
            "+{later}s"
        );
    }
}

#[test]
fn a_receiver_whose_clock_lags_within_the_skew_still_accepts() {
    let m = mined(NOW + 3_600, HEAD, &[1; 300]);
    let lag = policy().limits.clock_skew;
    assert_eq!(
        validator().validate(&m, &chain(), NOW - lag, Context::Live),
        Ok(())
    );
}

#[test]
fn cheap_checks_come_before_the_proof() {
    // Bad proof AND expired / stale: the cheap reason is reported, no hashing needed.
    let mut m = Message::new([0x33; 64], b"x".to_vec(), (NOW - 1_000) as u32, [9; 4]).unwrap();
    m.set_pow(
        Algorithm::Sha256,
        Proof {
            nonce: 0,
            hash: [0; 32],
        },
    );
    assert!(matches!(live(&m), Err(Reject::Expired { .. })));
    let mut stale = Message::new([0x33; 64], b"x".to_vec(), (NOW + 60) as u32, [9; 4]).unwrap();
    stale.set_pow(Algorithm::Sha256, m.pow().proof);
    assert!(matches!(live(&stale), Err(Reject::StaleBlockhash { .. })));
}

#[test]
fn bytes_that_are_not_a_frame_are_malformed_or_too_large() {
    let v = validator();
    let r = v.validate_bytes(&[0u8; 10], &chain(), NOW, Context::Live);
    assert!(matches!(r, Err(Reject::Malformed(_))));
    assert_eq!(r.unwrap_err().code(), "malformed");
    let big = vec![0u8; ems_core::message::MAX_FRAME + 1];
    let r = v.validate_bytes(&big, &chain(), NOW, Context::Live);
    assert!(matches!(r, Err(Reject::PayloadTooLarge { .. })));
    assert_eq!(r.unwrap_err().code(), "too_large");
}
