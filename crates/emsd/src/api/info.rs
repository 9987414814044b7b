//! What the node says about itself: status, the chain head for senders, metrics.

use super::{ApiError, ApiState};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use ems_core::clock::unix_now;
use ems_core::Policy;
use ems_relay::Status;
use serde::Serialize;

/// `GET /v1/status` body: the node's status plus its policy.
#[derive(Serialize)]
struct StatusBody<'a> {
    #[serde(flatten)]
    status: Status,
    policy: &'a Policy,
}

/// `GET /v1/status`
pub(super) async fn status(State(state): State<ApiState>) -> impl IntoResponse {
    let status = state.node.status().await;
    Json(serde_json::json!(StatusBody {
        status,
        policy: state.node.policy(),
    }))
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
    Ok(Json(serde_json::json!({
        "height": head.height,
        "blockhash": hex::encode(head.prefix),
        "policy": state.node.policy(),
    })))
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
