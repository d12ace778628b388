//! Calling a student's bot: one shared pooled HTTP client, a POST with a JSON
//! body, a total time limit, a cap on the reply size, and validation of the
//! reply into the fields NeCSuS keeps (SPEC §4). Failures are classified so
//! `texts` can explain each one to the student.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::netguard;

/// How much of a non-JSON body the student is shown.
const BODY_PREVIEW_CHARS: usize = 2000;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Everything that can go wrong with one bot call.
#[derive(Debug, Clone, PartialEq)]
pub enum BotFailure {
    NoUrl,
    InvalidUrl(String),
    CannotConnect(String),
    TimedOut {
        seconds: f64,
    },
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
    NotJson {
        body: String,
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
    pub fn outcome(&self) -> &'static str {
        match self {
            BotFailure::NoUrl => "no_url",
            BotFailure::InvalidUrl(_) => "invalid_url",
            BotFailure::CannotConnect(_) => "cannot_connect",
            BotFailure::TimedOut { .. } => "timeout",
            BotFailure::TooManyRedirects => "too_many_redirects",
            BotFailure::Refused(_) => "refused_address",
            BotFailure::Status { .. } => "bad_status",
            BotFailure::TooLarge { .. } => "too_large",
            BotFailure::BrokenResponse(_) => "broken_response",
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
    /// The body as read, capped at the reply-size limit.
    pub body: Vec<u8>,
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
    pub state: Option<Value>,
}

#[derive(Clone)]
pub struct BotCaller {
    client: reqwest::Client,
    timeout: Duration,
    max_reply_bytes: usize,
    public_only: bool,
}

/// Makes `ring` the process's TLS crypto provider, which every HTTP client
/// built afterwards uses. Calling it again is harmless: the first one wins.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl BotCaller {
    /// With `public_only`, bots on loopback, private, link-local and other
    /// internal addresses are refused (see `netguard`).
    pub fn new(timeout: Duration, max_reply_bytes: usize, public_only: bool) -> Self {
        install_crypto_provider();
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(TooManyRedirects)
            } else if public_only
                && literal_ip(attempt.url()).is_some_and(|ip| !netguard::is_public(ip))
            {
                let host = attempt.url().host_str().unwrap_or_default().to_owned();
                attempt.error(netguard::Refused(host))
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder();
        if public_only {
            builder = builder.dns_resolver(std::sync::Arc::new(netguard::PublicOnly));
        }
        let client = builder
            .user_agent(concat!("NeCSuS/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build()
            .expect("the HTTP client's fixed configuration is valid");
        BotCaller {
            client,
            timeout,
            max_reply_bytes,
            public_only,
        }
    }

    /// POSTs `payload` to `url` and validates the reply.
    #[tracing::instrument(skip(self, payload))]
    pub async fn call(&self, url: &str, payload: &Value) -> Exchange {
        let mut exchange = Exchange {
            result: Err(BotFailure::NoUrl),
            status: None,
            content_type: None,
            content_length: None,
            body: Vec::new(),
        };
        // The time limit covers the whole exchange, body included; what
        // arrived before it ran out stays in `exchange`.
        let limited =
            tokio::time::timeout(self.timeout, self.exchange(url, payload, &mut exchange)).await;
        exchange.result = match limited {
            Ok(result) => result,
            Err(_) => Err(BotFailure::TimedOut {
                seconds: self.timeout.as_secs_f64(),
            }),
        };
        exchange
    }

    async fn exchange(
        &self,
        url: &str,
        payload: &Value,
        seen: &mut Exchange,
    ) -> Result<BotReply, BotFailure> {
        let url = url.trim();
        if url.is_empty() {
            return Err(BotFailure::NoUrl);
        }
        let parsed = url::Url::parse(url).map_err(|e| BotFailure::InvalidUrl(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(BotFailure::InvalidUrl(format!(
                "the scheme is {:?}, not http or https",
                parsed.scheme()
            )));
        }
        // Names are checked as they resolve; literal addresses here.
        if self.public_only
            && let Some(ip) = literal_ip(&parsed)
            && !netguard::is_public(ip)
        {
            return Err(BotFailure::Refused(ip.to_string()));
        }
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let mut response = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = response.status();
        seen.status = Some(status.as_u16());
        seen.content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        seen.content_length = response.content_length();
        if status != reqwest::StatusCode::OK {
            // Keep the start of an error page for the log; the rest is moot.
            let _ = read_capped(&mut response, &mut seen.body, RECORDED_BODY_BYTES).await;
            return Err(BotFailure::Status {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").to_owned(),
            });
        }
        let limit = self.max_reply_bytes;
        if seen.content_length.is_some_and(|n| n > limit as u64) {
            let _ = read_capped(&mut response, &mut seen.body, RECORDED_BODY_BYTES).await;
            return Err(BotFailure::TooLarge { limit });
        }
        read_capped(&mut response, &mut seen.body, limit).await?;
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

#[derive(Debug)]
struct TooManyRedirects;

impl std::fmt::Display for TooManyRedirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_REDIRECTS} redirects")
    }
}

impl std::error::Error for TooManyRedirects {}

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

fn classify(e: reqwest::Error) -> BotFailure {
    if let Some(refused) = caused_by::<netguard::Refused>(&e) {
        BotFailure::Refused(refused.0.clone())
    } else if caused_by::<TooManyRedirects>(&e).is_some() || e.is_redirect() {
        BotFailure::TooManyRedirects
    } else if e.is_connect() || e.is_request() && !e.is_body() {
        BotFailure::CannotConnect(root_cause(&e))
    } else {
        BotFailure::BrokenResponse(root_cause(&e))
    }
}

/// Python's name for the type of a JSON value, as a student's bot sees it.
pub fn python_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    obj.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// Validates a bot's reply body (SPEC §4). A `room` key is ignored: a bot
/// cannot post into other rooms.
pub fn parse_reply(body: &[u8]) -> Result<BotReply, BotFailure> {
    let value: Value = serde_json::from_slice(body).map_err(|_| BotFailure::NotJson {
        body: String::from_utf8_lossy(body)
            .chars()
            .take(BODY_PREVIEW_CHARS)
            .collect(),
    })?;
    let Value::Object(mut obj) = value else {
        return Err(BotFailure::NotObject {
            type_name: python_type_name(&value),
        });
    };
    let text = match obj.get("text") {
        None => return Err(BotFailure::MissingText),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(BotFailure::TextNotString {
                type_name: python_type_name(other),
            });
        }
    };
    let state = match obj.remove("state") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v),
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
        let ok = parse_reply(br#"{"text":"hi","author":3,"state":"","room":"elsewhere"}"#).unwrap();
        assert_eq!(ok.text, "hi");
        assert_eq!(ok.author, None);
        assert_eq!(ok.state, Some(Value::String(String::new())));
    }
}
