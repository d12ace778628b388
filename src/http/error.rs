//! How the API answers a failure: a status and a JSON body
//! `{"message": "..."}` whose text comes from `texts`, with `Retry-After`
//! on a 429. This is where a failure is logged: a 503 at warn, with its
//! cause; the rest are the client's and need no log line of their own
//! (the access log has them).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::chat;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// A use case's failure.
    #[error(transparent)]
    UseCase(#[from] chat::Error),
    /// The request could not be read (not JSON, a field of the wrong type).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    PayloadTooLarge(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::UseCase(e) => match e {
                chat::Error::Invalid(_) => StatusCode::BAD_REQUEST,
                chat::Error::NotFound(_) => StatusCode::NOT_FOUND,
                chat::Error::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
                chat::Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::UseCase(chat::Error::Unavailable { message, cause }) = &self {
            match cause {
                Some(cause) => tracing::warn!(error = %cause, "unavailable: {message}"),
                None => tracing::warn!("unavailable: {message}"),
            }
        }
        let body = Json(serde_json::json!({ "message": self.to_string() }));
        let mut response = (status, body).into_response();
        if let ApiError::UseCase(chat::Error::TooMany {
            retry_after_secs, ..
        }) = self
        {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}
