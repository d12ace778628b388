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

/// Opens idle websockets across `rooms` rooms, growing to each count in
/// `steps` in turn, and measures the server's RSS at each against one
/// baseline taken before the first. Run it on a fresh server: memory freed
/// by earlier work is reused and would hide the sockets' cost.
pub async fn idle_websockets(
    server: &Server,
    pid: u32,
    prefix: &str,
    steps: &[usize],
    rooms: usize,
) -> Result<Vec<MemoryResult>, String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = rss_kib(pid)?;
    let mut sockets: Vec<Ws> = Vec::new();
    let mut results = Vec::new();
    for &target in steps {
        while sockets.len() < target {
            let start = sockets.len();
            let end = (start + 200).min(target);
            let connects = (start..end)
                .map(|i| server.subscribe_owned(format!("{prefix}-idle-{}", i % rooms.max(1))));
            for ws in futures_util::future::join_all(connects).await {
                sockets.push(ws?);
            }
        }
        // Let the server settle (allocator, task wake-ups) before reading.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = rss_kib(pid)?;
        results.push(MemoryResult {
            connections: target,
            idle_rss_kib: idle,
            rss_kib: rss,
            kib_per_connection: rss.saturating_sub(idle) as f64 / target.max(1) as f64,
        });
    }
    drop(sockets);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(results)
}

impl Server {
    async fn subscribe_owned(&self, room: String) -> Result<Ws, String> {
        self.subscribe(&room, -1).await
    }
}
