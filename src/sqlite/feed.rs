//! The feed of one instance on SQLite: it is the only writer, so what it
//! commits is published at once, in commit order, and calls in flight,
//! turns and the rate limit live in its memory.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::recorder::Recorder;
use crate::broker::Broker;
use crate::feed::{Feed, Published, publish_outcome};
use crate::matcher::BotCache;
use crate::model::{BotCall, CallStart, Conversation, Event, Message};
use crate::ratelimit::{RoomRateLimit, Verdict};
use crate::store::{Registered, StoreError, WriteOutcome};
use crate::turns::{Admission, Turns};

pub struct LocalFeed {
    broker: Arc<Broker>,
    bots: Arc<BotCache>,
    turns: Arc<Turns>,
    recorder: Recorder,
    last_call_id: AtomicI64,
    in_flight: Mutex<HashMap<i64, CallStart>>,
    rate_limit: Option<RoomRateLimit>,
    client_rate_limit: Option<RoomRateLimit>,
}

impl LocalFeed {
    /// `last_call_id`: the largest bot-call id already recorded.
    pub fn new(
        broker: Arc<Broker>,
        bots: Arc<BotCache>,
        recorder: Recorder,
        last_call_id: i64,
        rate_limit: Option<RoomRateLimit>,
        client_rate_limit: Option<RoomRateLimit>,
    ) -> LocalFeed {
        LocalFeed {
            turns: Turns::new(Arc::clone(&broker)),
            broker,
            bots,
            recorder,
            last_call_id: AtomicI64::new(last_call_id),
            in_flight: Mutex::new(HashMap::new()),
            rate_limit,
            client_rate_limit,
        }
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CallStart>> {
        crate::sync::lock(&self.in_flight)
    }
}

#[async_trait]
impl Feed for LocalFeed {
    fn committed(&self, outcomes: &mut dyn Iterator<Item = &WriteOutcome>) -> Published {
        // The only writer: publishing now keeps commit order.
        for outcome in outcomes {
            publish_outcome(outcome, &self.broker, &self.bots);
        }
        Box::pin(std::future::ready(()))
    }

    async fn announce(&self, event: Event) {
        self.broker.publish(&event);
    }

    async fn next_call_id(&self) -> Result<i64, StoreError> {
        Ok(self.last_call_id.fetch_add(1, Ordering::Relaxed) + 1)
    }

    async fn call_started(&self, start: &CallStart) {
        self.in_flight().insert(start.id, start.clone());
        self.broker.publish(&Event::BotCallStarted(start.clone()));
    }

    async fn call_finished(&self, record: BotCall, keep: bool) {
        self.in_flight().remove(&record.id);
        if keep {
            self.recorder.record(record.clone());
        }
        self.broker.publish(&Event::BotCallFinished(record));
    }

    async fn calls_in_flight(&self, room: &str) -> Result<Vec<CallStart>, StoreError> {
        let mut calls: Vec<CallStart> = self
            .in_flight()
            .values()
            .filter(|c| c.room == room)
            .cloned()
            .collect();
        calls.sort_by_key(|c| c.id);
        Ok(calls)
    }

    async fn flush_calls(&self) -> Result<(), StoreError> {
        self.recorder.flush().await
    }

    fn turn(
        &self,
        message: &Message,
        before: Option<Conversation>,
        _registered: Registered,
    ) -> Admission {
        self.turns.register(&message.room, &message.author, before)
    }

    async fn form_turn(
        &self,
        room: &str,
        author: &str,
        now: Option<Conversation>,
    ) -> Result<Admission, StoreError> {
        Ok(self.turns.register(room, author, now))
    }

    async fn admit(&self, room: &str) -> Result<Verdict, StoreError> {
        Ok(match &self.rate_limit {
            Some(limit) => limit.check(room),
            None => Verdict::Allowed,
        })
    }

    async fn admit_client(&self, client: &str) -> Result<Verdict, StoreError> {
        Ok(match &self.client_rate_limit {
            Some(limit) => limit.check(client),
            None => Verdict::Allowed,
        })
    }

    async fn charge(&self, room: &str, client: Option<&str>, n: u32) -> Result<(), StoreError> {
        if let Some(limit) = &self.rate_limit {
            limit.charge(room, n);
        }
        if let (Some(limit), Some(client)) = (&self.client_rate_limit, client) {
            limit.charge(client, n);
        }
        Ok(())
    }

    fn healthy(&self) -> Result<(), String> {
        Ok(())
    }
}
