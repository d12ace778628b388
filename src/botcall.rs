//! Calling a student's bot: one shared pooled HTTP client, a POST with a JSON
//! body, a total time limit, a cap on the reply size, and validation of the
//! reply into the fields NeCSuS keeps (SPEC §4). Failures are classified so
//! `texts` can explain each one to the student.

use std::time::Duration;

use serde_json::{Map, Value};

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
    TimedOut { seconds: f64 },
    TooManyRedirects,
    Status { code: u16, reason: String },
    TooLarge { limit: usize },
    BrokenResponse(String),
    NotJson { body: String },
    NotObject { type_name: &'static str },
    MissingText,
    TextNotString { type_name: &'static str },
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
}

/// Makes `ring` the process's TLS crypto provider, which every HTTP client
/// built afterwards uses. Calling it again is harmless: the first one wins.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl BotCaller {
    pub fn new(timeout: Duration, max_reply_bytes: usize) -> Self {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(concat!("NeCSuS/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .connect_timeout(timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build()
            .expect("the HTTP client's fixed configuration is valid");
        BotCaller {
            client,
            timeout,
            max_reply_bytes,
        }
    }

    /// POSTs `payload` to `url` and validates the reply.
    #[tracing::instrument(skip(self, payload))]
    pub async fn call(&self, url: &str, payload: &Value) -> Result<BotReply, BotFailure> {
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
        let body = serde_json::to_vec(payload).unwrap_or_default();
        let exchange = async {
            let response = self
                .client
                .post(parsed)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await
                .map_err(classify)?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                return Err(BotFailure::Status {
                    code: status.as_u16(),
                    reason: status.canonical_reason().unwrap_or("").to_owned(),
                });
            }
            self.read_capped(response).await
        };
        let bytes = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(BotFailure::TimedOut {
                    seconds: self.timeout.as_secs_f64(),
                });
            }
        };
        parse_reply(&bytes)
    }

    async fn read_capped(&self, mut response: reqwest::Response) -> Result<Vec<u8>, BotFailure> {
        let limit = self.max_reply_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(BotFailure::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            if body.len() + chunk.len() > limit {
                return Err(BotFailure::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// The innermost cause of an error: "Connection refused (os error 111)"
/// tells a student more than the layers wrapped around it.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

fn classify(e: reqwest::Error) -> BotFailure {
    if e.is_redirect() {
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
