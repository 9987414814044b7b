//! The multi-threaded, cancellable solver senders use.
//!
//! The nonces from the start nonce upwards are cut into chunks, numbered in nonce order. Each
//! thread takes the next unsearched chunk from a shared counter and searches it in nonce order,
//! so a thread that the OS runs less (another process on its core) simply takes fewer chunks.
//! When a thread finds a proof in chunk `k`, no chunk after `k` is started, chunks before `k`
//! still being searched are finished, and the proof of the lowest chunk wins. The result is
//! therefore the first nonce from the start that meets the target — the proof
//! [`solve`](crate::solve) returns — whatever the thread count or timing.
//!
//! ```text
//! nonces:  start ─┬─ chunk 0 ─┬─ chunk 1 ─┬─ chunk 2 ─┬─ chunk 3 ─┬─ …
//! taken by:       │  thread 0 │  thread 1 │  thread 1 │  thread 0 │  (whoever is free next)
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::algorithm::Algorithm;
use crate::argon2id;
use crate::difficulty::expected_tries;
use crate::proof::Proof;
use crate::sha256::{self, Backend};

/// Nonces per chunk of `0x01`: a few milliseconds of one core, the bound on how long a cancel
/// or a found proof takes to stop every thread.
const SHA256_CHUNK: u64 = 1 << 16;

/// Nonces per chunk of `0x02`.
const ARGON2ID_CHUNK: u64 = 4;

/// A handle that stops a running [`Solver`]; clones share one flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every solver holding this token to stop; each thread stops within one chunk.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The solver stopped because its [`CancelToken`] was cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("proof-of-work search cancelled after {tries} tries")]
pub struct Cancelled {
    /// Nonces tried before the threads stopped.
    pub tries: u64,
}

/// How far a search has come, as reported to a progress callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Nonces tried so far, counted in whole chunks (and exactly, once a proof is found).
    pub tries: u64,
    /// Tries expected on average before a proof is found (the work `W`).
    pub expected_tries: u64,
    /// Time since the search started.
    pub elapsed: Duration,
}

