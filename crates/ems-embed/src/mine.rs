//! Mining a frame's proof of work for a policy, cancellable, with progress.

use crate::{Code, Error};
use ems_core::{Message, Policy};
use ems_pow::{Algorithm, CancelToken, Progress, Solver};
use std::time::Duration;

/// How a mining run is carried out.
#[derive(Clone, Debug)]
pub struct MineOptions {
    /// The algorithm (`sha256` unless the policy says otherwise).
    pub algorithm: Algorithm,
    /// Worker threads (every core when `None`).
    pub threads: Option<usize>,
    /// How often the progress callback is called.
    pub progress_every: Duration,
    /// Cancels the run from another thread.
    pub cancel: CancelToken,
}

impl Default for MineOptions {
    fn default() -> Self {
        MineOptions {
            algorithm: Algorithm::Sha256,
            threads: None,
            progress_every: Duration::from_millis(100),
            cancel: CancelToken::new(),
        }
    }
}

/// Parses an algorithm name (`sha256`, `argon2id`).
pub fn algorithm(name: &str) -> Result<Algorithm, Error> {
    Algorithm::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Algorithm::ALL.iter().map(|a| a.name()).collect();
        Error::invalid(format!(
            "unknown proof-of-work algorithm {name:?} (known: {})",
            known.join(", ")
        ))
    })
}

/// Mines `msg`'s proof for the work `policy` asks of its size and its lifetime as of `now`
/// (unix seconds), calling `on_progress` on this thread; a `false` from it cancels the run.
/// The proof is the one [`Message::mine`] finds, whatever the thread count.
pub fn mine(
    msg: &mut Message,
    policy: &Policy,
    now: u64,
    options: &MineOptions,
    mut on_progress: impl FnMut(&Progress) -> bool,
) -> Result<(), Error> {
    let mut solver = Solver::new()
        .cancel_token(options.cancel.clone())
        .progress_every(options.progress_every);
    if let Some(t) = options.threads {
        solver = solver.threads(t);
    }
    let cancel = options.cancel.clone();
    msg.mine_with(&solver, policy, options.algorithm, now, |p| {
        if !on_progress(p) {
            cancel.cancel();
        }
    })
    .map_err(|c| Error::new(Code::Cancelled, c.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_pow::WorkParams;

    fn cheap() -> Policy {
        let mut p = Policy::default();
        p.pow.sha256 = WorkParams {
            min_work: 2_000,
            size_factor: 0,
            ttl_factor: 0,
        };
        p
    }

    #[test]
    fn finds_the_same_proof_as_message_mine() {
        let mut a = Message::new([3; 64], b"hi".to_vec(), 2_000, [1; 4]).unwrap();
        let mut b = a.clone();
        mine(&mut a, &cheap(), 1_000, &MineOptions::default(), |_| true).unwrap();
        b.mine(&cheap(), Algorithm::Sha256, 1_000);
        assert_eq!(a, b);
    }

    #[test]
    fn a_false_from_the_callback_cancels() {
        let mut p = cheap();
        p.pow.sha256.min_work = u64::MAX / 4;
        let mut m = Message::new([3; 64], vec![], 2_000, [1; 4]).unwrap();
        let opts = MineOptions {
            progress_every: Duration::from_millis(5),
            ..MineOptions::default()
        };
        let mut calls = 0;
        let e = mine(&mut m, &p, 1_000, &opts, |_| {
            calls += 1;
            false
        })
        .unwrap_err();
        assert_eq!(e.code, Code::Cancelled);
        assert!(calls >= 1);
        assert_eq!(m.pow().algorithm, 0, "no proof was set");
    }

    #[test]
    fn unknown_algorithm_names_are_refused() {
        assert_eq!(algorithm("sha256").unwrap(), Algorithm::Sha256);
        assert_eq!(algorithm("md5").unwrap_err().code, Code::InvalidArgument);
    }
}
