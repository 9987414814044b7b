//! Entry points for the fuzz targets in `fuzz/`, compiled only with `--cfg fuzzing` (which
//! cargo-fuzz sets): the checks every qrl-node answer goes through, and the block window those
//! answers feed, without a node or a runtime.

use super::client::{check_headers, check_lattice_page};
use super::proto::{GetLatestDataResp, GetLatticePKsByAddressResp};
use super::window::Window;
use super::{LatticeEntry, QrlError};
use ems_core::BlockRef;

/// Checks a `GetLatestData` answer to a request for `quantity` headers, as the backend does.
pub fn headers(answer: GetLatestDataResp, quantity: u32) -> Result<Vec<BlockRef>, QrlError> {
    Ok(check_headers(answer, quantity)?
        .iter()
        .map(|h| h.block_ref())
        .collect())
}

/// Checks one page of a `GetLatticePKsByAddress` answer asked with `per_page` entries.
pub fn lattice_page(
    answer: GetLatticePKsByAddressResp,
    per_page: u64,
) -> Result<Vec<LatticeEntry>, QrlError> {
    check_lattice_page(answer, per_page)
}

/// The backend's block window, fed checked answers as the refresh task feeds it.
#[derive(Debug, Default)]
pub struct Follower {
    window: Window,
}

impl Follower {
    /// Checks `answer` (asked for `quantity` newest headers) and splices it into the window.
    pub fn newest(&mut self, answer: GetLatestDataResp, quantity: u32) -> Result<(), QrlError> {
        let run = check_headers(answer, quantity)?;
        self.window.splice(run);
        Ok(())
    }

    /// Checks `answer` (a page below the oldest kept header) and puts it in front if it links;
    /// returns whether it did.
    pub fn older(&mut self, answer: GetLatestDataResp, quantity: u32) -> Result<bool, QrlError> {
        let run = check_headers(answer, quantity)?;
        Ok(self.window.prepend(run))
    }

    /// Drops headers older than `keep_from`.
    pub fn trim(&mut self, keep_from: u64) {
        self.window.trim(keep_from);
    }

    /// The newest kept block with `prefix`.
    pub fn find(&self, prefix: [u8; 4]) -> Option<BlockRef> {
        self.window.find(prefix)
    }

    /// The newest kept block.
    pub fn tip(&self) -> Option<BlockRef> {
        self.window.tip().map(|h| h.block_ref())
    }

    /// Blocks kept.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// Whether no block is kept.
    pub fn is_empty(&self) -> bool {
        self.window.len() == 0
    }

    /// What is wrong with the window, if anything.
    pub fn invariant_violation(&self) -> Option<String> {
        self.window.invariant_violation()
    }
}
