//! Chain backends implementing [`ems_core::ChainView`] (the static chain for tests is
//! [`ems_core::StaticChain`]).
//!
//! # Layout
//! - [`devnet`]: a deterministic chain derived from a genesis seed and a block interval, the
//!   default when no `qrl-node` is configured; every node with the same genesis computes the
//!   same block hashes with no coordination.
//! - [`qrl`]: a real qrl-node over its public gRPC API: recent block headers cached and
//!   refreshed in the background (reorgs, a grace period when the node fails), and the lattice
//!   key store.
//!
//! The public interface is: [`DevnetChain`], [`DevnetConfig`], and [`QrlChain`]
//! with [`QrlEndpoint`], [`QrlConfig`], [`QrlStatus`], [`QrlState`], [`QrlError`], and the
//! lattice key store: [`KeyStore`], [`LatticeEntry`].

#![forbid(unsafe_code)]

pub mod devnet;
pub mod qrl;

pub use devnet::{DevnetChain, DevnetConfig};
pub use qrl::{
    KeyStore, LatticeEntry, QrlChain, QrlConfig, QrlEndpoint, QrlError, QrlState, QrlStatus,
};
