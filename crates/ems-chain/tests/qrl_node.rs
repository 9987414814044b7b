//! The qrl backend against a real qrl-node (PyPI `qrl` 4.0.12, an isolated testnet mining about
//! a block a second), started with the harness in `scripts/qrl-node/`.

mod qrl_support;

use ems_chain::{KeyStore, QrlChain, QrlConfig, QrlState};
use ems_core::{ChainView, Identity, QrlAddress};
use qrl_support::QrlNode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Polls `check` until it holds, failing after 60 s with `what` and `state()`.
async fn until(what: &str, mut check: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}: {}",
            state()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_backend_follows_a_real_node_and_finds_a_published_commitment() {
    let node = Arc::new(tokio::task::spawn_blocking(QrlNode::start).await.unwrap());
    let endpoint = node.endpoint().parse().unwrap();
    let qrl = QrlChain::start(endpoint, 86_400, &QrlConfig::default());

    // The backend's height follows the node's, twice over.
    for _ in 0..2 {
        let n = node.clone();
        let height = tokio::task::spawn_blocking(move || n.height())
            .await
            .unwrap();
        until(
            &format!("the backend reaches the node's height {height}"),
            || qrl.status(now()).height >= Some(height),
            || format!("{:?}", qrl.status(now())),
        )
        .await;
    }
    let status = qrl.status(now());
    assert_eq!(status.state, QrlState::Healthy, "{status:?}");
    let head = qrl.head(now()).unwrap();
    assert_eq!(Some(head.prefix), status.head_prefix);
    assert_eq!(qrl.find(head.prefix, now()).unwrap(), Some(head));
    // Every block from genesis on is cached (the chain is younger than the window).
    assert_eq!(status.blocks_cached as u64, status.height.unwrap() + 1);

    // A bundle's commitment published in a lattice transaction by the miner's address.
    let mut rng = rand::rng();
    let t = now();
    let ours = Identity::generate(&mut rng, t, t + 3_600, None).unwrap();
    let theirs = Identity::generate(&mut rng, t, t + 3_600, None).unwrap();
    let commitment = ours.bundle().body().commitment();
    let n = node.clone();
    let published = tokio::task::spawn_blocking(move || n.publish_lattice(&commitment))
        .await
        .unwrap();
    let address: QrlAddress = published.address.parse().unwrap();

    let entry = qrl
        .commitment(&address, ours.bundle().body())
        .await
        .unwrap()
        .expect("the published commitment is found");
    assert_eq!(hex::encode(entry.tx_hash), published.tx_hash);
    assert_eq!(entry.pk3, commitment.to_vec());
    assert!(entry.pk1.is_empty() && entry.pk2.is_empty());
    assert_eq!(
        qrl.commitment(&address, theirs.bundle().body())
            .await
            .unwrap(),
        None,
        "a bundle the address did not commit to is not found"
    );

    // The stand-alone key store reads the same entries.
    let store = KeyStore::new(node.endpoint().parse().unwrap(), Duration::from_secs(10));
    let entries = store.lattice_entries(&address).await.unwrap();
    assert!(entries.contains(&entry), "{entries:?}");
    assert_eq!(
        store
            .commitment(&address, ours.bundle().body())
            .await
            .unwrap(),
        Some(entry)
    );
    let nobody: QrlAddress = format!("Q{}", "00".repeat(39)).parse().unwrap();
    assert!(store.lattice_entries(&nobody).await.unwrap().is_empty());

    // The backend has followed the chain past the block that holds the transaction.
    until(
        "the backend reaches the transaction's block",
        || qrl.status(now()).height >= Some(published.block),
        || format!("{:?}", qrl.status(now())),
    )
    .await;
}
