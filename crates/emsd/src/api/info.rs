//! What the node says about itself: status, the chain head for senders, metrics.

use super::{json_body, ApiError, ApiState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ems_client::schema::{ChainHead, ChainStatus, NodeStatus, StoreStatus};
use ems_core::clock::unix_now;
use ems_relay::Status;

/// `GET /v1/status`
pub(super) async fn status(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    // Every field named: a field the relay adds is a compile error here until the API (and
    // docs/openapi.json) has it.
    let Status {
        peer_id,
        listen_addrs,
        network,
        peers,
        chain:
            ems_relay::ChainStatus {
                source,
                height,
                head_prefix,
                healthy,
            },
        store: ems_relay::StoreStatus { messages, bytes },
    } = state.node.status().await;
    json_body(&NodeStatus {
        peer_id,
        listen_addrs,
        network,
        peers: peers as u64,
        chain: ChainStatus {
            source,
            height,
            head_prefix,
            healthy,
        },
        store: StoreStatus { messages, bytes },
        policy: state.node.policy().clone(),
    })
}

/// `GET /v1/chain/head`: what a sender binds a message to, and the policy it must meet.
pub(super) async fn chain_head(
    State(state): State<ApiState>,
) -> Result<impl IntoResponse, ApiError> {
    let head = state
        .node
        .chain()
        .head(unix_now())
        .map_err(|e| ApiError::chain_unavailable(e.to_string()))?;
    json_body(&ChainHead {
        height: head.height,
        blockhash: head.prefix,
        policy: state.node.policy().clone(),
    })
}

/// `GET /metrics`: Prometheus text exposition.
pub(super) async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.node.metrics(),
    )
}
