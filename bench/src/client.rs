//! Talking to the server under test: posting, listing, subscribing.

use serde_json::{Value, json};

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a benchmark cannot run against a server that limits rooms.
pub const RATE_LIMITED: &str = "the server refused a post for its per-room rate limit: \
    start it with --room-rate-limit 0 to benchmark it";

#[derive(Clone)]
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
}

impl Server {
    pub fn new(base: &str, connections: usize) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections.max(1))
            .http1_only()
            .tcp_nodelay(true)
            .build()
            .expect("HTTP client");
        Server {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// The server's per-room rate limit in posts per second (0: off), as
    /// its metrics report it.
    /// Behind a proxy, /metrics needs the tutor's token: it is taken from
    /// `NECSUS_TUTOR_TOKEN`.
    pub async fn room_rate_limit(&self) -> Result<f64, String> {
        let mut request = self.http.get(format!("{}/metrics", self.base));
        if let Ok(token) = std::env::var("NECSUS_TUTOR_TOKEN") {
            request = request.bearer_auth(token.trim());
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if response.status() == reqwest::StatusCode::FORBIDDEN {
            return Err(format!(
                "{}/metrics is refused (behind a proxy it needs the tutor's token: set NECSUS_TUTOR_TOKEN)",
                self.base
            ));
        }
        let text = response.text().await.map_err(|e| e.to_string())?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("necsus_room_rate_limit_posts_per_second "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0))
    }

    /// Posts a user message; returns its id.
    pub async fn post(&self, room: &str, text: &str) -> Result<i64, String> {
        let response = self
            .http
            .post(format!("{}/api/actions/message", self.base))
            .json(&json!({"room": room, "author": "bench", "text": text}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(RATE_LIMITED.to_owned());
        }
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        body["id"]
            .as_i64()
            .ok_or_else(|| "no id in the answer".to_owned())
    }

    pub async fn add_bot(
        &self,
        room: &str,
        name: &str,
        url: &str,
        responds_to: &str,
    ) -> Result<(), String> {
        let response = self
            .http
            .post(format!("{}/api/actions/bot", self.base))
            .json(&json!({"room": room, "name": name, "url": url, "responds_to": responds_to}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        response
            .status()
            .is_success()
            .then_some(())
            .ok_or_else(|| format!("status {}", response.status()))
    }

    pub async fn messages(&self, room: &str) -> Result<Vec<Value>, String> {
        let body = self.messages_bytes(room).await?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    /// The raw answer of GET /api/messages.
    pub async fn messages_bytes(&self, room: &str) -> Result<Vec<u8>, String> {
        self.get_room("messages", room).await
    }

    /// The room's recorded bot calls (GET /api/bot-calls).
    pub async fn bot_calls(&self, room: &str) -> Result<Vec<Value>, String> {
        let body = self.get_room("bot-calls", room).await?;
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }

    async fn get_room(&self, what: &str, room: &str) -> Result<Vec<u8>, String> {
        let room: String = url::form_urlencoded::byte_serialize(room.as_bytes()).collect();
        let response = self
            .http
            .get(format!("{}/api/{what}?room={room}", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("GET /api/{what}: status {}", response.status()));
        }
        Ok(response.bytes().await.map_err(|e| e.to_string())?.to_vec())
    }

    pub fn ws_url(&self, room: &str, since: i64) -> String {
        let room: String = url::form_urlencoded::byte_serialize(room.as_bytes())
            .collect::<String>()
            .replace('+', "%20");
        let base = self.base.replacen("http://", "ws://", 1);
        format!("{base}/ws/{room}?since={since}")
    }

    pub async fn subscribe(&self, room: &str, since: i64) -> Result<Ws, String> {
        let (ws, _) = tokio_tungstenite::connect_async(self.ws_url(room, since))
            .await
            .map_err(|e| e.to_string())?;
        Ok(ws)
    }
}

/// The parts of a websocket frame the benchmark reads.
#[derive(serde::Deserialize)]
pub struct Frame {
    pub kind: String,
    #[serde(default)]
    pub data: FrameData,
}

#[derive(serde::Deserialize, Default)]
pub struct FrameData {
    #[serde(default)]
    pub id: i64,
    #[serde(default)]
    pub text: String,
}
