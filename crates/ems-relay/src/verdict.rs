//! Where the line between `Reject` and `Ignore` is.
//!
//! `Reject` makes gossipsub penalise the sender and every peer that forwarded the frame, so it
//! is kept for what is invalid on every honest node, whatever its chain view and clock:
//! malformed or oversized bytes, a proof that does not show its work, a block this node knows
//! and that is clearly past `block_depth` (by more than [`LAG_BLOCKS`]), a TTL further ahead
//! than `max_ttl` by more than twice the clock skew. What depends on this node's own view is
//! `Ignore`: an expired TTL, a TTL just past the limit, a block exactly at the depth limit, a
//! proof algorithm this node's policy does not take, a chain that cannot answer. A block-hash
//! prefix this node does not know is neither: the frame is [`Verdict::Hold`], validated again
//! when the chain head moves (`hold`). `docs/relay.md` ("Verdicts") says why.

use ems_core::{BlockRef, ChainError, ChainView, Context, Message, Reject, Validator};

/// How many blocks a forwarder's chain view may lag this node's before a block this node finds
/// too deep is held against it.
pub(crate) const LAG_BLOCKS: u64 = 2;

/// How a frame fared.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Valid: keep and forward.
    Valid(Message),
    /// Valid except that its block is unknown to this node's chain view (so far).
    Hold(Reject),
    /// Not shown to be the sender's fault: drop without penalty.
    Ignore(Reject),
    /// Invalid on every honest node: penalise the sender.
    Reject(Reject),
}

/// Decodes (if needed) and validates, then sorts the outcome into a [`Verdict`].
pub(crate) fn judge(
    validator: &Validator,
    msg: Result<Message, Reject>,
    chain: &dyn ChainView,
    now: u64,
    context: Context,
) -> Verdict {
    let msg = match msg {
        Ok(m) => m,
        Err(r) => return Verdict::Reject(r),
    };
    // The validator grants the clock-skew allowance; a message whose TTL has passed by this
    // node's clock is not worth keeping or forwarding all the same.
    let result = validator
        .validate(&msg, chain, now, context)
        .and_then(|()| {
            if u64::from(msg.ttl()) <= now {
                Err(Reject::Expired {
                    ttl: msg.ttl(),
                    now,
                })
            } else {
                Ok(())
            }
        });
    match result {
        Ok(()) => Verdict::Valid(msg),
        Err(r) => classify(r, &msg, validator, chain, now, context),
    }
}

fn classify(
    r: Reject,
    msg: &Message,
    validator: &Validator,
    chain: &dyn ChainView,
    now: u64,
    context: Context,
) -> Verdict {
    let limits = &validator.policy().limits;
    match r {
        Reject::Malformed(_) | Reject::PayloadTooLarge { .. } | Reject::InsufficientWork(_) => {
            Verdict::Reject(r)
        }
        Reject::Expired { .. } | Reject::ChainUnavailable(_) | Reject::UnsupportedPow { .. } => {
            Verdict::Ignore(r)
        }
        Reject::TtlTooFar { ttl, latest } => {
            if u64::from(ttl) > latest.saturating_add(limits.clock_skew) {
                Verdict::Reject(r)
            } else {
                Verdict::Ignore(r)
            }
        }
        Reject::StaleBlockhash { prefix, .. } => {
            if context == Context::History {
                return Verdict::Reject(r);
            }
            match chain.find(prefix, now) {
                Ok(None) => {
                    // Everything else must hold with the block taken as the head.
                    let assumed = AssumeHead { chain, prefix };
                    match validator.validate(msg, &assumed, now, context) {
                        Ok(()) => Verdict::Hold(r),
                        Err(other) => classify(other, msg, validator, &assumed, now, context),
                    }
                }
                Ok(Some(block)) => match chain.head(now) {
                    Ok(head)
                        if head.height.saturating_sub(block.height)
                            >= limits.block_depth.saturating_add(LAG_BLOCKS) =>
                    {
                        Verdict::Reject(r)
                    }
                    _ => Verdict::Ignore(r),
                },
                Err(_) => Verdict::Ignore(r),
            }
        }
    }
}

/// A chain view that takes one unknown prefix to be the head.
struct AssumeHead<'a> {
    chain: &'a dyn ChainView,
    prefix: [u8; 4],
}

