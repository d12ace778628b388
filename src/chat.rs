//! The use cases, one path each: post a message, submit a form, upsert or
//! delete a bot, clear a room, clear its state, read history, subscribe.
//! HTTP and websocket handlers are thin adapters over these. This module
//! talks to the store (reads), the writer (every change), the broker
//! (subscriptions) and the bot caller.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::botcall::{BotCaller, BotFailure, Exchange, Reach};
use crate::broker::{Broker, Subscription};
use crate::calllimits::CallLimits;
use crate::calllog::{CallLog, FinishedCall};
use crate::cascade::{Cascade, Cascades};
use crate::config::Limits;
use crate::episodes::{Cause, FailureEpisodes};
use crate::error::AppError;
use crate::feed::Feed;
use crate::matcher::{BotCache, CompiledBot, PatternError};
use crate::model::{
    Activation, Bot, BotCall, BotInput, CallStart, Conversation, Kind, Message, NewMessage,
    RawJson, State,
};
use crate::ratelimit::{RoomRateLimit, Verdict};
use crate::store::{JsonPage, Store, WriteOp, WriteOutcome};
use crate::turns::{Admission, Ticket};
use crate::writer::{Inserted, Writer};
use crate::{telemetry, texts};

/// A message typed by a person.
#[derive(Debug, Clone)]
pub struct UserMessage {
    pub room: String,
    pub author: String,
    pub text: String,
    pub image: Option<String>,
    pub media: Option<String>,
    pub css: Option<String>,
    pub js: Option<String>,
    pub by: Requester,
}

/// Who asked for something, as the HTTP layer saw them.
#[derive(Debug, Clone)]
pub struct Requester {
    /// Sent from the server's own machine (not through the proxy): with a
    /// bot saved there, its calls may reach this machine (see `netguard`).
    pub from_here: bool,
    /// The client's address as the access log reads it (`X-Forwarded-For`
    /// from a trusted proxy): whose share of bot calls in flight a call
    /// takes (see `calllimits`).
    pub client: String,
    /// The post and everything it causes (see `cascade`).
    pub cascade: Arc<Cascade>,
    /// How deep in the cascade the request is: 0 for a person's, one more
    /// than the post whose bot call sent it.
    pub depth: u32,
}

/// A form in a bot's message, submitted from the browser.
#[derive(Debug, Clone)]
pub struct FormSubmission {
    pub room: String,
    pub author: String,
    /// The bot whose message held the form.
    pub bot_id: i64,
    /// The form's raw `action` attribute.
    pub action_url: Option<String>,
    pub form_data: Value,
    pub by: Requester,
}

/// What a new subscriber is sent before live events.
pub struct Replay {
    pub clear_point: Option<i64>,
    /// The subscriber's `since` names messages this database does not have
    /// (it saw them before a restore): it clears and gets the whole room.
    pub reset: bool,
    pub bots: Vec<Bot>,
    pub calls_in_flight: Vec<CallStart>,
    /// Messages after `since` (or after the clear point, if that is later).
    pub history: History,
}

/// A 429 that says to try again after `retry_after` (whole seconds, at
/// least one), in the words `message` gives for that many seconds.
fn too_many(retry_after: std::time::Duration, message: impl FnOnce(u64) -> String) -> AppError {
    let retry_after_secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    AppError::TooManyRequests {
        message: message(retry_after_secs),
        retry_after_secs,
    }
}

/// Allowances for bot tests and replays (per client, per bot) from their
/// rates a minute; each bucket holds a third of a minute's worth at once.
fn test_limits((per_client, per_bot): (f64, f64)) -> Option<(RoomRateLimit, RoomRateLimit)> {
    let bucket = |per_minute: f64| {
        RoomRateLimit::new(per_minute / 60.0, (per_minute / 3.0).ceil().max(1.0) as u32)
    };
    Some((bucket(per_client)?, bucket(per_bot)?))
}

/// How long a bot call waits for a place among the calls in flight before
/// it is given up (see `calllimits`).
const CALL_PLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// When a bot's post refused for its cascade (see `cascade`) may try again:
/// by then the message that caused it has long been answered.
const CASCADE_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// How long the health check waits for the database.
const HEALTH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A cursor over a room's messages, ascending by id.
pub struct History {
    store: Arc<dyn Store>,
    room: String,
    after: i64,
}

impl History {
    /// The next page: at most `limit` messages as JSON objects joined by
    /// `separator`, or `None` at the end.
    pub async fn next_page(
        &mut self,
        limit: usize,
        separator: &str,
    ) -> Result<Option<JsonPage>, AppError> {
        let page = self
            .store
            .message_page(&self.room, self.after, limit, separator)
            .await?;
        if let Some(p) = &page {
            self.after = p.last_id;
        }
        Ok(page)
    }
}

