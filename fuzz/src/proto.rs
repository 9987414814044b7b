//! qrl-node answers in their protobuf encoding, built from blocks: what a node that follows its
//! chain sends, for seeds.

use ems_chain::qrl::proto::{
    BlockHeader, BlockHeaderExtended, GetLatestDataResp, GetLatticePKsByAddressResp,
    LatticePKsDetail,
};
use prost::Message;
use sha2::{Digest, Sha256};

/// The header hash of block `height` on fork `fork`.
pub fn hash(fork: u8, height: u64) -> Vec<u8> {
    Sha256::new()
        .chain_update([fork])
        .chain_update(height.to_be_bytes())
        .finalize()
        .to_vec()
}

/// A `GetLatestData` answer holding blocks `from..=to` of `fork` (block `from`'s parent on
/// `parent_fork`), one block every 60 seconds from `genesis_time`.
pub fn headers(fork: u8, parent_fork: u8, from: u64, to: u64, genesis_time: u64) -> Vec<u8> {
    let blockheaders = (from..=to)
        .map(|height| {
            let prev = match height {
                0 => b"Final Testnet".to_vec(),
                h if h == from => hash(parent_fork, h - 1),
                h => hash(fork, h - 1),
            };
            BlockHeaderExtended {
                header: Some(BlockHeader {
                    hash_header: hash(fork, height),
                    block_number: height,
                    timestamp_seconds: genesis_time + 60 * height,
                    hash_header_prev: prev,
                }),
            }
        })
        .collect();
    GetLatestDataResp { blockheaders }.encode_to_vec()
}

/// A `GetLatticePKsByAddress` page: each entry's `pk3` as given, with qrl-node-sized `pk1` and
/// `pk2`.
pub fn lattice_page(pk3s: &[Vec<u8>]) -> Vec<u8> {
    let lattice_pks_detail = pk3s
        .iter()
        .enumerate()
        .map(|(i, pk3)| LatticePKsDetail {
            pk1: vec![0x11; 1088],
            pk2: vec![0x22; 1472],
            pk3: pk3.clone(),
            tx_hash: hash(0xee, i as u64),
        })
        .collect();
    GetLatticePKsByAddressResp { lattice_pks_detail }.encode_to_vec()
}
