//! Test harness: each test starts the real server on 127.0.0.1:0 with its
//! own temporary database, and talks HTTP and websocket to it. Bots are real
//! HTTP servers on loopback: the example bots, or a recording bot whose
//! answers the test chooses.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use futures_util::{SinkExt, StreamExt};
use necsus::config::Config;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The PostgreSQL cluster tests may use: an administrator's URL, from
/// `NECSUS_TEST_POSTGRES` (`tests/run-all.sh` starts a throwaway cluster
/// and sets it).
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("NECSUS_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Whether this run puts the suites on PostgreSQL
/// (`NECSUS_TEST_BACKEND=postgres`) instead of SQLite.
pub fn backend_is_postgres() -> bool {
    std::env::var("NECSUS_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The admin URL, or `None` after a loud SKIPPING line; under CI a missing
/// cluster fails the test instead.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    let url = postgres_admin_url();
    if url.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run {test} on PostgreSQL, but NECSUS_TEST_POSTGRES is not set"
        );
        eprintln!(
            "!!! SKIPPING {test}: NECSUS_TEST_POSTGRES is not set (tests/run-all.sh starts a \
             throwaway PostgreSQL cluster and sets it)"
        );
    }
    url
}

/// A new, empty database in the test cluster; its URL.
pub async fn fresh_postgres_db(admin: &str) -> String {
    use sqlx::Connection;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = format!(
        "necsus_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut admin_conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("the test cluster answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin_conn)
        .await
        .expect("a test database");
    let _ = admin_conn.close().await;
    let mut url = url::Url::parse(admin).expect("the test cluster's URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = match (backend_is_postgres(), postgres_admin_url()) {
        (true, Some(admin)) => fresh_postgres_db(&admin).await,
        (true, None) => panic!("NECSUS_TEST_BACKEND=postgres needs NECSUS_TEST_POSTGRES"),
        (false, _) => dir.path().join("necsus.db").to_string_lossy().into_owned(),
    };
    let mut config = Config {
        db,
        bot_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_secs(5),
        // Tests post far faster than people type; the rate limit's own
        // tests turn it on.
        room_rate_limit: 0.0,
        ..Config::default()
    };
    configure(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let task = tokio::spawn(async move {
        necsus::app::serve(listener, config, token)
            .await
            .expect("server runs");
    });
    let app = TestApp {
        addr,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        shutdown,
        task,
        _dir: dir,
    };
    // The store opens before the first request is served.
    for _ in 0..100 {
        if app.http.get(app.url("/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request and reads the answer's status and JSON (null when
    /// the body is not JSON).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        self.send(self.http.post(self.url(path)).body(body)).await
    }

    pub async fn delete(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.delete(self.url(path)).json(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    /// Posts a user message and returns the stored message.
    pub async fn say(&self, room: &str, text: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/actions/message",
                json!({"room": room, "author": "student", "text": text}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "posting {text:?}: {body}");
        body
    }

    pub async fn add_bot(
        &self,
        room: &str,
        name: &str,
        url: &str,
        responds_to: Option<&str>,
    ) -> Value {
        let (status, body) = self
            .post(
                "/api/actions/bot",
                json!({"room": room, "name": name, "url": url, "responds_to": responds_to}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "adding bot {name}: {body}");
        body
    }

    pub async fn messages(&self, room: &str) -> Vec<Value> {
        let url = format!(
            "/api/messages?room={}",
            url::form_urlencoded::byte_serialize(room.as_bytes()).collect::<String>()
        );
        let (status, body) = self.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Messages of the room posted after `after` (a message id).
    pub async fn messages_after(&self, room: &str, after: &Value) -> Vec<Value> {
        let id = after["id"].as_i64().unwrap();
        self.messages(room)
            .await
            .into_iter()
            .filter(|m| m["id"].as_i64().unwrap() > id)
            .collect()
    }

    pub fn ws_url(&self, room: &str, since: Option<i64>) -> String {
        // A path segment: spaces are %20 here, not the query string's '+'.
        let room = percent_encoding::utf8_percent_encode(room, percent_encoding::NON_ALPHANUMERIC);
        match since {
            Some(s) => format!("ws://{}/ws/{room}?since={s}", self.addr),
            None => format!("ws://{}/ws/{room}", self.addr),
        }
    }

    pub async fn subscribe(&self, room: &str, since: Option<i64>) -> Ws {
        self.subscribe_url(&self.ws_url(room, since)).await
    }

    pub async fn subscribe_url(&self, url: &str) -> Ws {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Ws { stream }
    }
}

pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Ws {
    pub stream: WsStream,
}

/// What the next websocket read gave.
#[derive(Debug)]
pub enum WsEvent {
    Frame(Value),
    Closed(Option<(u16, String)>),
}

impl Ws {
    pub async fn next_event(&mut self, wait: Duration) -> Option<WsEvent> {
        loop {
            let item = tokio::time::timeout(wait, self.stream.next()).await.ok()?;
            match item {
                None => return Some(WsEvent::Closed(None)),
                Some(Err(_)) => return Some(WsEvent::Closed(None)),
                Some(Ok(WsMessage::Text(t))) => {
                    return Some(WsEvent::Frame(
                        serde_json::from_str(&t).expect("frames are JSON"),
                    ));
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    return Some(WsEvent::Closed(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next frame; panics on close or after 10 s of silence.
    pub async fn next(&mut self) -> Value {
        match self.next_event(Duration::from_secs(10)).await {
            Some(WsEvent::Frame(v)) => v,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// Nothing arrives within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Some(event) = self.next_event(wait).await {
            panic!("expected silence, got {event:?}");
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(WsMessage::Text(text.to_owned().into()))
            .await
            .expect("send");
    }
}

/// Starts the example bots on loopback; returns their base URL.
/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real `necsus` binary serving `db` on 127.0.0.1:`port` (output
/// discarded), for tests that need a process of its own: to kill it, or to
/// read its memory. Killed when dropped.
pub struct Binary {
    child: std::process::Child,
    pub base: String,
}

impl Binary {
    /// Starts it and waits until it answers.
    pub async fn start(db: impl AsRef<std::ffi::OsStr>, port: u16) -> Binary {
        Binary::start_with(db, port, &[]).await
    }

    /// Starts it with more flags, and waits until it answers.
    /// The room's rate limit is off unless `flags` set it.
    pub async fn start_with(db: impl AsRef<std::ffi::OsStr>, port: u16, flags: &[&str]) -> Binary {
        let room_limit_off: &[&str] = if flags.contains(&"--room-rate-limit") {
            &[]
        } else {
            &["--room-rate-limit", "0"]
        };
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_necsus"))
            .args(["--bind", &format!("127.0.0.1:{port}"), "--log", "warn"])
            .args(room_limit_off)
            .arg("--db")
            .arg(db)
            .args(flags)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the necsus binary starts");
        let binary = Binary {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while http
            .get(format!("{}/healthz", binary.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        binary
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no checkpoint.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn spawn_example_bots() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, example_bots::router()).await.unwrap();
    });
    format!("http://{addr}")
}

/// One request a recording bot received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub body: Value,
    pub received: Instant,
    pub answered: Instant,
}

/// How a recording bot answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    pub delay: Duration,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn json(v: Value) -> Self {
        Answer {
            status: 200,
            body: v.to_string().into_bytes(),
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub fn raw(status: u16, body: &str) -> Self {
        Self::bytes(status, body.as_bytes().to_vec())
    }

    pub fn bytes(status: u16, body: Vec<u8>) -> Self {
        Answer {
            status,
            body,
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Responder = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

#[derive(Clone)]
pub struct RecordingBot {
    pub base: String,
    pub calls: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingBot {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn calls(&self) -> Vec<Recorded> {
        self.calls.lock().unwrap().clone()
    }
}

/// A bot server answering every POST with `respond(path, payload)` and
/// recording what it was sent.
pub async fn recording_bot(
    respond: impl Fn(&str, &Value) -> Answer + Send + Sync + 'static,
) -> RecordingBot {
    let calls: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let responder: Responder = Arc::new(respond);
    let recorded = Arc::clone(&calls);
    let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let responder = Arc::clone(&responder);
        let recorded = Arc::clone(&recorded);
        async move {
            let received = Instant::now();
            let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = responder(uri.path(), &payload);
            tokio::time::sleep(answer.delay).await;
            recorded.lock().unwrap().push(Recorded {
                path: uri.path().to_owned(),
                body: payload,
                received,
                answered: Instant::now(),
            });
            let mut response = (
                StatusCode::from_u16(answer.status).unwrap(),
                [("content-type", "application/json")],
                answer.body,
            )
                .into_response();
            for (name, value) in &answer.headers {
                response.headers_mut().insert(
                    axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    axum::http::HeaderValue::from_str(value).unwrap(),
                );
            }
            response
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    RecordingBot {
        base: format!("http://{addr}"),
        calls,
    }
}

/// A conversation bot that takes `delay` to answer, counts in its state
/// (a number) and answers "count N for TEXT".
pub async fn counting_bot(delay: Duration) -> RecordingBot {
    recording_bot(move |_, payload| {
        let n = payload["state"].as_i64().unwrap_or(0) + 1;
        let text = payload["text"].as_str().unwrap_or_default();
        Answer::json(json!({"text": format!("count {n} for {text}"), "state": n})).after(delay)
    })
    .await
}

/// The text and state of each call a bot received, in order.
pub fn texts_and_states(calls: &[Recorded]) -> Vec<(String, Value)> {
    calls
        .iter()
        .map(|c| {
            (
                c.body["text"].as_str().unwrap_or_default().to_owned(),
                c.body["state"].clone(),
            )
        })
        .collect()
}

/// A CPython process running `code`, which answers each JSON line it reads
/// with one JSON line: the reference the differential tests compare with.
pub struct PythonOracle {
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

impl PythonOracle {
    pub fn start(code: &str) -> Mutex<PythonOracle> {
        use std::process::{Command, Stdio};
        let mut child = Command::new("python3")
            .args(["-c", code])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs (CPython is the reference for what bots observe)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        Mutex::new(PythonOracle {
            stdin,
            stdout,
            _child: child,
        })
    }

    /// Sends `question`, returns the answer.
    pub fn ask(oracle: &Mutex<PythonOracle>, question: &Value) -> Value {
        use std::io::{BufRead, Write};
        let mut py = oracle.lock().unwrap_or_else(|e| e.into_inner());
        writeln!(py.stdin, "{question}").expect("write to python");
        py.stdin.flush().expect("flush");
        let mut answer = String::new();
        py.stdout.read_line(&mut answer).expect("read from python");
        serde_json::from_str(&answer).expect("python answers JSON")
    }
}

/// A loopback URL where nothing listens.
pub async fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/bot")
}

pub fn texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}
