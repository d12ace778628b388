//! The SQLite backend: one instance on one database file. Everything that
//! differs from PostgreSQL lives here:
//!
//! - `store`: the `Store` (SQL, one writer connection and a read pool, WAL;
//!   the bot-call log in a file of its own beside the database);
//! - `feed`: the `Feed`: committed changes are published to this
//!   instance's broker right after commit; calls in flight, turns and the
//!   posting allowances live in memory;
//! - `write`: a batch of changes in one transaction;
//! - `recorder`: writes the bot-call log in bulk, off the messages' path.

/// A sea-query statement rendered for SQLite, as a sqlx query.
macro_rules! bound {
    ($stmt:expr) => {{
        use sea_query_sqlx::SqlxBinder as _;
        let (sql, values) = $stmt.build_sqlx(sea_query::SqliteQueryBuilder);
        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
    }};
}

pub mod feed;
pub mod recorder;
pub mod store;
mod write;

pub use feed::LocalFeed;
pub use store::SqliteStore;

use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{Needs, Running, Started};
use crate::ratelimit::RoomRateLimit;
use crate::store::{Store, StoreError};

/// Opens the database file (locked for this process until shutdown), its
/// recorder and its feed.
pub async fn start(needs: Needs<'_>) -> Result<Started, StoreError> {
    let config = needs.config;
    // One server per database file: the lock is held until shutdown.
    let lock = match config.db.as_str() {
        ":memory:" => None,
        db => Some(
            crate::backup::lock_database(std::path::Path::new(db)).map_err(StoreError::Invalid)?,
        ),
    };
    let store = Arc::new(SqliteStore::open(&config.db).await?);
    let (recorder, recorder_task) = recorder::Recorder::spawn(
        Arc::clone(&store) as Arc<dyn Store>,
        config.bot_calls_per_room,
    );
    let feed = Arc::new(LocalFeed::new(
        needs.broker,
        needs.bots,
        recorder,
        store.max_bot_call_id().await?,
        RoomRateLimit::new(config.room_rate_limit, config.room_rate_burst),
        RoomRateLimit::new(config.client_rate_limit, config.client_rate_burst),
    ));
    Ok(Started {
        store: Arc::clone(&store) as Arc<dyn Store>,
        feed,
        running: Box::new(Open {
            store,
            recorder_task,
            _lock: lock,
        }),
    })
}

struct Open {
    store: Arc<SqliteStore>,
    recorder_task: tokio::task::JoinHandle<()>,
    _lock: Option<std::fs::File>,
}

#[async_trait]
impl Running for Open {
    /// The recorder finishes what is queued (its handles are gone with the
    /// feed), then the WAL is checkpointed and the database closed.
    async fn shut_down(self: Box<Self>) {
        if let Err(e) = self.recorder_task.await {
            tracing::error!(error = %e, "the bot-call recorder ended abnormally");
        }
        if let Err(e) = self.store.checkpoint().await {
            tracing::warn!(error = %e, "WAL checkpoint at shutdown failed");
        }
        self.store.close().await;
    }
}
