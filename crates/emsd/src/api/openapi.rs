//! `GET /v1/openapi.json`: the OpenAPI 3.1 document of this API, `docs/openapi.json`, built
//! into the binary so the document a node serves is the one its routes were tested against.

use axum::http::header;
use axum::response::IntoResponse;

/// The OpenAPI 3.1 document (`docs/openapi.json`).
pub const DOCUMENT: &str = include_str!("../../../../docs/openapi.json");

/// `GET /v1/openapi.json`
pub(super) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
