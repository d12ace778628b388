//! How what happens on this instance reaches everyone who should hear of
//! it: this instance's websocket subscribers and bot cache, and, when
//! several instances share one database, every other instance's. The use
//! cases talk to a `Feed` and never know which one they have.
//!
//! - `sqlite::feed`: one instance on SQLite. Committed changes are
//!   published to the broker right after commit (the single writer commits
//!   in order); calls in flight, turns and the rate limit live in memory.
//! - `postgres::feed`: any number of instances on one PostgreSQL. Changes
//!   are announced with NOTIFY in their own transaction, and one listener
//!   per instance publishes everything, its own writes included, in commit
//!   order; calls in flight, turns and the rate limit live in the
//!   database (design: `docs/postgres.md`).

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

use crate::broker::Broker;
use crate::matcher::BotCache;
use crate::model::{BotCall, CallStart, Conversation, Event, Message};
use crate::ratelimit::Verdict;
use crate::store::{Registered, StoreError, WriteOutcome};
use crate::telemetry;
use crate::turns::Admission;

/// Done once a committed batch has been published here.
pub type Published = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

#[async_trait]
pub trait Feed: Send + Sync + 'static {
    /// A batch the writer committed, in commit order. Once the returned
    /// future is done, its events have reached this instance's subscribers
    /// and bot cache ("answered" means "stored and broadcast"); the writer
    /// answers then, and meanwhile goes on with the next batch.
    fn committed(&self, outcomes: &mut dyn Iterator<Item = &WriteOutcome>) -> Published;

    /// An event that is no stored change (a call started, a turn queue),
    /// for the subscribers of its room on every instance.
    async fn announce(&self, event: Event);

    /// A fresh bot-call id, never handed out before.
    async fn next_call_id(&self) -> Result<i64, StoreError>;

    /// A call went out: it is in flight until `call_finished`, and its
    /// room hears of it.
    async fn call_started(&self, start: &CallStart);

    /// A call ended: no longer in flight; its record is kept in the
    /// bot-call log (unless `keep` is false) before the room hears of it,
    /// so a browser that lists the log on hearing finds it.
    async fn call_finished(&self, record: BotCall, keep: bool);

    /// The room's calls in flight on every instance, oldest first.
    async fn calls_in_flight(&self, room: &str) -> Result<Vec<CallStart>, StoreError>;

    /// Waits until every record handed over so far can be read.
    async fn flush_calls(&self) -> Result<(), StoreError>;

    /// How a person's message just stored is answered (see `turns`):
    /// `before` is the conversation the room was in just before it,
    /// `registered` what the store registered for it in its own
    /// transaction (a shared database decides there).
    fn turn(
        &self,
        message: &Message,
        before: Option<Conversation>,
        registered: Registered,
    ) -> Admission;

    /// How a form `author` submitted in `room` is answered, by the same
    /// rule as a message (see `turns`); `now` is the conversation the room
    /// is in, as its newest message says.
    async fn form_turn(
        &self,
        room: &str,
        author: &str,
        now: Option<Conversation>,
    ) -> Result<Admission, StoreError>;

    /// Takes one post from the room's rate limit.
    async fn admit(&self, room: &str) -> Result<Verdict, StoreError>;

    /// Takes one post from the client's own allowance (its address as the
    /// access log reads it), which stands in front of the room's: a client
    /// that floods is slowed before the room is. Held in the database when
    /// several instances share it, so spreading posts over them gains
    /// nothing.
    async fn admit_client(&self, client: &str) -> Result<Verdict, StoreError>;

    /// Charges `n` messages a post caused (bot replies, notices) to the
    /// room's rate limit and, unless `None`, to the allowance of the
    /// client who posted, without refusing them (see `ratelimit::charge`).
    async fn charge(&self, room: &str, client: Option<&str>, n: u32) -> Result<(), StoreError>;

    /// `Err` (saying why) while this instance may be missing events.
    fn healthy(&self) -> Result<(), String>;
}

/// Tells this instance's subscribers and bot cache what a committed change
/// did (both feeds end here for changes they publish themselves).
pub fn publish_outcome(outcome: &WriteOutcome, broker: &Broker, bots: &BotCache) {
    match outcome {
        WriteOutcome::Message { message, json, .. } => {
            telemetry::count_message(message.kind.as_str());
            broker.publish_message(&message.room, message.id, json);
        }
        WriteOutcome::Bot { bot, previous } => {
            if let Some(prev) = previous.as_ref().filter(|p| p.room != bot.room) {
                bots.invalidate(&prev.room);
                broker.publish(&Event::DeleteBot(prev.clone()));
            }
            bots.invalidate(&bot.room);
            broker.publish(&Event::PutBot(bot.clone()));
        }
        WriteOutcome::Deleted(Some(bot)) => {
            bots.invalidate(&bot.room);
            broker.publish(&Event::DeleteBot(bot.clone()));
        }
        WriteOutcome::Cleared {
            room,
            last_cleared_id: Some(last),
        } => broker.publish(&Event::ClearMessages {
            room: room.clone(),
            last_cleared_id: *last,
        }),
        WriteOutcome::Deleted(None)
        | WriteOutcome::Cleared { .. }
        | WriteOutcome::BotLimitReached => {}
    }
}