/// What a person's turn answers: their message, or a form they submitted
/// (to its target).
#[derive(Clone, Copy)]
enum Asked<'a> {
    Message(&'a Message, &'a Requester),
    Form(&'a FormSubmission, &'a Target),
}

impl Asked<'_> {
    fn room(&self) -> &str {
        match self {
            Asked::Message(stored, _) => &stored.room,
            Asked::Form(input, _) => &input.room,
        }
    }
}

/// The bot a call goes to: a bot of the room, or a transient one known only
/// by the URL a form pointed at.
#[derive(Debug, Clone)]
struct Target {
    id: Option<i64>,
    name: String,
    url: String,
    /// Saved from the server's own machine (see `Bot::saved_locally`).
    saved_locally: bool,
}

impl From<&Bot> for Target {
    fn from(bot: &Bot) -> Self {
        Target {
            id: Some(bot.id),
            name: bot.name.clone(),
            url: bot.url.clone(),
            saved_locally: bot.saved_locally,
        }
    }
}

pub struct Chat {
    store: Arc<dyn Store>,
    writer: Writer,
    broker: Arc<Broker>,
    bots: Arc<BotCache>,
    caller: BotCaller,
    limits: Limits,
    calls: CallLog,
    /// How long a message waits for its turn in a conversation.
    turn_wait: std::time::Duration,
    /// The per-room rate limit (posts per second, burst), for its message.
    rate_limit: (f64, u32),
    feed: Arc<dyn Feed>,
    call_limits: Arc<CallLimits>,
    /// Bot tests and replays: per client, and per bot (see `test_limit`).
    bot_tests: Option<(RoomRateLimit, RoomRateLimit)>,
    /// Their rates, per minute, for the refusal's message.
    bot_test_rates: (f64, f64),
    cascades: Cascades,
    episodes: FailureEpisodes,
}

/// A person's message as stored.
pub struct Posted {
    pub message: Message,
    /// Its API JSON, as stored (what `message` serialises to).
    pub json: Arc<str>,
}

/// How a `Chat` treats what it is asked to do.
pub struct ChatSettings {
    pub limits: Limits,
    /// How long a message waits for its turn in a conversation.
    pub turn_wait: std::time::Duration,
    /// The per-room rate limit (posts per second, burst) the feed applies.
    pub rate_limit: (f64, u32),
    /// Bot tests and replays a minute, per client and per bot (0: none).
    pub bot_tests_per_minute: (f64, f64),
    /// Messages one post may cause (0: no bound; see `cascade`).
    pub max_messages_per_post: u32,
    /// A bot's failures of one kind closer together than this are told
    /// once (see `episodes`).
    pub failure_notice_gap: std::time::Duration,
}

fn check_len(field: &str, value: &str, limit: usize) -> Result<(), AppError> {
    // Byte length bounds the char count from above: skip counting when short.
    if value.len() > limit && value.chars().count() > limit {
        return Err(AppError::BadRequest(texts::field_too_long(field, limit)));
    }
    Ok(())
}

fn check_opt_len(field: &str, value: &Option<String>, limit: usize) -> Result<(), AppError> {
    value
        .as_deref()
        .map_or(Ok(()), |v| check_len(field, v, limit))
}

/// What the use cases talk to.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub writer: Writer,
    pub broker: Arc<Broker>,
    pub bots: Arc<BotCache>,
    pub caller: BotCaller,
    pub feed: Arc<dyn Feed>,
    pub calls: CallLog,
    pub call_limits: Arc<CallLimits>,
}

impl Chat {
    pub fn new(services: Services, settings: ChatSettings) -> Self {
        let Services {
            store,
            writer,
            broker,
            bots,
            caller,
            feed,
            calls,
            call_limits,
        } = services;
        Chat {
            store,
            writer,
            broker,
            bots,
            caller,
            limits: settings.limits,
            calls,
            turn_wait: settings.turn_wait,
            rate_limit: settings.rate_limit,
            feed,
            call_limits,
            bot_tests: test_limits(settings.bot_tests_per_minute),
            bot_test_rates: settings.bot_tests_per_minute,
            cascades: Cascades::new(settings.max_messages_per_post),
            episodes: FailureEpisodes::new(settings.failure_notice_gap),
        }
    }

    /// The cascades of this instance, for the HTTP layer to tell which one
    /// a request belongs to.
    pub fn cascades(&self) -> &Cascades {
        &self.cascades
    }

