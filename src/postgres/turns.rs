//! Turn-taking when several instances share the database (see `turns` for
//! the rule): a person's message registers its turn row in the transaction
//! that stores it, under the room's lock, so every instance agrees on the
//! order; a turn starts once the row before it is done (woken by a
//! `TurnEnded` notice, or by looking again every `TURN_POLL`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::{Row, Transaction};

use super::feed::{Shared, notice_for};
use super::notice::{self, Notice};
use super::write::take_ids;
use crate::model::{Conversation, Event, Message, State, TurnQueue};
use crate::store::{Registered, StoreError};
use crate::telemetry;
use crate::turns::Turn;

/// How often a waiting turn looks at the queue again when no notice woke it.
const TURN_POLL: Duration = Duration::from_millis(250);

/// A run of turns under way in a room (see `turns`).
pub(super) struct Run {
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
pub(super) async fn register_turn_row(
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
pub(super) async fn running_runs(
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
pub(super) async fn register_form_turn(
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

pub(super) async fn register_turn(
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

/// A turn in a database shared by several instances: its row in `turns`
/// was registered with its message; it starts once the row before it is
/// done (woken by the `u` notification, or by looking again every
/// `TURN_POLL`), with the conversation that row left.
pub(super) struct SharedTurn {
    pub(super) shared: Arc<Shared>,
    pub(super) room: String,
    pub(super) message_id: i64,
    pub(super) before: Option<Conversation>,
    /// The conversation it started with, once running.
    pub(super) running: Option<Option<Conversation>>,
    pub(super) bot: Option<(i64, String)>,
}

pub(super) fn conversation(bot_id: Option<i64>, state: Option<String>) -> Option<Conversation> {
    match (bot_id, state) {
        (Some(bot_id), Some(s)) => State::from_stored(&s)
            .ok()
            .map(|state| Conversation { bot_id, state }),
        _ => None,
    }
}

impl SharedTurn {
    /// Tells the room's subscribers how many wait (every instance's).
    async fn announce_queue(&self) {
        let waiting = sqlx::query("SELECT count(*) FROM turns WHERE room = $1 AND NOT done")
            .bind(&self.room)
            .fetch_one(&self.shared.pool)
            .await
            .and_then(|r| r.try_get::<i64, _>(0))
            .unwrap_or(1);
        let (bot_id, bot_name) = match &self.bot {
            Some((id, name)) => (Some(*id), Some(name.clone())),
            // A waiting turn: the run's bot, as the newest turn that knows
            // it (the one before it, or the run's first) says.
            None => sqlx::query(
                "SELECT b.id, b.name FROM turns t \
                 JOIN bots b ON b.id = coalesce(t.after_bot_id, t.before_bot_id) \
                 WHERE t.room = $1 ORDER BY t.message_id DESC LIMIT 1",
            )
            .bind(&self.room)
            .fetch_optional(&self.shared.pool)
            .await
            .ok()
            .flatten()
            .map_or((None, None), |r| {
                (r.try_get(0).ok(), r.try_get::<String, _>(1).ok())
            }),
        };
        let event = Event::TurnQueue(TurnQueue {
            room: self.room.clone(),
            bot_id,
            bot_name,
            waiting: usize::try_from(waiting - 1).unwrap_or(0),
        });
        // Only the "n messages waiting" hint is lost; turns go on.
        if let Err(e) = self.shared.notify(notice_for(&event)).await {
            telemetry::background_failed("turn queue notice", &e);
        }
    }

    async fn end(shared: &Shared, room: &str, message_id: i64, left: Option<Conversation>) {
        let (bot_id, state) = match &left {
            Some(c) => (Some(c.bot_id), Some(c.state.python_json().to_owned())),
            None => (None, None),
        };
        let result = async {
            let mut tx = shared.pool.begin().await?;
            sqlx::query(
                "UPDATE turns SET done = true, after_bot_id = $3, after_state = $4 \
                 WHERE room = $1 AND message_id = $2",
            )
            .bind(room)
            .bind(message_id)
            .bind(bot_id)
            .bind(state)
            .execute(&mut *tx)
            .await?;
            // Only the newest finished turn matters to the next one.
            sqlx::query("DELETE FROM turns WHERE room = $1 AND done AND message_id < $2")
                .bind(room)
                .bind(message_id)
                .execute(&mut *tx)
                .await?;
            let ended = Notice::TurnEnded {
                room: room.to_owned(),
            };
            notice::send(&mut tx, &ended).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, room, "could not end a turn; it expires instead");
        }
    }
}

#[async_trait]
impl Turn for SharedTurn {
    async fn start(&mut self, limit: Duration) -> Result<Option<Conversation>, ()> {
        if let Some(c) = &self.running {
            return Ok(c.clone());
        }
        let deadline = tokio::time::Instant::now() + limit;
        let waker = self.shared.turn_waker(&self.room);
        let mut announced = false;
        loop {
            let woken = waker.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let previous = sqlx::query(
                "SELECT done, expires_at > now(), after_bot_id, after_state FROM turns \
                 WHERE room = $1 AND message_id < $2 ORDER BY message_id DESC LIMIT 1",
            )
            .bind(&self.room)
            .bind(self.message_id)
            .fetch_optional(&self.shared.pool)
            .await
            .map_err(|_| ())?;
            let start = match previous {
                None => Some(self.before.clone()),
                Some(row) => {
                    let done: bool = row.try_get(0).map_err(|_| ())?;
                    let alive: bool = row.try_get(1).map_err(|_| ())?;
                    if done {
                        Some(conversation(
                            row.try_get(2).map_err(|_| ())?,
                            row.try_get(3).map_err(|_| ())?,
                        ))
                    } else if !alive {
                        // Its instance is gone: go ahead as the room stands.
                        return Err(());
                    } else {
                        None
                    }
                }
            };
            if let Some(conversation) = start {
                // Without the longer lease the turn may expire early and the
                // next one start beside it; worth a warning, not a failure.
                let extended = sqlx::query(
                    "UPDATE turns SET expires_at = now() + make_interval(secs => $3) \
                     WHERE room = $1 AND message_id = $2",
                )
                .bind(&self.room)
                .bind(self.message_id)
                .bind(self.shared.turn_ttl.as_secs_f64())
                .execute(&self.shared.pool)
                .await;
                if let Err(e) = extended {
                    telemetry::background_failed("turn lease", &e);
                }
                self.running = Some(conversation.clone());
                if announced {
                    self.announce_queue().await;
                }
                return Ok(conversation);
            }
            if !announced {
                announced = true;
                self.announce_queue().await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(());
            }
            // Woken or timed out: either way, look at the queue again.
            let _ = tokio::time::timeout(TURN_POLL, woken).await;
        }
    }

    fn serving(&mut self, bot_id: i64, bot_name: &str) {
        self.bot = Some((bot_id, bot_name.to_owned()));
    }

    async fn finish(&mut self, left: Option<Conversation>) {
        if self.running.take().is_some() {
            Self::end(&self.shared, &self.room, self.message_id, left).await;
            self.announce_queue().await;
        }
    }

    async fn run_ended(&mut self, limit: Duration) {
        // Called on a run's first turn: the run is the rows it started.
        let deadline = tokio::time::Instant::now() + limit;
        let waker = self.shared.turn_waker(&self.room);
        loop {
            let woken = waker.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let left = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM turns WHERE room = $1 AND run_start = $2 \
                 AND NOT done AND expires_at > now())",
            )
            .bind(&self.room)
            .bind(self.message_id)
            .fetch_one(&self.shared.pool)
            .await
            .and_then(|r| r.try_get::<bool, _>(0));
            match left {
                Ok(true) if tokio::time::Instant::now() < deadline => {}
                // Ended, too long, or the database cannot say: the request
                // is answered; the run's turns go on regardless.
                _ => return,
            }
            // Either a turn ended (woken) or it is time to look again.
            tokio::time::timeout(TURN_POLL, woken).await.ok();
        }
    }

    fn abandon(&mut self) {
        let (shared, room, id) = (Arc::clone(&self.shared), self.room.clone(), self.message_id);
        match self.running.take() {
            // Dropped while running: end it with what it started with, so
            // the next turn is not held up until it expires.
            Some(left) => {
                tokio::spawn(async move { SharedTurn::end(&shared, &room, id, left).await });
            }
            // Dropped while waiting: it leaves the queue, and the turn
            // after it waits for the one before it.
            None => {
                tokio::spawn(async move {
                    // If this fails, the row expires and the janitor takes it.
                    let left = sqlx::query("DELETE FROM turns WHERE room = $1 AND message_id = $2")
                        .bind(&room)
                        .bind(id)
                        .execute(&shared.pool)
                        .await;
                    if let Err(e) = left {
                        telemetry::background_failed("turn cleanup", &e);
                    }
                    shared.turn_waker(&room).notify_waiters();
                    let ended = Notice::TurnEnded { room: room.clone() };
                    if let Err(e) = shared.notify(ended).await {
                        telemetry::background_failed("turn cleanup", &e);
                    }
                });
            }
        }
    }
}
