//! Posting scenarios: closed-loop posters without bots, posting into a room
//! with a long history, posting that activates bots, and catching up on a
//! long history (GET and websocket replay).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::{Frame, Server};
use crate::stats::{Summary, summarize};

#[derive(Debug, Clone, Serialize)]
pub struct PostResult {
    pub clients: usize,
    pub posts: usize,
    pub errors: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub latency: Summary,
}

/// `clients` closed-loop posters for at most `duration` and `max_posts`
/// posts; a client moves to a fresh room every `per_room` posts (0: never).
/// `room_of(client, n)` names the room.
pub async fn closed_loop(
    server: &Server,
    clients: usize,
    duration: Duration,
    max_posts: usize,
    room_of: Arc<dyn Fn(usize, usize) -> String + Send + Sync>,
) -> PostResult {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let server = server.clone();
        let issued = Arc::clone(&issued);
        let room_of = Arc::clone(&room_of);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut n = 0;
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_posts {
                let room = room_of(c, n);
                let t = Instant::now();
                match server.post(&room, "benchmark message").await {
                    Ok(_) => latencies.push(t.elapsed()),
                    Err(_) => errors += 1,
                }
                n += 1;
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    PostResult {
        clients,
        posts: latencies.len(),
        errors,
        seconds,
        per_second: latencies.len() as f64 / seconds,
        latency: summarize(latencies),
    }
}

/// Rooms capped at `per_room` posts each (0: one room per client).
pub fn capped_rooms(
    prefix: String,
    per_room: usize,
) -> Arc<dyn Fn(usize, usize) -> String + Send + Sync> {
    Arc::new(move |c, n| match per_room {
        0 => format!("{prefix}-c{c}"),
        cap => format!("{prefix}-c{c}-r{}", n / cap),
    })
}

/// Every client posts into one room.
pub fn one_room(room: String) -> Arc<dyn Fn(usize, usize) -> String + Send + Sync> {
    Arc::new(move |_, _| room.clone())
}

/// Fills `room` to `count` messages with `clients` posters; bounded by
/// `limit` in time.
pub async fn fill(
    server: &Server,
    room: &str,
    count: usize,
    clients: usize,
    limit: Duration,
) -> PostResult {
    closed_loop(server, clients, limit, count, one_room(room.to_owned())).await
}

#[derive(Debug, Clone, Serialize)]
pub struct CatchupResult {
    pub messages: usize,
    pub get_all_ms: f64,
    pub ws_replay_ms: f64,
    pub ws_replayed: usize,
}

/// Times GET of the whole room and a websocket replay of it.
pub async fn catchup(
    server: &Server,
    room: &str,
    limit: Duration,
) -> Result<CatchupResult, String> {
    // Timed to the last byte of the answer; parsing it is the client's cost.
    let t = Instant::now();
    let body = server.messages_bytes(room).await?;
    let get_all_ms = t.elapsed().as_secs_f64() * 1000.0;
    let expected = serde_json::from_slice::<Vec<serde_json::Value>>(&body)
        .map_err(|e| e.to_string())?
        .len();
    let t = Instant::now();
    let mut ws = server.subscribe(room, -1).await?;
    let mut replayed = 0;
    let deadline = tokio::time::Instant::now() + limit;
    while replayed < expected {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(msg))) => {
                if let Ok(text) = msg.to_text()
                    && text.starts_with("{\"kind\":\"message\"")
                {
                    replayed += 1;
                }
            }
            _ => break,
        }
    }
    Ok(CatchupResult {
        messages: expected,
        get_all_ms,
        ws_replay_ms: t.elapsed().as_secs_f64() * 1000.0,
        ws_replayed: replayed,
    })
}

/// An instant bot on loopback that checks every payload it receives.
pub struct BenchBot {
    pub url: String,
    pub bad_payloads: Arc<AtomicUsize>,
    pub calls: Arc<AtomicUsize>,
}

pub async fn start_bot() -> BenchBot {
    let bad = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let (b, c) = (Arc::clone(&bad), Arc::clone(&calls));
    let app = axum::Router::new().route(
        "/bot",
        axum::routing::post(move |body: Bytes| {
            let (bad, calls) = (Arc::clone(&b), Arc::clone(&c));
            async move {
                calls.fetch_add(1, Ordering::Relaxed);
                let payload: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let keys_ok = payload.as_object().is_some_and(|o| {
                    o.len() == 4
                        && o["room"].is_string()
                        && o["author"] == "bench"
                        && o["params"] == json!({})
                        && o["text"].as_str().is_some_and(|t| t.contains("benchbot"))
                });
                if !keys_ok {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                Json(json!({"text": "instant reply"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind bot");
    let addr = listener.local_addr().expect("bot address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    BenchBot {
        url: format!("http://{addr}/bot"),
        bad_payloads: bad,
        calls,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct BotResult {
    pub bots: usize,
    pub clients: usize,
    pub posts: usize,
    pub per_second: f64,
    pub latency: Summary,
    pub bad_payloads: usize,
    pub missing_replies: usize,
}

/// The rooms `with_bots` posts into.
pub fn bot_rooms(prefix: &str, bots: usize, clients: usize) -> Vec<String> {
    (0..clients)
        .map(|c| format!("{prefix}-k{bots}-c{c}"))
        .collect()
}

/// `clients` posters, each in its own room holding `bots` instant bots.
pub async fn with_bots(
    server: &Server,
    bot: &BenchBot,
    prefix: &str,
    bots: usize,
    clients: usize,
    duration: Duration,
    max_posts: usize,
) -> Result<BotResult, String> {
    let rooms = bot_rooms(prefix, bots, clients);
    for room in &rooms {
        for k in 0..bots {
            server
                .add_bot(room, &format!("bot{k}"), &bot.url, "benchbot")
                .await?;
        }
    }
    let bad_before = bot.bad_payloads.load(Ordering::Relaxed);
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for room in rooms.clone() {
        let server = server.clone();
        let issued = Arc::clone(&issued);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline && issued.fetch_add(1, Ordering::Relaxed) < max_posts {
                let t = Instant::now();
                if server.post(&room, "hello benchbot").await.is_ok() {
                    latencies.push(t.elapsed());
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap_or_default());
    }
    let seconds = started.elapsed().as_secs_f64();
    // Every acknowledged post must have all its replies stored.
    let mut missing = 0;
    let mut users = 0;
    for room in &rooms {
        let messages = server.messages(room).await?;
        let user = messages.iter().filter(|m| m["kind"] == "user").count();
        let replies = messages
            .iter()
            .filter(|m| m["kind"] == "bot" && m["text"] == "instant reply")
            .count();
        users += user;
        missing += (user * bots).saturating_sub(replies);
    }
    Ok(BotResult {
        bots,
        clients,
        posts: users,
        per_second: latencies.len() as f64 / seconds,
        latency: summarize(latencies),
        bad_payloads: bot.bad_payloads.load(Ordering::Relaxed) - bad_before,
        missing_replies: missing,
    })
}

/// Waits for the next message frame's id (used by warm-ups).
pub async fn next_message_id(ws: &mut crate::client::Ws, limit: Duration) -> Option<i64> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(msg))) => {
                if let Ok(text) = msg.to_text()
                    && let Ok(frame) = serde_json::from_str::<Frame>(text)
                    && frame.kind == "message"
                {
                    return Some(frame.data.id);
                }
            }
            _ => return None,
        }
    }
}
