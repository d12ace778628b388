//! Turn-taking in a room's conversation (SPEC §5 [better]). While a room is
//! in a stateful conversation, each person's message takes a turn: it is
//! sent to the conversation's bot only after the previous turn's reply was
//! stored, and follows the state that reply left. Messages that arrive
//! while a turn is running queue up in commit order (the writer registers
//! each message as it commits it) and keep that order.
//!
//! A turn is a `Ticket`. The first ticket of a quiet room starts at once
//! with the conversation the room is in; each later one waits for the
//! previous to finish and starts with the conversation it left. A ticket
//! dropped without finishing (its request went away) passes on the
//! conversation it started with. While messages wait, the room's
//! subscribers get `bot_turn_queue` events with how many wait.
//!
//! A `Ticket` wraps one `Turn`: here, `LocalTurn`s queue in this instance's
//! memory (one instance on SQLite); `feed::postgres` has turns that queue
//! in a database shared by several instances.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::broker::Broker;
use crate::model::{Conversation, Event, TurnQueue};

pub struct Turns {
    rooms: Mutex<HashMap<String, RoomTurns>>,
    broker: Arc<Broker>,
}

#[derive(Default)]
struct RoomTurns {
    /// Tickets waiting for their turn, oldest first.
    waiting: VecDeque<oneshot::Sender<Option<Conversation>>>,
    /// The bot the running turn talks to, for the waiting indicator.
    bot: Option<(i64, String)>,
}

/// One message's turn, however turns are kept.
#[async_trait]
pub trait Turn: Send {
    /// Waits (at most `limit`) for the turn: `Ok` with the conversation it
    /// starts in, or `Err` when it cannot wait any longer (the limit
    /// passed, or the turn before it was lost with its instance).
    async fn start(&mut self, limit: Duration) -> Result<Option<Conversation>, ()>;
    /// Notes which bot the turn talks to (for the waiting indicator).
    fn serving(&mut self, bot_id: i64, bot_name: &str);
    /// Ends the turn; the next one starts with `left`.
    async fn finish(&mut self, left: Option<Conversation>);
    /// The ticket was dropped without finishing (its request went away):
    /// let the next turn go ahead.
    fn abandon(&mut self);
}

/// One message's turn. Dropped without `finish`, it abandons the turn.
pub struct Ticket {
    turn: Box<dyn Turn>,
    finished: bool,
}

impl Ticket {
    pub fn new(turn: Box<dyn Turn>) -> Ticket {
        Ticket {
            turn,
            finished: false,
        }
    }

    /// Waits for this ticket's turn (at most `limit`) and returns the
    /// conversation it starts in; if it cannot wait, the message goes ahead
    /// with the conversation as the room's newest message says (`fallback`).
    pub async fn start(
        &mut self,
        limit: Duration,
        fallback: impl AsyncFnOnce() -> Option<Conversation>,
    ) -> Option<Conversation> {
        match self.turn.start(limit).await {
            Ok(conversation) => conversation,
            Err(()) => fallback().await,
        }
    }

    /// Notes which bot this turn talks to (for the waiting indicator).
    pub fn serving(&mut self, bot_id: i64, bot_name: &str) {
        self.turn.serving(bot_id, bot_name);
    }

    /// Ends the turn; the next one starts with `left`.
    pub async fn finish(mut self, left: Option<Conversation>) {
        self.finished = true;
        self.turn.finish(left).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.finished {
            self.turn.abandon();
        }
    }
}

/// A turn queued in this instance's memory.
struct LocalTurn {
    turns: Arc<Turns>,
    room: String,
    state: TicketState,
}

enum TicketState {
    Waiting(oneshot::Receiver<Option<Conversation>>),
    Running(Option<Conversation>),
    Finished,
}

impl Turns {
    pub fn new(broker: Arc<Broker>) -> Arc<Turns> {
        Arc::new(Turns {
            rooms: Mutex::new(HashMap::new()),
            broker,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomTurns>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Called by the writer for each person's message as it commits it,
    /// with the conversation the room was in just before. A message needs
    /// a turn when the room is in a conversation or a turn is running;
    /// otherwise `None` (bots are matched as usual, without waiting).
    pub fn register(self: &Arc<Self>, room: &str, before: Option<Conversation>) -> Option<Ticket> {
        let mut rooms = self.lock();
        let state = match rooms.get_mut(room) {
            Some(turns) => {
                let (tx, rx) = oneshot::channel();
                turns.waiting.push_back(tx);
                self.announce(room, turns);
                TicketState::Waiting(rx)
            }
            None if before.is_some() => {
                rooms.insert(room.to_owned(), RoomTurns::default());
                TicketState::Running(before)
            }
            None => return None,
        };
        Some(Ticket::new(Box::new(LocalTurn {
            turns: Arc::clone(self),
            room: room.to_owned(),
            state,
        })))
    }

    /// Hands the turn to the next waiting ticket, or ends the room's run.
    fn pass(&self, room: &str, conversation: Option<Conversation>) {
        let mut rooms = self.lock();
        let Some(turns) = rooms.get_mut(room) else {
            return;
        };
        let mut conversation = conversation;
        while let Some(next) = turns.waiting.pop_front() {
            match next.send(conversation) {
                Ok(()) => {
                    self.announce(room, turns);
                    return;
                }
                // That request went away: the next one gets the turn.
                Err(returned) => conversation = returned,
            }
        }
        if let Some(turns) = rooms.remove(room)
            && turns.bot.is_some()
        {
            self.announce(room, &turns);
        }
    }

    fn announce(&self, room: &str, turns: &RoomTurns) {
        let (bot_id, bot_name) = match &turns.bot {
            Some((id, name)) => (Some(*id), Some(name.clone())),
            None => (None, None),
        };
        self.broker.publish(&Event::TurnQueue(TurnQueue {
            room: room.to_owned(),
            bot_id,
            bot_name,
            waiting: turns.waiting.len(),
        }));
    }
}

#[async_trait]
impl Turn for LocalTurn {
    async fn start(&mut self, limit: Duration) -> Result<Option<Conversation>, ()> {
        if let TicketState::Waiting(rx) = &mut self.state {
            let conversation = match tokio::time::timeout(limit, rx).await {
                Ok(Ok(c)) => c,
                // Timed out, or the room's run ended without us (cannot
                // happen while we wait, but never hang on it).
                _ => {
                    self.state = TicketState::Finished;
                    return Err(());
                }
            };
            self.state = TicketState::Running(conversation);
        }
        match &self.state {
            TicketState::Running(c) => Ok(c.clone()),
            _ => Err(()),
        }
    }

    fn serving(&mut self, bot_id: i64, bot_name: &str) {
        if let Some(turns) = self.turns.lock().get_mut(&self.room) {
            turns.bot = Some((bot_id, bot_name.to_owned()));
        }
    }

    async fn finish(&mut self, left: Option<Conversation>) {
        if matches!(self.state, TicketState::Running(_)) {
            self.state = TicketState::Finished;
            self.turns.pass(&self.room, left);
        }
    }

    fn abandon(&mut self) {
        if let TicketState::Running(c) = std::mem::replace(&mut self.state, TicketState::Finished) {
            self.turns.pass(&self.room, c);
        }
    }
}
