//! Channel costs: identity generation, opening, trial recognition (own and others' opens),
//! accepting, rekeying, and sealing and unsealing 1 KiB and the largest plaintexts, with and
//! without a signature.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use ems_core::channel::{self, Channel, MAX_PLAINTEXT, MAX_SIGNED_PLAINTEXT};
use ems_core::Identity;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::hint::black_box;

const NOW: u64 = 1_800_000_000;
const EXPIRES: u64 = NOW + 365 * 86_400;
const TTL: u32 = 1_800_003_600;
const BLOCKHASH: [u8; 4] = [1, 2, 3, 4];

fn identity(rng: &mut StdRng) -> Identity {
    Identity::generate(rng, NOW, EXPIRES, None).unwrap()
}

fn handshake(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let (alice, bob, carol) = (identity(&mut rng), identity(&mut rng), identity(&mut rng));
    let (_, open) = Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap();
    let mut group = c.benchmark_group("channel");
    group.bench_function("identity_generate", |b| b.iter(|| identity(&mut rng)));
    group.bench_function("open_sender", |b| {
        b.iter(|| Channel::open(&alice, bob.bundle(), NOW, TTL, BLOCKHASH, &mut rng).unwrap())
    });
    group.bench_function("recognise_own", |b| {
        b.iter(|| {
            channel::recognise(&bob, black_box(&open), NOW)
                .unwrap()
                .unwrap()
        })
    });
    group.bench_function("recognise_not_own", |b| {
        b.iter(|| {
            assert!(channel::recognise(&carol, black_box(&open), NOW)
                .unwrap()
                .is_none())
        })
    });
    group.bench_function("accept", |b| {
        b.iter_batched(
            || channel::recognise(&bob, &open, NOW).unwrap().unwrap(),
            |incoming| incoming.accept(&bob, TTL, BLOCKHASH, &mut rng).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// A channel from Alice to Bob, accepted: Alice's and Bob's states.
fn accepted(alice: &Identity, bob: &Identity, rng: &mut StdRng) -> (Channel, Channel) {
    let (mut a, open) = Channel::open(alice, bob.bundle(), NOW, TTL, BLOCKHASH, rng).unwrap();
    let incoming = channel::recognise(bob, &open, NOW).unwrap().unwrap();
    let (b, accept) = incoming.accept(bob, TTL, BLOCKHASH, rng).unwrap();
    a.unseal(alice, &accept, NOW).unwrap();
    (a, b)
}

fn messages(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let (alice, bob) = (identity(&mut rng), identity(&mut rng));
    // One channel only seals (its recipient would fall behind the out-of-order window); the
    // other seals exactly what its recipient unseals, in order.
    let (mut sealer, _) = accepted(&alice, &bob, &mut rng);
    let (mut a, mut b) = accepted(&alice, &bob, &mut rng);

    let mut group = c.benchmark_group("channel_message");
    let cases = [
        (1024, false),
        (MAX_PLAINTEXT, false),
        (1024, true),
        (MAX_SIGNED_PLAINTEXT, true),
    ];
    for (len, sign) in cases {
        let plaintext = vec![0x5a; len];
        let name = if sign { "signed" } else { "unsigned" };
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(
            BenchmarkId::new(format!("seal_{name}"), len),
            &plaintext,
            |bench, p| {
                bench.iter(|| {
                    sealer
                        .seal(&alice, p, TTL, BLOCKHASH, sign, &mut rng)
                        .unwrap()
                })
            },
        );
        // Each unseal needs a fresh message (replays are refused): sealing is set-up, not timed.
        group.bench_with_input(
            BenchmarkId::new(format!("unseal_{name}"), len),
            &plaintext,
            |bench, p| {
                bench.iter_batched(
                    || a.seal(&alice, p, TTL, BLOCKHASH, sign, &mut rng).unwrap(),
                    |message| b.unseal(&bob, &message, NOW).unwrap(),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.throughput(Throughput::Elements(1));
    // A side holds at most MAX_RATCHET_KEYS unacknowledged rekeys: each iteration starts
    // from the same stored state (restoring it is set-up, not timed).
    let snapshot = serde_json::to_string(&sealer).unwrap();
    group.bench_function("rekey_send", |bench| {
        bench.iter_batched(
            || serde_json::from_str::<Channel>(&snapshot).unwrap(),
            |mut state| state.rekey(&alice, TTL, BLOCKHASH, &mut rng).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, handshake, messages);
criterion_main!(benches);
