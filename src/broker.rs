//! Per-room fan-out of events to websocket subscribers. Each event is
//! serialised once into shared bytes; every subscriber of the room gets a
//! cheap clone. A room's channel is a bounded ring: a subscriber that falls
//! more than `capacity` events behind learns it has lagged and is closed,
//! so one slow browser never grows memory or slows anyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::model::Event;

/// One event as subscribers receive it.
#[derive(Debug)]
pub struct Frame {
    /// The message id, for message events (used to drop replay duplicates).
    pub message_id: Option<i64>,
    /// The clear point, for clear events (used the same way).
    pub clear_point: Option<i64>,
    /// The JSON text sent on the socket.
    pub text: Utf8Bytes,
}

pub struct Broker {
    rooms: Mutex<HashMap<String, broadcast::Sender<Arc<Frame>>>>,
    capacity: usize,
    subscribers: AtomicUsize,
}

/// A live subscription to one room; unsubscribes on drop.
pub struct Subscription {
    rx: Option<broadcast::Receiver<Arc<Frame>>>,
    broker: Arc<Broker>,
    room: String,
}

impl Broker {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Broker {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            subscribers: AtomicUsize::new(0),
        })
    }

    pub fn subscribe(self: &Arc<Self>, room: &str) -> Subscription {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let rx = match rooms.get(room) {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = broadcast::channel(self.capacity);
                rooms.insert(room.to_owned(), tx);
                rx
            }
        };
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            rx: Some(rx),
            broker: Arc::clone(self),
            room: room.to_owned(),
        }
    }

    /// Sends `event` to the room's subscribers. Costs a map lookup when the
    /// room has none.
    pub fn publish(&self, event: &Event) {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let Some(tx) = rooms.get(event.room()) else {
            return;
        };
        let (message_id, clear_point) = match event {
            Event::Message(m) => (Some(m.id), None),
            Event::ClearMessages {
                last_cleared_id, ..
            } => (None, Some(*last_cleared_id)),
            _ => (None, None),
        };
        let frame = Arc::new(Frame {
            message_id,
            clear_point,
            text: Utf8Bytes::from(event.to_frame_json()),
        });
        // An error only means every receiver is gone; the last one to go
        // removes the room.
        let _ = tx.send(frame);
    }

    /// Websocket subscribers connected now.
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// Counts a subscriber closed for falling behind (a metric).
    pub fn note_lagged(&self) {
        metrics::counter!(crate::telemetry::WS_LAGGED).increment(1);
    }
}

impl Subscription {
    pub async fn recv(&mut self) -> Result<Arc<Frame>, broadcast::error::RecvError> {
        match self.rx.as_mut() {
            Some(rx) => rx.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.broker.subscribers.fetch_sub(1, Ordering::Relaxed);
        let mut rooms = self.broker.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms
            .get(&self.room)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            rooms.remove(&self.room);
        }
    }
}
