//! Calling a student's bot: one shared pooled HTTP client, a POST with a JSON
//! body, a total time limit, a cap on the reply size, and validation of the
//! reply into the fields NeCSuS keeps (docs/contract.md §4). Failures are classified so
//! `texts` can explain each one to the student.
//!
//! The client behaves like the ones bots are used to (Python's `requests`,
//! browsers): compressed replies are decoded; redirects (301, 302, 303, 307,
//! 308) are followed by sending the same POST with its body again, up to
//! `MAX_REDIRECTS`; a request that fails before any byte of the answer
//! (a pooled connection the bot's server closed as it was reused) is sent
//! once more on a fresh connection. Idle connections are dropped after
//! `POOL_IDLE`, sooner than common bot servers close them. Replies are read
//! by `pyjson` as Python's `json.loads` reads them.

pub mod pyjson;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::model::State;
use crate::netguard::{self, BotNetworks};
use pyjson::PyValue;

/// How much of a non-JSON body the student is shown.
const BODY_PREVIEW_CHARS: usize = 2000;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;
/// Idle pooled connections are closed after this: gunicorn closes its own
/// after 2 s, uvicorn after 5 s, so ours are gone first.
const POOL_IDLE: Duration = Duration::from_secs(1);

/// Everything that can go wrong with one bot call.
#[derive(Debug, Clone, PartialEq)]
pub enum BotFailure {
    NoUrl,
    InvalidUrl(String),
    CannotConnect(String),
    /// The connection closed (or was reset) before any byte of an answer,
    /// even on a fresh connection.
    ClosedWithoutAnswer(String),
    TimedOut {
        seconds: f64,
    },
    /// The bot answered, but NeCSuS was already holding as many reply
    /// bytes as it allows at once (other bots' large replies) until the
    /// time limit passed: the server was busy, not the bot slow.
    Busy {
        seconds: f64,
    },
    /// The call never went out: too many bot calls were in flight (the
    /// client's, the room's or the server's) for as long as it could wait.
    Crowded(crate::calllimits::Crowded),
    TooManyRedirects,
    /// The guard against private addresses refused the URL.
    Refused(String),
    Status {
        code: u16,
        reason: String,
    },
    TooLarge {
        limit: usize,
    },
    BrokenResponse(String),
    /// Status 200 with nothing in the body.
    EmptyBody,
    NotJson {
        body: String,
        why: String,
    },
    NotObject {
        type_name: &'static str,
    },
    MissingText,
    TextNotString {
        type_name: &'static str,
    },
}

impl BotFailure {
    /// A short machine-readable name for logs and metrics.
    /// The HTTP status a bot answered with, for an error status.
    pub fn status(&self) -> Option<u16> {
        match self {
            BotFailure::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub fn outcome(&self) -> &'static str {
        match self {
            BotFailure::NoUrl => "no_url",
            BotFailure::InvalidUrl(_) => "invalid_url",
            BotFailure::CannotConnect(_) => "cannot_connect",
            BotFailure::ClosedWithoutAnswer(_) => "closed_without_answer",
            BotFailure::TimedOut { .. } => "timeout",
            BotFailure::Busy { .. } => "busy",
            BotFailure::Crowded(_) => "crowded",
            BotFailure::TooManyRedirects => "too_many_redirects",
            BotFailure::Refused(_) => "refused_address",
            BotFailure::Status { .. } => "bad_status",
            BotFailure::TooLarge { .. } => "too_large",
            BotFailure::BrokenResponse(_) => "broken_response",
            BotFailure::EmptyBody => "empty_body",
            BotFailure::NotJson { .. } => "not_json",
            BotFailure::NotObject { .. } => "not_object",
            BotFailure::MissingText => "missing_text",
            BotFailure::TextNotString { .. } => "text_not_string",
        }
    }
}

/// Everything observed of one call, for the bot-call log: the outcome, and
/// as much of the response as arrived before it ended.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub result: Result<BotReply, BotFailure>,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    /// The body as read (decompressed), capped at the reply-size limit.
    pub body: Vec<u8>,
    /// The share of the reply-bytes budget `body` holds, given back when
    /// the exchange is dropped (see `BotCaller::new`).
    pub budget: Option<Arc<OwnedSemaphorePermit>>,
    /// Waiting for the reply-bytes budget (so a time-out then is the
    /// server's, not the bot's).
    waiting_for_budget: bool,
    /// Where redirects led, in order; the last one answered.
    pub redirects: Vec<String>,
}

