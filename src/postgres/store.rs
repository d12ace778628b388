//! The PostgreSQL store, shared by any number of NeCSuS instances
//! (`--db postgres://…`). SQL is built with sea-query's PostgreSQL builder;
//! the schema is `migrations/postgres`. Every write transaction follows
//! the rules of `docs/postgres.md`: make sure the rooms it touches have
//! a row, lock those rows in name order, only then take message ids (from a
//! sequence with CACHE 1), so within a room id order is commit order; and
//! announce every change with NOTIFY in the same transaction, which
//! PostgreSQL delivers on commit, in commit order (`postgres::feed` listens).
//!
//! The conversation a room is in lives on its row, read and updated inside
//! the write transaction, and a person's message that needs a turn in it is
//! registered in the same transaction (see `turns`).

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Query};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::write::find_bot;
use crate::model::{Bot, BotCall, Message};
use crate::store::schema::{
    Messages, PAGE_MAX_CHARS, bot_from_row, message_from_row, page_from_row,
};
use crate::store::{JsonPage, Store, StoreError, WriteOp, WriteOutcome};
use crate::store::{bots, reads};

#[derive(Iden, Clone, Copy)]
pub(super) enum Rooms {
    Table,
    Name,
    ClearPoint,
}

#[derive(Iden, Clone, Copy)]
enum BotCalls {
    Table,
    Id,
    Room,
    BotId,
    Record,
}

pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// How long a registered turn may wait before others go ahead.
    pub(super) turn_ttl: Duration,
    /// This instance, in the echo notification that ends each batch.
    pub(super) instance: u64,
    /// The sequence number of the last batch this instance committed.
    pub(super) committed_batches: AtomicU64,
}

