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
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, Query, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Row, Sqlite, Transaction};

use crate::model::{Bot, BotCall, BotInput, Message, NewMessage, now_seconds};
use crate::store::schema::{
    BOT_COLUMNS, Bots, MAX_ROWS_PER_INSERT, MESSAGE_COLUMNS, Messages, PAGE_MAX_CHARS,
    bot_from_row, message_from_row,
};
use crate::store::{JsonPage, Registered, Store, StoreError, WriteOp, WriteOutcome};

/// Rooms by number (migration 0005): messages are indexed by their
/// room's number, not its name.
#[derive(Iden, Clone, Copy)]
enum Rooms {
    Table,
    No,
    Name,
}

#[derive(Iden, Clone, Copy)]
enum Clears {
    Table,
    Room,
    LastClearedId,
}

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// The bot-call log's database: one connection writes (keeping its page
    /// cache warm from one write to the next), others read.
    calls_writer: SqlitePool,
    calls_readers: SqlitePool,
    /// The next message id. The writer is the only writer, so it hands ids
    /// out itself and can write each message's JSON, id included, in the
    /// same insert. `None` means "read it from the database" (at start, and
    /// after a failed write).
    next_message_id: std::sync::Mutex<Option<i64>>,
    /// Each room's number, as the writer has read or given it. A number,
    /// once given, never changes (clearing a room keeps it), so this only
    /// grows; it holds one entry per room written to since the start.
    room_numbers: std::sync::Mutex<HashMap<String, i64>>,
    /// Records added per room since its call log was last pruned: pruning
    /// runs every few records, not on every one (listings still show only
    /// the newest `keep`).
    unpruned_calls: std::sync::Mutex<HashMap<String, usize>>,
    /// How to open a fresh connection to the file (`None` in memory), for
    /// the health check's write probe.
    file: Option<SqliteConnectOptions>,
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

macro_rules! bound {
    ($stmt:expr) => {{
        let (sql, values) = $stmt.build_sqlx(SqliteQueryBuilder);
        sqlx::query_with(AssertSqlSafe(sql), values)
    }};
}

