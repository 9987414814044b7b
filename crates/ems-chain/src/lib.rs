//! Chain backends implementing [`ems_core::ChainView`].
//!
//! # Layout
//! - [`devnet`]: a deterministic chain derived from a genesis seed and a block interval, the
//!   default when no `qrl-node` is configured; every node with the same genesis computes the
//!   same block hashes with no coordination.
//! - [`fixed`]: a static chain of given blocks, for tests.
//!
//! The public interface is: [`DevnetChain`], [`DevnetConfig`] and [`StaticChain`].

#![forbid(unsafe_code)]

pub mod devnet;
pub mod fixed;

pub use devnet::{DevnetChain, DevnetConfig};
pub use fixed::StaticChain;
