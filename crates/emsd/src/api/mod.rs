//! The HTTP API v1 (axum): submit and read messages, a live WebSocket stream, the chain head
//! for senders, status and Prometheus metrics.
//!
//! Connections are accepted by [`serve()`] within [`ConnLimits`] (caps in all and per client, a
//! request-head timeout). Every request then passes the [`guard`]: when the node has an API
//! token, `Authorization: Bearer` first (401 `unauthorized`, costing the client nothing of its
//! rate budget), then the per-client rate limit (429 `rate_limited`). Every body is one of
//! `ems_client::schema`'s types, the ones the client parses, so the two cannot drift; every
//! failure is an [`ApiError`]: a status and
//! `{"error": {"code", "message"}}`. `docs/api.md` lists the routes with examples;
//! `docs/openapi.json` (served at `/v1/openapi.json`) describes each one, and a test checks it
//! against [`paths`].

mod error;
mod info;
mod messages;
mod openapi;
mod serve;
mod subscribe;

pub use error::ApiError;
pub use messages::{parse_query, MAX_CURSOR, MAX_TAGS};
pub use openapi::DOCUMENT as OPENAPI;
pub use serve::{client_of, ConnLimits, MAX_HEAD};
pub use subscribe::{MAX_SUBSCRIBERS, SEND_TIMEOUT};

/// Per-client rate limiting: one token bucket per client ([`client_of`]: an IPv4 address or an
/// IPv6 /64; the relay's limiter, O(1) eviction of the client quiet longest once
/// [`MAX_CLIENTS`] are tracked).
pub type RateLimiter = ems_relay::RateLimiter<std::net::IpAddr>;
/// Clients tracked at once by the API's rate limiter.
pub const MAX_CLIENTS: usize = 65_536;

use crate::shutdown::ShutdownSignal;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use ems_relay::Node;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What every handler shares.
#[derive(Clone)]
pub struct ApiState {
    node: Node,
    limiter: Arc<RateLimiter>,
    token: Option<Arc<str>>,
    shutdown: ShutdownSignal,
    /// Slots for live WebSocket streams (`subscribe::MAX_SUBSCRIBERS`).
    subscribers: Arc<tokio::sync::Semaphore>,
}

impl ApiState {
    /// State for a node's API: its rate limiter, optional bearer token, and the shutdown
    /// signal that closes live streams.
    pub fn new(
        node: Node,
        limiter: RateLimiter,
        token: Option<String>,
        shutdown: ShutdownSignal,
    ) -> Self {
        ApiState {
            node,
            limiter: Arc::new(limiter),
            token: token.map(Into::into),
            shutdown,
            subscribers: Arc::new(tokio::sync::Semaphore::new(subscribe::MAX_SUBSCRIBERS)),
        }
    }
}

/// Every route the API mounts: its path and its handlers by method. [`router`] mounts exactly
/// these.
fn routes() -> [(&'static str, MethodRouter<ApiState>); 7] {
    [
        ("/v1/status", get(info::status)),
        ("/v1/chain/head", get(info::chain_head)),
        ("/v1/messages", post(messages::submit).get(messages::query)),
        ("/v1/messages/{digest}", get(messages::get_one)),
        ("/v1/subscribe", get(subscribe::subscribe)),
        ("/v1/openapi.json", get(openapi::document)),
        ("/metrics", get(info::metrics)),
    ]
}

/// The paths the API mounts (`{name}` marks a path parameter, as in OpenAPI).
pub fn paths() -> Vec<&'static str> {
    routes().map(|(path, _)| path).to_vec()
}

/// The API's routes, guarded.
pub fn router(state: ApiState) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        })
        .fallback(|| async { ApiError::not_found("no such path; see docs/api.md") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the API on `listener` within `limits` until `shutdown`, then lets in-flight requests
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    limits: ConnLimits,
    shutdown: ShutdownSignal,
) -> std::io::Result<()> {
    let node = state.node.clone();
    serve::run(listener, router(state), node, limits, shutdown).await
}

/// The bearer token first, then the client's rate budget: a request with a wrong or missing
/// token is refused without spending anything of the budget of the client it came from, so a
/// stranger behind the same address (a NAT, a shared host) cannot use up an authorised
/// client's requests.
async fn guard(
    State(state): State<ApiState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g, token.as_bytes())) {
            return ApiError::unauthorized().into_response();
        }
    }
    if !state.limiter.allow(client_of(client.ip()), Instant::now()) {
        return ApiError::rate_limited().into_response();
    }
    next.run(request).await
}

/// A JSON response body. It passes through `serde_json::Value`, whose map keeps its keys
/// sorted, so every object on the wire has its keys in alphabetical order at every level (as the
/// API has always answered, whatever order the types declare their fields in).
fn json_body(body: &impl serde::Serialize) -> Result<axum::Json<serde_json::Value>, ApiError> {
    serde_json::to_value(body)
        .map(axum::Json)
        .map_err(|e| ApiError::internal(format!("the answer could not be encoded: {e}")))
}

/// Compares without stopping at the first difference, so timing does not reveal how much of a
/// guessed token is right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
