//! Server memory: resident set size (from /proc, by pid) while idle and
//! while holding many idle websockets.

use std::time::Duration;

use serde::Serialize;

use crate::client::{Server, Ws};

pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line".to_owned())
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub connections: usize,
    pub idle_rss_kib: u64,
    pub rss_kib: u64,
    pub kib_per_connection: f64,
}

/// Opens `connections` idle websockets across `rooms` rooms, measures, and
/// closes them again.
pub async fn idle_websockets(
    server: &Server,
    pid: u32,
    prefix: &str,
    connections: usize,
    rooms: usize,
) -> Result<MemoryResult, String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid)?;
    let mut sockets: Vec<Ws> = Vec::with_capacity(connections);
    let ids: Vec<usize> = (0..connections).collect();
    for chunk in ids.chunks(200) {
        let connects = chunk
            .iter()
            .map(|i| server.subscribe_owned(format!("{prefix}-idle-{}", i % rooms.max(1))));
        for ws in futures_util::future::join_all(connects).await {
            sockets.push(ws?);
        }
    }
    // Let the server settle (allocator, task wake-ups) before reading.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = rss_kib(pid)?;
    drop(sockets);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(MemoryResult {
        connections,
        idle_rss_kib: idle,
        rss_kib: rss,
        kib_per_connection: (rss.saturating_sub(idle)) as f64 / connections.max(1) as f64,
    })
}

impl Server {
    async fn subscribe_owned(&self, room: String) -> Result<Ws, String> {
        self.subscribe(&room, -1).await
    }
}
