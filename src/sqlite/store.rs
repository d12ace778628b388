//! The SQLite store: WAL with `synchronous=NORMAL` and a checkpoint every
//! 8 MiB, one writer connection (SQLite has a single writer anyway) and a
//! small pool of readers, SQL built with sea-query (but for the message
//! insert: see `insert_messages`). `:memory:` uses one
//! shared connection for both. The bot-call log lives in a second database
//! file beside the first (its SQL is in `calls`), with a writer and readers
//! of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait, Iden, Order, Query};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};

use super::write::find_bot;
use crate::model::{Bot, BotCall, Conversation, Message};
use crate::store::schema::{
    Messages, PAGE_MAX_CHARS, bot_from_row, message_from_row, page_from_row,
};
use crate::store::{JsonPage, Store, StoreError, WriteOp, WriteOutcome};
use crate::store::{bots, reads};

/// Rooms by number (migration 0005): messages are indexed by their
/// room's number, not its name.
#[derive(Iden, Clone, Copy)]
pub(super) enum Rooms {
    Table,
    No,
    Name,
}

#[derive(Iden, Clone, Copy)]
pub(super) enum Clears {
    Table,
    Room,
    LastClearedId,
}

pub struct SqliteStore {
    pub(super) writer: SqlitePool,
    pub(super) readers: SqlitePool,
    /// The bot-call log's database: one connection writes (keeping its page
    /// cache warm from one write to the next), others read.
    pub(super) calls_writer: SqlitePool,
    pub(super) calls_readers: SqlitePool,
    /// The next message id. The writer is the only writer, so it hands ids
    /// out itself and can write each message's JSON, id included, in the
    /// same insert. `None` means "read it from the database" (at start, and
    /// after a failed write).
    pub(super) next_message_id: std::sync::Mutex<Option<i64>>,
    /// Each room's number, as the writer has read or given it. A number,
    /// once given, never changes (clearing a room keeps it), so this only
    /// grows; it holds one entry per room written to since the start.
    pub(super) room_numbers: std::sync::Mutex<HashMap<String, i64>>,
    /// Records added per room since its call log was last pruned: pruning
    /// runs every few records, not on every one (listings still show only
    /// the newest `keep`).
    pub(super) unpruned_calls: std::sync::Mutex<HashMap<String, usize>>,
    /// Each room's conversation after its newest message, as the writer
    /// has read or made it (PostgreSQL keeps it on the room's row): read
    /// from the room's newest message the first time the room is written
    /// to, then kept up to date by every write.
    pub(super) conversations: std::sync::Mutex<HashMap<String, Option<Conversation>>>,
    /// How to open a fresh connection to the file (`None` in memory), for
    /// the health check's write probe.
    pub(super) file: Option<SqliteConnectOptions>,
}

/// Where the bot-call log of the database at `db` lives: beside it, named
/// after it (`necsus.db` keeps its log in `necsus-calls.db`). The log is a
/// file of its own so that writing and pruning it, on every bot call, never
/// waits on or holds up the messages' single writer.
pub fn calls_path(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    let name = match db.extension() {
        Some(ext) => format!("{stem}-calls.{}", ext.to_string_lossy()),
        None => format!("{stem}-calls"),
    };
    db.with_file_name(name)
}

fn file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        // A statement inside a transaction keeps an undo journal; past
        // 64 KiB SQLite spills it to a temporary file, created and deleted
        // each time (a bulk insert of bot-call records does that).
        .pragma("temp_store", "memory")
        // Checkpoint every 2,000 pages (8 MiB of WAL) rather than SQLite's
        // 1,000: each checkpoint copies pages and syncs both files, and the
        // pages every batch touches again (the newest leaves, the id
        // counter) are copied once per checkpoint. Larger intervals save a
        // little more CPU but stall the commit that checkpoints for longer
        // (p99 of posts at 64 clients: 11 ms at 1,000, 14 at 2,000, 20 at
        // 4,000). The WAL file stays at about that size.
        .pragma("wal_autocheckpoint", "2000")
}

/// A pool of up to `max` connections. Connections to a local file do not
/// go stale the way network ones do, so none is pinged before use (a ping
/// is a round trip to the connection's thread on every acquire, that is on
/// every batch the writer commits).
fn pool_options(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .test_before_acquire(false)
}

