//! One batch of changes in one transaction, by the rules that keep a
//! room's id order equal to its commit order when several instances write
//! (see `docs/postgres.md`): the rooms it touches get a row and are locked
//! in name order, and only then are message ids taken; each change's
//! notice goes out with the commit (see `notice`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use sea_query::{Expr, ExprTrait, Query};
use sqlx::{Postgres, Row, Transaction};

use super::notice::{self, Carried, Notice};
use super::store::{PostgresStore, Rooms, in_room, pg_opt_text, pg_text};
use super::turns::{register_turn, running_runs};
use crate::model::{Conversation, Event, Kind, Message, State, now_seconds};
use crate::store::schema::{MAX_ROWS_PER_INSERT, MESSAGE_COLUMNS, Messages};
use crate::store::{Registered, StoreError, WriteOp, WriteOutcome};
use crate::store::{bots, clears};

impl PostgresStore {
    pub(super) async fn write_all(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
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
                    state: State::from_stored(&s).map_err(StoreError::Invalid)?,
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
                        .ok_or_else(|| StoreError::Invalid("no message id left".to_owned()))?;
                    let message = m.stored(id, when);
                    let json: Arc<str> = serde_json::to_string(&message)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?
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
                        before,
                        turn,
                    }
                }
                WriteOp::UpsertBot {
                    bot,
                    max_bots_per_room,
                } => {
                    let outcome = bots::upsert(&mut Rows(&mut tx), bot, *max_bots_per_room).await?;
                    if let WriteOutcome::Bot { bot, previous } = &outcome {
                        if let Some(prev) = previous.as_ref().filter(|p| p.room != bot.room) {
                            let notice = Notice::BotDeleted {
                                room: prev.room.clone(),
                                frame: Carried::Inline(
                                    Event::DeleteBot(prev.clone()).to_frame_json(),
                                ),
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
                    let outcome = bots::delete(&mut Rows(&mut tx), *id).await?;
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
                    let outcome = clears::clear(&mut Rows(&mut tx), room).await?;
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

/// Takes `n` message ids, ascending (the rooms are locked already).
pub(super) async fn take_ids(
    tx: &mut Transaction<'_, Postgres>,
    n: usize,
) -> Result<Vec<i64>, StoreError> {
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

bots::write_rows!(
    sqlx::Postgres,
    sqlx::PgConnection,
    sea_query::PostgresQueryBuilder,
    pg_text,
    in_room,
    keep_clear_point
);

/// The room's clear point lives on its row.
fn keep_clear_point(room: &str, last: i64) -> sea_query::UpdateStatement {
    Query::update()
        .table(Rooms::Table)
        .value(Rooms::ClearPoint, last)
        .and_where(Expr::col(Rooms::Name).eq(room))
        .to_owned()
}
