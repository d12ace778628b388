//! Fan-out: S websocket subscribers in one room while posters post at a
//! fixed rate or flat out. Every subscriber must receive every message once,
//! in increasing id order; delivery latency is measured from the time
//! stamped into each message's text. With a process id, the server's CPU
//! time is measured from the first post until every subscriber has read
//! the last one (connecting and closing the sockets are outside it).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::client::{Frame, Server};
use crate::cpu::CpuMeter;
use crate::stats::{Summary, summarize_micros};

#[derive(Debug, Clone, Serialize)]
pub struct FanoutResult {
    pub subscribers: usize,
    /// Posts per second asked for; `None` is flat out.
    pub target_rate: Option<f64>,
    pub posts: usize,
    pub posts_per_second: f64,
    pub deliveries: usize,
    pub deliveries_per_second: f64,
    pub latency: Summary,
    pub lost: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
    /// Subscribers closed for falling behind that resumed with `since`.
    pub reconnects: usize,
    /// The server's CPU microseconds per delivery (with a process id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_unit: Option<f64>,
    pub unit: &'static str,
}

impl FanoutResult {
    /// Deliveries lost, duplicated or out of order: 0 in a correct run.
    pub fn faults(&self) -> usize {
        self.lost + self.duplicated + self.out_of_order
    }
}

/// One fan-out measurement.
#[derive(Debug, Clone)]
pub struct Fanout {
    pub subscribers: usize,
    /// Posts per second; `None` is flat out.
    pub rate: Option<f64>,
    pub posters: usize,
    pub duration: Duration,
    pub max_posts: usize,
    /// The server's process, for its CPU time per delivery.
    pub pid: Option<u32>,
}

struct Received {
    ids: Vec<i64>,
    latencies: Vec<u64>,
    reconnects: usize,
}

/// Times one subscriber may resume after being closed.
const MAX_RECONNECTS: usize = 100;

const END: &str = "end-of-run";

