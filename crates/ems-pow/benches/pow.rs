//! Proof-of-work benchmarks: `0x01` try rates (one thread per backend, every thread), proof
//! verification per algorithm, and time to solution at a fixed difficulty.
//!
//! `cargo bench -p ems-pow --bench pow`; CI runs each once with
//! `cargo test -p ems-pow --benches`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ems_pow::sha256::{Backend, Search};
use ems_pow::{solve, target_for_work, verify, Algorithm, Solver};

const DIGEST: [u8; 32] = [0x5a; 32];

/// `0x01` tries per second on one thread, per backend, on a range with no proof in it.
fn tries_single_thread(c: &mut Criterion) {
    const TRIES: u64 = 1 << 18;
    let mut g = c.benchmark_group("sha256_tries_1_thread");
    g.throughput(Throughput::Elements(TRIES));
    for backend in [Backend::Portable, Backend::ShaNi] {
        let search = Search::new(&DIGEST, backend);
        if search.backend() != backend {
            continue; // this CPU cannot run it
        }
        g.bench_function(format!("{backend:?}"), |b| {
            b.iter(|| search.scan(black_box(0), TRIES, 0))
        });
    }
    g.finish();
}

/// `0x01` tries per second through the solver, one thread against every thread, on one fixed
/// problem: its proof is the same for both, so both do the same tries.
fn tries_solver(c: &mut Criterion) {
    let target = target_for_work(1 << 22);
    let tries = Solver::new()
        .solve(Algorithm::Sha256, &DIGEST, target)
        .expect("not cancelled")
        .nonce
        + 1;
    let mut g = c.benchmark_group("sha256_solver");
    g.throughput(Throughput::Elements(tries));
    g.sample_size(10);
    let all = Solver::new().thread_count();
    for threads in [1, all] {
        let solver = Solver::new().threads(threads);
        g.bench_function(BenchmarkId::new("threads", threads), |b| {
            b.iter(|| solver.solve(Algorithm::Sha256, &DIGEST, target))
        });
    }
    g.finish();
}

/// Verifications per second of a valid proof, per algorithm.
fn verification(c: &mut Criterion) {
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    for algorithm in Algorithm::ALL.iter().copied() {
        let target = target_for_work(4);
        let proof = solve(algorithm, &DIGEST, target, 0);
        g.bench_function(algorithm.name(), |b| {
            b.iter(|| verify(algorithm, black_box(&DIGEST), black_box(&proof), target))
        });
    }
    g.finish();
}

/// Time for the all-thread solver to find a `0x01` proof of 2^22 expected tries, a fresh
/// message each time. The tiny target time makes flat sampling take one solve per sample, so
/// the samples are the distribution (criterion warns that the run takes longer than that).
fn time_to_solution(c: &mut Criterion) {
    let target = target_for_work(1 << 22);
    let solver = Solver::new();
    let mut message = 0u64;
    let mut g = c.benchmark_group("time_to_solution");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(40)
        .measurement_time(Duration::from_millis(1));
    g.bench_function("sha256_work_2^22", |b| {
        b.iter_custom(|iters| {
            let started = Instant::now();
            for _ in 0..iters {
                message += 1;
                let mut digest = DIGEST;
                digest[..8].copy_from_slice(&message.to_be_bytes());
                black_box(solver.solve(Algorithm::Sha256, &digest, target).ok());
            }
            started.elapsed()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    tries_single_thread,
    tries_solver,
    verification,
    time_to_solution
);
criterion_main!(benches);
