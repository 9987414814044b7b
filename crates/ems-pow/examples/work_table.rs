//! Prints the calibration table of `docs/pow.md`: the work the default parameters ask of
//! 256 B, 1 KiB and 8 KiB payloads living 1 minute, 1 hour and 1 day (the default
//! `policy.max_ttl`), and what that costs on one core of this machine, with each algorithm's
//! single-thread try rate measured in the same run.
//!
//! ```text
//! cargo run --release -p ems-pow --example work_table [-- SECONDS]
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use ems_pow::argon2id::Hasher;
use ems_pow::{required_work, Algorithm, CancelToken, Solver};

/// Bytes a frame adds to its payload: ID, length, TTL, BLOCKHASH, algorithm byte and proof.
const FRAME_OVERHEAD: usize = 64 + 2 + 4 + 4 + 1 + ems_pow::PROOF_LEN;

const PAYLOADS: [(&str, usize); 3] = [("256 B", 256), ("1 KiB", 1024), ("8 KiB", 8192)];
const LIFETIMES: [(&str, u64); 3] = [("1 min", 60), ("1 h", 3_600), ("1 day (max TTL)", 86_400)];

/// `0x01` tries per second on one thread of the solver, over about `seconds`.
fn sha256_rate(seconds: f64) -> f64 {
    let cancel = CancelToken::new();
    let mut rate = 0.0;
    let solver = Solver::new()
        .threads(1)
        .cancel_token(cancel.clone())
        .progress_every(Duration::from_millis(50));
    // A target of 0 is never met: the search runs until cancelled.
    let _ = solver.solve_with_progress(Algorithm::Sha256, &[0x5a; 32], 0, |p| {
        if p.elapsed.as_secs_f64() >= seconds {
            cancel.cancel();
        }
        rate = p.rate();
    });
    rate
}

/// `0x02` tries per second on one thread, over about `seconds`.
fn argon2id_rate(seconds: f64) -> f64 {
    let mut hasher = Hasher::new();
    let started = Instant::now();
    let mut tries = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        std::hint::black_box(hasher.hash(&[0x5a; 32], tries));
        tries += 1;
    }
    tries as f64 / started.elapsed().as_secs_f64()
}

fn human(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1e3)
    } else {
        format!("{seconds:.1} s")
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let seconds: f64 = match std::env::args().nth(1) {
        Some(s) => s.parse().map_err(|e| format!("SECONDS {s:?}: {e}"))?,
        None => 3.0,
    };
    let rates = [
        (Algorithm::Sha256, sha256_rate(seconds)),
        (Algorithm::Argon2id, argon2id_rate(seconds)),
    ];
    for (algorithm, rate) in rates {
        let p = algorithm.default_params();
        println!(
            "\n{algorithm}: min_work {}, size_factor {}, ttl_factor {}; one core: {rate:.0} tries/s\n",
            p.min_work, p.size_factor, p.ttl_factor
        );
        print!("| payload (frame) |");
        for (name, _) in LIFETIMES {
            print!(" {name} |");
        }
        println!("\n| --- |{}", " --- |".repeat(LIFETIMES.len()));
        for (name, payload) in PAYLOADS {
            let frame = payload + FRAME_OVERHEAD;
            print!("| {name} ({frame} B) |");
            for (_, lifetime) in LIFETIMES {
                let work = required_work(&p, frame, lifetime);
                print!(" {work} tries, {} |", human(work as f64 / rate));
            }
            println!();
        }
    }
    Ok(())
}
