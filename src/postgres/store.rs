//! The PostgreSQL store, shared by any number of NeCSuS instances
//! (`--db postgres://…`). SQL is built with sea-query's PostgreSQL builder;
//! the schema is `migrations/postgres`. Every write transaction follows
//! the rules of `docs/postgres.md`: make sure the rooms it touches have
//! a row, lock those rows in name order, only then take message ids (from a
//! sequence with CACHE 1), so within a room id order is commit order; and
//! announce every change with NOTIFY in the same transaction, which
//! PostgreSQL delivers on commit, in commit order (`feed::postgres` listens).
//!
//! The conversation a room is in lives on its row, read and updated inside
//! the write transaction, and a person's message that needs a turn in it is
//! registered in the same transaction (see `turns`).

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sea_query::{Expr, ExprTrait, Iden, OnConflict, Order, PostgresQueryBuilder, Query};
use sea_query_sqlx::SqlxBinder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};

use crate::model::{
    Bot, BotCall, BotInput, Conversation, Event, Kind, Message, NewMessage, State, now_seconds,
};
use super::notice::{self, Carried, Notice};
use crate::store::schema::{
    BOT_COLUMNS, Bots, MAX_ROWS_PER_INSERT, MESSAGE_COLUMNS, Messages, PAGE_MAX_CHARS,
    bot_from_row, message_from_row,
};
use crate::store::{JsonPage, Registered, Store, StoreError, WriteOp, WriteOutcome};

macro_rules! bound {
    ($stmt:expr) => {{
        let (sql, values) = $stmt.build_sqlx(PostgresQueryBuilder);
        sqlx::query_with(AssertSqlSafe(sql), values)
    }};
}

#[derive(Iden, Clone, Copy)]
enum Rooms {
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
    pool: PgPool,
    /// How long a registered turn may wait before others go ahead.
    turn_ttl: Duration,
    /// This instance, in the echo notification that ends each batch.
    instance: u64,
    /// The sequence number of the last batch this instance committed.
    committed_batches: AtomicU64,
}

