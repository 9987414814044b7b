//! What validation pays the qrl backend: `head` and `find` (hit and miss) on a window of 20 000
//! cached blocks, filled from an in-process `PublicAPI` server over loopback gRPC. The fill time
//! is printed once (it is paced by the refresh loop, 20 pages of 100 headers per refresh).

#[path = "../tests/qrl_fake/mod.rs"]
mod qrl_fake;

use criterion::{criterion_group, criterion_main, Criterion};
use ems_chain::{QrlChain, QrlConfig};
use ems_core::ChainView;
use qrl_fake::{now, serve, Chain};
use std::hint::black_box;
use std::time::{Duration, Instant};

const BLOCKS: u64 = 20_000;

fn lookups(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a Tokio runtime");
    let (chain, qrl) = runtime.block_on(async {
        let (chain, endpoint) = serve(Chain::new(BLOCKS)).await;
        let qrl = QrlChain::start(endpoint, 86_400, &QrlConfig::default());
        let started = Instant::now();
        while qrl.status(now()).blocks_cached < BLOCKS as usize {
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "window not filled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        eprintln!("qrl: {BLOCKS} blocks cached in {:?}", started.elapsed());
        (chain, qrl)
    });
    let (old, newest) = {
        let c = chain.lock().unwrap();
        (c.prefix(100), c.prefix(BLOCKS as usize - 1))
    };
    assert_eq!(qrl.find(old, now()).unwrap().unwrap().height, 100);
    let mut group = c.benchmark_group("qrl_chain");
    group.bench_function("head", |b| b.iter(|| qrl.head(black_box(now())).unwrap()));
    group.bench_function("find_hit", |b| {
        b.iter(|| qrl.find(black_box(newest), now()).unwrap())
    });
    group.bench_function("find_hit_old", |b| {
        b.iter(|| qrl.find(black_box(old), now()).unwrap())
    });
    group.bench_function("find_miss", |b| {
        b.iter(|| qrl.find(black_box([0xee; 4]), now()).unwrap())
    });
    group.finish();
    drop(qrl);
    drop(runtime);
}

criterion_group!(benches, lookups);
criterion_main!(benches);
