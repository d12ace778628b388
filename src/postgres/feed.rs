//! The feed of an instance sharing a PostgreSQL database with others. Every
//! change is announced with NOTIFY in the transaction that makes it (see
//! `postgres::write`), and one listener per instance publishes what it
//! hears, its own writes included, in commit order: publishing its own
//! commits directly would let this instance publish id 11 before another
//! instance's id 10 reached it. The writer answers once the listener has
//! heard the end of its batch, so "answered" still means "broadcast".
//!
//! If the listener's connection drops, notifications may be lost: every
//! bot cache is forgotten and every websocket is closed with 1013, so
//! browsers resume with `since` (the tested replay path); `/healthz` says
//! 503 until the listener hears again. Calls in flight, turns and the rate
//! limit live in the database, so every instance sees the same.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;

use super::notice::{self, CHANNEL, Carried, Notice};
use super::rates;
use super::store::{PostgresStore, insert_call};
use super::turns::SharedTurn;
use crate::broker::{Broker, Frame};
use crate::feed::{Feed, Published};
use crate::matcher::BotCache;
use crate::model::{BotCall, CallStart, Conversation, Event, Message};
use crate::ratelimit::Verdict;
use crate::store::{Registered, StoreError, WriteOutcome};
use crate::telemetry;
use crate::turns::{Admission, Ticket};

/// How long the writer waits for the echo of its batch before answering
/// anyway (the change is committed; subscribers resync if they missed it).
const ECHO_WAIT: Duration = Duration::from_secs(5);
/// Heartbeats keep the listener's health known when nothing happens.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Without hearing anything for this long, the listener counts as down.
const SILENCE: Duration = Duration::from_secs(4);
/// How often old call records, expired rows and spilled frames are pruned.
const JANITOR: Duration = Duration::from_secs(10);

pub struct PostgresFeed {
    shared: Arc<Shared>,
    store: Arc<PostgresStore>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub(super) struct Shared {
    pub(super) pool: PgPool,
    pub(super) broker: Arc<Broker>,
    pub(super) bots: Arc<BotCache>,
    pub(super) instance: u64,
    /// The last batch of this instance the listener heard the end of.
    pub(super) echoed: AtomicU64,
    pub(super) echo: Notify,
    /// Milliseconds since `epoch` when the listener last heard anything.
    pub(super) heard: AtomicI64,
    pub(super) epoch: Instant,
    pub(super) listening: AtomicBool,
    /// Rooms whose turn ended, to wake the turns waiting there.
    pub(super) turn_ended: Mutex<HashMap<String, Arc<Notify>>>,
    pub(super) rate: f64,
    pub(super) burst: f64,
    /// Each client's allowance: posts per second, and at once.
    pub(super) client_rate: f64,
    pub(super) client_burst: f64,
    pub(super) turn_ttl: Duration,
    pub(super) keep_calls: usize,
}

impl Shared {
    pub(super) fn turn_waker(&self, room: &str) -> Arc<Notify> {
        let mut map = crate::sync::lock(&self.turn_ended);
        Arc::clone(map.entry(room.to_owned()).or_default())
    }

    pub(super) fn heard_now(&self) {
        let ms = self.epoch.elapsed().as_millis() as i64;
        self.heard.store(ms, Ordering::Relaxed);
    }

    pub(super) async fn notify(&self, notice: Notice) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        notice::send(&mut conn, &notice).await
    }
}

impl PostgresFeed {
    /// Starts the listener, the heartbeat and the janitor.
    pub async fn start(
        store: Arc<PostgresStore>,
        broker: Arc<Broker>,
        bots: Arc<BotCache>,
        room_rate: (f64, u32),
        client_rate: (f64, u32),
        turn_ttl: Duration,
        keep_calls: usize,
    ) -> Result<PostgresFeed, StoreError> {
        let shared = Arc::new(Shared {
            pool: store.pool().clone(),
            broker,
            bots,
            instance: store.instance(),
            echoed: AtomicU64::new(store.committed_batches()),
            echo: Notify::new(),
            heard: AtomicI64::new(0),
            epoch: Instant::now(),
            listening: AtomicBool::new(false),
            turn_ended: Mutex::new(HashMap::new()),
            rate: room_rate.0,
            burst: f64::from(room_rate.1.max(1)),
            client_rate: client_rate.0,
            client_burst: f64::from(client_rate.1.max(1)),
            turn_ttl,
            keep_calls,
        });
        let mut listener = PgListener::connect_with(store.pool()).await?;
        listener.listen(CHANNEL).await?;
        shared.listening.store(true, Ordering::Relaxed);
        shared.heard_now();
        let tasks = vec![
            tokio::spawn(listen(Arc::clone(&shared), listener)),
            tokio::spawn(heartbeat(Arc::clone(&shared))),
            tokio::spawn(janitor(Arc::clone(&shared))),
        ];
        Ok(PostgresFeed {
            shared,
            store,
            tasks,
        })
    }
}