impl PostgresStore {
    /// Connects, applies the migrations, and checks that message ids are
    /// handed out one at a time (sequence cache 1).
    #[tracing::instrument(skip(url))]
    pub async fn open(url: &str, turn_ttl: Duration) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError(format!("the PostgreSQL URL is not valid: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError(format!("migrating the database failed: {e}")))?;
        let cache: i64 = sqlx::query(
            "SELECT cache_size FROM pg_sequences WHERE sequencename = 'message_ids' \
             AND schemaname = current_schema()",
        )
        .fetch_one(&pool)
        .await?
        .try_get(0)?;
        if cache != 1 {
            return Err(StoreError(format!(
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

    async fn write_all(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The rooms this batch touches, a moved or deleted bot's included.
        let mut rooms: BTreeSet<String> = BTreeSet::new();
        for op in ops {
            match op {
                WriteOp::InsertMessage(m) => {
                    rooms.insert(m.room.clone());
                }
                WriteOp::UpsertBot { bot, .. } => {
                    rooms.insert(bot.room.clone());
                    if let Some(id) = bot.id
                        && let Some(b) = find_bot(&mut tx, id).await?
                    {
                        rooms.insert(b.room);
                    }
                }
                WriteOp::DeleteBot(id) => {
                    if let Some(b) = find_bot(&mut tx, *id).await? {
                        rooms.insert(b.room);
                    }
                }
                WriteOp::ClearRoom(room) => {
                    rooms.insert(room.clone());
                }
            }
        }
        let names: Vec<String> = rooms.into_iter().collect();
        sqlx::query("INSERT INTO rooms (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
            .bind(&names)
            .execute(&mut *tx)
            .await?;
        let locked = sqlx::query(
            "SELECT name, conv_bot_id, conv_state FROM rooms WHERE name = ANY($1) \
             ORDER BY name FOR UPDATE",
        )
        .bind(&names)
        .fetch_all(&mut *tx)
        .await?;
        let mut conversations: HashMap<String, Option<Conversation>> = HashMap::new();
        for row in &locked {
            let name: String = row.try_get(0)?;
            let bot_id: Option<i64> = row.try_get(1)?;
            let state: Option<String> = row.try_get(2)?;
            let conversation = match (bot_id, state) {
                (Some(bot_id), Some(s)) => Some(Conversation {
                    bot_id,
                    state: State::from_stored(&s).map_err(StoreError)?,
                }),
                _ => None,
            };
            conversations.insert(name, conversation);
        }
        let mut changed: BTreeSet<String> = BTreeSet::new();
        // One query for the batch; updated as this batch registers turns.
        let mut turn_runs = running_runs(&mut tx, &names).await?;
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut payloads = Vec::with_capacity(ops.len() + 1);
        let count = ops
            .iter()
            .filter(|op| matches!(op, WriteOp::InsertMessage(_)))
            .count();
        let mut ids = take_ids(&mut tx, count).await?.into_iter();
        let when = (now_seconds() * 1000.0).round() / 1000.0;
        // Messages not inserted yet: written in one statement before any
        // other change (a clear must see them) and at the end.
        let mut pending: Vec<(Message, Arc<str>)> = Vec::new();
        for op in ops {
            if !matches!(op, WriteOp::InsertMessage(_)) && !pending.is_empty() {
                insert_messages(&mut tx, &pending).await?;
                pending.clear();
            }
            let outcome = match op {
                WriteOp::InsertMessage(m) => {
                    let before = conversations.get(&m.room).cloned().flatten();
                    let id = ids
                        .next()
                        .ok_or_else(|| StoreError("no message id left".to_owned()))?;
                    let message = new_message(m, id, when);
                    let json: Arc<str> = serde_json::to_string(&message)
                        .map_err(|e| StoreError(e.to_string()))?
                        .into();
                    pending.push((message.clone(), Arc::clone(&json)));
                    conversations.insert(m.room.clone(), Conversation::after(&message));
                    changed.insert(m.room.clone());
                    let turn = if message.kind == Kind::User {
                        register_turn(
                            &mut tx,
                            &message,
                            before.as_ref(),
                            &mut turn_runs,
                            self.turn_ttl,
                        )
                        .await?
                    } else {
                        Registered::No
                    };
                    let notice = Notice::Message {
                        room: message.room.clone(),
                        id: message.id,
                        frame: Carried::Inline(Event::message_frame_json(&json)),
                    };
                    payloads.push(notice::payload(&mut tx, &notice).await?);
                    WriteOutcome::Message {
                        message,
                        json,
                        before: Some(before),
                        turn,
                    }
                }
                WriteOp::UpsertBot {
                    bot,
                    max_bots_per_room,
                } => {
                    let outcome = upsert_bot(&mut tx, bot, *max_bots_per_room).await?;
                    if let WriteOutcome::Bot { bot, previous } = &outcome {
                        if let Some(prev) = previous.as_ref().filter(|p| p.room != bot.room) {
                            let notice = Notice::BotDeleted {
                                room: prev.room.clone(),
                                frame: Carried::Inline(Event::DeleteBot(prev.clone()).to_frame_json()),
                            };
                            payloads.push(notice::payload(&mut tx, &notice).await?);
                        }
                        let notice = Notice::BotPut {
                            room: bot.room.clone(),
                            frame: Carried::Inline(Event::PutBot(bot.clone()).to_frame_json()),
                        };
                        payloads.push(notice::payload(&mut tx, &notice).await?);
                    }
                    outcome
                }
                WriteOp::DeleteBot(id) => {
                    let outcome = delete_bot(&mut tx, *id).await?;
                    if let WriteOutcome::Deleted(Some(bot)) = &outcome {
                        let notice = Notice::BotDeleted {
                            room: bot.room.clone(),
                            frame: Carried::Inline(Event::DeleteBot(bot.clone()).to_frame_json()),
                        };
                        payloads.push(notice::payload(&mut tx, &notice).await?);
                    }
                    outcome
                }
                WriteOp::ClearRoom(room) => {
                    let outcome = clear_room(&mut tx, room).await?;
                    if let WriteOutcome::Cleared {
                        last_cleared_id: Some(last),
                        ..
                    } = &outcome
                    {
                        conversations.insert(room.clone(), None);
                        changed.insert(room.clone());
                        let frame = Event::ClearMessages {
                            room: room.clone(),
                            last_cleared_id: *last,
                        }
                        .to_frame_json();
                        let notice = Notice::Cleared {
                            room: room.clone(),
                            clear_point: *last,
                            frame: Carried::Inline(frame),
                        };
                        payloads.push(notice::payload(&mut tx, &notice).await?);
                    }
                    outcome
                }
            };
            outcomes.push(outcome);
        }
        insert_messages(&mut tx, &pending).await?;
        if !changed.is_empty() {
            let mut room_names = Vec::with_capacity(changed.len());
            let mut bot_ids: Vec<Option<i64>> = Vec::with_capacity(changed.len());
            let mut states: Vec<Option<String>> = Vec::with_capacity(changed.len());
            for room in &changed {
                let conversation = conversations.get(room).cloned().flatten();
                room_names.push(room.clone());
                bot_ids.push(conversation.as_ref().map(|c| c.bot_id));
                states.push(conversation.map(|c| c.state.python_json().to_owned()));
            }
            sqlx::query(
                "UPDATE rooms SET conv_bot_id = v.b, conv_state = v.s \
                 FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(n, b, s) \
                 WHERE rooms.name = v.n",
            )
            .bind(&room_names)
            .bind(&bot_ids)
            .bind(&states)
            .execute(&mut *tx)
            .await?;
        }
        let batch = self.committed_batches.load(Ordering::Acquire) + 1;
        let echo = Notice::BatchEnd {
            instance: self.instance,
            batch,
        };
        payloads.push(notice::small_payload(&echo)?);
        notice::send_all(&mut tx, &payloads).await?;
        tx.commit().await?;
        self.committed_batches.store(batch, Ordering::Release);
        Ok(outcomes)
    }
}

/// PostgreSQL's text cannot hold U+0000, which SQLite and JSON can: the
/// columns get U+FFFD in its place, while the message's JSON (what the
/// API and websockets serve) keeps it, escaped.
fn pg_text(s: &str) -> Expr {
    if s.contains('\0') {
        Expr::val(s.replace('\0', "\u{FFFD}"))
    } else {
        Expr::val(s)
    }
}

fn pg_opt_text(s: &Option<String>) -> Expr {
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

/// A run of turns under way in a room (see `turns`).
pub(crate) struct Run {
    /// The id of the run's first message.
    pub start: i64,
    pub author: String,
    /// Turns queued behind the first so far.
    pub queued: usize,
}

/// Registers the turn of a person's message (`id`, by `author`) in the
/// rooms's locked transaction, by `turns`' rule: the first of a run when
/// the room is in a conversation and no run is under way, queued when the
/// run is the author's and has room, else none (answered at once).
pub(crate) async fn register_turn_row(
    tx: &mut Transaction<'_, Postgres>,
    room: &str,
    id: i64,
    author: &str,
    before: Option<&Conversation>,
    runs: &mut HashMap<String, Run>,
    ttl: Duration,
) -> Result<Registered, StoreError> {
    let (registered, run_start, seq) = match runs.get_mut(room) {
        Some(run) if run.author == author && run.queued < crate::turns::MAX_RUN_TURNS => {
            run.queued += 1;
            (Registered::Queued, run.start, run.queued)
        }
        Some(_) => return Ok(Registered::No),
        None if before.is_some() => {
            // A new run: what earlier runs left is moot.
            sqlx::query("DELETE FROM turns WHERE room = $1")
                .bind(room)
                .execute(&mut **tx)
                .await?;
            let run = Run {
                start: id,
                author: author.to_owned(),
                queued: 0,
            };
            runs.insert(room.to_owned(), run);
            (Registered::First, id, 0)
        }
        None => return Ok(Registered::No),
    };
    sqlx::query(
        "INSERT INTO turns (room, message_id, before_bot_id, before_state, expires_at, \
         author, run_start, run_seq) \
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5), $6, $7, $8)",
    )
    .bind(room)
    .bind(id)
    .bind(before.map(|c| c.bot_id))
    .bind(before.map(|c| c.state.python_json().to_owned()))
    .bind(ttl.as_secs_f64())
    .bind(author)
    .bind(run_start)
    .bind(i32::try_from(seq).unwrap_or(i32::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(registered)
}

/// The run of turns under way in each of `rooms` that has one (their rows
/// are locked already).
async fn running_runs(
    tx: &mut Transaction<'_, Postgres>,
    rooms: &[String],
) -> Result<HashMap<String, Run>, StoreError> {
    let rows = sqlx::query(
        "SELECT room, run_start, (array_agg(author))[1], max(run_seq) FROM turns \
         WHERE room = ANY($1) AND NOT done AND expires_at > now() GROUP BY room, run_start",
    )
    .bind(rooms)
    .fetch_all(&mut **tx)
    .await?;
    let mut runs = HashMap::new();
    for row in &rows {
        let run = Run {
            start: row.try_get(1)?,
            author: row.try_get(2)?,
            queued: usize::try_from(row.try_get::<i32, _>(3)?).unwrap_or(0),
        };
        runs.insert(row.try_get(0)?, run);
    }
    Ok(runs)
}

/// Registers the turn of a form `author` submitted in `room` (see
/// `turns`): under the room's lock, as a message's turn is, with an id
/// from the message sequence so it queues in commit order. Returns what
/// was registered and the turn's id.
pub(crate) async fn register_form_turn(
    pool: &PgPool,
    room: &str,
    author: &str,
    now: Option<&Conversation>,
    ttl: Duration,
) -> Result<(Registered, i64), StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO rooms (name) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(room)
        .execute(&mut *tx)
        .await?;
    sqlx::query("SELECT 1 FROM rooms WHERE name = $1 FOR UPDATE")
        .bind(room)
        .execute(&mut *tx)
        .await?;
    let mut runs = running_runs(&mut tx, &[room.to_owned()]).await?;
    let id = take_ids(&mut tx, 1).await?[0];
    let registered = register_turn_row(&mut tx, room, id, author, now, &mut runs, ttl).await?;
    tx.commit().await?;
    Ok((registered, id))
}

async fn register_turn(
    tx: &mut Transaction<'_, Postgres>,
    message: &Message,
    before: Option<&Conversation>,
    runs: &mut HashMap<String, Run>,
    ttl: Duration,
) -> Result<Registered, StoreError> {
    register_turn_row(
        tx,
        &message.room,
        message.id,
        &message.author,
        before,
        runs,
        ttl,
    )
    .await
}

/// Takes `n` message ids, ascending (the rooms are locked already).
async fn take_ids(tx: &mut Transaction<'_, Postgres>, n: usize) -> Result<Vec<i64>, StoreError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query("SELECT nextval('message_ids') FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(&mut **tx)
        .await?;
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
    ids.sort_unstable();
    Ok(ids)
}

fn new_message(m: &NewMessage, id: i64, when: f64) -> Message {
    Message {
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
    }
}

/// Inserts a run of messages with multi-row statements.
async fn insert_messages(
    tx: &mut Transaction<'_, Postgres>,
    run: &[(Message, Arc<str>)],
) -> Result<(), StoreError> {
    for part in run.chunks(MAX_ROWS_PER_INSERT) {
        let mut insert = Query::insert();
        insert
            .into_table(Messages::Table)
            .columns(MESSAGE_COLUMNS.iter().copied().chain([Messages::Json]));
        for (message, json) in part {
            insert.values_panic([
                message.id.into(),
                message.room.clone().into(),
                pg_text(&message.author),
                message.kind.as_str().into(),
                pg_text(&message.text),
                message.when.into(),
                pg_opt_text(&message.image),
                pg_opt_text(&message.media),
                pg_opt_text(&message.css),
                pg_opt_text(&message.js),
                message.from_bot.into(),
                pg_opt_text(&message.base_url),
                message
                    .state
                    .as_ref()
                    .map(|s| s.python_json().to_owned())
                    .into(),
                json.as_ref().into(),
            ]);
        }
        bound!(insert).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn find_bot(conn: &mut sqlx::PgConnection, id: i64) -> Result<Option<Bot>, StoreError> {
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

async fn upsert_bot(
    tx: &mut Transaction<'_, Postgres>,
    input: &BotInput,
    max_bots_per_room: usize,
) -> Result<WriteOutcome, StoreError> {
    let previous = match input.id {
        Some(id) => find_bot(tx, id).await?,
        None => None,
    };
    let entering_room = previous.as_ref().is_none_or(|p| p.room != input.room);
    if entering_room {
        let row = bound!(
            Query::select()
                .expr(Expr::col(Bots::Id).count())
                .from(Bots::Table)
                .and_where(Expr::col(Bots::Room).eq(input.room.as_str()))
        )
        .fetch_one(&mut **tx)
        .await?;
        let count: i64 = row.try_get(0)?;
        if usize::try_from(count).unwrap_or(0) >= max_bots_per_room {
            return Ok(WriteOutcome::BotLimitReached);
        }
    }
    let id = match &previous {
        Some(p) => {
            bound!(
                Query::update()
                    .table(Bots::Table)
                    .values([
                        (Bots::Room, input.room.clone().into()),
                        (Bots::Name, pg_text(&input.name)),
                        (Bots::RespondsTo, pg_opt_text(&input.responds_to)),
                        (Bots::Url, pg_text(&input.url)),
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
                        pg_text(&input.name),
                        pg_opt_text(&input.responds_to),
                        pg_text(&input.url),
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

async fn delete_bot(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
) -> Result<WriteOutcome, StoreError> {
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
    tx: &mut Transaction<'_, Postgres>,
    room: &str,
) -> Result<WriteOutcome, StoreError> {
    let row = bound!(
        Query::select()
            .expr(Expr::col(Messages::Id).max())
            .from(Messages::Table)
            .and_where(Expr::col(Messages::Room).eq(room))
    )
    .fetch_one(&mut **tx)
    .await?;
    let last: Option<i64> = row.try_get(0)?;
    if let Some(last) = last {
        bound!(
            Query::update()
                .table(Rooms::Table)
                .value(Rooms::ClearPoint, last)
                .and_where(Expr::col(Rooms::Name).eq(room))
        )
        .execute(&mut **tx)
        .await?;
        bound!(
            Query::delete()
                .from_table(Messages::Table)
                .and_where(Expr::col(Messages::Room).eq(room))
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(WriteOutcome::Cleared {
        room: room.to_owned(),
        last_cleared_id: last,
    })
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

    async fn latest_message_before(
        &self,
        room: &str,
        before: i64,
    ) -> Result<Option<Message>, StoreError> {
        bound!(
            Query::select()
                .columns(MESSAGE_COLUMNS)
                .from(Messages::Table)
                .and_where(Expr::col(Messages::Room).eq(room))
                .and_where(Expr::col(Messages::Id).lt(before))
                .order_by(Messages::Id, Order::Desc)
                .limit(1)
        )
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    async fn bots(&self, room: Option<&str>) -> Result<Vec<Bot>, StoreError> {
        let mut q = Query::select();
        q.columns(BOT_COLUMNS).from(Bots::Table);
        if let Some(room) = room {
            q.and_where(Expr::col(Bots::Room).eq(room));
        }
        q.order_by(Bots::Id, Order::Asc);
        let rows = bound!(q).fetch_all(&self.pool).await?;
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
        let row = sqlx::query("SELECT max(id) FROM messages WHERE room = $1")
            .bind(room)
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

    fn tracks_conversations(&self) -> bool {
        true
    }
}

fn parse_call(json: &str) -> Result<BotCall, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError(format!("a bot-call record is unreadable: {e}")))
}

/// Adds a call's record to the log.
pub async fn insert_call(conn: &mut sqlx::PgConnection, call: &BotCall) -> Result<(), StoreError> {
    let record = serde_json::to_string(call).map_err(|e| StoreError(e.to_string()))?;
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
