//! The scenarios as sized plans: `Plan::full()` is the default set (under
//! five minutes on a 2-core machine), `Plan::smoke()` a few seconds of tiny
//! sizes that still checks correctness.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ceiling::{self, TrivialServer};
use crate::client::Server;
use crate::cpu::{self, CpuMeter, WithCpu};
use crate::report::Reporter;
use crate::stats::median;
use crate::{attack, fanout, memory, post, recording};

#[derive(Debug, Clone)]
pub struct Plan {
    pub duration: Duration,
    pub post_clients: Vec<usize>,
    pub posts_per_room: usize,
    pub max_posts: usize,
    pub history: usize,
    pub bot_counts: Vec<usize>,
    pub bot_clients: Vec<usize>,
    /// Alternating rounds of the bot-call log's cost, and each one's length.
    pub recording_rounds: usize,
    pub recording_round: Duration,
    pub subscribers: Vec<usize>,
    pub fanout_rate: f64,
    pub connections: Vec<usize>,
    pub sqlite_rows: usize,
    pub attack: attack::Sizes,
    /// The `necsus-bench` executable that serves the trivial handler;
    /// `None` is this program.
    pub trivial_exe: Option<std::path::PathBuf>,
}

impl Plan {
    pub fn full() -> Self {
        Plan {
            duration: Duration::from_secs(5),
            post_clients: vec![1, 16, 64],
            posts_per_room: 100,
            max_posts: 1_000_000,
            history: 100_000,
            bot_counts: vec![1, 10],
            bot_clients: vec![1, 16],
            recording_rounds: 24,
            recording_round: Duration::from_millis(1500),
            subscribers: vec![10, 100, 1000],
            fanout_rate: 20.0,
            connections: vec![1000, 5000, 10_000],
            sqlite_rows: 200_000,
            attack: attack::Sizes::FULL,
            trivial_exe: None,
        }
    }

    pub fn smoke() -> Self {
        Plan {
            duration: Duration::from_millis(500),
            post_clients: vec![1, 4],
            posts_per_room: 10,
            max_posts: 200,
            history: 300,
            bot_counts: vec![1, 3],
            bot_clients: vec![2],
            recording_rounds: 2,
            recording_round: Duration::from_millis(300),
            subscribers: vec![5, 20],
            fanout_rate: 40.0,
            connections: vec![50],
            sqlite_rows: 500,
            attack: attack::Sizes {
                bots: 5,
                attackers: 2,
                chars: 5_000,
                calls: 4,
            },
            trivial_exe: None,
        }
    }
}

/// Rounds of NeCSuS against the trivial broadcast, taken in turns, for
/// each fixed-rate fan-out (the first NeCSuS round is the `fanout` line's).
const FANOUT_CEILING_ROUNDS: usize = 3;

const FANOUT_FAULTS: &str = "fanout: messages lost, duplicated or out of order";

pub const SCENARIOS: [&str; 9] = [
    "post",
    "history",
    "bot",
    "recording",
    "fanout",
    "catchup",
    "memory",
    "ceiling",
    "attack",
];