impl ChainView for AssumeHead<'_> {
    fn source(&self) -> String {
        self.chain.source()
    }
    fn head(&self, now: u64) -> Result<BlockRef, ChainError> {
        self.chain.head(now)
    }
    fn find(&self, prefix: [u8; 4], now: u64) -> Result<Option<BlockRef>, ChainError> {
        if prefix == self.prefix {
            return self.chain.head(now).map(Some);
        }
        self.chain.find(prefix, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::Policy;
    use ems_core::StaticChain;
    use ems_pow::{Algorithm, Proof, WorkParams};

    const NOW: u64 = 1_800_000_000;

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.pow.sha256 = WorkParams {
            min_work: 16,
            size_factor: 0,
            ttl_factor: 0,
        };
        p.limits.block_depth = 5;
        p
    }

    /// Blocks 0..=100, one a minute up to `NOW`; block `h` has prefix `[h, 0, 0, 1]`.
    fn chain() -> StaticChain {
        StaticChain::from_blocks(
            (0..=100u64)
                .map(|h| BlockRef {
                    height: h,
                    prefix: [h as u8, 0, 0, 1],
                    time: NOW - (100 - h) * 60,
                })
                .collect(),
        )
    }

    fn mined(prefix: [u8; 4], ttl: u64) -> Message {
        let mut m = Message::new([3; 64], vec![1; 40], ttl as u32, prefix).unwrap();
        m.mine(&policy(), Algorithm::Sha256, NOW);
        m
    }

    fn verdict(m: &Message) -> Verdict {
        let v = Validator::new(policy());
        judge(&v, Ok(m.clone()), &chain(), NOW, Context::Live)
    }

    #[test]
    fn a_fresh_message_is_valid() {
        assert!(matches!(
            verdict(&mined([100, 0, 0, 1], NOW + 600)),
            Verdict::Valid(_)
        ));
    }

    #[test]
    fn an_unknown_block_with_a_good_proof_is_held_and_with_a_bad_one_rejected() {
        let m = mined([0xee, 0xee, 0xee, 0xee], NOW + 600);
        assert!(matches!(verdict(&m), Verdict::Hold(_)));
        let mut bad = m.clone();
        let proof = bad.pow().proof;
        bad.set_pow(
            Algorithm::Sha256,
            Proof {
                nonce: proof.nonce ^ 1,
                hash: proof.hash,
            },
        );
        assert!(matches!(
            verdict(&bad),
            Verdict::Reject(Reject::InsufficientWork(_))
        ));
    }

    #[test]
    fn depth_is_ignored_at_the_limit_and_rejected_clearly_past_it() {
        // block_depth 5: block 95 is the first too deep; LAG_BLOCKS 2 more is certain.
        assert!(matches!(
            verdict(&mined([96, 0, 0, 1], NOW + 600)),
            Verdict::Valid(_)
        ));
        assert!(matches!(
            verdict(&mined([95, 0, 0, 1], NOW + 600)),
            Verdict::Ignore(_)
        ));
        assert!(matches!(
            verdict(&mined([94, 0, 0, 1], NOW + 600)),
            Verdict::Ignore(_)
        ));
        assert!(matches!(
            verdict(&mined([93, 0, 0, 1], NOW + 600)),
            Verdict::Reject(_)
        ));
    }

    #[test]
    fn a_ttl_just_past_the_limit_is_ignored_and_far_past_it_rejected() {
        let p = policy().limits;
        let latest = NOW + p.max_ttl + p.clock_skew;
        let just = mined([100, 0, 0, 1], latest + 1);
        assert!(matches!(
            verdict(&just),
            Verdict::Ignore(Reject::TtlTooFar { .. })
        ));
        let far = mined([100, 0, 0, 1], latest + p.clock_skew + 1);
        assert!(matches!(
            verdict(&far),
            Verdict::Reject(Reject::TtlTooFar { .. })
        ));
    }

    #[test]
    fn an_expired_message_and_an_unaccepted_algorithm_are_ignored() {
        assert!(matches!(
            verdict(&mined([100, 0, 0, 1], NOW - 1)),
            Verdict::Ignore(Reject::Expired { .. })
        ));
        let mut argon = mined([100, 0, 0, 1], NOW + 600);
        argon.set_pow(Algorithm::Argon2id, argon.pow().proof);
        assert!(matches!(
            verdict(&argon),
            Verdict::Ignore(Reject::UnsupportedPow { .. })
        ));
    }

    #[test]
    fn bytes_that_do_not_decode_are_rejected() {
        let v = Validator::new(policy());
        let bad = Message::decode(&[0u8; 10]).map_err(Reject::from);
        assert!(matches!(
            judge(&v, bad, &chain(), NOW, Context::Live),
            Verdict::Reject(Reject::Malformed(_))
        ));
    }
}