impl PostgresFeed {
    /// The admission of a person's message or form whose turn row (id
    /// `id`) the store registered as `registered`.
    fn admission(
        &self,
        room: &str,
        id: i64,
        before: Option<Conversation>,
        registered: Registered,
    ) -> Admission {
        let ticket = || {
            Ticket::new(Box::new(SharedTurn {
                shared: Arc::clone(&self.shared),
                room: room.to_owned(),
                message_id: id,
                before: before.clone(),
                running: None,
                bot: None,
            }))
        };
        match registered {
            Registered::First => Admission::First(ticket()),
            Registered::Queued => Admission::Queued(ticket()),
            Registered::No => Admission::AtOnce(before.clone()),
        }
    }
}

impl PostgresFeed {
    /// Stops the listener, the heartbeat and the janitor (the listener
    /// holds a connection until then).
    pub async fn stop(&self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in &self.tasks {
            while !task.is_finished() {
                tokio::task::yield_now().await;
            }
        }
    }
}

impl Drop for PostgresFeed {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The listener: never raced in `select!` or `timeout` (cancelling
/// `try_recv` mid-reconnect would lose the sign that notifications may
/// have been lost).
async fn listen(shared: Arc<Shared>, mut listener: PgListener) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if !shared.listening.swap(true, Ordering::Relaxed) {
                    tracing::info!("listening to PostgreSQL again");
                }
                shared.heard_now();
                match Notice::parse(notification.payload()) {
                    Ok(notice) => handle(&shared, notice).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable notification"),
                }
            }
            Ok(None) | Err(_) => {
                // Notifications may have been lost: forget and resync.
                if shared.listening.swap(false, Ordering::Relaxed) {
                    // Counted once per outage, not per reconnection attempt.
                    tracing::warn!("lost PostgreSQL's notifications; resyncing");
                    metrics::counter!(telemetry::LISTENER_RESYNCS).increment(1);
                }
                shared.bots.invalidate_all();
                shared.broker.resync_all();
                shared.echo.notify_waiters();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

async fn handle(shared: &Shared, notice: Notice) {
    let (room, frame, message_id, clear_point) = match notice {
        Notice::BatchEnd { instance, batch } => {
            if instance == shared.instance {
                shared.echoed.fetch_max(batch, Ordering::AcqRel);
                shared.echo.notify_waiters();
            }
            return;
        }
        Notice::Heartbeat { .. } => return,
        Notice::TurnEnded { room } => {
            shared.turn_waker(&room).notify_waiters();
            return;
        }
        Notice::BotPut { room, frame } | Notice::BotDeleted { room, frame } => {
            shared.bots.invalidate(&room);
            (room, frame, None, None)
        }
        Notice::Message { room, id, frame } => (room, frame, Some(id), None),
        Notice::Cleared {
            room,
            clear_point,
            frame,
        } => (room, frame, None, Some(clear_point)),
        Notice::Announcement { room, frame } => (room, frame, None, None),
    };
    if !shared.broker.has_subscribers(&room) {
        return;
    }
    let text = match (frame, message_id) {
        (Carried::Inline(text), _) => text,
        (Carried::Spilled(spilled), _) => {
            match sqlx::query("SELECT frame FROM spilled_frames WHERE id = $1")
                .bind(spilled)
                .fetch_optional(&shared.pool)
                .await
            {
                Ok(Some(row)) => row.try_get(0).unwrap_or_default(),
                _ => return,
            }
        }
        (Carried::Stored, Some(id)) => {
            match sqlx::query("SELECT json FROM messages WHERE id = $1")
                .bind(id)
                .fetch_optional(&shared.pool)
                .await
            {
                Ok(Some(row)) => {
                    let json: String = row.try_get(0).unwrap_or_default();
                    format!(r#"{{"kind":"message","data":{json}}}"#)
                }
                // Cleared meanwhile: its clear follows.
                _ => return,
            }
        }
        (Carried::Stored, None) => return,
    };
    let frame = Frame {
        message_id,
        clear_point,
        text: Utf8Bytes::from(text),
    };
    shared.broker.publish_frame(&room, frame);
}

async fn heartbeat(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    loop {
        tick.tick().await;
        let notice = Notice::Heartbeat {
            instance: shared.instance,
        };
        if let Err(e) = shared.notify(notice).await {
            telemetry::background_failed("heartbeat", &e);
        }
    }
}

async fn janitor(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(JANITOR);
    loop {
        tick.tick().await;
        let statements = [
            "DELETE FROM calls_in_flight WHERE expires_at < now()",
            "DELETE FROM spilled_frames WHERE created < now() - interval '1 minute'",
            "DELETE FROM turns WHERE expires_at < now() - interval '1 minute'",
            // A client's bucket is full again long before this.
            "DELETE FROM client_rates WHERE at < now() - interval '10 minutes'",
        ];
        for sql in statements {
            if let Err(e) = sqlx::query(sql).execute(&shared.pool).await {
                telemetry::background_failed("janitor", &e);
            }
        }
        let trimmed = sqlx::query(
            "DELETE FROM bot_calls WHERE id IN (SELECT id FROM (SELECT id, row_number() \
             OVER (PARTITION BY room ORDER BY id DESC) AS newer FROM bot_calls) t WHERE newer > $1)",
        )
        .bind(shared.keep_calls as i64)
        .execute(&shared.pool)
        .await;
        if let Err(e) = trimmed {
            telemetry::background_failed("janitor", &e);
        }
        if let Ok(row) = sqlx::query("SELECT pg_notification_queue_usage()")
            .fetch_one(&shared.pool)
            .await
        {
            let usage: f64 = row.try_get(0).unwrap_or(0.0);
            metrics::gauge!(telemetry::NOTIFY_QUEUE_USAGE).set(usage);
        }
    }
}

pub(super) fn notice_for(event: &Event) -> Notice {
    Notice::Announcement {
        room: event.room().to_owned(),
        frame: Carried::Inline(event.to_frame_json()),
    }
}

#[async_trait]
impl Feed for PostgresFeed {
    fn committed(&self, outcomes: &mut dyn Iterator<Item = &WriteOutcome>) -> Published {
        for outcome in outcomes {
            if let WriteOutcome::Message { message, .. } = outcome {
                telemetry::count_message(message.kind.as_str());
            }
        }
        // The listener publishes the batch when it hears it; the answer
        // waits for the batch's echo.
        let batch = self.store.committed_batches();
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + ECHO_WAIT;
            loop {
                let notified = shared.echo.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if shared.echoed.load(Ordering::Acquire) >= batch
                    || !shared.listening.load(Ordering::Relaxed)
                {
                    return;
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    return;
                }
            }
        })
    }

    async fn announce(&self, event: Event) {
        if let Err(e) = self.shared.notify(notice_for(&event)).await {
            tracing::warn!(error = %e, "could not announce an event");
        }
    }

    async fn next_call_id(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT nextval('bot_call_ids')")
            .fetch_one(&self.shared.pool)
            .await?
            .try_get(0)?)
    }