/// One connection that never closes: an in-memory database lives as long
/// as its connection does.
async fn memory_pool() -> Result<SqlitePool, StoreError> {
    Ok(pool_options(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(SqliteConnectOptions::from_str("sqlite::memory:")?)
        .await?)
}

/// The bot-call log's SQL.
mod calls;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, and the bot-call
    /// log's beside it (see `calls_path`), and applies the migrations.
    /// `:memory:` gives private in-memory databases.
    #[tracing::instrument(level = "debug")]
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let store = if path == ":memory:" {
            let pool = memory_pool().await?;
            let calls = memory_pool().await?;
            SqliteStore {
                writer: pool.clone(),
                readers: pool,
                calls_writer: calls.clone(),
                calls_readers: calls,
                next_message_id: Default::default(),
                room_numbers: Default::default(),
                unpruned_calls: Default::default(),
                conversations: Default::default(),
                file: None,
            }
        } else {
            let options = file_options(Path::new(path));
            let writer = pool_options(1)
                .min_connections(1)
                .connect_with(options.clone())
                .await?;
            let readers = pool_options(4)
                .connect_with(options.clone().read_only(true))
                .await?;
            let calls = file_options(&calls_path(Path::new(path)));
            let calls_writer = pool_options(1)
                .min_connections(1)
                .connect_with(calls.clone())
                .await?;
            let calls_readers = pool_options(2).connect_with(calls.read_only(true)).await?;
            SqliteStore {
                writer,
                readers,
                calls_writer,
                calls_readers,
                next_message_id: Default::default(),
                room_numbers: Default::default(),
                unpruned_calls: Default::default(),
                conversations: Default::default(),
                file: Some(options),
            }
        };
        sqlx::migrate!("./migrations")
            .run(&store.writer)
            .await
            .map_err(StoreError::migrate("the database"))?;
        sqlx::migrate!("./migrations/calls")
            .run(&store.calls_writer)
            .await
            .map_err(StoreError::migrate("the bot-call log"))?;
        Ok(store)
    }

    /// Writes the WALs back into their database files; used at shutdown.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        for pool in [&self.writer, &self.calls_writer] {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Counts new records per room; returns the rooms whose log is due for
    /// pruning (every half of `keep` records), resetting their count.
    pub(super) fn rooms_due_for_pruning(&self, calls: &[BotCall], keep: usize) -> Vec<String> {
        let mut counts = crate::sync::lock(&self.unpruned_calls);
        let mut due = Vec::new();
        for c in calls {
            let count = counts.entry(c.room.clone()).or_default();
            *count += 1;
            if *count >= (keep / 2).max(1) {
                *count = 0;
                due.push(c.room.clone());
            }
        }
        due
    }

    pub(super) fn next_id(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        crate::sync::lock(&self.next_message_id)
    }

    pub(super) fn room_numbers(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        crate::sync::lock(&self.room_numbers)
    }

    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
        self.calls_readers.close().await;
        self.calls_writer.close().await;
    }
}

/// Messages of `room`, by its number (a room never written to has none,
/// and its number is NULL, which matches nothing).
pub(super) fn in_room(room: &str) -> Expr {
    Expr::col(Messages::RoomNo).eq(Query::select()
        .column(Rooms::No)
        .from(Rooms::Table)
        .and_where(Expr::col(Rooms::Name).eq(room))
        .to_owned())
}

/// The page's rows: `room`'s messages after `after`, ascending.
fn page_rows(room: &str, after: i64, limit: usize) -> sea_query::SelectStatement {
    Query::select()
        .columns([Messages::Id, Messages::Json])
        .from(Messages::Table)
        .and_where(in_room(room))
        .and_where(Expr::col(Messages::Id).gt(after))
        .order_by(Messages::Id, Order::Asc)
        .limit(limit as u64)
        .to_owned()
}

async fn bots_of(
    conn: &mut sqlx::SqliteConnection,
    room: Option<&str>,
) -> Result<Vec<Bot>, StoreError> {
    let rows = bound!(bots::select_list(room)).fetch_all(conn).await?;
    rows.iter().map(bot_from_row).collect()
}

#[async_trait]
impl Store for SqliteStore {
    #[tracing::instrument(level = "debug", skip_all, fields(ops = ops.len()))]
    async fn write(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        let result = self.write_all(ops).await;
        if result.is_err() {
            // The transaction rolled back: re-read the id counter next time.
            *self.next_id() = None;
        }
        result
    }

