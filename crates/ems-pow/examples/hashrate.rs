//! Measures the `0x01` try rate, single-threaded and on every core, next to the ceiling: the
//! rate at which OpenSSL compresses SHA-256 blocks on one core, measured in the same run.
//!
//! ```text
//! cargo run --release -p ems-pow --example hashrate [-- ROUNDS]
//! ```
//!
//! The ceiling is `openssl speed -elapsed -seconds 1 -bytes 8192 sha256` bytes/s ÷ 64: one
//! 64-byte compression per block of a long message, with no per-call overhead. `-elapsed` makes
//! OpenSSL divide by wall-clock time, as the rates here are (by default it divides by its CPU
//! time, which flatters it on a loaded machine). Each figure is the best
//! of `ROUNDS` (default 5) one-second slices, the four measurements alternating round by round:
//! other processes on the machine can only slow a slice down, so the best slices are the
//! closest to what the hardware does, and none of the figures is favoured by the timing of that
//! load. The last line is `ratio: X.XX`, the single-thread rate over the ceiling.
//!
//! On Linux the solver lines also give tries per CPU-second (from `/proc/self/task/*/schedstat`):
//! when other processes hold a core, the all-thread wall-clock rate cannot show the scaling, but
//! equal per-CPU-second rates for one thread and for all threads show the threads do not slow
//! each other, so on idle cores the rate scales with the thread count.

use std::collections::HashMap;
use std::error::Error;
use std::process::Command;
use std::time::Duration;

use ems_pow::sha256::Backend;
use ems_pow::{Algorithm, CancelToken, Solver};

/// Nanoseconds each live thread of this process has run on a CPU, by thread id, where Linux
/// tells.
fn cpu_ns() -> Option<HashMap<String, u64>> {
    let mut threads = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let task = task.ok()?;
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let ns = stat.split_whitespace().next()?.parse().ok()?;
        threads.insert(task.file_name().to_string_lossy().into_owned(), ns);
    }
    Some(threads)
}

/// CPU nanoseconds the threads alive at `after` spent since `before` (threads that exited in
/// between, such as the previous measurement's workers, are not counted).
fn cpu_spent(before: &HashMap<String, u64>, after: &HashMap<String, u64>) -> u64 {
    after
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum()
}

/// Tries per wall-clock second and per CPU-second of `solver` over about `seconds`, searching
/// for a proof that never comes.
fn rate(solver: Solver, seconds: f64) -> (f64, Option<f64>) {
    let cancel = CancelToken::new();
    let mut wall = 0.0;
    let mut cpu = None;
    let solver = solver
        .cancel_token(cancel.clone())
        .progress_every(Duration::from_millis(50));
    let cpu_before = cpu_ns();
    let outcome = solver.solve_with_progress(Algorithm::Sha256, &[0x5a; 32], 0, |p| {
        if p.elapsed.as_secs_f64() >= seconds && !cancel.is_cancelled() {
            // Read while the workers are still alive, so their CPU time is counted.
            cpu = cpu_ns()
                .zip(cpu_before.as_ref())
                .map(|(after, before)| p.tries as f64 / (cpu_spent(before, &after) as f64 / 1e9));
            wall = p.rate();
            cancel.cancel();
        }
    });
    debug_assert!(outcome.is_err(), "a target of 0 is never met");
    (wall, cpu)
}

/// The best of two measurements, per field.
fn best(a: (f64, Option<f64>), b: (f64, Option<f64>)) -> (f64, Option<f64>) {
    let cpu = match (a.1, b.1) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    (a.0.max(b.0), cpu)
}

/// SHA-256 compressions per second on one core by OpenSSL, over one second.
fn openssl_ceiling() -> Result<f64, Box<dyn Error>> {
    let out = Command::new("openssl")
        .args([
            "speed", "-elapsed", "-seconds", "1", "-bytes", "8192", "sha256",
        ])
        .output()
        .map_err(|e| format!("running `openssl speed`: {e} (is openssl installed?)"))?;
    if !out.status.success() {
        return Err(format!(
            "`openssl speed` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    // The table's last line: `sha256   1769996.02k`, in thousands of bytes per second.
    let text = String::from_utf8_lossy(&out.stdout);
    let kilobytes = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("sha256"))
        .and_then(|rest| rest.split_whitespace().last())
        .and_then(|v| v.strip_suffix('k'))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no `sha256 …k` line in `openssl speed` output:\n{text}"))?;
    Ok(kilobytes * 1000.0 / 64.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let rounds: u32 = match std::env::args().nth(1) {
        Some(s) => s.parse().map_err(|e| format!("ROUNDS {s:?}: {e}"))?,
        None => 5,
    };
    let threads = Solver::new().thread_count();
    let backend = Backend::detect();
    let mut ceiling = 0.0f64;
    let [mut portable, mut single, mut multi] = [(0.0, None); 3];
    for _ in 0..rounds.max(1) {
        ceiling = ceiling.max(openssl_ceiling()?);
        let portable_solver = Solver::new().threads(1).backend(Backend::Portable);
        portable = best(portable, rate(portable_solver, 1.0));
        single = best(single, rate(Solver::new().threads(1), 1.0));
        multi = best(multi, rate(Solver::new(), 1.0));
    }
    let m = |r: f64| r / 1e6;
    let per_cpu =
        |r: Option<f64>| r.map_or(String::new(), |r| format!(", {:.2} M per CPU-s", m(r)));
    let (portable_cpu, single_cpu, multi_cpu) = (portable.1, single.1, multi.1);
    let (portable, single, multi) = (portable.0, single.0, multi.0);
    println!("best of {rounds} one-second slices each");
    println!("backend:                {backend:?}");
    println!(
        "ceiling (openssl, 1 core): {:7.2} M compressions/s",
        m(ceiling)
    );
    println!(
        "portable, 1 thread:     {:7.2} M tries/s  ({:.2}x ceiling{})",
        m(portable),
        portable / ceiling,
        per_cpu(portable_cpu)
    );
    println!(
        "fast, 1 thread:         {:7.2} M tries/s  ({:.2}x ceiling{})",
        m(single),
        single / ceiling,
        per_cpu(single_cpu)
    );
    println!(
        "fast, {threads} threads:        {:7.2} M tries/s  ({:.2}x single{})",
        m(multi),
        multi / single,
        per_cpu(multi_cpu)
    );
    println!("ratio: {:.2}", single / ceiling);
    Ok(())
}
