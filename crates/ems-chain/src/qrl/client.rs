//! The gRPC calls the backend makes, each answer checked and turned into the backend's own types
//! before anything else sees it.

use super::keys::{LatticeEntry, PK1_MAX, PK2_MAX, PK3_MAX};
use super::proto::get_latest_data_req::Filter;
use super::proto::public_api_client::PublicApiClient;
use super::proto::{
    GetLatestDataReq, GetLatestDataResp, GetLatticePKsByAddressResp, GetTransactionsByAddressReq,
};
use super::window::Header;
use super::{QrlEndpoint, QrlError};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Most headers `GetLatestData` returns per call (qrl-node's `MAX_REQUEST_QUANTITY`).
pub(crate) const HEADERS_PER_CALL: u32 = 100;
/// Largest answer decoded: a page of 100 lattice entries at the node's field limits is ~270 KB.
const MAX_RESPONSE: usize = 1 << 20;

const LATEST: &str = "GetLatestData";
const LATTICE: &str = "GetLatticePKsByAddress";

/// A client of one node's public API. Cheap to clone; it connects on first use.
#[derive(Clone, Debug)]
pub(crate) struct Client {
    api: PublicApiClient<Channel>,
}

impl Client {
    /// A client that connects when first called, each call (connecting included) bounded by
    /// `timeout`. Must be called inside a Tokio runtime.
    pub fn lazy(endpoint: &QrlEndpoint, timeout: Duration) -> Result<Self, QrlError> {
        let channel = Endpoint::from_shared(endpoint.uri())
            .map_err(|_| QrlError::Endpoint {
                text: endpoint.to_string(),
                why: "it is not a valid URI authority",
            })?
            .connect_timeout(timeout)
            .timeout(timeout)
            .connect_lazy();
        Ok(Client {
            api: PublicApiClient::new(channel).max_decoding_message_size(MAX_RESPONSE),
        })
    }

    /// Up to `quantity` (≤ 100) headers ending `offset` blocks below the node's head, oldest
    /// first; checked to be non-empty, well-formed, consecutive and linked by their parent hashes.
    pub async fn latest(&mut self, offset: u32, quantity: u32) -> Result<Vec<Header>, QrlError> {
        let quantity = quantity.min(HEADERS_PER_CALL);
        let request = GetLatestDataReq {
            filter: Filter::Blockheaders.into(),
            offset,
            quantity,
        };
        let answer = self
            .api
            .get_latest_data(request)
            .await
            .map_err(|s| QrlError::rpc(LATEST, &s))?
            .into_inner();
        check_headers(answer, quantity)
    }

    /// One page (`page` from 1) of the lattice entries `address` published, newest first.
    pub async fn lattice_page(
        &mut self,
        address: &[u8],
        per_page: u64,
        page: u64,
    ) -> Result<Vec<LatticeEntry>, QrlError> {
        let request = GetTransactionsByAddressReq {
            address: address.to_vec(),
            item_per_page: per_page,
            page_number: page,
        };
        let answer = self
            .api
            .get_lattice_p_ks_by_address(request)
            .await
            .map_err(|s| QrlError::rpc(LATTICE, &s))?
            .into_inner();
        check_lattice_page(answer, per_page)
    }
}

/// Checks a `GetLatestData` answer to a request for `quantity` headers: non-empty, no more than
/// asked for, every hash 32 bytes, consecutive and linked by parent hashes, oldest first.
pub(crate) fn check_headers(
    answer: GetLatestDataResp,
    quantity: u32,
) -> Result<Vec<Header>, QrlError> {
    let count = answer.blockheaders.len();
    if count == 0 {
        return Err(QrlError::garbage(LATEST, "no block headers"));
    }
    if count > quantity as usize {
        return Err(QrlError::garbage(
            LATEST,
            format!("{count} block headers where at most {quantity} were asked for"),
        ));
    }
    let mut run: Vec<Header> = Vec::with_capacity(count);
    for extended in answer.blockheaders {
        let header = extended
            .header
            .ok_or_else(|| QrlError::garbage(LATEST, "an entry without a block header"))?;
        let hash = hash32(&header.hash_header, "hash_header", header.block_number)?;
        // Genesis names no parent block: its `hash_header_prev` is the network's genesis
        // string (e.g. "Final Testnet"), not a hash.
        let prev = match header.block_number {
            0 => [0; 32],
            n => hash32(&header.hash_header_prev, "hash_header_prev", n)?,
        };
        let header = Header {
            height: header.block_number,
            hash,
            prev,
            time: header.timestamp_seconds,
        };
        if let Some(parent) = run.last() {
            if parent.height.checked_add(1) != Some(header.height) {
                return Err(QrlError::garbage(
                    LATEST,
                    format!(
                        "block {} after block {}: headers must be consecutive, oldest first",
                        header.height, parent.height
                    ),
                ));
            }
            if parent.hash != header.prev {
                return Err(QrlError::garbage(
                    LATEST,
                    format!(
                        "block {} whose parent hash is not the hash of block {}",
                        header.height, parent.height
                    ),
                ));
            }
        }
        run.push(header);
    }
    Ok(run)
}

/// Checks one page of a `GetLatticePKsByAddress` answer asked with `per_page` entries: no more
/// entries than asked for, each key field within qrl-node's limits, each `tx_hash` 32 bytes.
pub(crate) fn check_lattice_page(
    answer: GetLatticePKsByAddressResp,
    per_page: u64,
) -> Result<Vec<LatticeEntry>, QrlError> {
    let count = answer.lattice_pks_detail.len();
    if count as u64 > per_page {
        return Err(QrlError::garbage(
            LATTICE,
            format!("{count} entries on a page of {per_page}"),
        ));
    }
    answer
        .lattice_pks_detail
        .into_iter()
        .map(|d| {
            for (name, field, max) in [
                ("pk1", &d.pk1, PK1_MAX),
                ("pk2", &d.pk2, PK2_MAX),
                ("pk3", &d.pk3, PK3_MAX),
            ] {
                if field.len() > max {
                    return Err(QrlError::garbage(
                        LATTICE,
                        format!("a {name} of {} bytes (the limit is {max})", field.len()),
                    ));
                }
            }
            let tx_hash = d.tx_hash.as_slice().try_into().map_err(|_| {
                QrlError::garbage(
                    LATTICE,
                    format!("a tx_hash of {} bytes, not 32", d.tx_hash.len()),
                )
            })?;
            Ok(LatticeEntry {
                pk1: d.pk1,
                pk2: d.pk2,
                pk3: d.pk3,
                tx_hash,
            })
        })
        .collect()
}

fn hash32(bytes: &[u8], field: &str, height: u64) -> Result<[u8; 32], QrlError> {
    bytes.try_into().map_err(|_| {
        QrlError::garbage(
            LATEST,
            format!(
                "block {height} with a {field} of {} bytes, not 32",
                bytes.len()
            ),
        )
    })
}
