//! The sans-I/O core of EMS, the post-quantum Ephemeral Message System for the QRL network.
//!
//! EMS messages are small, expire at their TTL, pay for their size and lifetime with proof of
//! work, and are bound to the chain by a recent block-hash prefix. This crate holds what every
//! implementation must agree on: the wire frame and its digest, the node policy, the rules that
//! decide whether a relay accepts a frame, and the chain questions those rules ask. It does no
//! I/O: callers hand it bytes, the time and a [`ChainView`], so node software and apps embed it
//! and its tests are exact.
//!
//! # Layout
//! - [`message`]: the wire frame v1 (`ID | PAYLOAD | TTL | BLOCKHASH | POW`), codec and digest.
//! - [`policy`]: the QIP node parameters, loadable from TOML, with documented defaults.
//! - [`chain`]: [`ChainView`], what validation asks of the chain, and [`StaticChain`], a chain
//!   of given blocks for tests and examples.
//! - [`clock`]: [`unix_now`], the one place the wall clock is read.
//! - [`cursor`]: the one reader of untrusted bytes (length checked before every read), used by
//!   the decoders here and by the relay's sync codec.
//! - [`validator`]: [`Validator`], accept or a typed [`Reject`] reason.
//! - [`suite`]: the cryptographic suite (ML-KEM-768, ML-DSA-65, HKDF/HMAC-SHA256, AES-256-GCM).
//! - [`identity`]: [`Identity`], a user's secret keys; [`keyfile`]: their stored form;
//!   [`local`]: [`LocalKey`], sealing what the owner keeps beside the key file.
//! - [`bundle`]: [`Bundle`], the signed public keys, its [`Fingerprint`] and on-chain commitment.
//! - [`channel`]: [`Channel`], end-to-end channels: open, recognise, accept, rekey, seal, unseal.
//! - [`announce`]: key announcements, a bundle published as a message filed under its address.
//!
//! The proof-of-work crate is re-exported as [`pow`] (with [`Algorithm`] at the top), so an
//! embedder needs `ems-core` alone.
//!
//! # Example
//! ```
//! use ems_core::{Algorithm, Context, Message, Policy, StaticChain, Validator};
//!
//! let now: u64 = 1_800_000_000;
//! let chain = StaticChain::new(100, [0xaa, 0xbb, 0xcc, 0xdd], now - 10);
//! let policy = Policy::default();
//! let mut msg = Message::new([1; 64], b"hello".to_vec(), (now + 60) as u32, [0xaa, 0xbb, 0xcc, 0xdd]).unwrap();
//! msg.mine(&policy, Algorithm::Sha256, now);
//! let bytes = msg.encode();
//! let validator = Validator::new(policy);
//! let accepted = validator.validate_bytes(&bytes, &chain, now, Context::Live).unwrap();
//! assert_eq!(accepted.digest(), msg.digest());
//! ```
//!
//! The public interface is: [`Message`], [`DecodeError`], [`Policy`], [`PolicyError`],
//! [`ChainView`], [`BlockRef`], [`ChainError`], [`StaticChain`], [`unix_now`], [`Validator`],
//! [`Context`], [`Reject`], [`Identity`], [`IdentityError`], [`LocalKey`], [`LocalStateError`],
//! [`Protection`], [`KdfParams`], [`Bundle`], [`BundleBody`], [`BundleError`], [`Fingerprint`],
//! [`QrlAddress`], [`Channel`], [`ChannelError`] and [`Received`], with the channel's free
//! functions and constants in [`channel`].

#![forbid(unsafe_code)]

pub mod announce;
pub mod bundle;
pub mod chain;
pub mod channel;
pub mod clock;
pub mod cursor;
pub mod identity;
pub mod keyfile;
pub mod local;
pub mod message;
pub mod policy;
mod secret;
pub mod suite;
pub mod validator;

pub use bundle::{Bundle, BundleBody, BundleError, Fingerprint, QrlAddress};
pub use chain::{BlockRef, ChainError, ChainView, StaticChain};
pub use channel::{Channel, ChannelError, Received};
pub use clock::unix_now;
/// The proof-of-work crate, `ems-pow`: algorithms, work parameters, the solver.
pub use ems_pow as pow;
pub use ems_pow::Algorithm;
pub use identity::{Identity, IdentityError};
pub use keyfile::{KdfParams, Protection};
pub use local::{LocalKey, LocalStateError};
pub use message::{DecodeError, Message};
pub use policy::{Policy, PolicyError};
pub use validator::{Context, Reject, Validator};