impl Exchange {
    /// A call that failed before anything was sent.
    pub fn failed(failure: BotFailure) -> Exchange {
        Exchange {
            result: Err(failure),
            status: None,
            content_type: None,
            content_length: None,
            body: Vec::new(),
            redirects: Vec::new(),
            budget: None,
            waiting_for_budget: false,
        }
    }

    /// The URL that gave the final answer: the bot's own, or the last
    /// redirect's.
    pub fn final_url<'a>(&'a self, bot_url: &'a str) -> &'a str {
        self.redirects.last().map_or(bot_url, String::as_str)
    }
}

/// The kept fields of a valid reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotReply {
    pub text: String,
    pub author: Option<String>,
    pub image: Option<String>,
    pub media: Option<String>,
    pub css: Option<String>,
    pub js: Option<String>,
    /// Present and non-null: the conversation carries on.
    pub state: Option<State>,
}

/// What a call sends: the JSON body, and the cascade it is made for.
#[derive(Clone, Copy)]
struct Outgoing<'a> {
    body: &'a [u8],
    cascade: Option<&'a str>,
}

/// Whether a call is local (see `netguard`): its bot was saved from this
/// machine and the call was asked for from this machine. Only a local call
/// may reach this machine's loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Remote,
    Local,
}

/// HTTP clients that connect only where calls of one reach may go.
#[derive(Clone)]
struct Clients {
    pooled: reqwest::Client,
    /// Keeps no idle connections: every request it sends opens a fresh
    /// one (for the one retry after a reused connection failed).
    fresh: reqwest::Client,
}

#[derive(Clone)]
pub struct BotCaller {
    remote: Clients,
    local: Clients,
    networks: BotNetworks,
    timeout: Duration,
    max_reply_bytes: usize,
    /// Reply bytes all calls may hold at once, in permits of one byte.
    reply_budget: Arc<Semaphore>,
}

/// Makes `ring` the process's TLS crypto provider, which every HTTP client
/// built afterwards uses. Calling it again is harmless: the first one wins.
pub fn install_crypto_provider() {
    // An error only says a provider was installed already: the first wins.
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
}

impl BotCaller {
    /// Calls go only where `networks` permits (see `netguard`). Replies
    /// of up to `max_reply_bytes` each are read while all calls together
    /// hold at most `reply_bytes_in_flight` (at least `max_reply_bytes`):
    /// before reading a body a call reserves what it may need (its length
    /// when known, else the cap) and waits for it if others hold the rest,
    /// so memory stays bounded however many bots answer at once, and no
    /// two calls can each hold half of what both need.
    pub fn new(
        timeout: Duration,
        max_reply_bytes: usize,
        reply_bytes_in_flight: usize,
        networks: BotNetworks,
    ) -> Self {
        install_crypto_provider();
        let build = |max_idle: usize, local: bool| {
            let resolver = netguard::Guarded {
                networks: networks.clone(),
                local,
            };
            reqwest::Client::builder()
                .dns_resolver(std::sync::Arc::new(resolver))
                .user_agent(concat!("NeCSuS/", env!("CARGO_PKG_VERSION")))
                // Redirects are followed here, keeping the POST.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(timeout.min(Duration::from_secs(30)))
                .pool_idle_timeout(POOL_IDLE)
                .pool_max_idle_per_host(max_idle)
                .build()
                .expect("the HTTP client's fixed configuration is valid")
        };
        let clients = |local: bool| Clients {
            pooled: build(32, local),
            fresh: build(0, local),
        };
        let budget = reply_bytes_in_flight
            .max(max_reply_bytes)
            .min(Semaphore::MAX_PERMITS);
        BotCaller {
            remote: clients(false),
            local: clients(true),
            networks,
            timeout,
            max_reply_bytes,
            reply_budget: Arc::new(Semaphore::new(budget)),
        }
    }

    /// How long a call may take in all.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// POSTs `body` (JSON) to `url` and validates the reply; `cascade`,
    /// when given, goes in the `X-Necsus-Cascade` header (see `cascade`).
    #[tracing::instrument(level = "debug", skip(self, body))]
    pub async fn call(
        &self,
        url: &str,
        body: &[u8],
        reach: Reach,
        cascade: Option<&str>,
    ) -> Exchange {
        // Filled in as the exchange goes (`NoUrl` until it has begun).
        let mut exchange = Exchange::failed(BotFailure::NoUrl);
        // The time limit covers the whole exchange, body included; what
        // arrived before it ran out stays in `exchange`.
        let limited = tokio::time::timeout(
            self.timeout,
            self.exchange(url, Outgoing { body, cascade }, reach, &mut exchange),
        )
        .await;
        let seconds = self.timeout.as_secs_f64();
        exchange.result = match limited {
            Ok(result) => result,
            Err(_) if exchange.waiting_for_budget => Err(BotFailure::Busy { seconds }),
            Err(_) => Err(BotFailure::TimedOut { seconds }),
        };
        exchange
    }

