//! The qrl backend against an in-process `PublicAPI` server that pages like qrl-node 4.0.12 and
//! can be made to misbehave in ways the real node will not: garbage hashes, empty answers,
//! error statuses, answers that never come.

mod qrl_fake;

use ems_chain::qrl::proto::LatticePKsDetail;
use ems_chain::{QrlChain, QrlConfig, QrlEndpoint, QrlState};
use ems_core::{ChainError, ChainView, QrlAddress};
use qrl_fake::{now, serve, Chain, Mode};
use std::time::{Duration, Instant};

/// Seconds of blocks the tests keep.
const WINDOW: u64 = 3_600;

fn config() -> QrlConfig {
    QrlConfig {
        grace: 2,
        timeout: 1,
        stall_after: 60,
    }
}

/// Polls `check` until it holds, failing after 20 s with `what`.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_backend_fills_its_window_and_follows_the_head() {
    // 450 blocks: more than four pages of GetLatestData.
    let (chain, endpoint) = serve(Chain::new(450)).await;
    let qrl = QrlChain::start(endpoint.clone(), WINDOW, &config());
    until("all 450 blocks are cached", || {
        qrl.status(now()).blocks_cached == 450
    })
    .await;
    let status = qrl.status(now());
    assert_eq!(status.height, Some(449));
    assert_eq!(status.state, QrlState::Healthy);
    assert!(status.healthy);
    assert_eq!(status.source, endpoint.to_string());
    let (genesis, prefix_200) = {
        let c = chain.lock().unwrap();
        assert_eq!(status.head_prefix, Some(c.prefix(449)));
        (c.prefix(0), c.prefix(200))
    };
    assert_eq!(qrl.head(now()).unwrap().height, 449);
    assert_eq!(qrl.find(genesis, now()).unwrap().unwrap().height, 0);
    assert_eq!(qrl.find(prefix_200, now()).unwrap().unwrap().height, 200);
    assert_eq!(qrl.find([0xee; 4], now()).unwrap(), None);
    {
        let c = chain.lock().unwrap();
        assert!(c
            .latest_requests
            .iter()
            .all(|&(_, q)| (1..=100).contains(&q)));
    }

    // 30 new blocks at once (more than one poll asks for): the backend pages back to link them.
    {
        let mut c = chain.lock().unwrap();
        for _ in 0..30 {
            c.push(0, now());
        }
    }
    until("the head reaches 479", || {
        qrl.status(now()).height == Some(479)
    })
    .await;
    assert_eq!(qrl.status(now()).blocks_cached, 480);
}

#[tokio::test]
async fn a_reorg_replaces_the_orphaned_blocks() {
    let (chain, endpoint) = serve(Chain::new(100)).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());
    until("the head is cached", || {
        qrl.status(now()).height == Some(99)
    })
    .await;
    let orphan = chain.lock().unwrap().prefix(95);
    assert_eq!(qrl.find(orphan, now()).unwrap().unwrap().height, 95);

    // Deeper than one poll's ten headers, so the backend must fetch back to the common parent.
    chain.lock().unwrap().reorg(25, 7);
    until("the new fork's head is cached", || {
        qrl.status(now()).height == Some(100)
    })
    .await;
    let (replacement, kept) = {
        let c = chain.lock().unwrap();
        (c.prefix(95), c.prefix(74))
    };
    assert_ne!(replacement, orphan);
    assert_eq!(qrl.find(orphan, now()).unwrap(), None);
    assert_eq!(qrl.find(replacement, now()).unwrap().unwrap().height, 95);
    assert_eq!(qrl.find(kept, now()).unwrap().unwrap().height, 74);
    assert_eq!(qrl.status(now()).blocks_cached, 101);
}

