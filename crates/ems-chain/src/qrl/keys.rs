//! The key store on chain: the lattice transactions an address published, read page by page.
//!
//! qrl-node pages `GetLatticePKsByAddress` from the newest entry back, pages numbered from 1,
//! and answers a page past the end with the oldest page again rather than an empty one, so the
//! reader stops at a short page or at a page that brings nothing new.

use super::client::Client;
use super::{QrlEndpoint, QrlError};
use ems_core::{BundleBody, QrlAddress};
use std::collections::HashSet;
use std::time::Duration;

/// Largest `pk1` qrl-node accepts in a lattice transaction.
pub const PK1_MAX: usize = 1088;
/// Largest `pk2` qrl-node accepts in a lattice transaction.
pub const PK2_MAX: usize = 1472;
/// Largest `pk3` qrl-node accepts in a lattice transaction.
pub const PK3_MAX: usize = 65;

/// Entries asked for per call.
const PER_PAGE: u64 = 100;
/// Most entries read for one address; a node claiming more is refused.
const MAX_ENTRIES: usize = 10_000;

/// The public-key fields of one lattice transaction, as the chain holds them.
#[derive(Clone, PartialEq, Eq)]
pub struct LatticeEntry {
    /// `pk1` (qrl-node calls it the Kyber key), at most [`PK1_MAX`] bytes.
    pub pk1: Vec<u8>,
    /// `pk2` (the Dilithium key), at most [`PK2_MAX`] bytes.
    pub pk2: Vec<u8>,
    /// `pk3` (the ECDSA key), at most [`PK3_MAX`] bytes; EMS publishes its bundle commitment here.
    pub pk3: Vec<u8>,
    /// Hash of the transaction that published them.
    pub tx_hash: [u8; 32],
}

impl std::fmt::Debug for LatticeEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatticeEntry")
            .field("pk1", &hex::encode(&self.pk1))
            .field("pk2", &hex::encode(&self.pk2))
            .field("pk3", &hex::encode(&self.pk3))
            .field("tx_hash", &hex::encode(self.tx_hash))
            .finish()
    }
}

/// A qrl-node's lattice key store, for callers that need no block cache (the `ems` client);
/// [`super::QrlChain`] answers the same questions over its own connection.
#[derive(Clone, Debug)]
pub struct KeyStore {
    endpoint: QrlEndpoint,
    timeout: Duration,
}

impl KeyStore {
    /// The key store of the node at `endpoint`, each call bounded by `timeout`.
    pub fn new(endpoint: QrlEndpoint, timeout: Duration) -> Self {
        KeyStore { endpoint, timeout }
    }

    /// Every lattice entry `address` published, newest first. Must be called inside a Tokio
    /// runtime.
    pub async fn lattice_entries(
        &self,
        address: &QrlAddress,
    ) -> Result<Vec<LatticeEntry>, QrlError> {
        let mut client = Client::lazy(&self.endpoint, self.timeout)?;
        lattice_entries(&mut client, &address.0).await
    }

    /// The lattice entry by which `address` commits to `body`; see [`committed_by`].
    pub async fn commitment(
        &self,
        address: &QrlAddress,
        body: &BundleBody,
    ) -> Result<Option<LatticeEntry>, QrlError> {
        Ok(committed_by(self.lattice_entries(address).await?, body))
    }
}

/// The entry whose `pk3` holds `body`'s commitment (`0x01 ‖ fingerprint`, see
/// [`ems_core::bundle`]), if any and if no entry retires it: the lattice transaction, signed by
/// the address's XMSS key, is what binds the bundle to the address.
pub fn committed_by(entries: Vec<LatticeEntry>, body: &BundleBody) -> Option<LatticeEntry> {
    if entries.iter().any(|e| e.pk3 == body.retirement()) {
        return None;
    }
    entries
        .into_iter()
        .find(|e| body.matches_commitment(&e.pk3))
}

/// Every lattice entry `address` published, newest first, each transaction once.
pub(crate) async fn lattice_entries(
    client: &mut Client,
    address: &[u8],
) -> Result<Vec<LatticeEntry>, QrlError> {
    let mut seen = HashSet::new();
    let mut entries = Vec::new();
    for page in 1.. {
        let batch = client.lattice_page(address, PER_PAGE, page).await?;
        let full = batch.len() as u64 == PER_PAGE;
        let before = entries.len();
        entries.extend(batch.into_iter().filter(|e| seen.insert(e.tx_hash)));
        if entries.len() > MAX_ENTRIES {
            return Err(QrlError::garbage(
                "GetLatticePKsByAddress",
                format!("more than {MAX_ENTRIES} entries for one address"),
            ));
        }
        if !full || entries.len() == before {
            break;
        }
    }
    Ok(entries)
}
