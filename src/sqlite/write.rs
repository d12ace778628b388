//! One batch of changes in one transaction on the single writer
//! connection: new rooms numbered first (committed on their own), then the
//! messages inserted with multi-row statements, bots changed (see
//! `store::bots`) and rooms cleared.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::Store as _;
use sea_query::{Expr, ExprTrait, OnConflict, Query};
use sqlx::{AssertSqlSafe, Row, Sqlite, Transaction};

use super::store::{Clears, Rooms, SqliteStore, in_room};
use crate::model::{Conversation, Message, NewMessage, now_seconds};
use crate::store::schema::MAX_ROWS_PER_INSERT;
use crate::store::{Registered, StoreError, WriteOp, WriteOutcome};
use crate::store::{bots, clears};

impl SqliteStore {
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

    pub(super) async fn write_all(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut conversations = self.conversations_of(ops).await?;
        let mut outcomes = self.write_ops(ops).await?;
        // Each message learns the conversation before it, in order; the
        // rooms' conversations are kept only once the batch is stored.
        for outcome in &mut outcomes {
            match outcome {
                WriteOutcome::Message {
                    message, before, ..
                } => {
                    let after = Conversation::after(message);
                    *before = conversations.insert(message.room.clone(), after).flatten();
                }
                WriteOutcome::Cleared {
                    room,
                    last_cleared_id: Some(_),
                } => {
                    conversations.insert(room.clone(), None);
                }
                _ => {}
            }
        }
        crate::sync::lock(&self.conversations).extend(conversations);
        Ok(outcomes)
    }

    /// The conversations of the rooms `ops` writes messages to (each read
    /// from its newest message the first time).
    async fn conversations_of(
        &self,
        ops: &[WriteOp],
    ) -> Result<HashMap<String, Option<Conversation>>, StoreError> {
        let mut known = HashMap::new();
        for op in ops {
            let room = match op {
                WriteOp::InsertMessage(m) => &m.room,
                WriteOp::ClearRoom(room) => room,
                _ => continue,
            };
            if known.contains_key(room) {
                continue;
            }
            let kept = crate::sync::lock(&self.conversations).get(room).cloned();
            let conversation = match kept {
                Some(conversation) => conversation,
                None => {
                    let newest = self.latest_message_before(room, i64::MAX).await?;
                    newest.as_ref().and_then(Conversation::after)
                }
            };
            known.insert(room.clone(), conversation);
        }
        Ok(known)
    }

    async fn write_ops(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
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
                } => bots::upsert(&mut Rows(&mut tx), bot, *max_bots_per_room).await?,
                WriteOp::DeleteBot(id) => bots::delete(&mut Rows(&mut tx), *id).await?,
                WriteOp::ClearRoom(room) => clears::clear(&mut Rows(&mut tx), room).await?,
            };
            outcomes.push(outcome);
            i += 1;
        }
        tx.commit().await?;
        *self.next_id() = next_id;
        Ok(outcomes)
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
            .ok_or_else(|| StoreError::Invalid("a room to write to has no number".to_owned()))?
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
        let message = m.stored(id, when);
        let json: Arc<str> = serde_json::to_string(&message)
            .map_err(|e| StoreError::Invalid(e.to_string()))?
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

bots::write_rows!(
    sqlx::Sqlite,
    sqlx::SqliteConnection,
    sea_query::SqliteQueryBuilder,
    bots::plain_text,
    in_room,
    keep_clear_point
);

/// The room's clear point lives in `clears`, one row per room.
fn keep_clear_point(room: &str, last: i64) -> sea_query::InsertStatement {
    Query::insert()
        .into_table(Clears::Table)
        .columns([Clears::Room, Clears::LastClearedId])
        .values_panic([room.into(), last.into()])
        .on_conflict(
            OnConflict::column(Clears::Room)
                .update_column(Clears::LastClearedId)
                .to_owned(),
        )
        .to_owned()
}