#[tokio::test]
async fn garbage_hashes_degrade_the_source_then_refuse_after_the_grace_period_then_heal() {
    let (chain, endpoint) = serve(Chain::new(50)).await;
    let qrl = QrlChain::start(endpoint.clone(), WINDOW, &config());
    until("healthy", || qrl.status(now()).healthy).await;

    chain.lock().unwrap().mode = Mode::ShortHashes;
    until("degraded", || qrl.status(now()).state == QrlState::Degraded).await;
    let status = qrl.status(now());
    assert!(!status.healthy);
    let problem = status.problem.unwrap();
    assert!(
        problem.contains("GetLatestData returned block") && problem.contains("31 bytes, not 32"),
        "{problem}"
    );
    // Within the grace period the cache still answers.
    assert_eq!(qrl.head(now()).unwrap().height, 49);

    until("unavailable", || {
        qrl.status(now()).state == QrlState::Unavailable
    })
    .await;
    let ChainError::Unavailable(why) = qrl.head(now()).unwrap_err();
    assert!(
        why.starts_with(&endpoint.to_string()) && why.contains("31 bytes"),
        "{why}"
    );
    assert!(qrl.find([0; 4], now()).is_err());

    {
        let mut c = chain.lock().unwrap();
        c.mode = Mode::Honest;
        c.push(0, now());
    }
    until("healthy again", || qrl.status(now()).healthy).await;
    assert_eq!(qrl.head(now()).unwrap().height, 50);
    assert_eq!(qrl.status(now()).problem, None);
}

#[tokio::test]
async fn an_empty_answer_is_refused_and_nothing_is_served() {
    let mut c = Chain::new(10);
    c.mode = Mode::Empty;
    let (_chain, endpoint) = serve(c).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());
    until("unavailable", || {
        qrl.status(now()).state == QrlState::Unavailable
    })
    .await;
    let status = qrl.status(now());
    assert_eq!(
        status.problem.as_deref(),
        Some("GetLatestData returned no block headers")
    );
    assert_eq!((status.height, status.blocks_cached), (None, 0));
    assert!(qrl.head(now()).is_err());
}

#[tokio::test]
async fn an_error_status_is_reported_with_its_code() {
    let mut c = Chain::new(10);
    c.mode = Mode::Failing;
    let (_chain, endpoint) = serve(c).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());
    until("unavailable", || {
        qrl.status(now()).state == QrlState::Unavailable
    })
    .await;
    let problem = qrl.status(now()).problem.unwrap();
    assert!(
        problem.contains("GetLatestData failed: Internal: the node fell over"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_node_that_never_answers_times_out_and_the_backend_retries() {
    let (chain, endpoint) = serve(Chain::new(20)).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());
    until("healthy", || qrl.status(now()).healthy).await;
    let asked = chain.lock().unwrap().latest_requests.len();
    chain.lock().unwrap().mode = Mode::Hanging;
    until("degraded", || qrl.status(now()).state == QrlState::Degraded).await;
    let problem = qrl.status(now()).problem.unwrap();
    assert!(problem.starts_with("GetLatestData failed:"), "{problem}");
    until("it has retried after the timeout", || {
        chain.lock().unwrap().latest_requests.len() >= asked + 2
    })
    .await;
    chain.lock().unwrap().mode = Mode::Honest;
    until("healthy again", || qrl.status(now()).healthy).await;
}

#[tokio::test]
async fn a_head_that_stops_moving_is_reported_stuck() {
    let (_chain, endpoint) = serve(Chain::new(20)).await;
    let qrl = QrlChain::start(
        endpoint,
        WINDOW,
        &QrlConfig {
            stall_after: 1,
            ..config()
        },
    );
    until("degraded", || qrl.status(now()).state == QrlState::Degraded).await;
    let problem = qrl.status(now()).problem.unwrap();
    assert!(problem.starts_with("no new block for"), "{problem}");
    until("unavailable", || {
        qrl.status(now()).state == QrlState::Unavailable
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_node_leaves_the_chain_unavailable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint: QrlEndpoint = format!("qrl://127.0.0.1:{port}").parse().unwrap();
    let qrl = QrlChain::start(endpoint.clone(), WINDOW, &config());
    assert_eq!(qrl.status(now()).state, QrlState::Connecting);
    let ChainError::Unavailable(why) = qrl.head(now()).unwrap_err();
    assert_eq!(why, format!("{endpoint}: no block fetched yet"));
    until("unavailable", || {
        qrl.status(now()).state == QrlState::Unavailable
    })
    .await;
    let problem = qrl.status(now()).problem.unwrap();
    assert!(
        problem.contains("GetLatestData failed: Unavailable"),
        "{problem}"
    );
}

fn detail(n: u8) -> LatticePKsDetail {
    LatticePKsDetail {
        pk1: vec![n; 10],
        pk2: vec![n; 20],
        pk3: vec![n; 33],
        tx_hash: vec![n; 32],
    }
}

#[tokio::test]
async fn lattice_entries_are_read_through_the_nodes_paging_newest_first() {
    let address: QrlAddress = format!("Q{}", "01".repeat(39)).parse().unwrap();
    let other: QrlAddress = format!("Q{}", "02".repeat(39)).parse().unwrap();
    let mut c = Chain::new(5);
    // 250 entries. qrl-node's page 3 is the oldest 100 (half of them seen on page 2) and page 4
    // repeats it, which ends the reading.
    for n in 0..250u32 {
        let mut d = detail((n % 256) as u8);
        d.tx_hash[..4].copy_from_slice(&n.to_be_bytes());
        c.lattice.push((address.0.to_vec(), d));
    }
    c.lattice.push((other.0.to_vec(), detail(9)));
    let (chain, endpoint) = serve(c).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());

    let entries = qrl.lattice_entries(&address).await.unwrap();
    assert_eq!(entries.len(), 250);
    let order: Vec<u32> = entries
        .iter()
        .map(|e| u32::from_be_bytes(e.tx_hash[..4].try_into().unwrap()))
        .collect();
    assert_eq!(order, (0..250).rev().collect::<Vec<_>>());
    let requests = chain.lock().unwrap().lattice_requests.clone();
    assert_eq!(requests, vec![(100, 1), (100, 2), (100, 3), (100, 4)]);

    let theirs = qrl.lattice_entries(&other).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].pk3, vec![9; 33]);
    let nobody: QrlAddress = format!("Q{}", "03".repeat(39)).parse().unwrap();
    assert!(qrl.lattice_entries(&nobody).await.unwrap().is_empty());
}

