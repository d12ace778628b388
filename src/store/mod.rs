//! Persistence behind one trait, so the use cases never see SQL; each
//! backend (`crate::sqlite`, `crate::postgres`) implements it. Writes arrive as a batch
//! of operations applied in one transaction (the writer task batches them);
//! reads are plain queries that may run concurrently with writes.

pub(crate) mod bots;
pub(crate) mod clears;
pub(crate) mod reads;
pub(crate) mod schema;

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{Bot, BotCall, BotInput, Conversation, Message, NewMessage};

/// Why the store could not do what was asked. Cloneable (a failed batch
/// answers every change in it), so sources are shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused (busy, read-only, full, gone).
    #[error("{0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The schema could not be brought up to date.
    #[error("migrating {what} failed: {source}")]
    Migrate {
        what: &'static str,
        #[source]
        source: Arc<sqlx::migrate::MigrateError>,
    },
    /// What was asked cannot be stored, or what is stored cannot be read
    /// back as it should be (says which).
    #[error("{0}")]
    Invalid(String),
    /// The server is shutting down: the change was not made.
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(Arc::new(e))
    }
}

impl StoreError {
    /// The migration error of `what` (the database, the bot-call log).
    pub fn migrate(what: &'static str) -> impl FnOnce(sqlx::migrate::MigrateError) -> StoreError {
        move |e| StoreError::Migrate {
            what,
            source: Arc::new(e),
        }
    }
}

/// One change to apply. A batch of these commits or fails as a whole.
#[derive(Debug, Clone)]
pub enum WriteOp {
    InsertMessage(NewMessage),
    /// Create (no id, or an id that does not exist) or update a bot.
    /// Creating or moving a bot into a room that already holds
    /// `max_bots_per_room` bots is refused.
    UpsertBot {
        bot: BotInput,
        max_bots_per_room: usize,
    },
    DeleteBot(i64),
    /// Delete a room's messages and remember the last id deleted.
    ClearRoom(String),
}

/// The turn a store registered for a person's message with the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// None (or this store leaves turns to the feed).
    No,
    /// The first turn of a run.
    First,
    /// A turn queued behind the room's run.
    Queued,
}

/// What one `WriteOp` did, in the same order as the ops.
#[derive(Debug, Clone)]
pub enum WriteOutcome {
    Message {
        message: Message,
        /// The message as its API JSON, serialised once at insert: the
        /// stored copy, the HTTP answer and the websocket frame use it.
        json: Arc<str>,
        /// The conversation the room was in just before it: every store
        /// keeps each room's conversation (SQLite in its memory, PostgreSQL
        /// on the room's row).
        before: Option<Conversation>,
        /// The turn registered for it in its own transaction (a shared
        /// database decides there; see `turns`).
        turn: Registered,
    },
    /// The bot as stored, and the bot as it was before (for an update).
    Bot {
        bot: Bot,
        previous: Option<Bot>,
    },
    BotLimitReached,
    /// The deleted bot, or `None` when no bot had that id.
    Deleted(Option<Bot>),
    /// The id of the last message cleared, or `None` when the room had none.
    Cleared {
        room: String,
        last_cleared_id: Option<i64>,
    },
}

/// A page of a room's messages as their stored JSON texts, joined: serving
/// history is string concatenation, not decoding and encoding rows.
#[derive(Debug, Clone)]
pub struct JsonPage {
    /// The messages' JSON objects, ascending by id, joined by the separator
    /// asked for.
    pub joined: String,
    pub count: usize,
    /// Id of the page's last message (where the next page starts).
    pub last_id: i64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Applies every op in one transaction and reports each op's outcome.
    async fn write(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError>;
    /// Adds bot-call records (ids already assigned) to the call log, which
    /// keeps each room's newest `keep_per_room`; all or none are written.
    async fn record_calls(&self, calls: &[BotCall], keep_per_room: usize)
    -> Result<(), StoreError>;
    /// At most `limit` messages of `room` with id > `after`, ascending, as
    /// JSON joined by `separator` (which JSON text never contains raw, like
    /// `","` or `"\n"`); `None` when there are none.
    async fn message_page(
        &self,
        room: &str,
        after: i64,
        limit: usize,
        separator: &str,
    ) -> Result<Option<JsonPage>, StoreError>;
    /// The newest message of `room` whose id is below `before`.
    async fn latest_message_before(
        &self,
        room: &str,
        before: i64,
    ) -> Result<Option<Message>, StoreError>;
    /// Bots of `room` (or of every room) in id order.
    async fn bots(&self, room: Option<&str>) -> Result<Vec<Bot>, StoreError>;
    async fn bot(&self, id: i64) -> Result<Option<Bot>, StoreError>;
    /// Recorded bot calls of `room` with id > `since`, ascending, among the
    /// room's newest `keep`, optionally of one bot only.
    async fn bot_calls(
        &self,
        room: &str,
        bot_id: Option<i64>,
        since: i64,
        keep: usize,
    ) -> Result<Vec<BotCall>, StoreError>;
    async fn bot_call(&self, id: i64) -> Result<Option<BotCall>, StoreError>;
    /// The largest bot call id ever recorded (0 when none).
    async fn max_bot_call_id(&self) -> Result<i64, StoreError>;
    /// The id of the room's newest message.
    async fn newest_message_id(&self, room: &str) -> Result<Option<i64>, StoreError>;
    /// Whether `id` was issued by a database that a restore replaced, and
    /// never existed in this one.
    async fn id_in_restore_gap(&self, id: i64) -> Result<bool, StoreError>;
    /// The id of the last message removed by the room's latest clear.
    async fn clear_point(&self, room: &str) -> Result<Option<i64>, StoreError>;
    /// Answers when the database does.
    async fn ping(&self) -> Result<(), StoreError>;
}
