//! What a use case reports when it cannot do what was asked: the kind of
//! failure and a text for the student (from `texts`). How each kind is
//! answered over HTTP is decided in `http::error`, and logged there.

use crate::store::StoreError;
use crate::texts;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The request is wrong: a field missing, too long, of the wrong type.
    #[error("{0}")]
    Invalid(String),
    /// What the request names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Too many requests from this client, to this room or of this bot:
    /// try again after `retry_after_secs` (whole seconds, at least one).
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after_secs: u64,
    },
    /// The server cannot do it now: its database is unavailable, or it is
    /// shutting down (`cause`, when the store said why).
    #[error("{message}")]
    Unavailable {
        message: String,
        #[source]
        cause: Option<StoreError>,
    },
}

impl Error {
    /// Unavailable for a reason the store did not give.
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::Unavailable {
            message: message.into(),
            cause: None,
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let message = match &e {
            StoreError::ShuttingDown => texts::SHUTTING_DOWN.to_owned(),
            other => texts::database_unavailable(&other.to_string()),
        };
        Error::Unavailable {
            message,
            cause: Some(e),
        }
    }
}