impl Progress {
    /// Tries per second so far.
    pub fn rate(&self) -> f64 {
        self.tries as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A multi-threaded proof-of-work search: every core by default, cancellable, with progress.
///
/// ```
/// use ems_pow::{target_for_work, verify, Algorithm, CancelToken, Solver};
/// let target = target_for_work(100_000);
/// let cancel = CancelToken::new();
/// let solver = Solver::new().threads(2).cancel_token(cancel.clone());
/// let proof = solver
///     .solve_with_progress(Algorithm::Sha256, &[7; 32], target, |p| {
///         eprintln!("{} of ~{} tries, {:.0}/s", p.tries, p.expected_tries, p.rate());
///     })
///     .expect("not cancelled");
/// assert!(verify(Algorithm::Sha256, &[7; 32], &proof, target).is_ok());
/// assert_eq!(proof, ems_pow::solve(Algorithm::Sha256, &[7; 32], target, 0));
/// ```
#[derive(Clone, Debug)]
pub struct Solver {
    threads: usize,
    start_nonce: u64,
    cancel: CancelToken,
    progress_every: Duration,
    backend: Backend,
}

impl Default for Solver {
    fn default() -> Self {
        Self::new()
    }
}

impl Solver {
    /// A solver using every core, starting at nonce 0, reporting progress every 100 ms, on the
    /// fastest `0x01` backend ([`Backend::detect`]).
    pub fn new() -> Self {
        Solver {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            start_nonce: 0,
            cancel: CancelToken::new(),
            progress_every: Duration::from_millis(100),
            backend: Backend::detect(),
        }
    }

    /// Searches on `threads` threads (at least 1).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Searches from `nonce` upwards.
    pub fn start_nonce(mut self, nonce: u64) -> Self {
        self.start_nonce = nonce;
        self
    }

    /// Stops when `token` is cancelled.
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = token;
        self
    }

    /// Calls the progress callback this often (and once more at the end).
    pub fn progress_every(mut self, interval: Duration) -> Self {
        self.progress_every = interval;
        self
    }

    /// Tries `0x01` nonces on `backend` (or the portable one where the CPU lacks it).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The number of threads a search uses.
    pub fn thread_count(&self) -> usize {
        self.threads
    }

    /// Finds the first nonce from the start nonce whose proof meets `target`.
    pub fn solve(
        &self,
        algorithm: Algorithm,
        digest: &[u8; 32],
        target: u64,
    ) -> Result<Proof, Cancelled> {
        self.solve_with_progress(algorithm, digest, target, |_| {})
    }

    /// [`solve`](Self::solve), calling `on_progress` on the calling thread every
    /// [`progress_every`](Self::progress_every) and once when the search ends.
    pub fn solve_with_progress(
        &self,
        algorithm: Algorithm,
        digest: &[u8; 32],
        target: u64,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Proof, Cancelled> {
        let started = Instant::now();
        let search = Shared {
            digest: *digest,
            target,
            algorithm,
            start_nonce: self.start_nonce,
            chunk: match algorithm {
                Algorithm::Sha256 => SHA256_CHUNK,
                Algorithm::Argon2id => ARGON2ID_CHUNK,
            },
            cancel: self.cancel.clone(),
            next_chunk: AtomicU64::new(0),
            tries: AtomicU64::new(0),
            best_chunk: AtomicU64::new(u64::MAX),
            best: Mutex::new(None),
            interrupted: AtomicBool::new(false),
        };
        let progress = |search: &Shared| Progress {
            tries: search.tries.load(Ordering::Relaxed),
            expected_tries: expected_tries(target),
            elapsed: started.elapsed(),
        };
        // Workers hold the senders and never send: the channel disconnects when the last one
        // has returned, which wakes the reporting loop at once.
        let (running, finished) = mpsc::channel::<std::convert::Infallible>();
        std::thread::scope(|scope| {
            for _ in 0..self.threads {
                let running = running.clone();
                let search = &search;
                let backend = self.backend;
                scope.spawn(move || {
                    search.work(backend);
                    drop(running);
                });
            }
            drop(running);
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                finished.recv_timeout(self.progress_every)
            {
                on_progress(&progress(&search));
            }
        });
        on_progress(&progress(&search));
        let tries = search.tries.load(Ordering::Relaxed);
        let best = search
            .best
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        match best {
            Some((_, proof)) if !search.interrupted.load(Ordering::Relaxed) => Ok(proof),
            _ => Err(Cancelled { tries }),
        }
    }
}

/// What the threads of one search share.
struct Shared {
    digest: [u8; 32],
    target: u64,
    algorithm: Algorithm,
    start_nonce: u64,
    chunk: u64,
    cancel: CancelToken,
    /// The next chunk no thread has taken yet.
    next_chunk: AtomicU64,
    tries: AtomicU64,
    /// The lowest chunk a proof was found in so far.
    best_chunk: AtomicU64,
    best: Mutex<Option<(u64, Proof)>>,
    /// Set when a thread stopped for the cancel token, leaving chunks unsearched.
    interrupted: AtomicBool,
}

/// One thread's way of trying nonces.
enum Searcher {
    Sha256(sha256::Search),
    Argon2id(argon2id::Hasher),
}

impl Shared {
    fn work(&self, backend: Backend) {
        let mut searcher = match self.algorithm {
            Algorithm::Sha256 => Searcher::Sha256(sha256::Search::new(&self.digest, backend)),
            Algorithm::Argon2id => Searcher::Argon2id(argon2id::Hasher::new()),
        };
        loop {
            let index = self.next_chunk.fetch_add(1, Ordering::Relaxed);
            if index > self.best_chunk.load(Ordering::Acquire) {
                return;
            }
            if self.cancel.is_cancelled() {
                self.interrupted.store(true, Ordering::Relaxed);
                return;
            }
            let start = self
                .start_nonce
                .wrapping_add(index.wrapping_mul(self.chunk));
            let found = match &mut searcher {
                Searcher::Sha256(search) => search.scan(start, self.chunk, self.target),
                Searcher::Argon2id(hasher) => {
                    hasher.scan(&self.digest, start, self.chunk, self.target)
                }
            };
            match found {
                None => {
                    self.tries.fetch_add(self.chunk, Ordering::Relaxed);
                }
                Some(proof) => {
                    let tried = proof.nonce.wrapping_sub(start) + 1;
                    self.tries.fetch_add(tried, Ordering::Relaxed);
                    let mut best = self.best.lock().unwrap_or_else(PoisonError::into_inner);
                    if best.is_none_or(|(chunk, _)| index < chunk) {
                        *best = Some((index, proof));
                    }
                    self.best_chunk.fetch_min(index, Ordering::Release);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{solve, target_for_work, verify};

    #[test]
    fn every_thread_count_finds_the_reference_proof() {
        let target = target_for_work(300_000);
        for digest in [[1u8; 32], [2; 32], [3; 32]] {
            let reference = solve(Algorithm::Sha256, &digest, target, 1_000);
            for threads in [1, 2, 3, 8] {
                for backend in [Backend::Portable, Backend::ShaNi] {
                    let proof = Solver::new()
                        .threads(threads)
                        .start_nonce(1_000)
                        .backend(backend)
                        .solve(Algorithm::Sha256, &digest, target)
                        .unwrap();
                    assert_eq!(proof, reference, "{threads} threads on {backend:?}");
                }
            }
        }
    }

    #[test]
    fn argon2id_solver_finds_the_reference_proof() {
        let target = target_for_work(12);
        let reference = solve(Algorithm::Argon2id, &[4; 32], target, 0);
        for threads in [1, 3] {
            let proof = Solver::new()
                .threads(threads)
                .solve(Algorithm::Argon2id, &[4; 32], target)
                .unwrap();
            assert_eq!(proof, reference, "{threads} threads");
            assert_eq!(
                verify(Algorithm::Argon2id, &[4; 32], &proof, target),
                Ok(())
            );
        }
    }

    #[test]
    fn progress_is_reported_and_ends_with_the_tries_done() {
        let target = target_for_work(2_000_000);
        let start = 77;
        for threads in [1, 3] {
            let mut reports = Vec::new();
            let proof = Solver::new()
                .threads(threads)
                .start_nonce(start)
                .progress_every(Duration::from_millis(1))
                .solve_with_progress(Algorithm::Sha256, &[5; 32], target, |p| reports.push(*p))
                .unwrap();
            let last = reports.last().unwrap();
            assert_eq!(last.expected_tries, 2_000_000);
            assert!(reports.windows(2).all(|w| w[0].tries <= w[1].tries));
            assert!(last.rate() > 0.0);
            let up_to_proof = proof.nonce - start + 1;
            if threads == 1 {
                assert_eq!(last.tries, up_to_proof);
            } else {
                // Every nonce up to the proof was tried; how many more other threads tried
                // while the proof's chunk was searched depends on the scheduler.
                assert!(last.tries >= up_to_proof, "{} < {up_to_proof}", last.tries);
            }
        }
    }

    #[test]
    fn a_cancelled_token_stops_the_search_before_it_starts() {
        let cancel = CancelToken::new();
        cancel.cancel();
        let r = Solver::new()
            .cancel_token(cancel)
            .solve(Algorithm::Sha256, &[6; 32], 0);
        assert_eq!(r, Err(Cancelled { tries: 0 }));
    }
}