/// The bot-call log's SQL (declared after `bound!`, which it uses).
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
                file: Some(options),
            }
        };
        sqlx::migrate!("./migrations")
            .run(&store.writer)
            .await
            .map_err(|e| StoreError(format!("migrating the database failed: {e}")))?;
        sqlx::migrate!("./migrations/calls")
            .run(&store.calls_writer)
            .await
            .map_err(|e| StoreError(format!("migrating the bot-call log failed: {e}")))?;
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
    fn rooms_due_for_pruning(&self, calls: &[BotCall], keep: usize) -> Vec<String> {
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

    fn next_id(&self) -> std::sync::MutexGuard<'_, Option<i64>> {
        crate::sync::lock(&self.next_message_id)
    }

    fn room_numbers(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        crate::sync::lock(&self.room_numbers)
    }

    /// Makes sure every room `ops` inserts into has a number. A new room's
    /// number is committed on its own, before the batch: it is never
    /// rolled back with a failed batch, so the numbers held in memory are
    /// always the database's.
    async fn number_rooms(&self, ops: &[WriteOp]) -> Result<(), StoreError> {
        let mut missing: Vec<&str> = Vec::new();
        {
            let known = self.room_numbers();
            for op in ops {
                if let WriteOp::InsertMessage(m) = op
                    && !known.contains_key(&m.room)
                    && !missing.contains(&m.room.as_str())
                {
                    missing.push(&m.room);
                }
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer.acquire().await?;
        for room in missing {
            bound!(
                Query::insert()
                    .into_table(Rooms::Table)
                    .columns([Rooms::Name])
                    .values_panic([room.into()])
                    .on_conflict(OnConflict::column(Rooms::Name).do_nothing().to_owned())
            )
            .execute(&mut *conn)
            .await?;
            let row = bound!(
                Query::select()
                    .column(Rooms::No)
                    .from(Rooms::Table)
                    .and_where(Expr::col(Rooms::Name).eq(room))
            )
            .fetch_one(&mut *conn)
            .await?;
            self.room_numbers().insert(room.to_owned(), row.try_get(0)?);
        }
        Ok(())
    }

    async fn write_all(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        self.number_rooms(ops).await?;
        let mut next_id = *self.next_id();
        // The common batch, messages only, needs no transaction: it is one
        // statement, atomic on its own.
        let only_messages: Option<Vec<&NewMessage>> = ops
            .iter()
            .map(|op| match op {
                WriteOp::InsertMessage(m) => Some(m),
                _ => None,
            })
            .collect();
        if let (Some(run), Some(first_id)) = (&only_messages, next_id)
            && run.len() <= MAX_ROWS_PER_INSERT
        {
            let mut conn = self.writer.acquire().await?;
            let inserted = insert_messages(&mut conn, run, first_id, self).await?;
            *self.next_id() = Some(first_id + run.len() as i64);
            return Ok(inserted.into_iter().map(message_outcome).collect());
        }
        let mut tx = self.writer.begin().await?;
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut i = 0;
        while i < ops.len() {
            // Consecutive inserts go out as one statement.
            let run: Vec<&NewMessage> = ops[i..]
                .iter()
                .take(MAX_ROWS_PER_INSERT)
                .map_while(|op| match op {
                    WriteOp::InsertMessage(m) => Some(m),
                    _ => None,
                })
                .collect();
            if !run.is_empty() {
                i += run.len();
                let first_id = match next_id {
                    Some(id) => id,
                    None => read_next_message_id(&mut tx).await?,
                };
                next_id = Some(first_id + run.len() as i64);
                let inserted = insert_messages(&mut tx, &run, first_id, self).await?;
                outcomes.extend(inserted.into_iter().map(message_outcome));
                continue;
            }
            let outcome = match &ops[i] {
                WriteOp::InsertMessage(..) => unreachable!("handled as a run above"),
                WriteOp::UpsertBot {
                    bot,
                    max_bots_per_room,
                } => upsert_bot(&mut tx, bot, *max_bots_per_room).await?,
                WriteOp::DeleteBot(id) => delete_bot(&mut tx, *id).await?,
                WriteOp::ClearRoom(room) => clear_room(&mut tx, room).await?,
            };
            outcomes.push(outcome);
            i += 1;
        }
        tx.commit().await?;
        *self.next_id() = next_id;
        Ok(outcomes)
    }

    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
        self.calls_readers.close().await;
        self.calls_writer.close().await;
    }
}

/// A stored message's outcome: the writer tracks conversations here.
fn message_outcome((message, json): (Message, Arc<str>)) -> WriteOutcome {
    WriteOutcome::Message {
        message,
        json,
        before: None,
        turn: Registered::No,
    }
}

/// The id the next message gets: one past the largest ever handed out
/// (AUTOINCREMENT remembers it even after a room is cleared).
async fn read_next_message_id(tx: &mut Transaction<'_, Sqlite>) -> Result<i64, StoreError> {
    let row = sqlx::query("SELECT max(seq) FROM sqlite_sequence WHERE name = 'messages'")
        .fetch_one(&mut **tx)
        .await?;
    let seq: Option<i64> = row.try_get(0)?;
    Ok(seq.unwrap_or(0) + 1)
}

/// The columns `insert_messages` writes, in the order it binds them.
const INSERT_MESSAGES: &str = "INSERT INTO messages (id, room, author, kind, text, \"when\", \
     image, media, css, js, from_bot, base_url, state, json, room_no) VALUES ";
const INSERT_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";