pub async fn run(server: &Server, room: &str, spec: &Fanout) -> Result<FanoutResult, String> {
    let Fanout {
        subscribers,
        rate,
        posters,
        duration,
        max_posts,
        pid,
    } = spec.clone();
    // Connect everyone, a bounded number at a time.
    let mut sockets = Vec::with_capacity(subscribers);
    for chunk in (0..subscribers).collect::<Vec<_>>().chunks(100) {
        let connects = chunk.iter().map(|_| server.subscribe(room, -1));
        for ws in futures_util::future::join_all(connects).await {
            sockets.push(ws?);
        }
    }
    let (ready_tx, mut ready_rx) = mpsc::channel::<()>(subscribers.max(1));
    let give_up = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::with_capacity(subscribers);
    let limit = duration + Duration::from_secs(30);
    for mut ws in sockets {
        let ready = ready_tx.clone();
        let give_up = Arc::clone(&give_up);
        let (server, room) = (server.clone(), room.to_owned());
        readers.push(tokio::spawn(async move {
            let mut got = Received {
                ids: Vec::new(),
                latencies: Vec::new(),
                reconnects: 0,
            };
            let deadline = tokio::time::Instant::now() + limit;
            let mut warmed = false;
            let mut last_id = -1;
            while !give_up.load(Ordering::Relaxed) {
                let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(msg))) if !msg.is_close() => msg,
                    // Closed (e.g. 1013, fallen behind): resume from the last
                    // id seen, as a browser does; bounded in count.
                    Ok(_) if got.reconnects < MAX_RECONNECTS => {
                        got.reconnects += 1;
                        match server.subscribe(&room, last_id).await {
                            Ok(again) => {
                                ws = again;
                                continue;
                            }
                            Err(_) => break,
                        }
                    }
                    _ => break,
                };
                let Ok(text) = msg.to_text() else { continue };
                let Ok(frame) = serde_json::from_str::<Frame>(text) else {
                    continue;
                };
                if frame.kind != "message" {
                    continue;
                }
                last_id = frame.data.id;
                if !warmed {
                    warmed = true;
                    let _ = ready.send(()).await;
                    continue;
                }
                if frame.data.text == END {
                    // Kept open until the measurement ends.
                    return (got, Some(ws));
                }
                if let Some(sent) = frame
                    .data
                    .text
                    .strip_prefix("t:")
                    .and_then(|t| t.parse::<u64>().ok())
                {
                    got.latencies.push(crate::now_micros().saturating_sub(sent));
                }
                got.ids.push(frame.data.id);
            }
            (got, None)
        }));
    }
    drop(ready_tx);
    server.post(room, "warm-up").await?;
    let warm_deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for _ in 0..subscribers {
        if tokio::time::timeout_at(warm_deadline, ready_rx.recv())
            .await
            .ok()
            .flatten()
            .is_none()
        {
            give_up.store(true, Ordering::Relaxed);
            return Err("not every subscriber received the warm-up message in 30 s".into());
        }
    }

    // Every subscriber has its warm-up message, but the server may still be
    // finishing their replays (the last page query comes after the last
    // frame), or closing an earlier round's sockets: that is not delivery.
    let meter = CpuMeter::start_settled(pid).await;
    let started = Instant::now();
    let deadline = started + duration;
    let per_poster = max_posts.div_ceil(posters.max(1));
    let mut tasks = Vec::new();
    for p in 0..posters.max(1) {
        let server = server.clone();
        let room = room.to_owned();
        let interval = rate.map(|r| Duration::from_secs_f64(posters.max(1) as f64 / r));
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let mut next = tokio::time::Instant::now()
                + interval.map_or(Duration::ZERO, |i| {
                    i.mul_f64(p as f64 / posters.max(1) as f64)
                });
            while Instant::now() < deadline && ids.len() < per_poster {
                if let Some(i) = interval {
                    tokio::time::sleep_until(next).await;
                    next += i;
                }
                if let Ok(id) = server
                    .post(&room, &format!("t:{}", crate::now_micros()))
                    .await
                {
                    ids.push(id);
                }
            }
            ids
        }));
    }
    let mut posted = Vec::new();
    for t in tasks {
        posted.extend(t.await.unwrap_or_default());
    }
    let post_seconds = started.elapsed().as_secs_f64();
    server.post(room, END).await?;

    let expected: HashSet<i64> = posted.iter().copied().collect();
    let (mut lost, mut duplicated, mut out_of_order, mut deliveries) = (0, 0, 0, 0);
    let mut reconnects = 0;
    let mut latencies = Vec::new();
    // Each reader hands back its socket, still open: closing them is not
    // delivery work, so they are dropped after the CPU time is read.
    let mut sockets = Vec::with_capacity(readers.len());
    for r in readers {
        let (got, ws) = r.await.map_err(|e| e.to_string())?;
        sockets.extend(ws);
        deliveries += got.ids.len();
        reconnects += got.reconnects;
        out_of_order += got.ids.windows(2).filter(|w| w[1] <= w[0]).count();
        let unique: HashSet<i64> = got.ids.iter().copied().collect();
        duplicated += got.ids.len() - unique.len();
        lost += expected.difference(&unique).count();
        latencies.extend(got.latencies);
    }
    let delivery_seconds = started.elapsed().as_secs_f64();
    let server_cpu_us_per_unit = meter.per_unit_us(deliveries);
    drop(sockets);
    Ok(FanoutResult {
        subscribers,
        target_rate: rate,
        posts: posted.len(),
        posts_per_second: posted.len() as f64 / post_seconds,
        deliveries,
        deliveries_per_second: deliveries as f64 / delivery_seconds,
        latency: summarize_micros(latencies),
        lost,
        duplicated,
        out_of_order,
        reconnects,
        server_cpu_us_per_unit,
        unit: "delivery",
    })
}
