//! What the bot-call log costs: the bot scenario (one instant bot, C
//! clients) run in short alternating rounds against a server that records
//! every call and a second one started with `--bot-calls-per-room 0`. Each
//! round's pair runs back to back (the order flips every round), so drift
//! on a shared machine hits both sides alike; the cost is one minus the
//! median of the rounds' ratios.

use serde::Serialize;

use std::time::Duration;

use crate::client::Server;
use crate::post::{self, BenchBot};
use crate::stats::median;

#[derive(Debug, Clone, Serialize)]
pub struct RecordingResult {
    pub clients: usize,
    pub rounds: usize,
    pub seconds_per_round: f64,
    /// Posts per second with recording on, one figure per round.
    pub on_per_second: Vec<f64>,
    /// The same with recording off.
    pub off_per_second: Vec<f64>,
    /// Median over the rounds of on / off.
    pub ratio: f64,
    /// `1 - ratio`, in percent.
    pub cost_percent: f64,
    /// Posts acknowledged by the recording server (one call each).
    pub on_posts: usize,
    /// Calls the recording server listed for its rooms afterwards (each
    /// room keeps its newest 200 by default).
    pub records_listed: usize,
    pub bad_payloads: usize,
    pub missing_replies: usize,
}

/// How long the comparison runs.
#[derive(Debug, Clone, Copy)]
pub struct Rounds {
    /// Alternating rounds, each running both servers once.
    pub count: usize,
    /// Each side's time in a round.
    pub each: Duration,
    /// Most posts one side of one round makes.
    pub max_posts: usize,
}

/// `on` records bot calls, `off` must not; both are checked afterwards.
pub async fn cost(
    on: &Server,
    off: &Server,
    bot: &BenchBot,
    prefix: &str,
    clients: usize,
    rounds: Rounds,
) -> Result<RecordingResult, String> {
    let Rounds {
        count: rounds,
        each: per_round,
        max_posts,
    } = rounds;
    let mut on_rates = Vec::with_capacity(rounds);
    let mut off_rates = Vec::with_capacity(rounds);
    let mut ratios = Vec::with_capacity(rounds);
    let mut bad_payloads = 0;
    let mut missing_replies = 0;
    let mut on_posts = 0;
    let mut on_rooms = Vec::new();
    let mut off_rooms = Vec::new();
    for round in 0..rounds {
        let on_prefix = format!("{prefix}-rec{round}-on");
        let off_prefix = format!("{prefix}-rec{round}-off");
        let run = |server: &Server, prefix: String| {
            let server = server.clone();
            async move { post::with_bots(&server, bot, &prefix, 1, clients, per_round, max_posts).await }
        };
        let (with_log, without_log) = if round % 2 == 0 {
            let a = run(on, on_prefix.clone()).await?;
            (a, run(off, off_prefix.clone()).await?)
        } else {
            let b = run(off, off_prefix.clone()).await?;
            (run(on, on_prefix.clone()).await?, b)
        };
        for r in [&with_log, &without_log] {
            bad_payloads += r.bad_payloads;
            missing_replies += r.missing_replies;
        }
        on_posts += with_log.posts;
        on_rates.push(with_log.per_second);
        off_rates.push(without_log.per_second);
        ratios.push(with_log.per_second / without_log.per_second.max(1e-9));
        on_rooms.extend(post::bot_rooms(&on_prefix, 1, clients));
        off_rooms.extend(post::bot_rooms(&off_prefix, 1, clients));
    }
    let mut records_listed = 0;
    for room in &on_rooms {
        records_listed += on.bot_calls(room).await?.len();
    }
    if records_listed == 0 {
        return Err(format!(
            "recording: {} listed no bot calls; is its bot-call log on?",
            on.base
        ));
    }
    for room in &off_rooms {
        if !off.bot_calls(room).await?.is_empty() {
            return Err(format!(
                "recording: {} lists bot calls; start it with --bot-calls-per-room 0",
                off.base
            ));
        }
    }
    let ratio = median(&ratios);
    Ok(RecordingResult {
        clients,
        rounds,
        seconds_per_round: per_round.as_secs_f64(),
        on_per_second: on_rates,
        off_per_second: off_rates,
        ratio,
        cost_percent: (1.0 - ratio) * 100.0,
        on_posts,
        records_listed,
        bad_payloads,
        missing_replies,
    })
}