/// Inserts a run of messages with one multi-row statement: per-statement
/// overhead, not SQLite, dominates small inserts. Ids start at `first_id`;
/// every room in `run` has a number already (`number_rooms`).
///
/// The one statement written and bound by hand rather than with
/// sea-query: it runs for every batch of posts, and building it as an
/// `InsertStatement` (an expression per value, rendered, then converted to
/// sqlx's arguments) cost more than a microsecond per message, about as
/// much as serialising it.
async fn insert_messages(
    conn: &mut sqlx::SqliteConnection,
    run: &[&NewMessage],
    first_id: i64,
    store: &SqliteStore,
) -> Result<Vec<(Message, Arc<str>)>, StoreError> {
    // Milliseconds are plenty for `when`.
    let when = (now_seconds() * 1000.0).round() / 1000.0;
    let numbers: Vec<i64> = {
        let known = store.room_numbers();
        run.iter()
            .map(|m| known.get(&m.room).copied())
            .collect::<Option<_>>()
            .ok_or_else(|| StoreError("a room to write to has no number".to_owned()))?
    };
    let mut sql = String::with_capacity(INSERT_MESSAGES.len() + run.len() * (INSERT_ROW.len() + 1));
    sql.push_str(INSERT_MESSAGES);
    for i in 0..run.len() {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(INSERT_ROW);
    }
    let mut insert = sqlx::query(AssertSqlSafe(sql));
    let mut stored = Vec::with_capacity(run.len());
    for ((m, id), room_no) in run.iter().zip(first_id..).zip(numbers) {
        let message = Message {
            id,
            room: m.room.clone(),
            author: m.author.clone(),
            kind: m.kind(),
            text: m.text.clone(),
            when,
            image: m.image.clone(),
            media: m.media.clone(),
            css: m.css.clone(),
            js: m.js.clone(),
            from_bot: m.from_bot,
            base_url: m.base_url.clone(),
            state: m.state.clone(),
        };
        let json: Arc<str> = serde_json::to_string(&message)
            .map_err(|e| StoreError(e.to_string()))?
            .into();
        insert = insert
            .bind(id)
            .bind(message.room.clone())
            .bind(message.author.clone())
            .bind(message.kind.as_str())
            .bind(message.text.clone())
            .bind(when)
            .bind(message.image.clone())
            .bind(message.media.clone())
            .bind(message.css.clone())
            .bind(message.js.clone())
            .bind(message.from_bot)
            .bind(message.base_url.clone())
            .bind(message.state.as_ref().map(|s| s.python_json().to_owned()))
            // Shared with the outcome, not copied.
            .bind(Arc::clone(&json))
            .bind(room_no);
        stored.push((message, json));
    }
    insert.execute(conn).await?;
    Ok(stored)
}

async fn find_bot(conn: &mut sqlx::SqliteConnection, id: i64) -> Result<Option<Bot>, StoreError> {
    bound!(
        Query::select()
            .columns(BOT_COLUMNS)
            .from(Bots::Table)
            .and_where(Expr::col(Bots::Id).eq(id))
    )
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(bot_from_row)
    .transpose()
}

async fn count_bots(tx: &mut Transaction<'_, Sqlite>, room: &str) -> Result<usize, StoreError> {
    let row = bound!(
        Query::select()
            .expr(Expr::col(Bots::Id).count())
            .from(Bots::Table)
            .and_where(Expr::col(Bots::Room).eq(room))
    )
    .fetch_one(&mut **tx)
    .await?;
    let n: i64 = row.try_get(0)?;
    Ok(usize::try_from(n).unwrap_or(0))
}

