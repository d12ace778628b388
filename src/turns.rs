//! Turn-taking in a room's conversation (docs/contract.md §5 [better]). While a room is
//! in a stateful conversation, the person the bot is answering takes turns:
//! each of their messages is sent to the conversation's bot only after the
//! previous turn's reply was stored, and follows the state that reply left.
//! Turns that queue up keep commit order (the writer registers each message
//! as it commits it).
//!
//! The rule (who waits):
//! - A run of turns starts with a person's message in a conversation; its
//!   author is the run's author.
//! - While the run lasts, a message by the run's author joins its queue; a
//!   message by anyone else (a helper a bot posts through, another student)
//!   is answered at once with the room's state as it stands, as the
//!   original does. A run queues at most `MAX_RUN_TURNS` turns; later
//!   messages are answered at once too, so a bot that posts as the person
//!   it answers cannot feed itself for ever.
//!
//! Why no request can hang on a bot (docs/contract.md §5): a queued turn is taken in a
//! task of its own, and the request that posted the message is answered
//! once it is stored. Only the request that started the run answers its
//! turn itself, and it then waits (at most the turn wait) for the run to
//! end, so a script that posts and then reads sees every reply. A bot that
//! posts into its own room while it answers is therefore never waiting on
//! a request that waits on it: its post is answered at once or queued.
//!
//! A turn is a `Ticket`. The first ticket of a run starts at once with the
//! conversation the room is in; each later one waits for the previous to
//! finish and starts with the conversation it left. A ticket dropped
//! without finishing passes on the conversation it started with. While
//! messages wait, the room's subscribers get `bot_turn_queue` events with
//! how many wait.
//!
//! A `Ticket` wraps one `Turn`: here, `LocalTurn`s queue in this instance's
//! memory (one instance on SQLite); `postgres::turns` has turns that queue
//! in a database shared by several instances.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::broker::Broker;
use crate::model::{Conversation, Event, TurnQueue};

/// Most turns one run queues behind its first; later messages by its
/// author are answered at once (see the module's rule).
pub const MAX_RUN_TURNS: usize = 16;

/// How a person's message (or a submitted form) is answered, as decided
/// when it is stored.
pub enum Admission {
    /// No turn: answered at once with the room's conversation as it stands
    /// (`None`: the bots that match run).
    AtOnce(Option<Conversation>),
    /// The first turn of a run: answered by the request itself, which then
    /// waits for the run to end.
    First(Ticket),
    /// Queued behind the run: answered by a task of its own; the request is
    /// answered once the message is stored.
    Queued(Ticket),
}

pub struct Turns {
    rooms: Mutex<HashMap<String, RoomTurns>>,
    broker: Arc<Broker>,
    /// Numbers runs, so a turn waiting for its run's end never waits for a
    /// later run of the same room.
    runs: std::sync::atomic::AtomicU64,
}

struct RoomTurns {
    run: u64,
    /// The run's author: only their messages queue.
    author: String,
    /// Turns queued in this run so far.
    queued: usize,
    /// Tickets waiting for their turn, oldest first.
    waiting: VecDeque<oneshot::Sender<Option<Conversation>>>,
    /// The bot the running turn talks to, for the waiting indicator.
    bot: Option<(i64, String)>,
    /// Told when the run ends.
    ended: Vec<oneshot::Sender<()>>,
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
    /// After `finish`: waits (at most `limit`) until the run this turn
    /// belongs to has no turn left.
    async fn run_ended(&mut self, limit: Duration);
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

    /// Ends the turn; the next one starts with `left`. With `wait_run`, then
    /// waits (at most that long) for the rest of the run.
    pub async fn finish(mut self, left: Option<Conversation>, wait_run: Option<Duration>) {
        self.finished = true;
        self.turn.finish(left).await;
        if let Some(limit) = wait_run {
            self.turn.run_ended(limit).await;
        }
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
    run: u64,
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
            runs: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, RoomTurns>> {
        crate::sync::lock(&self.rooms)
    }

    /// Called for each person's message as the writer commits it (and for
    /// each submitted form), with the conversation the room was in just
    /// before: decides, by the module's rule, how it is answered.
    pub fn register(
        self: &Arc<Self>,
        room: &str,
        author: &str,
        before: Option<Conversation>,
    ) -> Admission {
        let mut rooms = self.lock();
        match rooms.get_mut(room) {
            Some(turns) if turns.author == author && turns.queued < MAX_RUN_TURNS => {
                let (tx, rx) = oneshot::channel();
                turns.waiting.push_back(tx);
                turns.queued += 1;
                let run = turns.run;
                self.announce(room, turns);
                Admission::Queued(self.ticket(room, run, TicketState::Waiting(rx)))
            }
            Some(_) => Admission::AtOnce(before),
            None if before.is_some() => {
                let run = self.runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                rooms.insert(
                    room.to_owned(),
                    RoomTurns {
                        run,
                        author: author.to_owned(),
                        queued: 0,
                        waiting: VecDeque::new(),
                        bot: None,
                        ended: Vec::new(),
                    },
                );
                Admission::First(self.ticket(room, run, TicketState::Running(before)))
            }
            None => Admission::AtOnce(None),
        }
    }

    fn ticket(self: &Arc<Self>, room: &str, run: u64, state: TicketState) -> Ticket {
        Ticket::new(Box::new(LocalTurn {
            turns: Arc::clone(self),
            room: room.to_owned(),
            run,
            state,
        }))
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
                // That ticket went away: the next one gets the turn.
                Err(returned) => conversation = returned,
            }
        }
        if let Some(turns) = rooms.remove(room) {
            if turns.bot.is_some() {
                self.announce(room, &turns);
            }
            for ended in turns.ended {
                // Its waiter may have gone away; nothing to tell it then.
                ended.send(()).ok();
            }
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

    async fn run_ended(&mut self, limit: Duration) {
        let ended = {
            let mut rooms = self.turns.lock();
            match rooms.get_mut(&self.room) {
                Some(turns) if turns.run == self.run => {
                    let (tx, rx) = oneshot::channel();
                    turns.ended.push(tx);
                    rx
                }
                _ => return,
            }
        };
        // Either way the wait is over: the run ended, or took too long.
        tokio::time::timeout(limit, ended).await.ok();
    }

    fn abandon(&mut self) {
        if let TicketState::Running(c) = std::mem::replace(&mut self.state, TicketState::Finished) {
            self.turns.pass(&self.room, c);
        }
    }
}