/// Runs one scenario (or `all`) against `server`. `compare` is a second
/// server with its bot-call log off, for the recording scenario.
pub async fn run(
    scenario: &str,
    plan: &Plan,
    server: &Server,
    compare: Option<&Server>,
    pid: Option<u32>,
    out: &mut Reporter,
) -> Result<(), String> {
    let prefix = crate::run_id();
    let wants = |name: &str| scenario == "all" || scenario == name;
    if !SCENARIOS.contains(&scenario) && scenario != "all" {
        return Err(format!(
            "unknown scenario {scenario:?}; one of {SCENARIOS:?} or all"
        ));
    }
    let d = plan.duration;
    // Benchmarks post far faster than people type: the per-room rate limit
    // must be off, or it would be what is measured.
    for s in std::iter::once(server).chain(compare) {
        if s.room_rate_limit().await? > 0.0 {
            return Err(format!(
                "{} limits posts per room; {}",
                s.base,
                crate::client::RATE_LIMITED
            ));
        }
    }
    out.note("room rate limit: off on every server benchmarked (--room-rate-limit 0)");

    // First, on a fresh server: memory freed by later scenarios would be
    // reused by the sockets and hide their cost.
    if wants("memory") {
        match pid {
            None => out.note("memory     skipped: pass --pid of the server process"),
            Some(pid) => {
                let steps = &plan.connections;
                for r in memory::idle_websockets(server, pid, &prefix, steps, 100).await? {
                    let row = format!(
                        "{:>6} idle websockets: RSS {} KiB (idle {} KiB) = {:.2} KiB each",
                        r.connections, r.rss_kib, r.idle_rss_kib, r.kib_per_connection
                    );
                    out.emit("memory", &r, row);
                }
            }
        }
    }

    if wants("post") || wants("ceiling") {
        for &c in &plan.post_clients {
            let rooms = post::capped_rooms(format!("{prefix}-post{c}"), plan.posts_per_room);
            let meter = CpuMeter::start_settled(pid).await;
            let r = post::closed_loop(server, c, d, plan.max_posts, rooms).await;
            let per_post = meter.per_unit_us(r.posts);
            let row = format!(
                "C={c:<3} {:>8.0} posts/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}{}",
                r.per_second,
                r.latency.p50_ms,
                r.latency.p99_ms,
                r.errors,
                cpu::column(per_post, "post")
            );
            let line = WithCpu {
                result: &r,
                server_cpu_us_per_unit: per_post,
                unit: "post",
            };
            out.emit("post", &line, row);
        }
    }

    if wants("ceiling") {
        let c = *plan.post_clients.last().unwrap_or(&64);
        let trivial = TrivialServer::start(plan.trivial_exe.as_deref())?;
        let trivial_client = Server::new(&trivial.base, c);
        let rooms = post::capped_rooms(format!("{prefix}-trivial"), plan.posts_per_room);
        let meter = CpuMeter::start_settled(Some(trivial.pid())).await;
        let ceiling = post::closed_loop(&trivial_client, c, d, plan.max_posts, rooms).await;
        let ceiling_cpu = meter.per_unit_us(ceiling.posts);
        drop(trivial);
        let rooms = post::capped_rooms(format!("{prefix}-vs"), plan.posts_per_room);
        let meter = CpuMeter::start_settled(pid).await;
        let real = post::closed_loop(server, c, d, plan.max_posts, rooms).await;
        let real_cpu = meter.per_unit_us(real.posts);
        let fraction = real.per_second / ceiling.per_second.max(1e-9);
        out.emit(
            "ceiling",
            &json!({"kind": "trivial_handler", "clients": c, "ceiling_per_second": ceiling.per_second,
                    "server_per_second": real.per_second, "fraction": fraction, "ceiling_latency": ceiling.latency,
                    "ceiling_cpu_us_per_request": ceiling_cpu, "server_cpu_us_per_post": real_cpu}),
            format!(
                "trivial handler C={c}: {:.0} req/s{}; server {:.0} posts/s = {:.2} of it{}",
                ceiling.per_second,
                cpu::column(ceiling_cpu, "request"),
                real.per_second,
                fraction,
                cpu::column(real_cpu, "post")
            ),
        );
        for batch in [1, 64] {
            let r = ceiling::sqlite_inserts(plan.sqlite_rows, batch, d.max(Duration::from_secs(1)))
                .await?;
            let row = format!(
                "raw SQLite, {batch} row(s)/transaction: {:.0} rows/s",
                r.rows_per_second
            );
            out.emit("ceiling", &json!({"kind": "sqlite", "result": r}), row);
        }
    }

    if wants("history") || wants("catchup") {
        let big = format!("{prefix}-history");
        let limit = Duration::from_secs(180);
        let filled = post::fill(server, &big, plan.history, 64, limit).await;
        out.note(&format!(
            "           filled a room with {} messages at {:.0}/s",
            filled.posts, filled.per_second
        ));
        if wants("catchup") {
            let meter = CpuMeter::start_settled(pid).await;
            let r = post::catchup(server, &big, Duration::from_secs(60)).await?;
            // Each message is served twice: by the GET and by the replay.
            let per_message = meter.per_unit_us(r.messages * 2);
            let row = format!(
                "{} messages: GET all {:.0} ms; websocket replay {:.0} ms ({} frames){}",
                r.messages,
                r.get_all_ms,
                r.ws_replay_ms,
                r.ws_replayed,
                cpu::column(per_message, "message served")
            );
            if r.ws_replayed != r.messages {
                return Err(format!(
                    "replay delivered {} of {} messages",
                    r.ws_replayed, r.messages
                ));
            }
            let line = WithCpu {
                result: &r,
                server_cpu_us_per_unit: per_message,
                unit: "message served (GET or replay)",
            };
            out.emit("catchup", &line, row);
        }
        if wants("history") {
            let into_big =
                post::closed_loop(server, 16, d, plan.max_posts, post::one_room(big.clone())).await;
            let empty = format!("{prefix}-empty");
            let into_empty =
                post::closed_loop(server, 16, d, plan.max_posts, post::one_room(empty)).await;
            let ratio = into_big.per_second / into_empty.per_second.max(1e-9);
            out.emit(
                "history",
                &json!({"history": filled.posts, "big_room_per_second": into_big.per_second,
                        "empty_room_per_second": into_empty.per_second, "ratio": ratio,
                        "big_room_latency": into_big.latency}),
                format!(
                    "C=16 into {} messages: {:.0}/s; into empty: {:.0}/s; ratio {ratio:.2}",
                    filled.posts, into_big.per_second, into_empty.per_second
                ),
            );
        }
    }

    if wants("bot") {
        let bot = post::start_bot().await;
        for &k in &plan.bot_counts {
            for &c in &plan.bot_clients {
                let meter = CpuMeter::start_settled(pid).await;
                let r = post::with_bots(server, &bot, &prefix, k, c, d, plan.max_posts).await?;
                // One call per bot per post.
                let per_call = meter.per_unit_us(r.posts * k);
                let row = format!(
                    "K={k:<2} C={c:<3} {:>7.0} posts/s  p99 {:>7.2} ms  bad payloads {}  missing replies {}{}",
                    r.per_second,
                    r.latency.p99_ms,
                    r.bad_payloads,
                    r.missing_replies,
                    cpu::column(per_call, "call")
                );
                let line = WithCpu {
                    result: &r,
                    server_cpu_us_per_unit: per_call,
                    unit: "bot call",
                };
                if r.bad_payloads > 0 || r.missing_replies > 0 {
                    out.emit("bot", &line, row);
                    return Err("bot scenario: wrong payloads or missing replies".into());
                }
                out.emit("bot", &line, row);
            }
        }
    }

    if wants("fanout") {
        // The ceiling: the same fan-out through a trivial broadcast on the
        // same stack, in rounds alternating with NeCSuS after each
        // fixed-rate run.
        let trivial = TrivialServer::start(plan.trivial_exe.as_deref())?;
        let trivial_client = Server::new(&trivial.base, 64);
        for &s in &plan.subscribers {
            for rate in [Some(plan.fanout_rate), None] {
                let room = format!(
                    "{prefix}-fanout-{s}-{}",
                    rate.map_or("max".into(), |r| r.to_string())
                );
                let spec = fanout::Fanout {
                    subscribers: s,
                    rate,
                    posters: if rate.is_some() { 1 } else { 4 },
                    duration: d,
                    max_posts: plan.max_posts,
                    pid,
                };
                let r = fanout::run(server, &room, &spec).await?;
                let row = format!(
                    "S={s:<5} {:<9} {:>6.1} posts/s {:>9.0} deliveries/s  p99 {:>7.2} ms  lost {} dup {} disorder {} resumed {}{}",
                    rate.map_or("flat out".into(), |r| format!("{r}/s")),
                    r.posts_per_second,
                    r.deliveries_per_second,
                    r.latency.p99_ms,
                    r.lost,
                    r.duplicated,
                    r.out_of_order,
                    r.reconnects,
                    cpu::column(r.server_cpu_us_per_unit, "delivery")
                );
                out.emit("fanout", &r, row);
                if r.faults() > 0 {
                    return Err(FANOUT_FAULTS.into());
                }
                if rate.is_some() {
                    let trivial_spec = fanout::Fanout {
                        pid: Some(trivial.pid()),
                        ..spec.clone()
                    };
                    // NeCSuS and the broadcast take turns, each round's pair
                    // run back to back, so that a busy spell on a shared
                    // machine weighs on one pair rather than on one side;
                    // the median pair's ratio is the figure.
                    let mut rounds: Vec<(f64, f64)> = Vec::with_capacity(FANOUT_CEILING_ROUNDS);
                    let mut last_ceiling = None;
                    for k in 0..FANOUT_CEILING_ROUNDS {
                        let ours = if k == 0 {
                            r.server_cpu_us_per_unit
                        } else {
                            let again =
                                fanout::run(server, &format!("{room}-round{k}"), &spec).await?;
                            if again.faults() > 0 {
                                return Err(FANOUT_FAULTS.into());
                            }
                            again.server_cpu_us_per_unit
                        };
                        let c = fanout::run(
                            &trivial_client,
                            &format!("{room}-trivial{k}"),
                            &trivial_spec,
                        )
                        .await?;
                        if c.faults() > 0 {
                            return Err(
                                "fanout ceiling: the trivial broadcast lost, duplicated or reordered messages"
                                    .into(),
                            );
                        }
                        rounds.extend(ours.zip(c.server_cpu_us_per_unit));
                        last_ceiling = Some(c);
                    }
                    let Some(c) = last_ceiling else { continue };
                    let ratio_of = |(ours, ceiling): (f64, f64)| ours / ceiling.max(1e-9);
                    let median_of = |values: Vec<f64>| {
                        (!values.is_empty()).then(|| crate::stats::median(&values))
                    };
                    let ours = median_of(rounds.iter().map(|r| r.0).collect());
                    let ceiling = median_of(rounds.iter().map(|r| r.1).collect());
                    let ratio = median_of(rounds.iter().map(|&r| ratio_of(r)).collect());
                    let row = format!(
                        "S={s:<5} {:<9} trivial broadcast {:>9.0} deliveries/s  lost {} dup {} disorder {}{}{}",
                        format!("{}/s", plan.fanout_rate),
                        c.deliveries_per_second,
                        c.lost,
                        c.duplicated,
                        c.out_of_order,
                        cpu::column(ceiling, "delivery"),
                        ratio.map_or(String::new(), |r| {
                            format!("; NeCSuS {r:.2}x it (median of {} rounds)", rounds.len())
                        }),
                    );
                    let rounds: Vec<Value> = rounds
                        .iter()
                        .map(|&(ours, ceiling)| {
                            json!({"server_cpu_us_per_delivery": ours,
                                   "ceiling_cpu_us_per_delivery": ceiling,
                                   "ratio": ratio_of((ours, ceiling))})
                        })
                        .collect();
                    out.emit(
                        "fanout_ceiling",
                        &json!({"subscribers": s, "target_rate": rate, "ceiling": c,
                                "ceiling_cpu_us_per_delivery": ceiling,
                                "server_cpu_us_per_delivery": ours,
                                "ratio": ratio, "rounds": rounds, "unit": "delivery"}),
                        row,
                    );
                }
            }
        }
    }

    // Last: its rounds post hundreds of thousands of messages, which would
    // weigh on the scenarios above. The compared server is fresh while this
    // one carries everything above, which if anything overstates the cost.
    if wants("recording") {
        match compare {
            None => out.note(
                "recording  skipped: pass --compare with a second server started with --bot-calls-per-room 0",
            ),
            Some(off) => {
                let bot = post::start_bot().await;
                let c = *plan.bot_clients.last().unwrap_or(&16);
                let rounds = recording::Rounds {
                    count: plan.recording_rounds,
                    each: plan.recording_round,
                    max_posts: plan.max_posts,
                };
                let r = recording::cost(server, off, &bot, &prefix, c, rounds).await?;
                let row = format!(
                    "K=1  C={c:<3} log on {:>7.0} posts/s, off {:>7.0} posts/s (medians of {} rounds): costs {:.1}%",
                    median(&r.on_per_second),
                    median(&r.off_per_second),
                    r.rounds,
                    r.cost_percent
                );
                let broken = r.bad_payloads > 0 || r.missing_replies > 0;
                out.emit("recording", &r, row);
                if broken {
                    return Err("recording scenario: wrong payloads or missing replies".into());
                }
            }
        }
    }

    // Last: the large replies' memory is measured against what the process
    // holds by then (run `attack` alone on a fresh server for the figure).
    if wants("attack") {
        let r = attack::pattern(server, &prefix, d, plan.attack).await?;
        let row = format!(
            "quiet room p99: post {:.1} ms, read {:.1} ms; under the pattern attack ({} bots, {} x {} chars): post {:.1} ms, read {:.1} ms (attack posts p50 {:.0} ms)",
            r.quiet_post.p99_ms,
            r.quiet_read.p99_ms,
            r.bots,
            r.attackers,
            r.attack_chars,
            r.attacked_post.p99_ms,
            r.attacked_read.p99_ms,
            r.attack_posts.p50_ms,
        );
        out.emit("attack", &r, row);
        match pid {
            None => out.note("attack     large replies skipped: pass --pid of the server process"),
            Some(pid) => {
                let r = attack::replies(server, &prefix, pid, plan.attack).await?;
                let row = format!(
                    "{} calls at once, {} B gzip = {:.1} MiB decoded each: RSS grew {:.0} MiB (from {} KiB), {} answered in {:.1} s",
                    r.calls,
                    r.compressed_bytes,
                    r.decoded_bytes as f64 / 1048576.0,
                    r.grew_mib,
                    r.rss_before_kib,
                    r.answered,
                    r.seconds
                );
                let missing = r.answered < r.calls;
                out.emit("attack", &r, row);
                if missing {
                    return Err("attack scenario: a large reply was not answered".into());
                }
            }
        }
    }

    Ok(())
}