async fn upsert_bot(
    tx: &mut Transaction<'_, Sqlite>,
    input: &BotInput,
    max_bots_per_room: usize,
) -> Result<WriteOutcome, StoreError> {
    let previous = match input.id {
        Some(id) => find_bot(tx, id).await?,
        None => None,
    };
    let entering_room = previous.as_ref().is_none_or(|p| p.room != input.room);
    if entering_room && count_bots(tx, &input.room).await? >= max_bots_per_room {
        return Ok(WriteOutcome::BotLimitReached);
    }
    let id = match &previous {
        Some(p) => {
            bound!(
                Query::update()
                    .table(Bots::Table)
                    .values([
                        (Bots::Room, input.room.clone().into()),
                        (Bots::Name, input.name.clone().into()),
                        (Bots::RespondsTo, input.responds_to.clone().into()),
                        (Bots::Url, input.url.clone().into()),
                        (Bots::SavedLocally, input.saved_locally.into()),
                    ])
                    .and_where(Expr::col(Bots::Id).eq(p.id))
            )
            .execute(&mut **tx)
            .await?;
            p.id
        }
        None => {
            let row = bound!(
                Query::insert()
                    .into_table(Bots::Table)
                    .columns([
                        Bots::Room,
                        Bots::Name,
                        Bots::RespondsTo,
                        Bots::Url,
                        Bots::SavedLocally,
                    ])
                    .values_panic([
                        input.room.clone().into(),
                        input.name.clone().into(),
                        input.responds_to.clone().into(),
                        input.url.clone().into(),
                        input.saved_locally.into(),
                    ])
                    .returning_col(Bots::Id)
            )
            .fetch_one(&mut **tx)
            .await?;
            row.try_get(0)?
        }
    };
    Ok(WriteOutcome::Bot {
        bot: Bot {
            id,
            room: input.room.clone(),
            name: input.name.clone(),
            responds_to: input.responds_to.clone(),
            url: input.url.clone(),
            saved_locally: input.saved_locally,
        },
        previous,
    })
}

async fn delete_bot(tx: &mut Transaction<'_, Sqlite>, id: i64) -> Result<WriteOutcome, StoreError> {
    let Some(bot) = find_bot(tx, id).await? else {
        return Ok(WriteOutcome::Deleted(None));
    };
    bound!(
        Query::delete()
            .from_table(Bots::Table)
            .and_where(Expr::col(Bots::Id).eq(id))
    )
    .execute(&mut **tx)
    .await?;
    Ok(WriteOutcome::Deleted(Some(bot)))
}

async fn clear_room(
    tx: &mut Transaction<'_, Sqlite>,
    room: &str,
) -> Result<WriteOutcome, StoreError> {
    let row = bound!(
        Query::select()
            .expr(Expr::col(Messages::Id).max())
            .from(Messages::Table)
            .and_where(in_room(room))
    )
    .fetch_one(&mut **tx)
    .await?;
    let last: Option<i64> = row.try_get(0)?;
    if let Some(last) = last {
        bound!(
            Query::insert()
                .into_table(Clears::Table)
                .columns([Clears::Room, Clears::LastClearedId])
                .values_panic([room.into(), last.into()])
                .on_conflict(
                    OnConflict::column(Clears::Room)
                        .update_column(Clears::LastClearedId)
                        .to_owned()
                )
        )
        .execute(&mut **tx)
        .await?;
        bound!(
            Query::delete()
                .from_table(Messages::Table)
                .and_where(in_room(room))
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(WriteOutcome::Cleared {
        room: room.to_owned(),
        last_cleared_id: last,
    })
}

/// Messages of `room`, by its number (a room never written to has none,
/// and its number is NULL, which matches nothing).
fn in_room(room: &str) -> Expr {
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
    let mut q = Query::select();
    q.columns(BOT_COLUMNS).from(Bots::Table);
    if let Some(room) = room {
        q.and_where(Expr::col(Bots::Room).eq(room));
    }
    q.order_by(Bots::Id, Order::Asc);
    let rows = bound!(q).fetch_all(conn).await?;
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
        let count: i64 = row.try_get(1)?;
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(JsonPage {
            last_id: row.try_get(0)?,
            count: usize::try_from(count).unwrap_or(0),
            joined: row.try_get(2)?,
        }))
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn latest_message_before(
        &self,
        room: &str,
        before: i64,
    ) -> Result<Option<Message>, StoreError> {
        bound!(
            Query::select()
                .columns(MESSAGE_COLUMNS)
                .from(Messages::Table)
                .and_where(in_room(room))
                .and_where(Expr::col(Messages::Id).lt(before))
                .order_by(Messages::Id, Order::Desc)
                .limit(1)
        )
        .fetch_optional(&self.readers)
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
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
        let row = bound!(
            Query::select()
                .expr(Expr::col(Messages::Id).max())
                .from(Messages::Table)
                .and_where(in_room(room))
        )
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
