//! Sync rounds: asking peers for history, and answering them.
//!
//! A round with a peer starts when it connects (its whole inventory) and again every
//! `Tuning::resync` (what it received since the previous round began, less a margin). Each
//! inventory page is looked up in the store; what is missing is fetched, in requests of at
//! most [`MAX_FETCH`] digests; a non-empty page with a `next` position asks for the following
//! page. Fetched frames go to the validation pipeline in the history context.

use super::codec::{Request, Response, MAX_FETCH, MAX_FETCH_BYTES, MAX_INVENTORY};
use crate::clock::unix_now;
use crate::ingest::Core;
use crate::network::{connected, Command, Shared, SyncEvent};
use crate::store::{Position, Scan, Store};
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// A repeated sync round asks for what the peer received since the previous round began, less
/// this margin: the peer's clock may differ from ours by the clock skew, and a message may
/// have been in flight when the previous round scanned.
const RESYNC_MARGIN: u64 = 120;

/// The sync side of a node: its rounds with peers and its answers to them.
pub(crate) struct Rounds {
    core: Arc<Core>,
    /// When each peer was last asked for its inventory (this node's clock).
    synced: Mutex<HashMap<PeerId, u64>>,
}

impl Rounds {
    /// Rounds that store what they obtain through `core`.
    pub(crate) fn new(core: Arc<Core>) -> Rounds {
        Rounds {
            core,
            synced: Mutex::default(),
        }
    }

    async fn request(&self, peer: PeerId, request: Request) {
        self.core
            .command(Command::SyncRequest { peer, request })
            .await;
    }

    /// Asks `peer` for its inventory: all of it on a new connection (`full`), otherwise what it
    /// received since the previous round.
    async fn start(&self, peer: PeerId, full: bool) {
        if !self.core.keeps_messages() {
            return;
        }
        let now = unix_now();
        let previous = self
            .synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, now);
        let since = previous
            .filter(|_| !full)
            .map(|t| t.saturating_sub(RESYNC_MARGIN));
        self.request(peer, inventory(since, None)).await;
    }

    /// Continues a sync round with `peer` after its answer.
    async fn response(&self, peer: PeerId, response: Response) {
        match response {
            Response::Inventory { digests, next } => {
                let Some(store) = self.core.store() else {
                    return;
                };
                let progress = !digests.is_empty();
                let missing = tokio::task::spawn_blocking(move || store.missing(&digests)).await;
                match missing {
                    Ok(Ok(missing)) => {
                        for chunk in missing.chunks(MAX_FETCH) {
                            let request = Request::Fetch {
                                digests: chunk.to_vec(),
                            };
                            self.request(peer, request).await;
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "sync lookup failed"),
                    Err(e) => tracing::warn!(error = %e, "sync lookup task failed"),
                }
                // A page without digests that still points further makes no progress: stop.
                if let (Some(next), true) = (next, progress) {
                    self.request(peer, inventory(None, Some(next))).await;
                }
            }
            Response::Frames { frames } => self.core.history(peer, frames).await,
        }
    }

    /// Answers a peer's sync request from the store.
    async fn serve(&self, request: Request, channel: ResponseChannel<Response>) {
        let store = self.core.store();
        let now = unix_now();
        let response = tokio::task::spawn_blocking(move || answer(store.as_deref(), request, now))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "sync answer task failed");
                empty_inventory()
            });
        self.core
            .command(Command::SyncRespond { channel, response })
            .await;
    }

    /// Starts a repeated round with every connected peer, and forgets peers that left.
    fn resync(self: &Arc<Self>, shared: &Shared) {
        let peers = connected(shared);
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p, _| peers.contains(p));
        for peer in peers {
            let rounds = self.clone();
            tokio::spawn(async move { rounds.start(peer, false).await });
        }
    }
}

/// Runs sync: takes the swarm's sync events and repeats rounds every `resync`. Ends when the
/// swarm task ends.
pub(crate) async fn run(
    rounds: Arc<Rounds>,
    mut events: mpsc::Receiver<SyncEvent>,
    shared: Arc<Shared>,
    resync: Duration,
) {
    let mut ticks = tokio::time::interval(resync);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = ticks.tick() => {
                rounds.resync(&shared);
                continue;
            }
        };
        let rounds = rounds.clone();
        match event {
            SyncEvent::Connected(peer) => {
                tokio::spawn(async move { rounds.start(peer, true).await });
            }
            SyncEvent::Request { request, channel } => {
                tokio::spawn(async move { rounds.serve(request, channel).await });
            }
            SyncEvent::Response { peer, response } => {
                tokio::spawn(async move { rounds.response(peer, response).await });
            }
        }
    }
    tracing::debug!("sync stopped");
}

/// An inventory request for every tag, a full page.
fn inventory(since: Option<u64>, after: Option<Position>) -> Request {
    Request::Inventory {
        tags: Vec::new(),
        since,
        after,
        limit: MAX_INVENTORY as u16,
    }
}

fn empty_inventory() -> Response {
    Response::Inventory {
        digests: Vec::new(),
        next: None,
    }
}

fn answer(store: Option<&Store>, request: Request, now: u64) -> Response {
    let Some(store) = store else {
        return empty_inventory();
    };
    match request {
        Request::Inventory {
            tags,
            since,
            after,
            limit,
        } => {
            let scan = match Scan::new(tags, since, after, usize::from(limit), MAX_INVENTORY) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "sync inventory request refused");
                    return empty_inventory();
                }
            };
            match store.scan(&scan, now) {
                Ok((digests, next)) => Response::Inventory { digests, next },
                Err(e) => {
                    tracing::warn!(error = %e, "sync inventory failed");
                    empty_inventory()
                }
            }
        }
        Request::Fetch { digests } => match store.frames(&digests, now, MAX_FETCH_BYTES) {
            Ok(frames) => Response::Frames { frames },
            Err(e) => {
                tracing::warn!(error = %e, "sync fetch failed");
                Response::Frames { frames: Vec::new() }
            }
        },
    }
}
