//! The PostgreSQL backend: any number of instances on one database.
//! Everything that differs from SQLite lives here:
//!
//! - `store`: the `Store`, with the rules that keep id order equal to commit
//!   order in a room when several instances write (see `docs/postgres.md`),
//!   and the NOTIFY that announces each committed batch;
//! - `feed`: the `Feed`: one listener per instance publishes what it hears
//!   (its own writes included) in commit order; calls in flight, turns and
//!   the posting allowances are shared through the database;
//! - `write`: a batch of changes in one transaction;
//! - `notice`: what one instance tells the others with NOTIFY, and its wire
//!   format;
//! - `rates`: the posting allowances, one row per room and per client;
//! - `turns`: turn rows registered with their messages, and turns that wait
//!   for the row before them.

/// A sea-query statement rendered for PostgreSQL, as a sqlx query.
macro_rules! bound {
    ($stmt:expr) => {{
        use sea_query_sqlx::SqlxBinder as _;
        let (sql, values) = $stmt.build_sqlx(sea_query::PostgresQueryBuilder);
        sqlx::query_with(sqlx::AssertSqlSafe(sql), values)
    }};
}

pub mod feed;
pub mod notice;
pub mod rates;
pub mod store;
pub mod turns;
mod write;

pub use feed::PostgresFeed;
pub use store::PostgresStore;

use std::sync::Arc;

use async_trait::async_trait;

use crate::backend::{Needs, Running, Started};
use crate::store::{Store, StoreError};

/// Opens the database (migrating it), and starts this instance's listener,
/// heartbeat and janitor.
pub async fn start(needs: Needs<'_>) -> Result<Started, StoreError> {
    let config = needs.config;
    let store = Arc::new(PostgresStore::open(&config.db, needs.turn_wait).await?);
    let feed = Arc::new(
        PostgresFeed::start(
            Arc::clone(&store),
            needs.broker,
            needs.bots,
            (config.room_rate_limit, config.room_rate_burst),
            (config.client_rate_limit, config.client_rate_burst),
            needs.turn_wait,
            config.bot_calls_per_room,
        )
        .await?,
    );
    Ok(Started {
        store: Arc::clone(&store) as Arc<dyn Store>,
        feed: Arc::clone(&feed) as Arc<dyn crate::feed::Feed>,
        running: Box::new(Open { store, feed }),
    })
}

struct Open {
    store: Arc<PostgresStore>,
    feed: Arc<PostgresFeed>,
}

#[async_trait]
impl Running for Open {
    /// The listener and the background tasks stop, then the pool closes.
    async fn shut_down(self: Box<Self>) {
        self.feed.stop().await;
        self.store.close().await;
    }
}