    #[tracing::instrument(level = "debug", skip_all, fields(calls = calls.len()))]
    async fn record_calls(
        &self,
        calls: &[BotCall],
        keep_per_room: usize,
    ) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let mut tx = self.calls_writer.begin().await?;
        calls::insert(&mut tx, calls).await?;
        // Pruning lags a few records behind (listings hide the excess), so
        // it runs once every several records rather than with each.
        for room in self.rooms_due_for_pruning(calls, keep_per_room) {
            calls::prune(&mut tx, &room, keep_per_room).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn message_page(
        &self,
        room: &str,
        after: i64,
        limit: usize,
        separator: &str,
    ) -> Result<Option<JsonPage>, StoreError> {
        // The page's rows up to PAGE_MAX_CHARS of JSON (at least one row):
        // a page of bots' multi-MiB replies stays a bounded read.
        let counted = Query::select()
            .columns([Messages::Id, Messages::Json])
            .expr_as(
                Expr::cust(r#"sum(length("json")) OVER (ORDER BY "id")"#),
                "upto",
            )
            .from_subquery(page_rows(room, after, limit), "page")
            .to_owned();
        let bounded = Query::select()
            .columns([Messages::Id, Messages::Json])
            .from_subquery(counted, "counted")
            .and_where(Expr::cust_with_values(
                r#""upto" - length("json") < ?"#,
                [PAGE_MAX_CHARS],
            ))
            .to_owned();
        let row = bound!(
            Query::select()
                .expr(Expr::col(Messages::Id).max())
                .expr(Expr::cust("count(*)"))
                .expr(Expr::cust_with_values(
                    r#"group_concat("json", ? ORDER BY "id")"#,
                    [separator],
                ))
                .from_subquery(bounded, "bounded")
        )
        .fetch_one(&self.readers)
        .await?;
        page_from_row(&row)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn latest_message_before(
        &self,
        room: &str,
        before: i64,
    ) -> Result<Option<Message>, StoreError> {
        let row = bound!(reads::latest_before(in_room(room), before))
            .fetch_optional(&self.readers)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn bots(&self, room: Option<&str>) -> Result<Vec<Bot>, StoreError> {
        let mut conn = self.readers.acquire().await?;
        bots_of(&mut conn, room).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn bot(&self, id: i64) -> Result<Option<Bot>, StoreError> {
        let mut conn = self.readers.acquire().await?;
        find_bot(&mut conn, id).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn bot_calls(
        &self,
        room: &str,
        bot_id: Option<i64>,
        since: i64,
        keep: usize,
    ) -> Result<Vec<BotCall>, StoreError> {
        calls::list(&self.calls_readers, room, bot_id, since, keep).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn bot_call(&self, id: i64) -> Result<Option<BotCall>, StoreError> {
        calls::find(&self.calls_readers, id).await
    }

    async fn max_bot_call_id(&self) -> Result<i64, StoreError> {
        calls::max_id(&self.calls_readers).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn newest_message_id(&self, room: &str) -> Result<Option<i64>, StoreError> {
        let row = bound!(reads::newest_id(in_room(room)))
            .fetch_one(&self.readers)
            .await?;
        Ok(row.try_get(0)?)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn id_in_restore_gap(&self, id: i64) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM id_gaps WHERE after_id < ? AND ? <= up_to_id)",
        )
        .bind(id)
        .bind(id)
        .fetch_one(&self.readers)
        .await?;
        Ok(row.try_get::<bool, _>(0)?)
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn clear_point(&self, room: &str) -> Result<Option<i64>, StoreError> {
        Ok(bound!(
            Query::select()
                .column(Clears::LastClearedId)
                .from(Clears::Table)
                .and_where(Expr::col(Clears::Room).eq(room))
        )
        .fetch_optional(&self.readers)
        .await?
        .map(|row| row.try_get(0))
        .transpose()?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // Reads the schema, so it needs the database file, not just a
        // connection.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .execute(&self.readers)
            .await?;
        // And could take the write lock: on a connection of its own, so a
        // probe that waits never holds up the writer's connection.
        if let Some(options) = &self.file {
            let mut probe = options
                .clone()
                .busy_timeout(Duration::from_secs(1))
                .connect()
                .await?;
            sqlx::query("BEGIN IMMEDIATE").execute(&mut probe).await?;
            sqlx::query("ROLLBACK").execute(&mut probe).await?;
            probe.close().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_call_log_is_named_after_its_database() {
        let named = |db: &str| super::calls_path(Path::new(db));
        assert_eq!(named("necsus.db"), Path::new("necsus-calls.db"));
        assert_eq!(
            named("/srv/x/necsus.db"),
            Path::new("/srv/x/necsus-calls.db")
        );
        assert_eq!(named("/srv/data"), Path::new("/srv/data-calls"));
        assert_eq!(named("a.b.sqlite"), Path::new("a.b-calls.sqlite"));
    }
}
