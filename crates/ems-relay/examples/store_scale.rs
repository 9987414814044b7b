//! The store at scale: durable inserts while it grows to N messages, the time to reopen it
//! (rebuilding the in-memory indexes), a sweep of all of them expired with inserts served in
//! between, the process RSS, bytes on disk per message, and bytes written per insert and per
//! delete (write amplification).
//!
//! ```text
//! cargo run --release -p ems-relay --example store_scale -- [messages] [batch] [seconds]
//! ```
//! Defaults: 1,000,000 messages, batches of 512 (the writer's group commit), at most 600 s of
//! inserting (the figures say how far it got). 1 KiB payloads; proofs are not mined (the
//! store does not check them; the rate index sees a spread of proof hashes all the same).
//! Each batch is received at the clock's time and lives an hour from then, as on a node, so
//! the arrival and expiry orders advance as inserts go on; the sweep runs once all expired.
//! The sweep calls `purge_expired` until it reports no more work, as the writer task does:
//! chunks of expired messages, then the steps of the index compaction still under way.

use ems_core::Message;
use ems_pow::{Algorithm, Proof};
use ems_relay::store::Insert;
use ems_relay::Store;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PAYLOAD: usize = 1024;
const LIFE: u64 = 3_600;

fn message(i: u64, ttl: u64) -> Message {
    let mut id = [0u8; 64];
    // ID0 spread over 4,096 tags, ID1 unique.
    id[..8].copy_from_slice(&(i % 4_096).to_be_bytes());
    id[32..40].copy_from_slice(&i.to_be_bytes());
    id[40..48].copy_from_slice(&ttl.to_be_bytes());
    let mut m = Message::new(id, vec![0x5a; PAYLOAD], ttl as u32, [0; 4]).expect("valid frame");
    let mut hash = [0u8; 32];
    // Proof hashes spread like real ones: a pseudo-random leading u64.
    hash[..8].copy_from_slice(&(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 8).to_be_bytes());
    m.set_pow(Algorithm::Sha256, Proof { nonce: i, hash });
    m
}

/// (resident bytes, bytes this process has caused to be written to storage).
fn process_figures() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024);
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let written = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    (rss, written)
}

