//! The records NeCSuS keeps and sends: messages, bots, and the events of a
//! room's stream. Their JSON shapes are the API's (docs/contract.md §2, §6).

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::botcall::pyjson::{self, PyValue};

/// A conversation's state exactly as the bot sent it (docs/contract.md §5): what the
/// bot gets back is what Python's `json.loads` read from its reply, so
/// integers keep every digit and `NaN`/`Infinity` survive. Browsers and the
/// API get standard JSON, with non-finite numbers as `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// JSON for the bot (Python's reading; may hold `NaN`, `Infinity`).
    python: String,
    /// Standard JSON, when it differs from `python`.
    strict: Option<String>,
}

impl State {
    pub fn new(value: &PyValue) -> State {
        let python = value.to_python_json();
        let strict = value.has_non_finite().then(|| value.to_strict_json());
        State { python, strict }
    }

    /// A state as stored (`python_json`'s text); older databases stored
    /// standard JSON, which reads the same.
    pub fn from_stored(text: &str) -> Result<State, String> {
        pyjson::loads(text.as_bytes())
            .map(|v| State::new(&v))
            .map_err(|e| format!("stored state is not JSON: {}", e.0))
    }

    /// The text sent back to the bot and stored.
    pub fn python_json(&self) -> &str {
        &self.python
    }

    /// Standard JSON for browsers and the API.
    pub fn strict_json(&self) -> &str {
        self.strict.as_deref().unwrap_or(&self.python)
    }
}

impl Serialize for State {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawJson::new(self.strict_json().to_owned())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

/// A JSON text kept as it is (numbers keep their digits), serialised
/// verbatim.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// Fails when `text` is not standard JSON.
    pub fn new(text: String) -> Result<RawJson, serde_json::Error> {
        RawValue::from_string(text).map(RawJson)
    }

    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    User,
    Bot,
    System,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Bot => "bot",
            Kind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "user" => Some(Kind::User),
            "bot" => Some(Kind::Bot),
            "system" => Some(Kind::System),
            _ => None,
        }
    }
}

/// A stored message. Every key is always present in its JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub id: i64,
    pub room: String,
    pub author: String,
    pub kind: Kind,
    pub text: String,
    pub when: f64,
    pub image: Option<String>,
    pub media: Option<String>,
    pub css: Option<String>,
    pub js: Option<String>,
    pub from_bot: Option<i64>,
    pub base_url: Option<String>,
    pub state: Option<State>,
}

/// A message about to be stored; the store assigns `id`.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub room: String,
    pub author: String,
    pub kind: Option<Kind>,
    pub text: String,
    pub image: Option<String>,
    pub media: Option<String>,
    pub css: Option<String>,
    pub js: Option<String>,
    pub from_bot: Option<i64>,
    pub base_url: Option<String>,
    pub state: Option<State>,
}

impl NewMessage {
    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::User)
    }

    /// The message as stored with `id` at `when` (seconds since the epoch).
    pub fn stored(&self, id: i64, when: f64) -> Message {
        Message {
            id,
            room: self.room.clone(),
            author: self.author.clone(),
            kind: self.kind(),
            text: self.text.clone(),
            when,
            image: self.image.clone(),
            media: self.media.clone(),
            css: self.css.clone(),
            js: self.js.clone(),
            from_bot: self.from_bot,
            base_url: self.base_url.clone(),
            state: self.state.clone(),
        }
    }
}

/// Where a room's conversation stands: the bot and state of its newest
/// message, when that message is a bot's and carries state (docs/contract.md §5).
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub bot_id: i64,
    pub state: State,
}

impl Conversation {
    /// The conversation a room is in once `m` is its newest message.
    pub fn after(m: &Message) -> Option<Conversation> {
        match (&m.state, m.from_bot) {
            (Some(state), Some(bot_id)) => Some(Conversation {
                bot_id,
                state: state.clone(),
            }),
            _ => None,
        }
    }
}

/// A bot installed in a room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bot {
    pub id: i64,
    pub room: String,
    pub name: String,
    pub responds_to: Option<String>,
    pub url: String,
    /// Saved (created or last changed) by a request from the server's own
    /// machine: only then may its calls reach this machine's loopback
    /// (see `netguard`). Never shown.
    #[serde(skip)]
    pub saved_locally: bool,
}

/// A bot to create (no id, or an id that does not exist) or update.
#[derive(Debug, Clone)]
pub struct BotInput {
    pub id: Option<i64>,
    pub room: String,
    pub name: String,
    pub responds_to: Option<String>,
    pub url: String,
    /// The request saving it came from the server's own machine.
    pub saved_locally: bool,
}

/// Why a bot was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Its pattern or name matched a message.
    Match,
    /// It holds the room's conversation.
    Conversation,
    /// A form in one of its messages was submitted.
    Form,
    /// Someone pressed "Test" on it.
    Test,
    /// A recorded call was sent again.
    Replay,
}

