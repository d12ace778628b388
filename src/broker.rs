//! Per-room fan-out of events to websocket subscribers. Each event is
//! serialised once into shared bytes; every subscriber of the room gets a
//! cheap clone. A room keeps the frames some subscriber has not read yet in
//! a ring bounded both in events (`capacity`) and in bytes (`max_bytes`):
//! when either is exceeded the oldest frames are dropped, and a subscriber
//! that had not read them learns it has lagged and is closed (it resumes
//! with `since`). A frame is released as soon as every subscriber has read
//! it, so idle rooms hold nothing, and one slow browser never grows memory
//! or slows anyone else, whatever the size of the messages (bot replies may
//! be several MiB).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::model::Event;
use crate::sync::lock;

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

/// Why a subscription yields no frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This many frames were dropped before the subscriber read them.
    Lagged(u64),
    /// The server is shutting down (`Broker::close`).
    Closed,
}

pub struct Broker {
    rooms: Mutex<HashMap<String, Arc<Room>>>,
    capacity: usize,
    max_bytes: usize,
    subscribers: AtomicUsize,
    /// Set once by `close`: every subscription ends.
    closed: AtomicBool,
}

struct Room {
    ring: Mutex<Ring>,
    published: Notify,
}

struct Slot {
    frame: Arc<Frame>,
    /// Subscribers that have not read it yet.
    unread: usize,
}

#[derive(Default)]
struct Ring {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    head: u64,
    /// Sequence number the next frame gets.
    next: u64,
    /// Bytes of the frames in `slots`.
    bytes: usize,
    subscribers: usize,
}

impl Ring {
    /// Drops read frames from the front.
    fn release_read(&mut self) {
        while self.slots.front().is_some_and(|s| s.unread == 0) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some(slot) = self.slots.pop_front() {
            self.bytes -= slot.frame.text.len();
            self.head += 1;
        }
    }
}

/// A live subscription to one room; unsubscribes on drop.
pub struct Subscription {
    room: Arc<Room>,
    name: String,
    /// Sequence number of the next frame to read.
    position: u64,
    broker: Arc<Broker>,
}

