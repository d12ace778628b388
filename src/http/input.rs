//! Reading request bodies: always parsed as JSON whatever the Content-Type
//! says (students' `curl -d` omits it), with field-by-field errors a student
//! can act on.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::texts;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(texts::body_too_large(state.chat.limits().max_body_bytes))
            } else {
                ApiError::BadRequest(e.body_text())
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(_) => Err(ApiError::BadRequest(texts::BODY_NOT_OBJECT.to_owned())),
            Err(e) => Err(ApiError::BadRequest(texts::body_not_json(&e.to_string()))),
        }
    }
}

/// Each field is taken out of the object (read each one once): a handler
/// gets the parsed strings themselves, not copies.
impl JsonObject {
    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key).filter(|v| !v.is_null())
    }

    pub fn string(&mut self, key: &str) -> Result<String, ApiError> {
        self.opt_string(key)?
            .ok_or_else(|| ApiError::BadRequest(texts::field_required(key)))
    }

    /// Absent or null is `None`.
    pub fn opt_string(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::BadRequest(texts::field_wrong_type(
                key, "a string",
            ))),
        }
    }

    pub fn integer(&mut self, key: &str) -> Result<i64, ApiError> {
        self.opt_integer(key)?
            .ok_or_else(|| ApiError::BadRequest(texts::field_required(key)))
    }

    pub fn opt_integer(&mut self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| ApiError::BadRequest(texts::field_wrong_type(key, "an integer"))),
        }
    }

    /// Any JSON value but null.
    pub fn value(&mut self, key: &str) -> Result<Value, ApiError> {
        self.take(key)
            .ok_or_else(|| ApiError::BadRequest(texts::field_required(key)))
    }
}