#[tokio::test]
async fn exactly_one_full_page_of_entries_needs_one_more_call_and_no_duplicates() {
    let address: QrlAddress = format!("Q{}", "01".repeat(39)).parse().unwrap();
    let mut c = Chain::new(5);
    for n in 0..100u8 {
        c.lattice.push((address.0.to_vec(), detail(n)));
    }
    let (chain, endpoint) = serve(c).await;
    let qrl = QrlChain::start(endpoint, WINDOW, &config());
    assert_eq!(qrl.lattice_entries(&address).await.unwrap().len(), 100);
    // Page 2 repeats page 1 (qrl-node's quirk): reading stops there.
    assert_eq!(
        chain.lock().unwrap().lattice_requests,
        vec![(100, 1), (100, 2)]
    );
}

#[tokio::test]
async fn malformed_lattice_entries_are_refused() {
    let address: QrlAddress = format!("Q{}", "01".repeat(39)).parse().unwrap();
    let cases = [
        (
            LatticePKsDetail {
                tx_hash: vec![1; 31],
                ..detail(1)
            },
            "a tx_hash of 31 bytes, not 32",
        ),
        (
            LatticePKsDetail {
                pk3: vec![1; 66],
                ..detail(1)
            },
            "a pk3 of 66 bytes (the limit is 65)",
        ),
        (
            LatticePKsDetail {
                pk1: vec![1; 1089],
                ..detail(1)
            },
            "a pk1 of 1089 bytes (the limit is 1088)",
        ),
    ];
    for (bad, why) in cases {
        let mut c = Chain::new(5);
        c.lattice.push((address.0.to_vec(), bad));
        let (_chain, endpoint) = serve(c).await;
        let qrl = QrlChain::start(endpoint, WINDOW, &config());
        let err = qrl.lattice_entries(&address).await.unwrap_err().to_string();
        assert_eq!(err, format!("GetLatticePKsByAddress returned {why}"));
    }
}

#[tokio::test]
async fn a_lattice_lookup_on_an_unreachable_node_fails_with_the_call_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let qrl = QrlChain::start(
        format!("qrl://127.0.0.1:{port}").parse().unwrap(),
        WINDOW,
        &config(),
    );
    let address: QrlAddress = format!("Q{}", "01".repeat(39)).parse().unwrap();
    let err = qrl.lattice_entries(&address).await.unwrap_err().to_string();
    assert!(
        err.starts_with("GetLatticePKsByAddress failed: Unavailable"),
        "{err}"
    );
}
