//! The bot-call log: ids for calls, the calls in flight (so a browser that
//! connects mid-call learns of them), turning an exchange with a bot into
//! the record students inspect, and handing records to the recorder.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::botcall::{Exchange, RECORDED_BODY_BYTES};
use crate::error::AppError;
use crate::model::{Activation, BotCall, CallStart, RawJson, now_seconds};
use crate::recorder::Recorder;

pub struct CallLog {
    last_id: AtomicI64,
    in_flight: Mutex<HashMap<i64, CallStart>>,
    keep_per_room: usize,
    recorder: Recorder,
}

/// A call that went out and came back (or failed), not yet recorded.
pub struct FinishedCall {
    pub start: CallStart,
    pub request: RawJson,
    pub exchange: Exchange,
    pub latency_ms: f64,
}

impl CallLog {
    /// `last_id`: the largest call id already recorded. `keep_per_room` 0
    /// keeps no records (calls are still announced).
    pub fn new(last_id: i64, keep_per_room: usize, recorder: Recorder) -> Self {
        CallLog {
            last_id: AtomicI64::new(last_id),
            in_flight: Mutex::new(HashMap::new()),
            keep_per_room,
            recorder,
        }
    }

    /// Keeps a finished call's record (unless recording is off).
    pub fn keep(&self, record: BotCall) {
        if self.keep_per_room > 0 {
            self.recorder.record(record);
        }
    }

    /// Waits until every record kept so far can be read from the store.
    pub async fn flush(&self) -> Result<(), AppError> {
        self.recorder.flush().await
    }

    /// Records kept per room; 0 when recording is off.
    pub fn keep_per_room(&self) -> usize {
        self.keep_per_room
    }

    /// Gives the call an id and notes it as in flight.
    pub fn begin(
        &self,
        room: &str,
        bot_id: Option<i64>,
        bot_name: &str,
        url: &str,
        activation: Activation,
    ) -> CallStart {
        let start = CallStart {
            id: self.last_id.fetch_add(1, Ordering::Relaxed) + 1,
            room: room.to_owned(),
            bot_id,
            bot_name: bot_name.to_owned(),
            url: url.to_owned(),
            activation,
            started: now_seconds(),
        };
        self.lock().insert(start.id, start.clone());
        start
    }

    /// The room's calls in flight, oldest first.
    pub fn in_flight(&self, room: &str) -> Vec<CallStart> {
        let mut calls: Vec<CallStart> = self
            .lock()
            .values()
            .filter(|c| c.room == room)
            .cloned()
            .collect();
        calls.sort_by_key(|c| c.id);
        calls
    }

    /// The call's record; it is no longer in flight. `bot_id` is the bot
    /// that ended up answering (an (Auto) bot may have been made for it).
    pub fn finish(
        &self,
        call: FinishedCall,
        bot_id: Option<i64>,
        error: Option<String>,
    ) -> BotCall {
        self.lock().remove(&call.start.id);
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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, CallStart>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}
