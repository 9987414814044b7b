//! The native side of the boundary benchmarks (`scripts/bench-embedding.sh`): validating a
//! mined 1 KiB frame against a pushed chain with the Rust call, and mining a fixed amount of work,
//! measured exactly as the C, Go and Python programs measure them through their boundaries.
//!
//! usage: cargo run --release -p ems-ffi --example boundary_native [ITERATIONS] [MINE_WORK]

use ems_core::{Context, Message, Validator};
use ems_embed::{mine::mine, MineOptions, PushedChain, PushedConfig};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iterations: u64 = args.next().map_or(Ok(200_000), |a| a.parse())?;
    let work: u64 = args.next().map_or(Ok(20_000_000), |a| a.parse())?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let hash = [0xaa, 0xbb, 0xcc, 0xdd];
    let chain = PushedChain::new(PushedConfig::default());
    chain.push(100, &hash, now - 5, now)?;
    let cheap = ems_embed::policy_from_json(
        r#"{"pow": {"sha256": {"min_work": 2000, "size_factor": 0, "ttl_factor": 0}}}"#,
    )?;
    let mut msg = Message::new([7; 64], vec![0x42; 1024], (now + 600) as u32, hash)?;
    mine(&mut msg, &cheap, now, &MineOptions::default(), |_| true)?;
    let wire = msg.encode();
    let validator = Validator::new(cheap);
    let started = Instant::now();
    for _ in 0..iterations {
        validator.validate_bytes(std::hint::black_box(&wire), &chain, now, Context::Live)?;
    }
    let per = started.elapsed().as_nanos() as f64 / iterations as f64;
    println!("rust   validate 1 KiB frame: {per:8.0} ns/op ({iterations} iterations)");

    let fixed = ems_embed::policy_from_json(&format!(
        r#"{{"pow": {{"sha256": {{"min_work": {work}, "size_factor": 0, "ttl_factor": 0}}}}}}"#
    ))?;
    let mut m = Message::new([9; 64], vec![0x42; 1024], 2_000_000_000, hash)?;
    let started = Instant::now();
    mine(
        &mut m,
        &fixed,
        1_900_000_000,
        &MineOptions::default(),
        |_| true,
    )?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rust   mine {work} expected tries: {secs:6.3} s (nonce {})",
        m.pow().proof.nonce
    );
    Ok(())
}
