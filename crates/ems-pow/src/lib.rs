//! Proof of work for EMS messages.
//!
//! Every EMS message pays for its size and lifetime with work: the sender searches for a nonce
//! whose hash, together with the message digest, falls below a target, and every relay checks
//! that with a single hash. This crate knows nothing about the message format beyond the 32-byte
//! digest it is given (see `ems-core` for the frame).
//!
//! Two algorithms are registered: `0x01` SHA2-256 hashcash, mined at the hardware's limit (one
//! SHA-256 compression per try, 56 of its 64 rounds with the x86 SHA extensions), and `0x02`
//! Argon2id, memory-hard, with its own work parameters. `docs/pow.md` states the formula, the
//! calibrated defaults and what they cost.
//!
//! # Layout
//! - [`algorithm`]: the registry of algorithm ids (the QIP's one-byte "algorithm support flag").
//! - [`difficulty`]: the work function `W(frame size, remaining lifetime, params)` and its target.
//! - [`proof`]: the proof carried on the wire, verification and the plain reference solver.
//! - [`solver`]: the multi-threaded, cancellable solver with progress that senders use.
//! - [`sha256`]: algorithm `0x01`, SHA2-256 hashcash over `digest ‖ nonce`, and its fast search.
//! - [`argon2id`]: algorithm `0x02`, Argon2id over `digest ‖ nonce` with fixed costs.
//!
//! # Example
//! ```
//! use ems_pow::{Algorithm, Solver, WorkParams, required_work, target_for_work, verify};
//! let digest = [7u8; 32];
//! let params = WorkParams { min_work: 1_000, size_factor: 0, ttl_factor: 0 };
//! let target = target_for_work(required_work(&params, 200, 60));
//! let proof = Solver::new().solve(Algorithm::Sha256, &digest, target).expect("not cancelled");
//! assert!(verify(Algorithm::Sha256, &digest, &proof, target).is_ok());
//! ```
//!
//! The public interface is: [`Algorithm`], [`WorkParams`], [`required_work`],
//! [`target_for_work`], [`expected_tries`], [`leading_u64`], [`Proof`], [`PROOF_LEN`],
//! [`verify`], [`PowError`], [`Solver`], [`CancelToken`], [`Progress`], [`Cancelled`], the
//! reference [`solve`], and for benchmarks the per-algorithm [`sha256::Search`],
//! [`sha256::Backend`] and [`argon2id::Hasher`].

// Denied rather than forbidden so that the one module that needs it, `sha256::shani`, can
// allow it; it says why there.
#![deny(unsafe_code)]

pub mod algorithm;
pub mod argon2id;
pub mod difficulty;
pub mod proof;
pub mod sha256;
pub mod solver;

pub use algorithm::Algorithm;
pub use difficulty::{expected_tries, leading_u64, required_work, target_for_work, WorkParams};
pub use proof::{solve, verify, PowError, Proof, PROOF_LEN};
pub use solver::{CancelToken, Cancelled, Progress, Solver};