impl Activation {
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Match => "match",
            Activation::Conversation => "conversation",
            Activation::Form => "form",
            Activation::Test => "test",
            Activation::Replay => "replay",
        }
    }

    pub fn parse(s: &str) -> Option<Activation> {
        [
            Activation::Match,
            Activation::Conversation,
            Activation::Form,
            Activation::Test,
            Activation::Replay,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// A call going out to a bot (announced while it is in flight).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    pub id: i64,
    pub room: String,
    /// `None` for a transient bot known only by a form's URL.
    pub bot_id: Option<i64>,
    pub bot_name: String,
    pub url: String,
    pub activation: Activation,
    pub started: f64,
}

/// The record of one finished bot call: what was sent, what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotCall {
    pub id: i64,
    pub room: String,
    pub bot_id: Option<i64>,
    pub bot_name: String,
    pub url: String,
    pub activation: Activation,
    /// The JSON sent (standard JSON: a state's non-finite numbers show as
    /// null here).
    pub request: RawJson,
    pub started: f64,
    pub latency_ms: Option<f64>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// The start of the response body as text.
    pub response_body: Option<String>,
    pub response_truncated: bool,
    /// "ok", or which failure of docs/contract.md §4.
    pub outcome: String,
    /// The system message posted for a failure (HTML).
    pub error: Option<String>,
    /// The room message this call produced (reply or error), if any.
    pub message_id: Option<i64>,
    /// The URLs the bot redirected the call to, in order (the last one
    /// answered).
    #[serde(default)]
    pub redirects: Vec<String>,
}

/// Messages waiting for their turn with a room's conversation bot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TurnQueue {
    pub room: String,
    pub bot_id: Option<i64>,
    pub bot_name: Option<String>,
    /// Messages queued behind the call in flight.
    pub waiting: usize,
}

/// What a room's subscribers are told. Messages carry an id, which is what
/// the websocket uses to drop duplicates between replay and live events.
#[derive(Debug, Clone)]
pub enum Event {
    Message(Message),
    PutBot(Bot),
    DeleteBot(Bot),
    /// The room's messages up to and including this id were cleared.
    ClearMessages {
        room: String,
        last_cleared_id: i64,
    },
    BotCallStarted(CallStart),
    /// How many messages wait for the conversation's bot.
    TurnQueue(TurnQueue),
    /// Sent without the response body, which can be large.
    BotCallFinished(BotCall),
}

impl Event {
    pub fn room(&self) -> &str {
        match self {
            Event::Message(m) => &m.room,
            Event::PutBot(b) | Event::DeleteBot(b) => &b.room,
            Event::ClearMessages { room, .. } => room,
            Event::BotCallStarted(c) => &c.room,
            Event::TurnQueue(q) => &q.room,
            Event::BotCallFinished(c) => &c.room,
        }
    }

    /// A message's frame from the message's own JSON (as `to_frame_json`
    /// writes it, without serialising the message again).
    pub fn message_frame_json(message_json: &str) -> String {
        let mut frame = String::with_capacity(message_json.len() + 27);
        frame.push_str(r#"{"kind":"message","data":"#);
        frame.push_str(message_json);
        frame.push('}');
        frame
    }

    /// The frame sent to websocket subscribers: `{"kind": K, "data": D}`.
    pub fn to_frame_json(&self) -> String {
        #[derive(Serialize)]
        struct Frame<'a, T: Serialize> {
            kind: &'a str,
            data: T,
        }
        #[derive(Serialize)]
        struct Empty {}
        let result = match self {
            Event::Message(m) => serde_json::to_string(&Frame {
                kind: "message",
                data: m,
            }),
            Event::PutBot(b) => serde_json::to_string(&Frame {
                kind: "put_bot",
                data: b,
            }),
            Event::DeleteBot(b) => serde_json::to_string(&Frame {
                kind: "delete_bot",
                data: b,
            }),
            Event::ClearMessages { .. } => serde_json::to_string(&Frame {
                kind: "clear_messages",
                data: Empty {},
            }),
            Event::BotCallStarted(c) => serde_json::to_string(&Frame {
                kind: "bot_call_started",
                data: c,
            }),
            Event::TurnQueue(q) => serde_json::to_string(&Frame {
                kind: "bot_turn_queue",
                data: q,
            }),
            Event::BotCallFinished(c) => {
                // Everything but the body, which can be large: the key is
                // left out (inside JSON strings a quote is always escaped,
                // so the pattern occurs once, as the key).
                let data = BotCall {
                    response_body: None,
                    ..c.clone()
                };
                serde_json::to_string(&Frame {
                    kind: "bot_call_finished",
                    data: &data,
                })
                .map(|t| t.replacen("\"response_body\":null,", "", 1))
            }
        };
        // Serialising these plain structs cannot fail: every key is a string
        // and every value a JSON value.
        result.unwrap_or_default()
    }
}

/// Seconds since the Unix epoch, as the `when` of a message.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_keeps_its_digits_for_browsers_and_its_nan_for_the_bot() {
        let sent = br#"{"n": 123456789012345678901234567890, "x": NaN}"#;
        let state = State::new(&pyjson::loads(sent).unwrap());
        assert_eq!(
            state.python_json(),
            r#"{"n":123456789012345678901234567890,"x":NaN}"#
        );
        let message = Message {
            id: 1,
            room: "r".into(),
            author: "bot".into(),
            kind: Kind::Bot,
            text: "hi".into(),
            when: 0.0,
            image: None,
            media: None,
            css: None,
            js: None,
            from_bot: Some(1),
            base_url: None,
            state: Some(state),
        };
        let frame = Event::Message(message.clone()).to_frame_json();
        assert!(
            frame.contains(r#""state":{"n":123456789012345678901234567890,"x":null}"#),
            "{frame}"
        );
        let api = serde_json::to_string(&message).unwrap();
        assert!(api.contains("123456789012345678901234567890"), "{api}");
        // The frame built around the stored JSON is the same text.
        assert_eq!(Event::message_frame_json(&api), frame);
    }
}
