//! Answering peers' sync requests, within limits (methods of the node's `Core`).
//!
//! Per peer: one reconcile request answered at a time, `Tuning::sync_exchanges` of them per
//! second, and `Tuning::sync_bytes` of frames and reconcile answers per second; offers within
//! the bounds of `offer`. In all: [`SERVING`] requests answered at once, from one shared items snapshot. A request over a limit is answered
//! `Busy` (the asker tries again later, without blame); a negentropy message the reconciler
//! refuses is a fault of the asker, and gets no answer.

use super::codec::{Request, Response, MAX_FETCH_BYTES, MAX_RECONCILE_ANSWER};
use super::score::Fault;
#[cfg(doc)]
use super::state::SERVING;
use crate::clock::unix_now;
use crate::ingest::Core;
use crate::network::Command;
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use negentropy::Negentropy;
use std::sync::Arc;
use std::time::Instant;

impl Core {
    /// Answers `peer`'s sync request.
    pub(crate) async fn serve(
        self: &Arc<Self>,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let sync = self.sync();
        let busy = Response::Busy(request.tag());
        if matches!(request, Request::Reconcile { .. }) {
            sync.round_goes_on(peer, Instant::now());
        }
        let answer = match sync.serving.clone().try_acquire_owned() {
            Err(_) => Some(busy),
            Ok(_permit) => match request {
                Request::Reconcile {
                    round,
                    step,
                    message,
                } => {
                    let first = sync
                        .reconciling
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(peer);
                    let now = Instant::now();
                    // The answer may be up to MAX_RECONCILE_ANSWER bytes, paid from the same
                    // byte budget as frames: a short request can ask for a long answer.
                    if !first
                        || !sync.bytes.has(&peer, MAX_RECONCILE_ANSWER as f64, now)
                        || !sync.exchanges.allow(peer, now)
                    {
                        if first {
                            self.done_reconciling(peer);
                        }
                        Some(busy)
                    } else {
                        let answer = self.reconcile(peer, message).await;
                        self.done_reconciling(peer);
                        if let Some(answer) = &answer {
                            sync.bytes.take(peer, answer.len() as f64, Instant::now());
                        }
                        if answer.is_some() {
                            sync.answered(peer, round);
                        }
                        answer.map(|message| Response::Reconcile {
                            round,
                            step,
                            message,
                        })
                    }
                }
                Request::Fetch { id, digests } => {
                    if !sync
                        .bytes
                        .has(&peer, MAX_FETCH_BYTES as f64, Instant::now())
                    {
                        Some(busy)
                    } else {
                        let frames = self.frames(digests).await;
                        let total: usize = frames.iter().map(Vec::len).sum();
                        sync.bytes.take(peer, total as f64, Instant::now());
                        sync.count("served_frames", frames.len() as u64);
                        Some(Response::Frames { id, frames })
                    }
                }
                Request::Offer {
                    round,
                    part,
                    last,
                    complete,
                    digests,
                } => self
                    .take_offer(peer, round, part, last, complete, digests)
                    .await
                    .map(|taken| {
                        if taken {
                            Response::Taken { round, part }
                        } else {
                            busy
                        }
                    }),
            },
        };
        let Some(response) = answer else { return };
        if matches!(response, Response::Busy(_)) {
            sync.count("served_busy", 1);
        }
        let _ = self
            .commands()
            .send(Command::SyncRespond { channel, response })
            .await;
    }

    fn done_reconciling(&self, peer: PeerId) {
        self.sync()
            .reconciling
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&peer);
    }

    /// The responder's negentropy message, or `None` (a fault of the asker's) if the
    /// reconciler refused the asker's.
    async fn reconcile(self: &Arc<Self>, peer: PeerId, message: Vec<u8>) -> Option<Vec<u8>> {
        let sync = self.sync();
        let items = match self.store() {
            Some(store) => sync.snapshots.get(store, unix_now(), self.skew()).await,
            None => Ok(super::items::Items::new([])),
        };
        let items = match items {
            Ok(items) => items,
            Err(e) => {
                tracing::warn!(error = %e, "sync items could not be read");
                return None;
            }
        };
        let answer = tokio::task::spawn_blocking(move || {
            Negentropy::owned(items, MAX_RECONCILE_ANSWER as u64)?.reconcile(&message)
        })
        .await;
        match answer {
            Ok(Ok(answer)) => {
                sync.count("served_exchanges", 1);
                Some(answer)
            }
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "invalid reconcile request");
                self.fault(peer, Fault::Invalid).await;
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync answer task failed");
                None
            }
        }
    }

    /// The stored, unexpired frames of `digests`, within one answer's byte limit.
    async fn frames(&self, digests: Vec<[u8; 32]>) -> Vec<Vec<u8>> {
        let Some(store) = self.store() else {
            return Vec::new();
        };
        let now = unix_now();
        let frames =
            tokio::task::spawn_blocking(move || store.frames(&digests, now, MAX_FETCH_BYTES)).await;
        match frames {
            Ok(Ok(frames)) => frames,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sync fetch failed");
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync fetch task failed");
                Vec::new()
            }
        }
    }
}
