//! The on-chain side of key lookup: the lattice-transaction fields a QRL address published, read
//! from a real `qrl-node` through `ems-chain`'s [`KeyStore`].
//!
//! EMS commits to a bundle in the `pk3` field (`0x01 ‖ fingerprint`, see
//! [`ems_core::bundle`]); the transaction is signed by the address's XMSS key, which is what
//! binds the bundle to the address.

use crate::error::ClientError;
use ems_chain::{KeyStore, QrlEndpoint};
use ems_core::QrlAddress;
use std::time::Duration;

/// How long the chain may take to answer one call.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A `qrl-node` to read lattice transactions from.
#[derive(Clone, Debug)]
pub struct Lattice {
    store: KeyStore,
}

impl Lattice {
    /// The node at `qrl://HOST:PORT`.
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let endpoint: QrlEndpoint = url
            .parse()
            .map_err(|e| ClientError::input(ClientError::WHAT_CHAIN, format!("{url:?}: {e}")))?;
        Ok(Lattice {
            store: KeyStore::new(endpoint, TIMEOUT),
        })
    }

    /// The `pk3` field of every lattice transaction `address` published, newest first.
    pub fn commitments(&self, address: &QrlAddress) -> Result<Vec<Vec<u8>>, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Chain(e.to_string()))?;
        let entries = runtime
            .block_on(self.store.lattice_entries(address))
            .map_err(|e| ClientError::Chain(e.to_string()))?;
        Ok(entries.into_iter().map(|entry| entry.pk3).collect())
    }
}
