//! The API's error model: a status code and `{"error": {"code", "message"}}`.
//!
//! Codes are the stable snake_case names of [`ErrorCode`] (`ems_client::schema`, which the
//! client reads them with), each with its HTTP status; messages are sentences for people and may
//! change.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use ems_client::schema::{ErrorBody, ErrorCode};
use ems_core::{DecodeError, Reject};
use ems_relay::{PublishError, RelayError};

/// An API error: what the client gets back when a request fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code, which fixes the HTTP status.
    pub code: ErrorCode,
    /// A sentence saying what was wrong.
    pub message: String,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 400 `malformed`: the request or the frame cannot be read.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Malformed, message)
    }

    /// 413 `too_large`: the body is longer than any valid frame.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::TooLarge, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            ErrorCode::MethodNotAllowed,
            "this path does not take that method",
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            ErrorCode::Unauthorized,
            "this node requires an Authorization: Bearer <token> header with its API token",
        )
    }

    /// 429 `rate_limited`.
    pub fn rate_limited() -> Self {
        Self::new(
            ErrorCode::RateLimited,
            "too many requests from this address; slow down and retry",
        )
    }

    /// 429 `rate_limited`: every live-stream slot is taken.
    pub fn too_many_subscribers(max: usize) -> Self {
        Self::new(
            ErrorCode::RateLimited,
            format!("this node serves at most {max} live subscriptions; retry later"),
        )
    }

    /// 503 `chain_unavailable`.
    pub fn chain_unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ChainUnavailable, message)
    }

    /// 503 `shutting_down`: the node is stopping.
    pub fn shutting_down() -> Self {
        Self::new(ErrorCode::ShuttingDown, "the node is shutting down")
    }

    /// 500 `internal`: the node failed; the message says where, the log says more.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<Reject> for ApiError {
    fn from(reject: Reject) -> Self {
        ApiError::new(ErrorCode::from(&reject), reject.to_string())
    }
}

impl From<DecodeError> for ApiError {
    fn from(e: DecodeError) -> Self {
        Reject::from(e).into()
    }
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Rejected(reject) => reject.into(),
            PublishError::StoreFull => ApiError::new(ErrorCode::StoreFull, e.to_string()),
            PublishError::Closed => ApiError::shutting_down(),
            PublishError::Store(e) => {
                tracing::error!(error = %e, "store failed to commit a message");
                ApiError::internal("the store failed to commit the message")
            }
        }
    }
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        match e {
            RelayError::BadCursor(_) | RelayError::BadQuery(_) => {
                ApiError::malformed(e.to_string())
            }
            RelayError::Closed => ApiError::shutting_down(),
            other => {
                tracing::error!(error = %other, "request failed inside the node");
                ApiError::internal("the node failed to answer; see its log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody::new(self.code, self.message);
        let mut response = match super::json_body(&body) {
            Ok(json) => (status, json).into_response(),
            Err(_) => status.into_response(),
        };
        if self.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ems_core::ChainError;

    #[test]
    fn decode_errors_split_into_too_large_and_malformed() {
        let big: ApiError = DecodeError::FrameTooLarge { len: 9000 }.into();
        assert_eq!(
            (big.status(), big.code),
            (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge)
        );
        let trailing: ApiError = DecodeError::TrailingBytes { extra: 1 }.into();
        assert_eq!(
            (trailing.status(), trailing.code),
            (StatusCode::BAD_REQUEST, ErrorCode::Malformed)
        );
    }

    #[test]
    fn validator_reasons_are_422_except_the_chain_which_is_503() {
        let expired: ApiError = Reject::Expired { ttl: 1, now: 2 }.into();
        assert_eq!(
            (expired.status(), expired.code),
            (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Expired)
        );
        let chain: ApiError = Reject::ChainUnavailable(ChainError::Unavailable("x".into())).into();
        assert_eq!(
            (chain.status(), chain.code),
            (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ChainUnavailable)
        );
    }

    #[test]
    fn a_full_store_is_507() {
        let full: ApiError = PublishError::StoreFull.into();
        assert_eq!(
            (full.status(), full.code),
            (StatusCode::INSUFFICIENT_STORAGE, ErrorCode::StoreFull)
        );
    }
}
