//! Mining a frame's proof of work on every core, with progress: an `indicatif` bar when stderr
//! is a terminal, a plain line a second otherwise (logs, scripts, tests).

use super::error::ClientError;
use ems_core::{Message, Policy};
use ems_pow::{Algorithm, Progress, Solver};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often plain progress lines are written.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

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

/// Mines `message` for the work `policy` asks of it as of `now`, showing progress on stderr
/// (`quiet` shows only errors).
pub fn mine(
    message: &mut Message,
    policy: &Policy,
    now: u64,
    label: &str,
    quiet: bool,
) -> Result<(), ClientError> {
    let algorithm = algorithm(policy)?;
    let lifetime = u64::from(message.ttl()).saturating_sub(now);
    let target = policy.target(algorithm, message.encoded_len(), lifetime);
    let solver = Solver::new();
    let started = Instant::now();
    let digest = message.digest();
    let proof = if quiet {
        solver.solve(algorithm, &digest, target)
    } else if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(ems_pow::expected_tries(target));
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "mining {msg} [{bar:30}] {human_pos}/~{human_len} tries {per_sec}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(label.to_string());
        let proof = solver.solve_with_progress(algorithm, &digest, target, |p: &Progress| {
            bar.set_length(p.expected_tries.max(p.tries));
            bar.set_position(p.tries);
        });
        bar.finish_and_clear();
        proof
    } else {
        let mut last = Instant::now();
        solver.solve_with_progress(algorithm, &digest, target, |p: &Progress| {
            if last.elapsed() >= PLAIN_EVERY {
                last = Instant::now();
                eprintln!(
                    "mining {label}: {} of ~{} tries, {:.1} M tries/s",
                    p.tries,
                    p.expected_tries,
                    p.rate() / 1e6
                );
            }
        })
    }
    .map_err(|e| ClientError::input("proof of work", e.to_string()))?;
    message.set_pow(algorithm, proof);
    if !quiet {
        eprintln!(
            "mined {label} ({} bytes, ~{} tries) in {:.2} s",
            message.encoded_len(),
            ems_pow::expected_tries(target),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
