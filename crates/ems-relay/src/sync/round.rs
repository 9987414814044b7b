//! Sync rounds: asking peers for history, and answering them from the store.
//!
//! A round with a peer starts when it connects (its whole inventory), again every
//! `Tuning::resync` and when its gossip was skipped (what it received since the previous round
//! began, less a margin). Each inventory page is looked up in the store; what is missing is
//! fetched, in requests of at most [`MAX_FETCH`] digests; a non-empty page with a `next`
//! position asks for the following page. Fetched frames go to the validation pipeline
//! (`Core::sync_frames`) in the history context.
//!
//! A fetched frame that is new to this node is gossiped on, like a frame that arrived by
//! gossip, if it would also be valid live: so a healed partition converges at gossip speed
//! rather than at every node's next round. The seen-set decides what is new, so a frame is
//! announced once by each node, whichever way it came first.

use super::codec::{Request, Response, MAX_FETCH, MAX_FETCH_BYTES, MAX_INVENTORY};
use crate::clock::unix_now;
use crate::gossip::Input;
use crate::ingest::Core;
use crate::metrics::Source;
use crate::network::Command;
use crate::store::{Position, Scan, Store};
use crate::verdict::Verdict;
use ems_core::{Context, Message};
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use std::sync::Arc;

/// A repeated sync round asks for what the peer received since the previous round began, less
/// this margin: the peer's clock may differ from ours by the clock skew, and a message may
/// have been in flight when the previous round scanned.
const RESYNC_MARGIN: u64 = 120;

impl Core {
    /// Answers a peer's sync request from the store.
    pub(crate) async fn serve(&self, request: Request, channel: ResponseChannel<Response>) {
        let store = self.store();
        let now = unix_now();
        let response = tokio::task::spawn_blocking(move || answer(store.as_deref(), request, now))
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "sync answer task failed");
                empty_inventory()
            });
        let _ = self
            .commands()
            .send(Command::SyncRespond { channel, response })
            .await;
    }

    async fn request(&self, peer: PeerId, request: Request) {
        let _ = self
            .commands()
            .send(Command::SyncRequest { peer, request })
            .await;
    }

    /// Asks `peer` for its inventory: all of it on a new connection (`full`), otherwise what it
    /// received since the previous round.
    pub(crate) async fn start_sync(&self, peer: PeerId, full: bool) {
        if !self.stores() {
            return;
        }
        let now = unix_now();
        let previous = self
            .synced()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, now);
        let since = previous
            .filter(|_| !full)
            .map(|t| t.saturating_sub(RESYNC_MARGIN));
        self.request(peer, inventory(since, None)).await;
    }

    /// Continues a sync round with `peer` after its answer.
    pub(crate) async fn sync_response(self: &Arc<Self>, peer: PeerId, response: Response) {
        match response {
            Response::Inventory { digests, next } => {
                let Some(store) = self.store() else { return };
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
            Response::Frames { frames } => self.sync_frames(peer, frames).await,
        }
    }

    /// Frames a peer handed over in sync: validated in the history context; each one new to
    /// this node is gossiped on (if it is live, see [`Core::live`]), then stored.
    pub(crate) async fn sync_frames(self: &Arc<Self>, peer: PeerId, frames: Vec<Vec<u8>>) {
        for frame in frames {
            let (verdict, data) = self.judge(Input::Bytes(frame), Context::History).await;
            match verdict {
                Verdict::Valid(m) => {
                    if !self.remember(&m) {
                        continue;
                    }
                    // Forward first, as for gossip: the next hop does not wait for the fsync.
                    if self.relay() && self.live(&m) {
                        let _ = self.commands().send(Command::Publish(data)).await;
                    }
                    self.store_and_notify(Arc::new(m), Source::Sync).await;
                }
                Verdict::Hold(_) | Verdict::Ignore(_) => {}
                Verdict::Reject(r) => tracing::info!(%peer, reason = %r, "invalid sync frame"),
            }
        }
    }

    /// Whether a message valid as history is also valid live: its block is among the newest
    /// `block_depth` (the validator's own rule; everything else the two contexts check alike).
    /// Only such frames are gossiped on; an older one would be refused by the peers, and held
    /// against this node.
    fn live(&self, msg: &Message) -> bool {
        self.validator()
            .blockhash_is_live(msg, self.chain(), unix_now())
    }
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
