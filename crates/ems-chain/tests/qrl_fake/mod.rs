//! An in-process qrl-node stand-in: a `PublicAPI` server that pages `GetLatestData` and
//! `GetLatticePKsByAddress` like qrl-node 4.0.12 and can be made to misbehave in ways the real
//! node will not. Shared by `tests/qrl_backend.rs` and `benches/qrl.rs` by `#[path]`.

#![allow(dead_code)]

use ems_chain::qrl::proto::public_api_server::{PublicApi, PublicApiServer};
use ems_chain::qrl::proto::{
    BlockHeader, BlockHeaderExtended, GetLatestDataReq, GetLatestDataResp,
    GetLatticePKsByAddressResp, GetTransactionsByAddressReq, LatticePKsDetail,
};
use ems_chain::QrlEndpoint;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::{Request, Response, Status};

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// How the fake node answers `GetLatestData`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Honest,
    /// Header hashes of 31 bytes.
    ShortHashes,
    /// No headers at all.
    Empty,
    /// An INTERNAL status.
    Failing,
    /// Never answers.
    Hanging,
}

#[derive(Debug)]
pub struct Chain {
    /// Header hashes, by height.
    pub hashes: Vec<[u8; 32]>,
    /// Block times, by height.
    pub times: Vec<u64>,
    pub mode: Mode,
    /// Lattice entries by address, oldest first (as the node stores them).
    pub lattice: Vec<(Vec<u8>, LatticePKsDetail)>,
    /// `(item_per_page, page_number)` of every lattice request.
    pub lattice_requests: Vec<(u64, u64)>,
    /// Every `(offset, quantity)` asked of `GetLatestData`.
    pub latest_requests: Vec<(u32, u32)>,
}

impl Chain {
    /// `blocks` blocks one second apart ending now, hashes derived from `fork` and the height.
    pub fn new(blocks: u64) -> Self {
        let mut chain = Chain {
            hashes: vec![],
            times: vec![],
            mode: Mode::Honest,
            lattice: vec![],
            lattice_requests: vec![],
            latest_requests: vec![],
        };
        let start = now() - blocks;
        for h in 0..blocks {
            chain.push(0, start + h);
        }
        chain
    }

    pub fn push(&mut self, fork: u8, time: u64) {
        let height = self.hashes.len() as u64;
        let mut hash = [fork; 32];
        // Prefix: the height's low three bytes and the fork.
        hash[..8].copy_from_slice(&height.to_le_bytes());
        hash[3] = fork;
        self.hashes.push(hash);
        self.times.push(time);
    }

    /// Replaces the newest `depth` blocks with `depth + 1` blocks of fork `fork`.
    pub fn reorg(&mut self, depth: usize, fork: u8) {
        let keep = self.hashes.len() - depth;
        self.hashes.truncate(keep);
        self.times.truncate(keep);
        for _ in 0..=depth {
            self.push(fork, now());
        }
    }

    pub fn header(&self, height: usize) -> BlockHeader {
        BlockHeader {
            hash_header: self.hashes[height].to_vec(),
            block_number: height as u64,
            timestamp_seconds: self.times[height],
            hash_header_prev: if height == 0 {
                b"Final Testnet".to_vec()
            } else {
                self.hashes[height - 1].to_vec()
            },
        }
    }

    pub fn prefix(&self, height: usize) -> [u8; 4] {
        self.hashes[height][..4].try_into().unwrap()
    }
}

#[derive(Clone)]
pub struct FakeNode(Arc<Mutex<Chain>>);

#[tonic::async_trait]
impl PublicApi for FakeNode {
    async fn get_latest_data(
        &self,
        request: Request<GetLatestDataReq>,
    ) -> Result<Response<GetLatestDataResp>, Status> {
        let req = request.into_inner();
        let mode = {
            let mut chain = self.0.lock().unwrap();
            chain.latest_requests.push((req.offset, req.quantity));
            chain.mode
        };
        if mode == Mode::Hanging {
            tokio::time::sleep(Duration::from_secs(3_600)).await;
        }
        if mode == Mode::Failing {
            return Err(Status::internal("the node fell over"));
        }
        let chain = self.0.lock().unwrap();
        // qrl-node: end = height - offset, start = max(0, end - count + 1), oldest first.
        let top = chain.hashes.len() as i64 - 1;
        let end = top - i64::from(req.offset);
        let start = (end - i64::from(req.quantity.min(100)) + 1).max(0);
        let mut blockheaders: Vec<BlockHeaderExtended> = (start..=end)
            .map(|h| BlockHeaderExtended {
                header: Some(chain.header(h as usize)),
            })
            .collect();
        match mode {
            Mode::ShortHashes => {
                for b in &mut blockheaders {
                    b.header.as_mut().unwrap().hash_header.pop();
                }
            }
            Mode::Empty => blockheaders.clear(),
            _ => {}
        }
        Ok(Response::new(GetLatestDataResp { blockheaders }))
    }

    async fn get_lattice_p_ks_by_address(
        &self,
        request: Request<GetTransactionsByAddressReq>,
    ) -> Result<Response<GetLatticePKsByAddressResp>, Status> {
        let req = request.into_inner();
        let mut chain = self.0.lock().unwrap();
        chain
            .lattice_requests
            .push((req.item_per_page, req.page_number));
        if req.item_per_page == 0 {
            return Err(Status::internal("item_per_page must be positive"));
        }
        // qrl-node's paging: newest first; a page past the end repeats the oldest page.
        let mine: Vec<&LatticePKsDetail> = chain
            .lattice
            .iter()
            .filter(|(a, _)| *a == req.address)
            .map(|(_, d)| d)
            .collect();
        let count = mine.len() as u64;
        let per = req.item_per_page;
        let start = count.saturating_sub(per * req.page_number);
        let end = count.min(start + per);
        let lattice_pks_detail = mine[start as usize..end as usize]
            .iter()
            .rev()
            .map(|d| (*d).clone())
            .collect();
        Ok(Response::new(GetLatticePKsByAddressResp {
            lattice_pks_detail,
        }))
    }
}

/// A fake node serving on a free loopback port for as long as the test's runtime lives.
pub async fn serve(chain: Chain) -> (Arc<Mutex<Chain>>, QrlEndpoint) {
    let chain = Arc::new(Mutex::new(chain));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = PublicApiServer::new(FakeNode(chain.clone()));
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming_shutdown(
            service,
            tonic::transport::server::TcpIncoming::from(listener),
            std::future::pending(),
        ),
    );
    let endpoint = format!("qrl://127.0.0.1:{port}").parse().unwrap();
    (chain, endpoint)
}
