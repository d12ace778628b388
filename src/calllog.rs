//! The bot-call log: call ids, the calls in flight (so a browser that
//! connects mid-call learns of them), turning an exchange with a bot into
//! the record students inspect, and handing records over to be kept. Where
//! ids come from and where records and calls in flight live is the feed's
//! business (memory and a file beside SQLite, or the shared database).

use std::sync::Arc;

use crate::botcall::{Exchange, RECORDED_BODY_BYTES};
use crate::feed::Feed;
use crate::model::{Activation, BotCall, CallStart, RawJson, now_seconds};
use crate::store::StoreError;

pub struct CallLog {
    feed: Arc<dyn Feed>,
    keep_per_room: usize,
}

/// A call that went out and came back (or failed), not yet recorded.
pub struct FinishedCall {
    pub start: CallStart,
    pub request: RawJson,
    pub exchange: Exchange,
    pub latency_ms: f64,
}

impl CallLog {
    /// `keep_per_room` 0 keeps no records (calls are still announced).
    pub fn new(feed: Arc<dyn Feed>, keep_per_room: usize) -> Self {
        CallLog {
            feed,
            keep_per_room,
        }
    }

    /// Keeps a finished call's record (unless recording is off) and
    /// announces it, in that order.
    pub async fn keep(&self, record: BotCall) {
        self.feed
            .call_finished(record, self.keep_per_room > 0)
            .await;
    }

    /// Waits until every record kept so far can be read from the store.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.feed.flush_calls().await
    }

    /// Records kept per room; 0 when recording is off.
    pub fn keep_per_room(&self) -> usize {
        self.keep_per_room
    }

    /// Gives the call an id and announces it as in flight.
    pub async fn begin(
        &self,
        room: &str,
        bot_id: Option<i64>,
        bot_name: &str,
        url: &str,
        activation: Activation,
    ) -> Result<CallStart, StoreError> {
        let start = CallStart {
            id: self.feed.next_call_id().await?,
            room: room.to_owned(),
            bot_id,
            bot_name: bot_name.to_owned(),
            url: url.to_owned(),
            activation,
            started: now_seconds(),
        };
        self.feed.call_started(&start).await;
        Ok(start)
    }

    /// The room's calls in flight, oldest first.
    pub async fn in_flight(&self, room: &str) -> Result<Vec<CallStart>, StoreError> {
        self.feed.calls_in_flight(room).await
    }

    /// The call's record; it is no longer in flight. `bot_id` is the bot
    /// that ended up answering (an (Auto) bot may have been made for it).
    pub fn finish(
        &self,
        call: FinishedCall,
        bot_id: Option<i64>,
        error: Option<String>,
    ) -> BotCall {
        let FinishedCall {
            start,
            request,
            exchange,
            latency_ms,
        } = call;
        let body = &exchange.body;
        let kept = &body[..body.len().min(RECORDED_BODY_BYTES)];
        let truncated = body.len() > RECORDED_BODY_BYTES
            || exchange
                .content_length
                .is_some_and(|n| n > kept.len() as u64);
        BotCall {
            id: start.id,
            room: start.room,
            bot_id: bot_id.or(start.bot_id),
            bot_name: start.bot_name,
            url: start.url,
            activation: start.activation,
            request,
            started: start.started,
            latency_ms: Some(latency_ms),
            status: exchange.status,
            content_type: exchange.content_type,
            content_length: exchange.content_length,
            response_body: exchange
                .status
                .map(|_| String::from_utf8_lossy(kept).into_owned()),
            response_truncated: truncated,
            outcome: match &exchange.result {
                Ok(_) => "ok".to_owned(),
                Err(f) => f.outcome().to_owned(),
            },
            error,
            message_id: None,
            redirects: exchange.redirects,
        }
    }
}
