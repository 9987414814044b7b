//! Mining a frame's proof of work: the algorithm the node asks for, on ems-core's one solver path
//! ([`Message::mine_with`]), with progress reported and cancellation through the [`Solver`]'s
//! token.

use crate::error::ClientError;
use crate::report::Report;
use ems_core::pow::{expected_tries, Solver};
use ems_core::{Algorithm, Message, Policy};
use std::time::Instant;

/// The algorithm to mine with: the first of the node's accepted algorithms.
pub fn algorithm(policy: &Policy) -> Result<Algorithm, ClientError> {
    policy
        .pow
        .algorithms
        .first()
        .copied()
        .ok_or_else(|| ClientError::BadResponse {
            what: "the chain-head request",
            reason: "the node accepts no proof-of-work algorithm".into(),
        })
}

/// Mines `message` with `solver` for the work `policy` asks of it as of `now`, reporting
/// progress under `label`. Returns [`ClientError::Cancelled`] if the solver's token is cancelled;
/// the frame then keeps its old proof.
pub fn mine(
    message: &mut Message,
    solver: &Solver,
    policy: &Policy,
    now: u64,
    label: &str,
    report: &dyn Fn(&Report<'_>),
) -> Result<(), ClientError> {
    let algorithm = algorithm(policy)?;
    let expected_tries = expected_tries(message.target(policy, algorithm, now));
    report(&Report::MiningStarted {
        label,
        expected_tries,
    });
    let started = Instant::now();
    message.mine_with(solver, policy, algorithm, now, |progress| {
        report(&Report::Mining { label, progress })
    })?;
    report(&Report::Mined {
        label,
        bytes: message.encoded_len(),
        expected_tries,
        elapsed: started.elapsed(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::pow::CancelToken;
    use std::sync::Mutex;

    fn cheap_policy() -> Policy {
        let mut policy = Policy::default();
        policy.pow.sha256.min_work = 1_000;
        policy.pow.sha256.size_factor = 1;
        policy.pow.sha256.ttl_factor = 1;
        policy
    }

    #[test]
    fn mining_reports_start_progress_and_end_and_meets_the_policy() {
        let policy = cheap_policy();
        let now = 1_800_000_000;
        let mut message =
            Message::new([7; 64], b"hello".to_vec(), now as u32 + 600, [1; 4]).unwrap();
        let seen = Mutex::new(Vec::new());
        let report = |r: &Report<'_>| {
            seen.lock().unwrap().push(match r {
                Report::MiningStarted { label, .. } => format!("start {label}"),
                Report::Mining { .. } => "progress".into(),
                Report::Mined { label, bytes, .. } => format!("mined {label} {bytes}"),
                other => format!("{other:?}"),
            })
        };
        mine(
            &mut message,
            &Solver::new().threads(1),
            &policy,
            now,
            "test",
            &report,
        )
        .unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.first().unwrap(), "start test");
        assert_eq!(
            seen.last().unwrap(),
            &format!("mined test {}", message.encoded_len())
        );
        assert!(seen.contains(&"progress".to_string()), "{seen:?}");
        let target = message.target(&policy, Algorithm::Sha256, now);
        let proof = message.pow().proof;
        assert!(
            ems_core::pow::verify(Algorithm::Sha256, &message.digest(), &proof, target).is_ok()
        );
    }

    #[test]
    fn a_cancelled_solver_stops_and_leaves_the_frame_unmined() {
        let policy = Policy::default();
        let now = 1_800_000_000;
        let mut message =
            Message::new([7; 64], vec![0; 4000], now as u32 + 86_400, [1; 4]).unwrap();
        let before = message.clone();
        let cancel = CancelToken::new();
        cancel.cancel();
        let solver = Solver::new().threads(1).cancel_token(cancel);
        let error = mine(&mut message, &solver, &policy, now, "test", &|_| {}).unwrap_err();
        assert!(matches!(error, ClientError::Cancelled(_)), "{error}");
        assert_eq!(message, before);
    }

    #[test]
    fn a_policy_without_algorithms_is_a_bad_answer() {
        let mut policy = cheap_policy();
        policy.pow.algorithms.clear();
        let mut message = Message::new([7; 64], b"x".to_vec(), 2_000, [1; 4]).unwrap();
        let error = mine(
            &mut message,
            &Solver::new(),
            &policy,
            1_000,
            "test",
            &|_| {},
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("no proof-of-work algorithm"),
            "{error}"
        );
    }
}
