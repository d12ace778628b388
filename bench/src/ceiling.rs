//! Reference limits measured in the same run, so the server's figures can
//! be read as fractions of what this machine allows right now: a trivial
//! handler on the same HTTP stack (its own process, like the server), a
//! trivial websocket broadcast on the same stack (one pre-serialised frame
//! to N sockets, same process), and raw SQLite inserts of the same rows
//! with the same pragmas.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::broadcast;

/// The ceilings' shared state: the next message id and each room's
/// broadcast channel of pre-serialised frames.
#[derive(Clone, Default)]
struct Trivial {
    next_id: Arc<AtomicI64>,
    rooms: Arc<Mutex<HashMap<String, broadcast::Sender<Utf8Bytes>>>>,
}

impl Trivial {
    fn room(&self, name: &str) -> broadcast::Sender<Utf8Bytes> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms
            .entry(name.to_owned())
            .or_insert_with(|| broadcast::channel(TRIVIAL_BROADCAST_CAPACITY).0)
            .clone()
    }
}

/// Frames a trivial subscriber may fall behind before it is closed.
const TRIVIAL_BROADCAST_CAPACITY: usize = 1024;

/// The server's post and websocket routes doing the least their clients
/// can check: a post is JSON in, JSON out, with increasing ids, and its
/// frame is serialised once and broadcast to the room's sockets, each of
/// which only sends what it receives (no replay, no timeouts, no reading).
pub fn trivial_router() -> axum::Router {
    axum::Router::new()
        .route("/api/actions/message", axum::routing::post(trivial_post))
        .route("/ws/{*room}", axum::routing::get(trivial_ws))
        .with_state(Trivial::default())
}

async fn trivial_post(State(state): State<Trivial>, body: Bytes) -> Json<Value> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let message = json!({
        "id": id, "room": v["room"], "author": v["author"], "kind": "user",
        "text": v["text"], "when": 0.0, "image": null, "media": null, "css": null,
        "js": null, "from_bot": null, "base_url": null, "state": null
    });
    if let Some(room) = v["room"].as_str() {
        let frame = json!({"kind": "message", "data": &message}).to_string();
        // No receivers is not an error here: nobody is listening yet.
        let _ = state.room(room).send(Utf8Bytes::from(frame));
    }
    Json(message)
}

async fn trivial_ws(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    State(state): State<Trivial>,
) -> axum::response::Response {
    let mut frames = state.room(&room).subscribe();
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        while let Ok(frame) = frames.recv().await {
            if socket.send(WsMessage::Text(frame)).await.is_err() {
                break;
            }
        }
    })
}

/// Serves the trivial handler on a loopback port, printing the address.
pub async fn serve_trivial() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("listening on {}", listener.local_addr().expect("address"));
    let _ = axum::serve(listener, trivial_router()).await;
}

/// The trivial server as a child process; killed on drop.
pub struct TrivialServer {
    child: Child,
    pub base: String,
}

impl TrivialServer {
    /// The child's process id, for its CPU time.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts `exe serve-trivial` (`exe` defaults to this program).
    pub fn start(exe: Option<&std::path::Path>) -> Result<Self, String> {
        let exe = match exe {
            Some(p) => p.to_owned(),
            None => std::env::current_exe().map_err(|e| e.to_string())?,
        };
        let mut child = Command::new(exe)
            .arg("serve-trivial")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting the trivial server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| format!("unexpected first line {line:?}"))?;
        Ok(TrivialServer {
            base: format!("http://{addr}"),
            child,
        })
    }
}

impl Drop for TrivialServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SqliteResult {
    pub rows: usize,
    pub batch: usize,
    pub rows_per_second: f64,
}

/// Inserts rows shaped like posted messages into a fresh database with the
/// server's schema and pragmas, `batch` rows per transaction.
pub async fn sqlite_inserts(
    rows: usize,
    batch: usize,
    limit: Duration,
) -> Result<SqliteResult, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("ceiling.db");
    let mut conn = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
        .map_err(|e| e.to_string())?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(include_str!("../../migrations/0001_initial.sql"))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut done = 0;
    while done < rows && started.elapsed() < limit {
        let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
        for _ in 0..batch.max(1) {
            sqlx::query(
                "INSERT INTO messages (room, author, kind, text, \"when\", image, media, css, js, from_bot, base_url, state, json) \
                 VALUES (?, ?, 'user', ?, ?, NULL, NULL, NULL, NULL, NULL, NULL, NULL, ?)",
            )
            .bind(format!("ceiling-{}", done / 100))
            .bind("bench")
            .bind("benchmark message")
            .bind(0.0f64)
            .bind(
                json!({"id": done, "room": format!("ceiling-{}", done / 100), "author": "bench",
                       "kind": "user", "text": "benchmark message", "when": 0.0, "image": null,
                       "media": null, "css": null, "js": null, "from_bot": null, "base_url": null,
                       "state": null})
                .to_string(),
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
            done += 1;
        }
        tx.commit().await.map_err(|e| e.to_string())?;
    }
    Ok(SqliteResult {
        rows: done,
        batch,
        rows_per_second: done as f64 / started.elapsed().as_secs_f64(),
    })
}