    fn check_url(&self, url: &url::Url, reach: Reach) -> Result<(), BotFailure> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(BotFailure::InvalidUrl(format!(
                "the scheme is {:?}, not http or https",
                url.scheme()
            )));
        }
        // Names are checked as they resolve; literal addresses here.
        if let Some(ip) = literal_ip(url)
            && !self.networks.permits(ip, reach == Reach::Local)
        {
            return Err(BotFailure::Refused(ip.to_string()));
        }
        Ok(())
    }

    /// One POST, sent again on a fresh connection if the first attempt
    /// failed before any byte of an answer.
    async fn post(
        &self,
        url: &url::Url,
        Outgoing { body, cascade }: Outgoing<'_>,
        reach: Reach,
    ) -> Result<reqwest::Response, BotFailure> {
        let clients = match reach {
            Reach::Remote => &self.remote,
            Reach::Local => &self.local,
        };
        let send = |client: &reqwest::Client| {
            let request = client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json");
            match cascade {
                Some(id) => request.header(crate::cascade::HEADER, id),
                None => request,
            }
            .body(body.to_vec())
            .send()
        };
        match send(&clients.pooled).await {
            Ok(response) => Ok(response),
            Err(e) if retryable(&e) => {
                tracing::debug!(error = %root_cause(&e), "retrying on a fresh connection");
                send(&clients.fresh).await.map_err(classify)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn exchange(
        &self,
        url: &str,
        body: Outgoing<'_>,
        reach: Reach,
        seen: &mut Exchange,
    ) -> Result<BotReply, BotFailure> {
        let url = url.trim();
        if url.is_empty() {
            return Err(BotFailure::NoUrl);
        }
        let mut target = url::Url::parse(url).map_err(|e| BotFailure::InvalidUrl(e.to_string()))?;
        self.check_url(&target, reach)?;
        let mut response = loop {
            let response = self.post(&target, body, reach).await?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok());
            match (status, location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    if seen.redirects.len() >= MAX_REDIRECTS {
                        return Err(BotFailure::TooManyRedirects);
                    }
                    target = target
                        .join(location)
                        .map_err(|e| BotFailure::InvalidUrl(e.to_string()))?;
                    self.check_url(&target, reach)?;
                    seen.redirects.push(target.to_string());
                }
                _ => break response,
            }
        };
        let status = response.status();
        seen.status = Some(status.as_u16());
        seen.content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        seen.content_length = response.content_length();
        if status != reqwest::StatusCode::OK {
            // Keep the start of an error page for the log; the rest is moot
            // (a read error here changes nothing: the failure is the status).
            let _ = read_capped(&mut response, &mut seen.body, RECORDED_BODY_BYTES).await;
            return Err(BotFailure::Status {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").to_owned(),
            });
        }
        let limit = self.max_reply_bytes;
        if seen.content_length.is_some_and(|n| n > limit as u64) {
            // What arrived is kept for the log; the failure is the size.
            let _ = read_capped(&mut response, &mut seen.body, RECORDED_BODY_BYTES).await;
            return Err(BotFailure::TooLarge { limit });
        }
        // Reserve what the body may need before reading any of it.
        // A compressed body's length says nothing of what it decodes to.
        let encoded = response
            .headers()
            .contains_key(reqwest::header::CONTENT_ENCODING);
        let need = match seen.content_length {
            Some(n) if !encoded => usize::try_from(n).unwrap_or(limit).min(limit),
            _ => limit,
        }
        .max(1);
        seen.waiting_for_budget = true;
        let mut permit = Arc::clone(&self.reply_budget)
            .acquire_many_owned(u32::try_from(need).unwrap_or(u32::MAX))
            .await
            .expect("the reply budget is never closed");
        seen.waiting_for_budget = false;
        let read = read_capped(&mut response, &mut seen.body, limit).await;
        // Keep what the body holds; give back the rest at once.
        drop(permit.split(need.saturating_sub(seen.body.len().max(1))));
        seen.budget = Some(Arc::new(permit));
        read?;
        parse_reply(&seen.body)
    }
}

/// How much of a response body the bot-call log keeps.
pub const RECORDED_BODY_BYTES: usize = 16 * 1024;

