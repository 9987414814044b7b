//! Durable inserts into the redb store: one message per transaction (one fsync each) against
//! group commits of 64, the writer's behaviour under load. 1 KiB payloads.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ems_core::Message;
use ems_relay::Store;
use std::time::{SystemTime, UNIX_EPOCH};

fn messages(n: usize, salt: u64) -> Vec<Message> {
    (0..n)
        .map(|i| {
            let mut id = [0u8; 64];
            id[..8].copy_from_slice(&salt.to_be_bytes());
            id[8..16].copy_from_slice(&(i as u64).to_be_bytes());
            // Proofs are not checked by the store; an unmined frame is as large as a mined one.
            Message::new(id, vec![0x5a; 1024], u32::MAX, [0; 4]).unwrap()
        })
        .collect()
}

fn inserts(c: &mut Criterion) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(&dir.path().join("store.redb"), now).unwrap();
    let mut group = c.benchmark_group("store_insert_1KiB");
    let mut salt = 0u64;
    for batch in [1usize, 64] {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(format!("batch_{batch}"), |b| {
            b.iter_batched(
                || {
                    salt += 1;
                    messages(batch, salt)
                },
                |msgs| {
                    let items: Vec<_> = msgs.iter().map(|m| (m, now)).collect();
                    store.insert_batch(&items, u64::MAX, now).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, inserts);
criterion_main!(benches);