    async fn call_started(&self, start: &CallStart) {
        let result = async {
            let mut tx = self.shared.pool.begin().await?;
            sqlx::query(
                "INSERT INTO calls_in_flight (id, room, start, expires_at) \
                 VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
            )
            .bind(start.id)
            .bind(&start.room)
            .bind(serde_json::to_string(start).unwrap_or_default())
            .bind(self.shared.turn_ttl.as_secs_f64())
            .execute(&mut *tx)
            .await?;
            notice::send(&mut tx, &notice_for(&Event::BotCallStarted(start.clone()))).await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not announce a call");
        }
    }

    async fn call_finished(&self, record: BotCall, keep: bool) {
        let result = async {
            let mut tx = self.shared.pool.begin().await?;
            sqlx::query("DELETE FROM calls_in_flight WHERE id = $1")
                .bind(record.id)
                .execute(&mut *tx)
                .await?;
            if keep {
                insert_call(&mut tx, &record).await?;
            }
            notice::send(
                &mut tx,
                &notice_for(&Event::BotCallFinished(record.clone())),
            )
            .await?;
            tx.commit().await?;
            Ok::<(), StoreError>(())
        }
        .await;
        if let Err(e) = result {
            metrics::counter!(telemetry::BOT_CALL_RECORDS_LOST).increment(1);
            tracing::warn!(error = %e, "could not record a call");
        }
    }

    async fn calls_in_flight(&self, room: &str) -> Result<Vec<CallStart>, StoreError> {
        let rows = sqlx::query(
            "SELECT start FROM calls_in_flight WHERE room = $1 AND expires_at > now() ORDER BY id",
        )
        .bind(room)
        .fetch_all(&self.shared.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(&r.try_get::<String, _>(0).ok()?).ok())
            .collect())
    }

    async fn flush_calls(&self) -> Result<(), StoreError> {
        // Records are written with their announcement.
        Ok(())
    }

    fn turn(
        &self,
        message: &Message,
        before: Option<Conversation>,
        registered: Registered,
    ) -> Admission {
        self.admission(&message.room, message.id, before, registered)
    }

    async fn form_turn(
        &self,
        room: &str,
        author: &str,
        now: Option<Conversation>,
    ) -> Result<Admission, StoreError> {
        let (registered, id) = super::turns::register_form_turn(
            &self.shared.pool,
            room,
            author,
            now.as_ref(),
            self.shared.turn_ttl,
        )
        .await?;
        Ok(self.admission(room, id, now, registered))
    }

    async fn admit(&self, room: &str) -> Result<Verdict, StoreError> {
        rates::admit_room(&self.shared, room).await
    }

    async fn admit_client(&self, client: &str) -> Result<Verdict, StoreError> {
        rates::admit_client(&self.shared, client).await
    }

    async fn charge(&self, room: &str, client: Option<&str>, n: u32) -> Result<(), StoreError> {
        rates::charge(&self.shared, room, client, n).await
    }

    fn healthy(&self) -> Result<(), String> {
        let silent_ms = self.shared.epoch.elapsed().as_millis() as i64
            - self.shared.heard.load(Ordering::Relaxed);
        if !self.shared.listening.load(Ordering::Relaxed) || silent_ms > SILENCE.as_millis() as i64
        {
            return Err(crate::texts::LISTENER_DOWN.to_owned());
        }
        Ok(())
    }
}