/// Bytes this process has caused to be read from storage (not the kernel's file cache).
fn read_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds this process has used (user + system; the machine is shared, so wall time
/// alone says more about the load than about the store).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime and stime are the 12th and
    // 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// Unix seconds now.
fn clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let target = args.first().copied().unwrap_or(1_000_000);
    let batch = args.get(1).copied().unwrap_or(512).max(1);
    let limit = Duration::from_secs(args.get(2).copied().unwrap_or(600));
    let now = clock();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("store.redb");
    let (store, _) = Store::open(&path, now).expect("open store");
    let frame = message(0, now + LIFE).encoded_len() as u64;
    println!("store_scale: target {target} messages, {PAYLOAD}-byte payload ({frame}-byte frames), batches of {batch}, at most {limit:?}");

    // 1. Inserts from 0 to `target`.
    let started = Instant::now();
    let cpu_before = cpu_secs();
    let (_, written_before) = process_figures();
    let mut inserted = 0u64;
    let mut last_ttl = now + LIFE;
    let mut mark = (Instant::now(), 0u64);
    let report_every = (target / 10).max(batch);
    while inserted < target && started.elapsed() < limit {
        let n = batch.min(target - inserted);
        let at = clock();
        last_ttl = at + LIFE;
        let msgs: Vec<Message> = (inserted..inserted + n)
            .map(|i| message(i, at + LIFE))
            .collect();
        let items: Vec<(&Message, u64)> = msgs.iter().map(|m| (m, at)).collect();
        let out = store.insert_batch(&items, u64::MAX, at).expect("insert");
        assert!(out.iter().all(|o| *o == Insert::Stored));
        inserted += n;
        if inserted % report_every < batch || inserted == target {
            let (rss, _) = process_figures();
            let dt = mark.0.elapsed().as_secs_f64();
            println!(
                "  {inserted:>9} stored  {:>8.0}/s over the last {:>7} ({:.1} s)  RSS {:>6.1} MiB",
                (inserted - mark.1) as f64 / dt,
                inserted - mark.1,
                dt,
                mib(rss)
            );
            mark = (Instant::now(), inserted);
        }
    }
    let insert_secs = started.elapsed().as_secs_f64();
    let insert_cpu = cpu_secs() - cpu_before;
    let (rss, written_after) = process_figures();
    let file = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "inserts: {inserted} in {insert_secs:.1} s = {:.0}/s sustained ({insert_cpu:.1} CPU s = {:.0}/CPU s); RSS {:.1} MiB; file {:.1} MiB = {:.0} bytes/message ({:.2}× the frame); written {:.0} bytes/insert ({:.2}× the frame)",
        inserted as f64 / insert_secs,
        inserted as f64 / insert_cpu.max(0.01),
        mib(rss),
        mib(file),
        file as f64 / inserted as f64,
        file as f64 / inserted as f64 / frame as f64,
        (written_after - written_before) as f64 / inserted as f64,
        (written_after - written_before) as f64 / inserted as f64 / frame as f64,
    );

    // 2. Reopening: the in-memory indexes are rebuilt from the expiry index.
    drop(store);
    let started = Instant::now();
    let cpu_before = cpu_secs();
    let (store, _) = Store::open(&path, clock()).expect("reopen store");
    let (rss, _) = process_figures();
    println!(
        "reopen: {:.2} s ({:.2} CPU s) to open and rebuild the indexes of {} messages; RSS {:.1} MiB",
        started.elapsed().as_secs_f64(),
        cpu_secs() - cpu_before,
        store.stats().0,
        mib(rss)
    );

    // 3. Everything expires at once; the sweeper deletes it a chunk at a time while a writer
    //    commits a batch of fresh inserts between two chunks (what the writer task does).
    let later = last_ttl + 1;
    let started = Instant::now();
    let cpu_before = cpu_secs();
    let (_, written_before) = process_figures();
    let read_before = read_bytes();
    let (mut deleted, mut chunks, mut fresh, mut worst_gap) = (0u64, 0u64, 0u64, Duration::ZERO);
    // Calls that found nothing due and only took a step of the index compaction, and the
    // longest call of either kind.
    let (mut steps_only, mut worst_call) = (0u64, Duration::ZERO);
    let mut last_insert = Instant::now();
    loop {
        let call = Instant::now();
        let swept = store.purge_expired(later).expect("purge");
        worst_call = worst_call.max(call.elapsed());
        deleted += swept.deleted;
        chunks += 1;
        if swept.deleted == 0 {
            steps_only += 1;
        }
        let msgs: Vec<Message> = (0..batch)
            .map(|i| message(target + fresh + i, later + LIFE))
            .collect();
        let items: Vec<(&Message, u64)> = msgs.iter().map(|m| (m, later)).collect();
        store.insert_batch(&items, u64::MAX, later).expect("insert");
        worst_gap = worst_gap.max(last_insert.elapsed());
        last_insert = Instant::now();
        fresh += batch;
        if !swept.more {
            break;
        }
    }
    let sweep_secs = started.elapsed().as_secs_f64();
    let sweep_cpu = cpu_secs() - cpu_before;
    let (rss, written_after) = process_figures();
    println!(
        "sweep: {deleted} expired deleted in {sweep_secs:.2} s ({sweep_cpu:.1} CPU s, {chunks} calls, {steps_only} of them only a compaction step; longest call {:.0} ms) with {fresh} inserts committed in between (longest wait between two insert commits {:.0} ms); written {:.0} bytes/delete, read {:.0} bytes/delete from storage; RSS {:.1} MiB",
        worst_call.as_secs_f64() * 1e3,
        worst_gap.as_secs_f64() * 1e3,
        (written_after - written_before) as f64 / deleted.max(1) as f64,
        (read_bytes() - read_before) as f64 / deleted.max(1) as f64,
        mib(rss),
    );
    assert_eq!(store.stats().0, fresh, "only the fresh messages remain");
}