impl Broker {
    /// `capacity`: frames a subscriber may fall behind; `max_bytes`: the
    /// bytes of unread frames a room keeps (at least the newest frame is
    /// always kept).
    pub fn new(capacity: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Broker {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            max_bytes,
            subscribers: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        })
    }

    pub fn subscribe(self: &Arc<Self>, room: &str) -> Subscription {
        let mut rooms = lock(&self.rooms);
        let entry = rooms.entry(room.to_owned()).or_insert_with(|| {
            Arc::new(Room {
                ring: Mutex::new(Ring::default()),
                published: Notify::new(),
            })
        });
        let position = {
            let mut ring = lock(&entry.ring);
            ring.subscribers += 1;
            ring.next
        };
        self.subscribers.fetch_add(1, Ordering::Relaxed);
        Subscription {
            room: Arc::clone(entry),
            name: room.to_owned(),
            position,
            broker: Arc::clone(self),
        }
    }

    /// Sends `event` to the room's subscribers. Costs a map lookup when the
    /// room has none.
    pub fn publish(&self, event: &Event) {
        self.publish_with(event.room(), || {
            let (message_id, clear_point) = match event {
                Event::Message(m) => (Some(m.id), None),
                Event::ClearMessages {
                    last_cleared_id, ..
                } => (None, Some(*last_cleared_id)),
                _ => (None, None),
            };
            Frame {
                message_id,
                clear_point,
                text: Utf8Bytes::from(event.to_frame_json()),
            }
        });
    }

    /// Sends a stored message, given as its JSON, to the room's
    /// subscribers.
    pub fn publish_message(&self, room: &str, id: i64, json: &str) {
        self.publish_with(room, || Frame {
            message_id: Some(id),
            clear_point: None,
            text: Utf8Bytes::from(Event::message_frame_json(json)),
        });
    }

    /// Sends an already serialised frame to the room's subscribers (frames
    /// that arrive from the database's notifications).
    pub fn publish_frame(&self, room: &str, frame: Frame) {
        self.publish_with(room, || frame);
    }

    /// Sends the frame `make` builds to the room's subscribers; `make`
    /// runs only when the room has some.
    fn publish_with(&self, room: &str, make: impl FnOnce() -> Frame) {
        let Some(room) = lock(&self.rooms).get(room).cloned() else {
            return;
        };
        self.push(&room, Arc::new(make()));
    }

    /// Whether anyone here subscribes to `room`.
    pub fn has_subscribers(&self, room: &str) -> bool {
        lock(&self.rooms).contains_key(room)
    }

    /// Closes every subscriber as if it had lagged (it resumes with
    /// `since`): for when events may have been missed.
    pub fn resync_all(&self) {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in rooms {
            {
                let mut ring = lock(&room.ring);
                while !ring.slots.is_empty() {
                    ring.pop_front();
                }
                // Every subscriber's position is now behind the head.
                ring.next += 1;
                ring.head = ring.next;
            }
            room.published.notify_waiters();
        }
    }

    fn push(&self, room: &Room, frame: Arc<Frame>) {
        {
            let mut ring = lock(&room.ring);
            if ring.subscribers == 0 {
                return;
            }
            ring.bytes += frame.text.len();
            let unread = ring.subscribers;
            ring.slots.push_back(Slot { frame, unread });
            ring.next += 1;
            while ring.slots.len() > self.capacity
                || (ring.bytes > self.max_bytes && ring.slots.len() > 1)
            {
                ring.pop_front();
            }
        }
        room.published.notify_waiters();
    }

    /// Ends every subscription, now and to come: `recv` answers `Closed`.
    /// Called once at shutdown, so that sockets learn it from the
    /// subscription they already wait on instead of each watching a
    /// shutdown signal of its own on every wake-up.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in rooms {
            room.published.notify_waiters();
        }
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
    /// The next frame, waiting for one; `Lagged` once frames this
    /// subscriber had not read were dropped, `Closed` once the broker is.
    pub async fn recv(&mut self) -> Result<Arc<Frame>, RecvError> {
        loop {
            let published = self.room.published.notified();
            tokio::pin!(published);
            // Registered before looking, so a frame published between the
            // look and the wait still wakes us.
            published.as_mut().enable();
            if self.broker.closed.load(Ordering::SeqCst) {
                return Err(RecvError::Closed);
            }
            {
                let mut ring = lock(&self.room.ring);
                if self.position < ring.head {
                    let missed = ring.head - self.position;
                    self.position = ring.head;
                    return Err(RecvError::Lagged(missed));
                }
                if self.position < ring.next {
                    let index = (self.position - ring.head) as usize;
                    let slot = &mut ring.slots[index];
                    slot.unread -= 1;
                    let frame = Arc::clone(&slot.frame);
                    self.position += 1;
                    ring.release_read();
                    return Ok(frame);
                }
            }
            published.await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.broker.subscribers.fetch_sub(1, Ordering::Relaxed);
        // The broker's map before the ring, as in `subscribe`.
        let mut rooms = lock(&self.broker.rooms);
        let last = {
            let mut ring = lock(&self.room.ring);
            let from = self.position.max(ring.head);
            let head = ring.head;
            for seq in from..ring.next {
                ring.slots[(seq - head) as usize].unread -= 1;
            }
            ring.release_read();
            ring.subscribers -= 1;
            ring.subscribers == 0
        };
        if last
            && rooms
                .get(&self.name)
                .is_some_and(|r| Arc::ptr_eq(r, &self.room))
        {
            rooms.remove(&self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Message};

    fn message(id: i64, text: &str) -> Event {
        Event::Message(Message {
            id,
            room: "r".into(),
            author: "a".into(),
            kind: Kind::User,
            text: text.into(),
            when: 0.0,
            image: None,
            media: None,
            css: None,
            js: None,
            from_bot: None,
            base_url: None,
            state: None,
        })
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_are_released_once_read() {
        let broker = Broker::new(8, 1 << 20);
        let mut a = broker.subscribe("r");
        let mut b = broker.subscribe("r");
        for id in 1..=3 {
            broker.publish(&message(id, "x"));
        }
        for id in 1..=3 {
            assert_eq!(a.recv().await.unwrap().message_id, Some(id));
        }
        assert_eq!(lock(&a.room.ring).slots.len(), 3, "b has not read them");
        for id in 1..=3 {
            assert_eq!(b.recv().await.unwrap().message_id, Some(id));
        }
        assert_eq!(lock(&a.room.ring).slots.len(), 0);
        drop(a);
        broker.publish(&message(4, "x"));
        drop(b);
        assert!(lock(&broker.rooms).is_empty());
    }

    #[tokio::test]
    async fn closing_ends_waiting_and_later_subscriptions() {
        let broker = Broker::new(8, 1 << 20);
        let mut waiting = broker.subscribe("r");
        let waiter = tokio::spawn(async move { waiting.recv().await.map(|_| ()) });
        // Let the waiter register before the broker closes.
        tokio::task::yield_now().await;
        broker.close();
        let ended = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("a waiting subscription ends when the broker closes")
            .unwrap();
        assert_eq!(ended, Err(RecvError::Closed));
        let mut later = broker.subscribe("other");
        assert_eq!(later.recv().await.map(|_| ()), Err(RecvError::Closed));
    }

    #[tokio::test]
    async fn a_subscriber_behind_by_more_bytes_than_the_budget_lags() {
        let broker = Broker::new(1024, 10_000);
        let mut slow = broker.subscribe("r");
        let mut fast = broker.subscribe("r");
        let big = "y".repeat(4_000);
        for id in 1..=5 {
            broker.publish(&message(id, &big));
            assert_eq!(fast.recv().await.unwrap().message_id, Some(id));
        }
        let ring_bytes = lock(&slow.room.ring).bytes;
        assert!(ring_bytes <= 10_000, "{ring_bytes}");
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(n)) if n >= 3));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_wakes_on_publish() {
        let broker = Broker::new(8, 1 << 20);
        let mut sub = broker.subscribe("r");
        let waiter = tokio::spawn(async move { sub.recv().await.map(|f| f.message_id) });
        tokio::task::yield_now().await;
        broker.publish(&message(7, "x"));
        assert_eq!(waiter.await.unwrap(), Ok(Some(7)));
    }
}
