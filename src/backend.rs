//! The seam between the server and its backend, chosen once at start-up
//! from `--db`: SQLite (`crate::sqlite`) for a file or `:memory:`,
//! PostgreSQL (`crate::postgres`) for a `postgres://` URL. The rest of the
//! server sees only the store and the feed behind their traits.

use std::sync::Arc;

use async_trait::async_trait;

use crate::broker::Broker;
use crate::config::Config;
use crate::feed::Feed;
use crate::matcher::BotCache;
use crate::store::{Store, StoreError};

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// What a started backend hands the server.
pub struct Started {
    pub store: Arc<dyn Store>,
    pub feed: Arc<dyn Feed>,
    /// Kept until shutdown, for what only the backend knows how to do then.
    pub running: Box<dyn Running>,
}

/// What the server needs to start a backend.
pub struct Needs<'a> {
    pub config: &'a Config,
    pub broker: Arc<Broker>,
    pub bots: Arc<BotCache>,
    /// How long a turn may wait (see `turns`).
    pub turn_wait: std::time::Duration,
}

/// A backend's part of shutting down, once the writer has stopped.
#[async_trait]
pub trait Running: Send {
    async fn shut_down(self: Box<Self>);
}

/// Opens the backend `--db` names.
///
/// # Errors
/// The database cannot be opened, locked, migrated or listened to.
pub async fn start(needs: Needs<'_>) -> Result<Started, StoreError> {
    if is_postgres_url(&needs.config.db) {
        crate::postgres::start(needs).await
    } else {
        crate::sqlite::start(needs).await
    }
}