impl PostgresStore {
    /// Connects, applies the migrations, and checks that message ids are
    /// handed out one at a time (sequence cache 1).
    #[tracing::instrument(skip(url))]
    pub async fn open(url: &str, turn_ttl: Duration) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("the PostgreSQL URL is not valid: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::migrate("the database"))?;
        let cache: i64 = sqlx::query(
            "SELECT cache_size FROM pg_sequences WHERE sequencename = 'message_ids' \
             AND schemaname = current_schema()",
        )
        .fetch_one(&pool)
        .await?
        .try_get(0)?;
        if cache != 1 {
            return Err(StoreError::Invalid(format!(
                "the message_ids sequence caches {cache} ids per connection; it must be 1 \
                 (ALTER SEQUENCE message_ids CACHE 1), or ids could reach subscribers out of order"
            )));
        }
        Ok(PostgresStore {
            pool,
            turn_ttl,
            instance: rand_instance(),
            committed_batches: AtomicU64::new(0),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This instance's id in echo notifications.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The sequence number of the last batch this instance committed.
    pub fn committed_batches(&self) -> u64 {
        self.committed_batches.load(Ordering::Acquire)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// PostgreSQL's text cannot hold U+0000, which SQLite and JSON can: the
/// columns get U+FFFD in its place, while the message's JSON (what the
/// API and websockets serve) keeps it, escaped.
pub(super) fn pg_text(s: &str) -> Expr {
    if s.contains('\0') {
        Expr::val(s.replace('\0', "\u{FFFD}"))
    } else {
        Expr::val(s)
    }
}

pub(super) fn pg_opt_text(s: &Option<String>) -> Expr {
    match s {
        Some(s) => pg_text(s),
        None => Expr::val(Option::<String>::None),
    }
}

fn rand_instance() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Messages of `room`, by name (PostgreSQL indexes them by room name).
pub(super) fn in_room(room: &str) -> Expr {
    Expr::col(Messages::Room).eq(room)
}

#[async_trait]
impl Store for PostgresStore {
    #[tracing::instrument(level = "debug", skip_all, fields(ops = ops.len()))]
    async fn write(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        self.write_all(ops).await
    }

    async fn record_calls(
        &self,
        calls: &[BotCall],
        _keep_per_room: usize,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for call in calls {
            insert_call(&mut tx, call).await?;
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
        let row = sqlx::query(
            "SELECT max(id), count(*), string_agg(json, $4 ORDER BY id) FROM ( \
               SELECT id, json FROM ( \
                 SELECT id, json, sum(length(json)) OVER (ORDER BY id) AS upto FROM ( \
                   SELECT id, json FROM messages WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3 \
                 ) page \
               ) counted WHERE upto - length(json) < $5 \
             ) bounded",
        )
        .bind(room)
        .bind(after)
        .bind(limit as i64)
        .bind(separator)
        .bind(PAGE_MAX_CHARS)
        .fetch_one(&self.pool)
        .await?;
        page_from_row(&row)
    }

    async fn latest_message_before(
        &self,
        room: &str,
        before: i64,
    ) -> Result<Option<Message>, StoreError> {
        let row = bound!(reads::latest_before(in_room(room), before))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn bots(&self, room: Option<&str>) -> Result<Vec<Bot>, StoreError> {
        let rows = bound!(bots::select_list(room))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(bot_from_row).collect()
    }

    async fn bot(&self, id: i64) -> Result<Option<Bot>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        find_bot(&mut conn, id).await
    }

    async fn bot_calls(
        &self,
        room: &str,
        bot_id: Option<i64>,
        since: i64,
        keep: usize,
    ) -> Result<Vec<BotCall>, StoreError> {
        let rows = sqlx::query(
            "SELECT record FROM ( \
               SELECT id, bot_id, record FROM bot_calls WHERE room = $1 ORDER BY id DESC LIMIT $2 \
             ) newest WHERE id > $3 AND ($4::bigint IS NULL OR bot_id = $4) ORDER BY id",
        )
        .bind(room)
        .bind(keep as i64)
        .bind(since)
        .bind(bot_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| parse_call(&r.try_get::<String, _>(0)?))
            .collect()
    }

    async fn bot_call(&self, id: i64) -> Result<Option<BotCall>, StoreError> {
        let row = bound!(
            Query::select()
                .column(BotCalls::Record)
                .from(BotCalls::Table)
                .and_where(Expr::col(BotCalls::Id).eq(id))
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| parse_call(&r.try_get::<String, _>(0)?))
            .transpose()
    }

    async fn max_bot_call_id(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT coalesce(max(id), 0) FROM bot_calls")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn newest_message_id(&self, room: &str) -> Result<Option<i64>, StoreError> {
        let row = bound!(reads::newest_id(in_room(room)))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    async fn id_in_restore_gap(&self, _id: i64) -> Result<bool, StoreError> {
        // Restores are pg_restore's business; ids come from one sequence.
        Ok(false)
    }

    async fn clear_point(&self, room: &str) -> Result<Option<i64>, StoreError> {
        Ok(bound!(
            Query::select()
                .column(Rooms::ClearPoint)
                .from(Rooms::Table)
                .and_where(Expr::col(Rooms::Name).eq(room))
        )
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.try_get::<Option<i64>, _>(0))
        .transpose()?
        .flatten())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn parse_call(json: &str) -> Result<BotCall, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Invalid(format!("a bot-call record is unreadable: {e}")))
}

/// Adds a call's record to the log.
pub async fn insert_call(conn: &mut sqlx::PgConnection, call: &BotCall) -> Result<(), StoreError> {
    let record = serde_json::to_string(call).map_err(|e| StoreError::Invalid(e.to_string()))?;
    bound!(
        Query::insert()
            .into_table(BotCalls::Table)
            .columns([
                BotCalls::Id,
                BotCalls::Room,
                BotCalls::BotId,
                BotCalls::Record
            ])
            .values_panic([
                call.id.into(),
                call.room.clone().into(),
                call.bot_id.into(),
                record.into(),
            ])
            .on_conflict(OnConflict::column(BotCalls::Id).do_nothing().to_owned())
    )
    .execute(conn)
    .await?;
    Ok(())
}
