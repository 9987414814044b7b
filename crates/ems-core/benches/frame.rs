//! Decode + validate throughput, excluding the proof-of-work hash (measured in ems-pow).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ems_core::StaticChain;
use ems_core::{Context, Message, Policy, Reject, Validator};
use ems_pow::Algorithm;
use std::hint::black_box;

const NOW: u64 = 1_800_000_000;
const PREFIX: [u8; 4] = [0xca, 0xfe, 0xba, 0xbe];

/// Everything but the final proof check: a frame whose proof claims a hash above any target
/// fails at the last step, after decoding, TTL, algorithm and blockhash checks and the digest.
fn frame(payload: usize) -> Vec<u8> {
    let mut m = Message::new([3; 64], vec![0x42; payload], (NOW + 3600) as u32, PREFIX).unwrap();
    m.set_pow(
        Algorithm::Sha256,
        ems_pow::Proof {
            nonce: 0,
            hash: [0xff; 32],
        },
    );
    m.encode()
}

fn decode_validate(c: &mut Criterion) {
    let chain = StaticChain::new(100, PREFIX, NOW - 5);
    let validator = Validator::new(Policy::default());
    let mut group = c.benchmark_group("decode_validate");
    for size in [1024usize, 8192] {
        let bytes = frame(size);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &bytes, |b, bytes| {
            b.iter(|| {
                let r = validator.validate_bytes(black_box(bytes), &chain, NOW, Context::Live);
                assert!(matches!(r, Err(Reject::InsufficientWork(_))));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode_validate);
criterion_main!(benches);