/// Reads the body into `body`, failing once it would pass `limit` bytes
/// (what fits is kept).
async fn read_capped(
    response: &mut reqwest::Response,
    body: &mut Vec<u8>,
    limit: usize,
) -> Result<(), BotFailure> {
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            let fits = limit - body.len();
            body.extend_from_slice(&chunk[..fits]);
            return Err(BotFailure::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(())
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The IP address a URL names directly, if it does.
fn literal_ip(url: &url::Url) -> Option<std::net::IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(ip.into()),
        url::Host::Ipv6(ip) => Some(ip.into()),
        url::Host::Domain(_) => None,
    }
}

/// Whether `e` was caused by an error of type `T` somewhere in its chain.
fn caused_by<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(found) = s.downcast_ref::<T>() {
            return Some(found);
        }
        source = s.source();
    }
    None
}

/// A request that failed after its connection was made but before any
/// byte of an answer: what a pooled connection closed by the bot's server
/// looks like.
fn retryable(e: &reqwest::Error) -> bool {
    !e.is_connect()
        && !e.is_timeout()
        && !e.is_redirect()
        && !e.is_body()
        && !e.is_decode()
        && caused_by::<netguard::Refused>(e).is_none()
}

fn classify(e: reqwest::Error) -> BotFailure {
    if let Some(refused) = caused_by::<netguard::Refused>(&e) {
        BotFailure::Refused(refused.0.clone())
    } else if e.is_redirect() {
        BotFailure::TooManyRedirects
    } else if e.is_connect() {
        BotFailure::CannotConnect(root_cause(&e))
    } else if e.is_body() || e.is_decode() {
        BotFailure::BrokenResponse(root_cause(&e))
    } else {
        BotFailure::ClosedWithoutAnswer(root_cause(&e))
    }
}

/// The string under `key`, if it is one.
fn string_field(obj: &[(String, PyValue)], key: &str) -> Option<String> {
    match obj.iter().find(|(k, _)| k == key) {
        Some((_, PyValue::Str(s))) => Some(s.clone()),
        _ => None,
    }
}

/// Validates a bot's reply body (docs/contract.md §4), read as Python's `json.loads`
/// reads it. A `room` key is ignored: a bot cannot post into other rooms.
pub fn parse_reply(body: &[u8]) -> Result<BotReply, BotFailure> {
    if body.is_empty() {
        return Err(BotFailure::EmptyBody);
    }
    let value = pyjson::loads(body).map_err(|e| BotFailure::NotJson {
        body: String::from_utf8_lossy(body)
            .chars()
            .take(BODY_PREVIEW_CHARS)
            .collect(),
        why: e.0,
    })?;
    let PyValue::Dict(obj) = value else {
        return Err(BotFailure::NotObject {
            type_name: value.type_name(),
        });
    };
    let text = match obj.iter().find(|(k, _)| k == "text") {
        None => return Err(BotFailure::MissingText),
        Some((_, PyValue::Str(s))) => s.clone(),
        Some((_, other)) => {
            return Err(BotFailure::TextNotString {
                type_name: other.type_name(),
            });
        }
    };
    let state = match obj.iter().find(|(k, _)| k == "state") {
        None | Some((_, PyValue::Null)) => None,
        Some((_, v)) => Some(State::new(v)),
    };
    Ok(BotReply {
        text,
        author: string_field(&obj, "author"),
        image: string_field(&obj, "image"),
        media: string_field(&obj, "media"),
        css: string_field(&obj, "css"),
        js: string_field(&obj, "js"),
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_validated_with_python_type_names() {
        assert_eq!(
            parse_reply(b"[1]"),
            Err(BotFailure::NotObject { type_name: "list" })
        );
        assert_eq!(
            parse_reply(b"1.5"),
            Err(BotFailure::NotObject { type_name: "float" })
        );
        assert_eq!(parse_reply(b"{}"), Err(BotFailure::MissingText));
        assert_eq!(
            parse_reply(br#"{"text": null}"#),
            Err(BotFailure::TextNotString {
                type_name: "NoneType"
            })
        );
        assert!(matches!(
            parse_reply(b"<html>"),
            Err(BotFailure::NotJson { .. })
        ));
        assert_eq!(parse_reply(b""), Err(BotFailure::EmptyBody));
        let ok = parse_reply(br#"{"text":"hi","author":3,"state":"","room":"elsewhere"}"#).unwrap();
        assert_eq!(ok.text, "hi");
        assert_eq!(ok.author, None);
        assert_eq!(
            ok.state.map(|s| s.python_json().to_owned()),
            Some("\"\"".to_owned())
        );
    }
}
