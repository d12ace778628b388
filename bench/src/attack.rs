//! What a hostile student can do to everyone else, measured from outside:
//!
//! - `pattern`: a room of 100 bots whose pattern, `(?=[\s\S]*z)a`, costs
//!   quadratic time on a long message, and four clients posting 60,000
//!   characters into it in a loop. Meanwhile one client posts to and reads
//!   the history of a quiet room; its latency is compared with the same
//!   loop just before, with no attack (same run, same server).
//! - `replies`: sixty calls at once to a bot that sends 8 KB of gzip
//!   (8 MiB decoded) and holds its last bytes for 4 s; the server's
//!   resident memory is sampled every 50 ms and its growth reported.
//!
//! Every loop is bounded in count and time.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::client::Server;
use crate::memory::rss_kib;
use crate::stats::{Summary, summarize};

/// The pattern of the attack: valid, short, and quadratic on a long text
/// with no `z`.
pub const PATTERN: &str = r"(?=[\s\S]*z)a";

/// How big the attacks are.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Bots with the expensive pattern in the attacked room.
    pub bots: usize,
    /// Clients posting into it at once, and each post's length.
    pub attackers: usize,
    pub chars: usize,
    /// Calls at once to the bot with the large replies.
    pub calls: usize,
}

impl Sizes {
    /// As the issue measured them.
    pub const FULL: Sizes = Sizes {
        bots: 100,
        attackers: 4,
        chars: 60_000,
        calls: 60,
    };
}
/// Quiet-room operations per phase, at most.
const MAX_QUIET_OPS: usize = 5_000;

#[derive(Debug, Clone, Serialize)]
pub struct PatternResult {
    pub bots: usize,
    pub attackers: usize,
    pub attack_chars: usize,
    /// The quiet room's post and history read, without and with the attack.
    pub quiet_post: Summary,
    pub quiet_read: Summary,
    pub attacked_post: Summary,
    pub attacked_read: Summary,
    /// The attack's own posts, answered while measured.
    pub attack_posts: Summary,
}

/// One client alternating a post and a history read in `room` for
/// `duration`: the latencies of each.
async fn quiet_loop(
    server: &Server,
    room: &str,
    duration: Duration,
) -> Result<(Summary, Summary), String> {
    let (mut posts, mut reads) = (Vec::new(), Vec::new());
    let end = Instant::now() + duration;
    let mut n = 0;
    while Instant::now() < end && n < MAX_QUIET_OPS {
        let started = Instant::now();
        server.post(room, &format!("quiet {n}")).await?;
        posts.push(started.elapsed());
        let started = Instant::now();
        server.messages_bytes(room).await?;
        reads.push(started.elapsed());
        n += 1;
        // A person's pace is far slower; this keeps the room's history small.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((summarize(posts), summarize(reads)))
}

pub async fn pattern(
    server: &Server,
    prefix: &str,
    duration: Duration,
    sizes: Sizes,
) -> Result<PatternResult, String> {
    let attacked = format!("{prefix}-attack");
    let quiet = format!("{prefix}-quiet");
    // Never called: the pattern matches no text without a `z`.
    for i in 0..sizes.bots {
        server
            .add_bot(
                &attacked,
                &format!("Slow{i}"),
                "http://127.0.0.1:9/never",
                PATTERN,
            )
            .await?;
    }
    let (quiet_post, quiet_read) = quiet_loop(server, &quiet, duration).await?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..sizes.attackers)
        .map(|_| {
            let server = server.clone();
            let room = attacked.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let text = "a".repeat(sizes.chars);
                let mut took = Vec::new();
                // Bounded: the measurement's length, and a count.
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && took.len() < 1000 {
                    let started = Instant::now();
                    server.post(&room, &text).await?;
                    took.push(started.elapsed());
                }
                Ok::<_, String>(took)
            })
        })
        .collect();
    // Let the attack get going before measuring.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let measured = quiet_loop(server, &quiet, duration).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut attack_posts = Vec::new();
    for a in attackers {
        attack_posts.extend(a.await.map_err(|e| e.to_string())??);
    }
    let (attacked_post, attacked_read) = measured?;
    Ok(PatternResult {
        bots: sizes.bots,
        attackers: sizes.attackers,
        attack_chars: sizes.chars,
        quiet_post,
        quiet_read,
        attacked_post,
        attacked_read,
        attack_posts: summarize(attack_posts),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct RepliesResult {
    pub calls: usize,
    pub compressed_bytes: usize,
    pub decoded_bytes: usize,
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub grew_mib: f64,
    pub answered: usize,
    pub seconds: f64,
}

/// A bot on loopback that answers every call with `gz` (gzip), holding its
/// last bytes for `hold`; its URL.
async fn slow_gzip_bot(gz: Arc<Vec<u8>>, hold: Duration) -> Result<String, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let gz = Arc::clone(&gz);
            tokio::spawn(async move {
                // The request's head and JSON body, before answering.
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.ends_with(b"}") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    gz.len()
                );
                let (most, last) = gz.split_at(gz.len() - 16);
                // A peer that went away ends this reply; nothing to report.
                if stream.write_all(head.as_bytes()).await.is_err()
                    || stream.write_all(most).await.is_err()
                {
                    return;
                }
                tokio::time::sleep(hold).await;
                let _ = stream.write_all(last).await;
            });
        }
    });
    Ok(format!("http://{addr}/big"))
}

pub async fn replies(
    server: &Server,
    prefix: &str,
    pid: u32,
    sizes: Sizes,
) -> Result<RepliesResult, String> {
    // 8 MiB of JSON once decoded (whitespace, then {"text": "ok"}).
    let mut decoded = vec![b' '; (8 << 20) - 64];
    decoded.extend_from_slice(br#"{"text": "ok"}"#);
    let decoded_bytes = decoded.len();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&decoded).map_err(|e| e.to_string())?;
    let gz = Arc::new(gz.finish().map_err(|e| e.to_string())?);
    drop(decoded);
    let compressed_bytes = gz.len();
    let url = slow_gzip_bot(gz, Duration::from_secs(4)).await?;
    for i in 0..sizes.calls {
        server
            .add_bot(&format!("{prefix}-big{i}"), "Big", &url, "^big")
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let posts: Vec<_> = (0..sizes.calls)
        .map(|i| {
            let server = server.clone();
            let room = format!("{prefix}-big{i}");
            tokio::spawn(async move { server.post(&room, "big").await })
        })
        .collect();
    let mut peak = before;
    while !posts.iter().all(|p| p.is_finished()) && started.elapsed() < Duration::from_secs(120) {
        peak = peak.max(rss_kib(pid)?);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut answered = 0;
    for (i, p) in posts.into_iter().enumerate() {
        if p.await.map_err(|e| e.to_string())?.is_ok() {
            let room = format!("{prefix}-big{i}");
            let listed = server.messages(&room).await?;
            answered += usize::from(listed.get(1).is_some_and(|m| m["text"] == "ok"));
        }
    }
    Ok(RepliesResult {
        calls: sizes.calls,
        compressed_bytes,
        decoded_bytes,
        rss_before_kib: before,
        rss_peak_kib: peak,
        grew_mib: peak.saturating_sub(before) as f64 / 1024.0,
        answered,
        seconds,
    })
}
