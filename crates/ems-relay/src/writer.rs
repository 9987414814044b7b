//! The store's single writer: group commits and the expiry sweeper.
//!
//! redb allows one write transaction at a time, and each durable commit costs an fsync. One
//! task owns all writes: it takes every insert that is waiting (up to [`MAX_BATCH`]), commits
//! them in one transaction, and only then answers each caller, so under load one fsync serves
//! many messages and no caller hears "stored" before its message is on disk.
//!
//! Once a second the writer deletes what has reached its TTL, a chunk per transaction. When
//! more is due than one chunk, it keeps sweeping, one chunk at a time, and commits the inserts
//! waiting in between, so a backlog of millions is cleared without stalling inserts.

use crate::error::StoreError;
use crate::metrics::Metrics;
use crate::store::{Insert, Store};
use ems_core::Message;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Most inserts committed in one transaction.
const MAX_BATCH: usize = 512;
/// Inserts that may wait for the writer before callers wait for room.
const QUEUE: usize = 4_096;
/// How often the sweeper looks for expired messages.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

struct Job {
    msg: Arc<Message>,
    received_at: u64,
    reply: oneshot::Sender<Result<Insert, StoreError>>,
}

/// A handle to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("ttl", &self.msg.ttl()).finish()
    }
}

impl Writer {
    /// Starts the writer. It stops, after committing what is queued, when `shutdown` turns true.
    pub(crate) fn spawn(
        store: Arc<Store>,
        max_bytes: u64,
        metrics: Arc<Metrics>,
        shutdown: watch::Receiver<bool>,
    ) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(store, max_bytes, metrics, rx, shutdown));
        (Writer { tx }, task)
    }

    /// Stores `msg` durably; returns once the transaction holding it has committed.
    pub(crate) async fn insert(
        &self,
        msg: Arc<Message>,
        received_at: u64,
    ) -> Result<Insert, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Job {
                msg,
                received_at,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }
}

async fn run(
    store: Arc<Store>,
    max_bytes: u64,
    metrics: Arc<Metrics>,
    mut rx: mpsc::Receiver<Job>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut sweep = tokio::time::interval(SWEEP_EVERY);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // More is due than the last chunk deleted.
    let mut behind = false;
    loop {
        if behind {
            // Waiting inserts first (one batch), then the next chunk.
            if let Ok(job) = rx.try_recv() {
                commit(&store, max_bytes, collect(job, &mut rx)).await;
            }
            if *shutdown.borrow() {
                behind = false;
                continue;
            }
            behind = sweep_expired(&store, &metrics).await;
            continue;
        }
        tokio::select! {
            job = rx.recv() => match job {
                Some(job) => commit(&store, max_bytes, collect(job, &mut rx)).await,
                None => break,
            },
            _ = sweep.tick() => behind = sweep_expired(&store, &metrics).await,
            () = stopped(&mut shutdown) => {
                // Refuse new inserts, then commit everything already queued.
                rx.close();
                while let Some(job) = rx.recv().await {
                    commit(&store, max_bytes, collect(job, &mut rx)).await;
                }
                break;
            }
        }
    }
    tracing::debug!("store writer stopped");
}

/// Resolves once shutdown is signalled (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn collect(first: Job, rx: &mut mpsc::Receiver<Job>) -> Vec<Job> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}

async fn commit(store: &Arc<Store>, max_bytes: u64, batch: Vec<Job>) {
    let items: Vec<(Arc<Message>, u64)> = batch
        .iter()
        .map(|j| (j.msg.clone(), j.received_at))
        .collect();
    let store = store.clone();
    let result = tokio::task::spawn_blocking(move || {
        let now = crate::clock::unix_now();
        let refs: Vec<(&Message, u64)> = items.iter().map(|(m, t)| (m.as_ref(), *t)).collect();
        match store.insert_batch(&refs, max_bytes, now) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            // A failed batch is retried one message per transaction, so each caller hears its
            // own outcome and one bad write does not fail its neighbours.
            Err(e) => {
                tracing::warn!(error = %e, size = refs.len(), "batch commit failed; retrying singly");
                refs.iter()
                    .map(|item| store.insert_batch(&[*item], max_bytes, now).map(|o| o[0]))
                    .collect::<Vec<_>>()
            }
        }
    })
    .await;
    match result {
        Ok(outcomes) => {
            for (job, outcome) in batch.into_iter().zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            for job in batch {
                let _ = job.reply.send(Err(StoreError::Worker(e.to_string())));
            }
        }
    }
}

/// Deletes one chunk of expired messages; returns whether more are due.
async fn sweep_expired(store: &Arc<Store>, metrics: &Metrics) -> bool {
    let store = store.clone();
    let now = crate::clock::unix_now();
    match tokio::task::spawn_blocking(move || store.purge_expired(now)).await {
        Ok(Ok(swept)) => {
            if swept.deleted > 0 {
                metrics.expired.inc_by(swept.deleted);
                tracing::debug!(
                    purged = swept.deleted,
                    more = swept.more,
                    "expired messages deleted"
                );
            }
            swept.more
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "expiry sweep failed");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep task failed");
            false
        }
    }
}