    /// Takes a post from the client's allowance, then from the room's
    /// rate limit; refused posts get 429. A client's refusal is its own
    /// affair; the first refusal of a room's episode is told in the room.
    /// Requests from this machine itself (no proxy) have no client
    /// allowance.
    async fn admit(&self, room: &str, by: &Requester) -> Result<(), AppError> {
        if !by.from_here
            && let Verdict::Limited { retry_after, .. } = self.feed.admit_client(&by.client).await?
        {
            metrics::counter!(telemetry::CLIENTS_RATE_LIMITED).increment(1);
            return Err(too_many(retry_after, texts::client_rate_limited));
        }
        match self.feed.admit(room).await? {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after, first } => {
                if first {
                    tracing::warn!(room, "room rate-limited");
                    metrics::counter!(telemetry::ROOMS_RATE_LIMITED).increment(1);
                    let (rate, burst) = self.rate_limit;
                    let text = texts::room_rate_limited(rate, burst);
                    self.post_system(room, text).await?;
                }
                Err(too_many(retry_after, texts::rate_limited))
            }
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    pub fn check_room(&self, room: &str) -> Result<(), AppError> {
        if room.is_empty() {
            return Err(AppError::BadRequest(texts::field_empty("room")));
        }
        // Room names travel in URL paths and show in page titles.
        if room.chars().any(char::is_control) {
            return Err(AppError::BadRequest(texts::field_control_chars("room")));
        }
        check_len("room", room, self.limits.max_room_chars)
    }

    /// Stores a person's message, broadcasts it, runs the bots it activates
    /// one after another, and returns it (with its JSON) once every reply
    /// is stored.
    #[tracing::instrument(level = "debug", skip_all, fields(room = %input.room))]
    pub async fn post_message(self: &Arc<Self>, input: UserMessage) -> Result<Posted, AppError> {
        self.check_room(&input.room)?;
        let l = &self.limits;
        check_len("author", &input.author, l.max_author_chars)?;
        check_len("text", &input.text, l.max_text_chars)?;
        for (field, value) in [
            ("image", &input.image),
            ("media", &input.media),
            ("css", &input.css),
            ("js", &input.js),
        ] {
            check_opt_len(field, value, l.max_url_chars)?;
        }
        // A bot's call that came straight back joins its cascade, which
        // must still have room for it.
        let by = &input.by;
        if by.depth > 0 && (!by.cascade.may_cause() || by.depth > crate::cascade::MAX_DEPTH) {
            let budget = by.cascade.budget();
            return Err(too_many(CASCADE_RETRY, |_| texts::cascade_refused(budget)));
        }
        self.admit(&input.room, &input.by).await?;
        let by = input.by;
        let Inserted {
            message: stored,
            json,
            admission,
        } = self
            .writer
            .insert(NewMessage {
                room: input.room,
                author: input.author,
                kind: Some(Kind::User),
                text: input.text,
                image: input.image,
                media: input.media,
                css: input.css,
                js: input.js,
                ..NewMessage::default()
            })
            .await?;
        if by.depth > 0 {
            by.cascade.caused_one();
        }

        match admission {
            // No turn: answered now, with the room's conversation as it
            // stands (none: the bots that match run).
            Admission::AtOnce(now) => {
                Box::pin(self.answer(&stored, now, None, &by)).await?;
            }
            // Boxed: most posts take no turn, and need not carry its state.
            Admission::First(turn) => {
                Box::pin(self.take_turn(Asked::Message(&stored, &by), turn, true)).await?;
            }
            // Queued behind the run: its turn is taken by a task of its own,
            // so this request never waits on a bot that may be waiting on
            // it (see `turns`).
            Admission::Queued(turn) => {
                let chat = Arc::clone(self);
                let message = stored.clone();
                tokio::spawn(async move {
                    if let Err(e) = chat
                        .take_turn(Asked::Message(&message, &by), turn, false)
                        .await
                    {
                        tracing::warn!(room = %message.room, error = %e, "a queued turn failed");
                    }
                });
            }
        }
        Ok(Posted {
            message: stored,
            json,
        })
    }

    /// A person's message's turn in the room's conversation (see `turns`):
    /// once the turns before it are done, the bot the conversation is with
    /// (or else the bots that match) answers. The first turn of a run then
    /// waits for the rest of the run. Returns the last reply.
    async fn take_turn(
        &self,
        asked: Asked<'_>,
        mut turn: Ticket,
        first: bool,
    ) -> Result<Option<Message>, AppError> {
        let room = asked.room();
        let now = turn
            .start(self.turn_wait, async || self.conversation_now(room).await)
            .await;
        let left = match asked {
            Asked::Message(stored, by) => self.answer(stored, now, Some(&mut turn), by).await?,
            Asked::Form(input, target) => {
                if let Some(id) = target.id {
                    turn.serving(id, &target.name);
                }
                self.answer_form(input, target.clone(), now).await?
            }
        };
        // The next turn follows the state this one's reply left.
        let wait_run = first.then_some(self.turn_wait);
        turn.finish(left.as_ref().and_then(Conversation::after), wait_run)
            .await;
        Ok(left)
    }

    /// The conversation the room is in, as its newest message says.
    async fn conversation_now(&self, room: &str) -> Option<Conversation> {
        let newest = self.store.latest_message_before(room, i64::MAX).await;
        newest.ok().flatten().as_ref().and_then(Conversation::after)
    }

    /// Answers a person's message in the conversation `now` (the bot it is
    /// with, if it is still in the room), or else runs the bots that match;
    /// returns the last reply.
    async fn answer(
        &self,
        stored: &Message,
        now: Option<Conversation>,
        turn: Option<&mut Ticket>,
        by: &Requester,
    ) -> Result<Option<Message>, AppError> {
        if now.is_none() {
            return self.run_matching_bots(stored, by).await;
        }
        let room_bots = self.room_bots(&stored.room).await?;
        let Some((bot, state)) = in_conversation(now, &room_bots) else {
            return self.run_matching_bots(stored, by).await;
        };
        if let Some(turn) = turn {
            turn.serving(bot.id, &bot.name);
        }
        if self.cascade_spent(&stored.room, by).await? {
            return Ok(None);
        }
        let payload = BotRequest::new(
            json!({
                "room": stored.room,
                "author": stored.author,
                "text": stored.text,
                "params": {},
            }),
            Some(&state),
        );
        let target = Target::from(&bot);
        let activation = Activation::Conversation;
        self.call_and_store(&stored.room, &target, payload, activation, by)
            .await
    }

    /// Runs the bots `message` activates, one after another; returns the
    /// last message they posted.
    async fn run_matching_bots(
        &self,
        stored: &Message,
        by: &Requester,
    ) -> Result<Option<Message>, AppError> {
        let room_bots = self.room_bots(&stored.room).await?;
        // Matching is CPU work bounded per message (see `matcher`): off the
        // async workers, so no pattern stalls other rooms.
        let matched = {
            let bots = Arc::clone(&room_bots);
            let text = stored.text.clone();
            tokio::task::spawn_blocking(move || crate::matcher::match_all(&bots, &text))
                .await
                .map_err(|e| AppError::Unavailable(format!("matching failed: {e}")))?
        };
        let mut last = None;
        for (compiled, matched) in room_bots.iter().zip(matched) {
            let params = match matched {
                Ok(None) => continue,
                Ok(Some(params)) => params,
                // Told once per version of the bot, not on every message.
                Err(PatternError::TooSlow) if !self.bots.first_time_too_slow(&compiled.bot) => {
                    continue;
                }
                Err(error) => {
                    let pattern = compiled.bot.responds_to.as_deref().unwrap_or_default();
                    let text = texts::pattern_failure(&compiled.bot.name, pattern, &error);
                    last = Some(self.post_system(&stored.room, text).await?);
                    self.caused(&stored.room, by).await;
                    continue;
                }
            };
            if self.cascade_spent(&stored.room, by).await? {
                break;
            }
            let payload = BotRequest::new(
                json!({
                    "room": stored.room,
                    "author": stored.author,
                    "text": stored.text,
                    "params": params,
                }),
                None,
            );
            let target = Target::from(&compiled.bot);
            let activation = Activation::Match;
            let call = self.call_and_store(&stored.room, &target, payload, activation, by);
            last = Box::pin(call).await?;
        }
        Ok(last)
    }

    /// Calls a bot and stores what came of it. Posting boxes this future:
    /// a bot call's state (the HTTP exchange) is several kilobytes, and
    /// held inline it would make every post's future that large, allocated
    /// and copied per request, though most posts call no bot.
    async fn call_and_store(
        &self,
        room: &str,
        target: &Target,
        payload: BotRequest,
        activation: Activation,
        by: &Requester,
    ) -> Result<Option<Message>, AppError> {
        let call = self.call(room, target, payload, activation, by).await?;
        self.store_result(room, target, call, by).await
    }

    /// Sends a submitted form to the bot its action points at and stores
    /// the reply (docs/contract.md §5).
    #[tracing::instrument(level = "debug", skip_all, fields(room = %input.room, bot_id = input.bot_id))]
    pub async fn submit_form(self: &Arc<Self>, input: FormSubmission) -> Result<(), AppError> {
        self.check_room(&input.room)?;
        check_len("author", &input.author, self.limits.max_author_chars)?;
        check_opt_len("action_url", &input.action_url, self.limits.max_url_chars)?;
        self.admit(&input.room, &input.by).await?;
        let room = &input.room;
        let room_bots = self.room_bots(room).await?;
        let Some(origin) = room_bots.iter().find(|b| b.bot.id == input.bot_id) else {
            self.post_system(room, texts::form_bot_not_found(input.bot_id))
                .await?;
            return Ok(());
        };
        let target_url = match resolve_action(&origin.bot.url, input.action_url.as_deref()) {
            Ok(url) => url,
            Err(why) => {
                let action = input.action_url.as_deref().unwrap_or_default();
                let text = texts::form_bad_action(&origin.bot.name, action, &why);
                self.post_system(room, text).await?;
                return Ok(());
            }
        };
        let target = room_bots
            .iter()
            .find(|b| same_url(&b.bot.url, &target_url))
            .map(|b| Target::from(&b.bot))
            .unwrap_or_else(|| Target {
                id: None,
                name: target_url.clone(),
                url: target_url.clone(),
                // Where the saved bot's own form points.
                saved_locally: origin.bot.saved_locally,
            });
        // A form takes turns by the same rule as a message (see `turns`).
        let now = self.conversation_now(room).await;
        match self.feed.form_turn(room, &input.author, now).await? {
            Admission::AtOnce(now) => {
                Box::pin(self.answer_form(&input, target, now)).await?;
            }
            Admission::First(turn) => {
                Box::pin(self.take_turn(Asked::Form(&input, &target), turn, true)).await?;
            }
            Admission::Queued(turn) => {
                let chat = Arc::clone(self);
                tokio::spawn(async move {
                    let room = input.room.clone();
                    let asked = Asked::Form(&input, &target);
                    if let Err(e) = chat.take_turn(asked, turn, false).await {
                        tracing::warn!(%room, error = %e, "a queued form turn failed");
                    }
                });
            }
        }
        Ok(())
    }

    /// Sends a form to its target with the state of the conversation
    /// `now` (if its bot is still in the room) and stores the reply;
    /// returns it.
    async fn answer_form(
        &self,
        input: &FormSubmission,
        mut target: Target,
        now: Option<Conversation>,
    ) -> Result<Option<Message>, AppError> {
        let room = &input.room;
        let room_bots = self.room_bots(room).await?;
        let state = in_conversation(now, &room_bots).map(|(_, state)| state);
        if self.cascade_spent(room, &input.by).await? {
            return Ok(None);
        }
        let payload = BotRequest::new(
            json!({
                "room": room,
                "author": input.author,
                "form_data": input.form_data,
            }),
            state.as_ref(),
        );
        let call = self
            .call(room, &target, payload, Activation::Form, &input.by)
            .await?;
        let reply = call.exchange.result.as_ref();
        if target.id.is_none() && reply.is_ok_and(|r| r.state.is_some()) {
            // The conversation needs a bot id to come back to.
            let created = self
                .writer
                .write(WriteOp::UpsertBot {
                    bot: BotInput {
                        id: None,
                        room: room.clone(),
                        name: texts::auto_bot_name(&target.url),
                        responds_to: None,
                        url: target.url.clone(),
                        saved_locally: input.by.from_here && target.saved_locally,
                    },
                    max_bots_per_room: self.limits.max_bots_per_room,
                })
                .await?;
            match created {
                WriteOutcome::Bot { bot, .. } => target.id = Some(bot.id),
                _ => tracing::warn!(room, "room full: no (Auto) bot for the conversation"),
            }
        }
        self.store_result(room, &target, call, &input.by).await
    }

    #[tracing::instrument(skip_all, fields(room = %input.room))]
    pub async fn upsert_bot(&self, input: BotInput) -> Result<Bot, AppError> {
        self.check_room(&input.room)?;
        let l = &self.limits;
        check_len("name", &input.name, l.max_bot_name_chars)?;
        check_len("url", &input.url, l.max_url_chars)?;
        check_opt_len("responds_to", &input.responds_to, l.max_pattern_chars)?;
        match self
            .writer
            .write(WriteOp::UpsertBot {
                bot: input,
                max_bots_per_room: l.max_bots_per_room,
            })
            .await?
        {
            WriteOutcome::Bot { bot, .. } => Ok(bot),
            _ => Err(AppError::BadRequest(texts::too_many_bots(
                l.max_bots_per_room,
            ))),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_bot(&self, id: i64) -> Result<Bot, AppError> {
        match self.writer.write(WriteOp::DeleteBot(id)).await? {
            WriteOutcome::Deleted(Some(bot)) => Ok(bot),
            _ => Err(AppError::BadRequest(texts::unknown_bot(id))),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn clear_room_messages(&self, room: &str) -> Result<(), AppError> {
        self.check_room(room)?;
        self.writer
            .write(WriteOp::ClearRoom(room.to_owned()))
            .await?;
        Ok(())
    }

    /// Ends a stateful conversation by posting a message without state.
    /// Done whenever the newest message carries state, even if its bot is
    /// gone, so the client's "Leave conversation" always leaves.
    #[tracing::instrument(skip(self))]
    pub async fn clear_room_state(&self, room: &str) -> Result<(), AppError> {
        self.check_room(room)?;
        let latest = self.store.latest_message_before(room, i64::MAX).await?;
        if latest.is_some_and(|m| m.state.is_some()) {
            self.post_system(room, texts::STATE_CLEARED.to_owned())
                .await?;
        }
        Ok(())
    }

    /// The room's messages after `since`, read page by page so a long
    /// history never sits in memory whole.
    pub fn messages(&self, room: &str, since: i64) -> Result<History, AppError> {
        self.check_room(room)?;
        Ok(History {
            store: Arc::clone(&self.store),
            room: room.to_owned(),
            after: since,
        })
    }

    pub async fn bots(&self, room: Option<&str>) -> Result<Vec<Bot>, AppError> {
        Ok(self.store.bots(room).await?)
    }

    /// Subscribes to a room, then reads what a new subscriber is sent
    /// first. Everything committed before a read is in it, everything
    /// after the subscription is on the subscription; the websocket drops
    /// the overlap by message id.
    pub async fn subscribe(
        &self,
        room: &str,
        since: i64,
    ) -> Result<(Subscription, Replay), AppError> {
        self.check_room(room)?;
        let subscription = self.broker.subscribe(room);
        let clear_point = self.store.clear_point(room).await?;
        let bots = self.store.bots(Some(room)).await?;
        let reset = since > 0 && clear_point.is_none_or(|c| since > c) && {
            let newest = self.store.newest_message_id(room).await?;
            newest.is_none_or(|n| since > n) || self.store.id_in_restore_gap(since).await?
        };
        let after = match clear_point {
            _ if reset => clear_point.unwrap_or(-1),
            Some(c) if c >= since => c,
            _ => since,
        };
        let replay = Replay {
            clear_point,
            reset,
            bots,
            calls_in_flight: self.calls.in_flight(room).await?,
            history: self.messages(room, after)?,
        };
        Ok((subscription, replay))
    }

    /// Whether the database answers a read promptly.
    pub async fn healthy(&self) -> Result<(), AppError> {
        self.feed.healthy().map_err(AppError::Unavailable)?;
        match tokio::time::timeout(HEALTH_WAIT, self.store.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(AppError::Unavailable(texts::database_silent(
                HEALTH_WAIT.as_secs(),
            ))),
        }
    }

    async fn post_system(&self, room: &str, text: String) -> Result<Message, AppError> {
        Ok(self
            .writer
            .insert(system_message(room, text))
            .await?
            .message)
    }

    async fn room_bots(&self, room: &str) -> Result<Arc<Vec<CompiledBot>>, AppError> {
        match self.bots.get(room) {
            Ok(bots) => Ok(bots),
            Err(generation) => {
                let bots = self.store.bots(Some(room)).await?;
                Ok(self.bots.install(room, generation, bots))
            }
        }
    }

    /// Calls a bot, announcing the call to the room while it is in flight.
    async fn call(
        &self,
        room: &str,
        target: &Target,
        payload: BotRequest,
        activation: Activation,
        by: &Requester,
    ) -> Result<FinishedCall, AppError> {
        let start = self
            .calls
            .begin(room, target.id, &target.name, &target.url, activation)
            .await?;
        let started = Instant::now();
        // Only a bot saved here, called at the request of someone here, may
        // reach this machine (see `netguard`).
        let reach = if by.from_here && target.saved_locally {
            Reach::Local
        } else {
            Reach::Remote
        };
        // A place among the calls in flight first (see `calllimits`).
        let wait = self.caller.timeout().min(CALL_PLACE_WAIT);
        let exchange = match self.call_limits.enter(room, &by.client, wait).await {
            Ok(_place) => {
                let cascade = self.cascades.header(&by.cascade, by.depth);
                let body = &payload.body;
                self.caller
                    .call(&target.url, body, reach, Some(&cascade))
                    .await
            }
            Err(crowded) => Exchange::failed(BotFailure::Crowded(crowded)),
        };
        let elapsed = started.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let outcome = match &exchange.result {
            Ok(_) => "ok",
            Err(f) => f.outcome(),
        };
        metrics::counter!(telemetry::BOT_CALLS, "outcome" => outcome).increment(1);
        telemetry::observe_seconds(telemetry::BOT_CALL_SECONDS, elapsed);
        tracing::info!(
            room,
            call_id = start.id,
            bot_id = target.id,
            bot = %target.name,
            url = %target.url,
            activation = activation.as_str(),
            outcome,
            latency_ms,
            "bot call"
        );
        Ok(FinishedCall {
            start,
            request: payload.logged,
            exchange,
            latency_ms,
        })
    }

    /// Posts what a call produced (the reply, or a system message saying
    /// what went wrong), and hands the call's record to the call log.
    async fn store_result(
        &self,
        room: &str,
        target: &Target,
        call: FinishedCall,
        by: &Requester,
    ) -> Result<Option<Message>, AppError> {
        let (message, error) = match &call.exchange.result {
            Ok(reply) => {
                let reply = reply.clone();
                let message = NewMessage {
                    room: room.to_owned(),
                    author: reply.author.unwrap_or_else(|| target.name.clone()),
                    kind: Some(Kind::Bot),
                    text: reply.text,
                    image: reply.image,
                    media: reply.media,
                    css: reply.css,
                    js: reply.js,
                    from_bot: target.id,
                    base_url: Some(target.url.clone()),
                    state: reply.state,
                };
                (message, None)
            }
            Err(failure) => {
                let url = call.exchange.final_url(&target.url);
                let text = texts::bot_failure(&target.name, url, failure);
                let cause = Cause {
                    outcome: failure.outcome(),
                    status: failure.status(),
                };
                if !self.episodes.should_tell(room, &target.url, cause) {
                    // Told already in this episode: the log has the call.
                    let record = self.calls.finish(call, target.id, Some(text));
                    self.calls.keep(record).await;
                    return Ok(None);
                }
                (system_message(room, text.clone()), Some(text))
            }
        };
        let mut record = self.calls.finish(call, target.id, error);
        let stored = self.writer.insert(message).await;
        if let Ok(inserted) = &stored {
            record.message_id = Some(inserted.message.id);
            self.caused(room, by).await;
        }
        // Subscribers hear that the call finished even if its message could
        // not be stored.
        self.calls.keep(record).await;
        stored.map(|inserted| Some(inserted.message))
    }

    /// Counts a message a post caused: against its cascade, and in the
    /// room's and its client's posting budgets (see `ratelimit::charge`).
    async fn caused(&self, room: &str, by: &Requester) {
        by.cascade.caused_one();
        let client = (!by.from_here).then_some(by.client.as_str());
        if let Err(e) = self.feed.charge(room, client, 1).await {
            // The message is stored; only the budget misses one.
            tracing::warn!(room, error = %e.0, "could not charge a caused message");
        }
    }

    /// True when the post's cascade may cause no more messages (see
    /// `cascade`); the room is told the first time.
    async fn cascade_spent(&self, room: &str, by: &Requester) -> Result<bool, AppError> {
        if by.cascade.may_cause() {
            return Ok(false);
        }
        if by.cascade.first_to_tell() {
            let budget = by.cascade.budget();
            tracing::warn!(room, budget, "a post caused as many messages as one may");
            self.post_system(room, texts::cascade_spent(budget)).await?;
        }
        Ok(true)
    }

    /// Records a call that posted nothing (a test, a replay).
    async fn record(
        &self,
        call: FinishedCall,
        bot_id: Option<i64>,
        error: Option<String>,
    ) -> BotCall {
        let record = self.calls.finish(call, bot_id, error);
        self.calls.keep(record.clone()).await;
        record
    }

    /// Takes one bot test or replay from the client's and the bot's
    /// allowances (docs/contract.md §8): they make the server call a bot on demand, so
    /// a script cannot make it call one without end.
    fn test_limit(&self, by: &Requester, bot_id: Option<i64>) -> Result<(), AppError> {
        let Some((clients, bots)) = &self.bot_tests else {
            return Ok(());
        };
        let (per_client, per_bot) = self.bot_test_rates;
        let refused = |whose: &str, per_minute: f64, retry_after| {
            too_many(retry_after, |secs| {
                texts::bot_tests_limited(whose, per_minute, secs)
            })
        };
        if let Verdict::Limited { retry_after, .. } = clients.check(&by.client) {
            return Err(refused("you", per_client, retry_after));
        }
        if let Some(id) = bot_id
            && let Verdict::Limited { retry_after, .. } = bots.check(&id.to_string())
        {
            return Err(refused("this bot", per_bot, retry_after));
        }
        Ok(())
    }

    /// Sends a bot a clearly marked test message; nothing is posted into
    /// the room. Returns the call's record.
    #[tracing::instrument(skip(self))]
    pub async fn test_bot(&self, id: i64, by: &Requester) -> Result<BotCall, AppError> {
        let bot = self
            .store
            .bot(id)
            .await?
            .ok_or_else(|| AppError::BadRequest(texts::unknown_bot(id)))?;
        self.test_limit(by, Some(bot.id))?;
        let payload = BotRequest::new(
            json!({
                "room": bot.room,
                "author": texts::SYSTEM_AUTHOR,
                "text": "test",
                "params": {},
            }),
            None,
        );
        let target = Target::from(&bot);
        let call = self
            .call(&bot.room, &target, payload, Activation::Test, by)
            .await?;
        Ok(self.record_without_message(call, &target).await)
    }

    /// Sends a recorded request again to the same URL; nothing is posted
    /// into the room. Returns the new call's record.
    #[tracing::instrument(skip(self))]
    pub async fn replay_call(&self, call_id: i64, by: &Requester) -> Result<BotCall, AppError> {
        self.calls.flush().await?;
        let old = self
            .store
            .bot_call(call_id)
            .await?
            .ok_or_else(|| AppError::BadRequest(texts::unknown_call(call_id)))?;
        self.test_limit(by, old.bot_id)?;
        // The recorded URL reaches this machine only if it is still the URL
        // of a bot saved here.
        let saved_locally = match old.bot_id {
            Some(id) => self
                .store
                .bot(id)
                .await?
                .is_some_and(|b| b.saved_locally && b.url == old.url),
            None => false,
        };
        let target = Target {
            id: old.bot_id,
            name: old.bot_name.clone(),
            url: old.url.clone(),
            saved_locally,
        };
        let call = self
            .call(
                &old.room,
                &target,
                BotRequest::replay(old.request),
                Activation::Replay,
                by,
            )
            .await?;
        Ok(self.record_without_message(call, &target).await)
    }

    async fn record_without_message(&self, call: FinishedCall, target: &Target) -> BotCall {
        // What would have been posted, so the student sees the same words.
        let error = call
            .exchange
            .result
            .as_ref()
            .err()
            .map(|f| texts::bot_failure(&target.name, call.exchange.final_url(&target.url), f));
        self.record(call, target.id, error).await
    }

    /// Recorded calls of a room, ascending, optionally of one bot.
    pub async fn bot_calls(
        &self,
        room: &str,
        bot_id: Option<i64>,
        since: i64,
    ) -> Result<Vec<BotCall>, AppError> {
        self.check_room(room)?;
        let keep = self.calls.keep_per_room();
        self.calls.flush().await?;
        Ok(self.store.bot_calls(room, bot_id, since, keep).await?)
    }
}

/// The body POSTed to a bot, and the same as the call log shows it.
pub struct BotRequest {
    body: Vec<u8>,
    logged: RawJson,
}

impl BotRequest {
    /// `fields` (a JSON object) plus `state` exactly as the bot sent it:
    /// spliced in as Python JSON, so big integers and `NaN` go back as they
    /// came (the log shows standard JSON).
    fn new(fields: Value, state: Option<&State>) -> BotRequest {
        let fields = fields.to_string();
        let with_state = |state_json: &str| match fields.strip_suffix('}') {
            Some(open) if open.len() > 1 => format!("{open},\"state\":{state_json}}}"),
            _ => format!("{{\"state\":{state_json}}}"),
        };
        let (body, logged) = match state {
            None => (fields.clone(), fields),
            Some(s) => (with_state(s.python_json()), with_state(s.strict_json())),
        };
        BotRequest {
            body: body.into_bytes(),
            // Built from JSON texts, so it is JSON.
            logged: RawJson::new(logged)
                .unwrap_or_else(|_| RawJson::new("{}".to_owned()).expect("{} is JSON")),
        }
    }

    /// A recorded request, sent again as it was logged.
    fn replay(logged: RawJson) -> BotRequest {
        BotRequest {
            body: logged.get().as_bytes().to_vec(),
            logged,
        }
    }
}

fn system_message(room: &str, text: String) -> NewMessage {
    NewMessage {
        room: room.to_owned(),
        author: texts::SYSTEM_AUTHOR.to_owned(),
        kind: Some(Kind::System),
        text,
        ..NewMessage::default()
    }
}

/// The conversation's bot and state, if its bot is still in the room: a
/// deleted bot's conversation is over.
fn in_conversation(
    conversation: Option<Conversation>,
    room_bots: &[CompiledBot],
) -> Option<(Bot, State)> {
    let c = conversation?;
    room_bots
        .iter()
        .find(|b| b.bot.id == c.bot_id)
        .map(|b| (b.bot.clone(), c.state))
}

/// Resolves a form's action against its bot's URL as a browser would.
pub fn resolve_action(bot_url: &str, action: Option<&str>) -> Result<String, String> {
    let base =
        url::Url::parse(bot_url.trim()).map_err(|e| format!("the bot's URL is invalid ({e})"))?;
    match action.map(str::trim) {
        None | Some("") => Ok(base.to_string()),
        Some(action) => base
            .join(action)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string()),
    }
}

fn same_url(bot_url: &str, resolved: &str) -> bool {
    bot_url == resolved || url::Url::parse(bot_url.trim()).is_ok_and(|u| u.as_str() == resolved)
}

#[cfg(test)]
mod tests {
    use super::resolve_action;

    #[test]
    fn form_actions_resolve_like_a_browser() {
        let base = "http://127.0.0.1:1234/bots/desserts";
        assert_eq!(resolve_action(base, None).unwrap(), base);
        assert_eq!(resolve_action(base, Some("")).unwrap(), base);
        assert_eq!(
            resolve_action(base, Some("foo")).unwrap(),
            "http://127.0.0.1:1234/bots/foo"
        );
        assert_eq!(
            resolve_action(base, Some("/foo")).unwrap(),
            "http://127.0.0.1:1234/foo"
        );
        assert_eq!(
            resolve_action(base, Some("http://127.0.0.2:9/baz")).unwrap(),
            "http://127.0.0.2:9/baz"
        );
    }
}
