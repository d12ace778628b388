//! The use cases, one path each, by kind, each kind in a file of its own:
//!
//! - `posting`: a person's message, its turn, and the bots it activates;
//! - `forms`: a form submitted from a bot's message;
//! - `admin`: adding, changing and deleting bots, clearing a room or its
//!   conversation;
//! - `history`: reading a room's messages and bots, subscribing to its
//!   stream, the health check;
//! - `calls`: calling a bot and storing what came of it, the per-post
//!   bounds, the bot-call log, bot tests and replays.
//!
//! This file holds what they share: the request types the HTTP layer
//! builds, `Chat` and the services it talks to (the store for reads, the
//! writer for every change, the feed, the broker and the bot caller).

mod admin;
mod calls;
mod error;
mod forms;
mod history;
mod posting;

pub use error::Error;
pub use forms::resolve_action;
pub use history::History;

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

/// A room's name, parsed once where a request comes in: not empty, no
/// control characters (names travel in URL paths and show in page titles),
/// at most `--max-name-chars` characters. Any other character, `/`, `%`
/// and `..` included, is part of the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct RoomName(String);

impl RoomName {
    /// # Errors
    /// `Invalid`, saying which rule the name breaks.
    pub fn parse(raw: String, limits: &Limits) -> Result<RoomName, Error> {
        if raw.is_empty() {
            return Err(Error::Invalid(texts::field_empty("room")));
        }
        if raw.chars().any(char::is_control) {
            return Err(Error::Invalid(texts::field_control_chars("room")));
        }
        check_len("room", &raw, limits.max_room_chars)?;
        Ok(RoomName(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::ops::Deref for RoomName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoomName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message typed by a person.
#[derive(Debug, Clone)]
pub struct UserMessage {
    pub room: RoomName,
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
    pub room: RoomName,
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
fn too_many(retry_after: std::time::Duration, message: impl FnOnce(u64) -> String) -> Error {
    let retry_after_secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    Error::TooMany {
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
    services: Services,
    settings: ChatSettings,
    /// Bot tests and replays: per client, and per bot (see `test_limit`).
    bot_tests: Option<(RoomRateLimit, RoomRateLimit)>,
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

fn check_len(field: &str, value: &str, limit: usize) -> Result<(), Error> {
    // Byte length bounds the char count from above: skip counting when short.
    if value.len() > limit && value.chars().count() > limit {
        return Err(Error::Invalid(texts::field_too_long(field, limit)));
    }
    Ok(())
}

fn check_opt_len(field: &str, value: &Option<String>, limit: usize) -> Result<(), Error> {
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
        Chat {
            bot_tests: test_limits(settings.bot_tests_per_minute),
            cascades: Cascades::new(settings.max_messages_per_post),
            episodes: FailureEpisodes::new(settings.failure_notice_gap),
            services,
            settings,
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
    async fn admit(&self, room: &str, by: &Requester) -> Result<(), Error> {
        if !by.from_here
            && let Verdict::Limited { retry_after, .. } =
                self.services.feed.admit_client(&by.client).await?
        {
            metrics::counter!(telemetry::CLIENTS_RATE_LIMITED).increment(1);
            return Err(too_many(retry_after, texts::client_rate_limited));
        }
        match self.services.feed.admit(room).await? {
            Verdict::Allowed => Ok(()),
            Verdict::Limited { retry_after, first } => {
                if first {
                    tracing::warn!(room, "room rate-limited");
                    metrics::counter!(telemetry::ROOMS_RATE_LIMITED).increment(1);
                    let (rate, burst) = self.settings.rate_limit;
                    let text = texts::room_rate_limited(rate, burst);
                    self.post_system(room, text).await?;
                }
                Err(too_many(retry_after, texts::rate_limited))
            }
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.services.broker
    }

    /// Parses a room's name as a request gave it (see `RoomName`).
    pub fn room(&self, raw: String) -> Result<RoomName, Error> {
        RoomName::parse(raw, &self.settings.limits)
    }

    async fn post_system(&self, room: &str, text: String) -> Result<Message, Error> {
        Ok(self
            .services
            .writer
            .insert(system_message(room, text))
            .await?
            .message)
    }

    async fn room_bots(&self, room: &str) -> Result<Arc<Vec<CompiledBot>>, Error> {
        match self.services.bots.get(room) {
            Ok(bots) => Ok(bots),
            Err(generation) => {
                let bots = self.services.store.bots(Some(room)).await?;
                Ok(self.services.bots.install(room, generation, bots))
            }
        }
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
