//! Chain backends implementing [`ems_core::ChainView`].
//!
//! # Layout
//! - [`devnet`]: a deterministic chain derived from a genesis seed and a block interval, the
//!   default when no `qrl-node` is configured; every node with the same genesis computes the
//!   same block hashes with no coordination.
//! - [`fixed`]: a static chain of given blocks, for tests.
//! - [`qrl`]: a real qrl-node over its public gRPC API: recent block headers cached and
//!   refreshed in the background (reorgs, a grace period when the node fails), and the lattice
//!   key store.
//!
//! The public interface is: [`DevnetChain`], [`DevnetConfig`], [`StaticChain`], and [`QrlChain`]
//! with [`QrlEndpoint`], [`QrlConfig`], [`QrlStatus`], [`QrlState`], [`QrlError`], and the
//! lattice key store: [`KeyStore`], [`LatticeEntry`].

#![forbid(unsafe_code)]

pub mod devnet;
pub mod fixed;
pub mod qrl;

pub use devnet::{DevnetChain, DevnetConfig};
pub use fixed::StaticChain;
pub use qrl::{
    KeyStore, LatticeEntry, QrlChain, QrlConfig, QrlEndpoint, QrlError, QrlState, QrlStatus,
};
