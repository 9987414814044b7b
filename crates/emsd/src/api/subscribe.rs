//! `GET /v1/subscribe?tag=HEX...`: a WebSocket carrying one binary frame per newly accepted
//! message (every message when no tag is given).
//!
//! At most [`MAX_SUBSCRIBERS`] streams are open at once (more are answered 429); a subscriber
//! that does not take a frame within [`SEND_TIMEOUT`] is dropped, not buffered for.

use super::messages::{pairs, push_tag};
use super::{ApiError, ApiState};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use ems_client::schema::quoted;
use ems_relay::{Filter, Subscription};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// Live streams open at once.
pub const MAX_SUBSCRIBERS: usize = 256;
/// How long one frame may take to be handed to a subscriber's connection.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest message or frame accepted from a subscriber.
const MAX_CLIENT_MESSAGE: usize = 1024;

/// Checks the tags, subscribes before answering (so nothing accepted after the handshake is
/// missed), then streams.
pub(super) async fn subscribe(
    State(state): State<ApiState>,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let mut tags = Vec::new();
    for (key, value) in pairs(raw.as_deref())? {
        match key.as_ref() {
            "tag" => push_tag(&mut tags, &value)?,
            other => {
                return Err(ApiError::malformed(format!(
                    "unknown parameter {}; use tag",
                    quoted(other)
                )))
            }
        }
    }
    let upgrade = upgrade
        .map_err(|e| ApiError::malformed(format!("/v1/subscribe is a WebSocket endpoint: {e}")))?;
    let filter = if tags.is_empty() {
        Filter::All
    } else {
        Filter::Tags(tags)
    };
    let permit = state
        .subscribers
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::too_many_subscribers(MAX_SUBSCRIBERS))?;
    let subscription = state.node.subscribe(filter);
    // The stream only flows to the client: what the client sends (close, pings) is tiny, so
    // anything larger is refused rather than buffered.
    let upgrade = upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE);
    Ok(upgrade.on_upgrade(move |socket| stream(socket, subscription, state, permit)))
}

async fn stream(
    mut socket: WebSocket,
    mut subscription: Subscription,
    state: ApiState,
    _permit: OwnedSemaphorePermit,
) {
    let stop = state.shutdown.clone().wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            next = subscription.next() => {
                let Some(msg) = next else { break };
                let frame = WsMessage::Binary(msg.encode().into());
                match tokio::time::timeout(SEND_TIMEOUT, socket.send(frame)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => break,
                    Err(_) => {
                        tracing::info!(
                            seconds = SEND_TIMEOUT.as_secs(),
                            "slow subscriber dropped: it took no frame within the send timeout"
                        );
                        break;
                    }
                }
            }
            incoming = socket.recv() => match incoming {
                // Pings are answered by the library; text or binary from the client is ignored.
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = &mut stop => {
                let _ = socket.send(WsMessage::Close(None)).await;
                break;
            }
        }
    }
}
