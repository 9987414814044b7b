//! Proof of work for EMS messages.
//!
//! Every EMS message pays for its size and lifetime with work: the sender searches for a nonce
//! whose hash, together with the message digest, falls below a target, and every relay checks
//! that with a single hash. This crate knows nothing about the message format beyond the 32-byte
//! digest it is given (see `ems-core` for the frame).
//!
//! # Layout
//! - [`algorithm`]: the registry of algorithm ids (the QIP's one-byte "algorithm support flag").
//! - [`difficulty`]: the work function `W(frame size, remaining lifetime, params)` and its target.
//! - [`proof`]: the proof carried on the wire and the verification entry point.
//! - [`sha256`]: algorithm `0x01`, SHA2-256 hashcash over `digest ‖ nonce`.
//!
//! # Example
//! ```
//! use ems_pow::{Algorithm, WorkParams, required_work, target_for_work, solve, verify};
//! let digest = [7u8; 32];
//! let params = WorkParams { min_work: 1_000, size_factor: 0, ttl_factor: 0 };
//! let target = target_for_work(required_work(&params, 200, 60));
//! let proof = solve(Algorithm::Sha256, &digest, target, 0);
//! assert!(verify(Algorithm::Sha256, &digest, &proof, target).is_ok());
//! ```
//!
//! The public interface is: [`Algorithm`], [`WorkParams`], [`required_work`],
//! [`target_for_work`], [`Proof`], [`PROOF_LEN`], [`verify`], [`solve`] and [`PowError`].

pub mod algorithm;
pub mod difficulty;
pub mod proof;
pub mod sha256;

pub use algorithm::Algorithm;
pub use difficulty::{required_work, target_for_work, WorkParams};
pub use proof::{solve, verify, PowError, Proof, PROOF_LEN};
