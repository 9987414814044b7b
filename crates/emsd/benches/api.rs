//! The HTTP API of a real in-process node (redb store on disk, loopback HTTP, one keep-alive
//! connection, requests one at a time): what a client waits for per request.
//!
//! `cargo bench -p emsd --bench api`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ems_core::{Message, Policy};
use emsd::config::ConfigArgs;
use emsd::run::{self, NodeInfo};
use emsd::shutdown::Shutdown;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A fresh frame with a random nonce, mined for `policy` (cheap: see the `--set` below).
fn frame(blockhash: [u8; 4], policy: &Policy) -> Vec<u8> {
    let mut id = [0u8; 64];
    id[32..].copy_from_slice(&rand::random::<[u8; 32]>());
    let mut msg = Message::new(id, vec![0x5a; 256], (now() + 600) as u32, blockhash).unwrap();
    msg.mine(policy, ems_pow::Algorithm::Sha256, now());
    msg.encode()
}

fn api(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    // Proof of work made trivial so the bench measures the API and the store, not mining;
    // validation still hashes every proof.
    let sets: Vec<String> = [
        "listen=[]",
        "api.addr=\"127.0.0.1:0\"",
        "api.rate_limit=1000000000",
        "api.rate_burst=1000000000",
        "pow.sha256.min_work=1",
        "pow.sha256.size_factor=0",
        "pow.sha256.ttl_factor=0",
    ]
    .map(String::from)
    .to_vec();
    let config = ConfigArgs {
        data_dir: Some(dir.path().to_owned()),
        sets,
        ..ConfigArgs::default()
    }
    .load()
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (shutdown, signal) = Shutdown::new();
    let node = runtime.spawn(run::serve(config, signal));
    let info = NodeInfo::wait(dir.path(), std::process::id(), Duration::from_secs(60)).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = |path: &str| format!("{}{path}", info.api);

    let head: serde_json::Value = serde_json::from_slice(
        &agent
            .get(url("/v1/chain/head"))
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap(),
    )
    .unwrap();
    let mut blockhash = [0u8; 4];
    hex::decode_to_slice(head["blockhash"].as_str().unwrap(), &mut blockhash).unwrap();
    let policy: Policy = serde_json::from_value(head["policy"].clone()).unwrap();
    let post = |wire: &[u8]| {
        let mut r = agent.post(url("/v1/messages")).send(wire).unwrap();
        let status = r.status().as_u16();
        r.body_mut().read_to_vec().unwrap();
        status
    };
    let get = |path: &str| {
        let mut r = agent.get(url(path)).call().unwrap();
        let status = r.status().as_u16();
        r.body_mut().read_to_vec().unwrap();
        status
    };

    let stored = frame(blockhash, &policy);
    assert_eq!(post(&stored), 202);
    let digest = hex::encode(Message::decode(&stored).unwrap().digest());

    let mut group = c.benchmark_group("http_api");
    group.bench_function("submit_new_frame_202", |b| {
        b.iter_batched(
            || frame(blockhash, &policy),
            |wire| assert_eq!(post(&wire), 202),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("submit_duplicate_200", |b| {
        b.iter(|| assert_eq!(post(&stored), 200))
    });
    group.bench_function("submit_garbage_400", |b| {
        b.iter(|| assert_eq!(post(b"garbage"), 400))
    });
    group.bench_function("get_by_digest_200", |b| {
        b.iter(|| assert_eq!(get(&format!("/v1/messages/{digest}")), 200))
    });
    group.bench_function("status_200", |b| {
        b.iter(|| assert_eq!(get("/v1/status"), 200))
    });
    group.finish();

    shutdown.trigger();
    runtime.block_on(node).unwrap().unwrap();
}

criterion_group!(benches, api);
criterion_main!(benches);
