//! The scale-out scenario: the same work against the SQLite server, one
//! PostgreSQL instance, and several PostgreSQL instances behind one
//! address (Caddy in front), in one run: posting at 64 clients, one bot at
//! 16 clients, and fan-out to 1,000 subscribers at 20 posts/s (behind the
//! proxy the subscribers and posts spread over the instances, so most
//! deliveries cross instances). Correctness counters must stay 0.

use std::time::Duration;

use serde::Serialize;

use crate::client::Server;
use crate::fanout::{self, FanoutResult};
use crate::post::{self, BenchBot, BotResult, PostResult};
use crate::report::Reporter;

/// What one deployment did.
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    pub name: String,
    pub post: PostResult,
    pub bot: BotResult,
    pub fanout: FanoutResult,
}

/// The sizes the scenario runs at.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub post_clients: usize,
    pub bot_clients: usize,
    pub subscribers: usize,
    pub rate: f64,
    pub duration: Duration,
    pub posts_per_room: usize,
    pub max_posts: usize,
}

async fn measure(
    name: &str,
    server: &Server,
    bot: &BenchBot,
    prefix: &str,
    sizes: &Sizes,
) -> Result<Deployment, String> {
    let rooms = post::capped_rooms(format!("{prefix}-{name}-post"), sizes.posts_per_room);
    let post = post::closed_loop(
        server,
        sizes.post_clients,
        sizes.duration,
        sizes.max_posts,
        rooms,
    )
    .await;
    let bot_prefix = format!("{prefix}-{name}");
    let bot = post::with_bots(
        server,
        bot,
        &bot_prefix,
        1,
        sizes.bot_clients,
        sizes.duration,
        sizes.max_posts,
    )
    .await?;
    let room = format!("{prefix}-{name}-fanout");
    let spec = fanout::Fanout {
        subscribers: sizes.subscribers,
        rate: Some(sizes.rate),
        posters: 1,
        duration: sizes.duration,
        max_posts: sizes.max_posts,
        pid: None,
    };
    let fanout = fanout::run(server, &room, &spec).await?;
    Ok(Deployment {
        name: name.to_owned(),
        post,
        bot,
        fanout,
    })
}

/// Runs the scenario on every deployment given; fails on any lost,
/// duplicated or out-of-order delivery, wrong bot payload or missing reply.
pub async fn run(
    deployments: &[(&str, &Server)],
    prefix: &str,
    sizes: &Sizes,
    out: &mut Reporter,
) -> Result<Vec<Deployment>, String> {
    let bot = post::start_bot().await;
    let mut results = Vec::new();
    for (name, server) in deployments {
        let d = measure(name, server, &bot, prefix, sizes).await?;
        let f = &d.fanout;
        let row = format!(
            "{name:<14} post C={} {:>7.0}/s p99 {:>6.2} ms | bot K=1 C={} {:>6.0}/s | fanout S={} at {}/s p99 {:>6.2} ms, lost {} dup {} disorder {}",
            sizes.post_clients,
            d.post.per_second,
            d.post.latency.p99_ms,
            sizes.bot_clients,
            d.bot.per_second,
            sizes.subscribers,
            sizes.rate,
            f.latency.p99_ms,
            f.lost,
            f.duplicated,
            f.out_of_order
        );
        let broken =
            f.faults() + d.bot.bad_payloads + d.bot.missing_replies > 0 || d.post.errors > 0;
        out.emit("scaleout", &d, row);
        if broken {
            return Err(format!(
                "scaleout on {name}: lost, duplicated, out-of-order or failed work"
            ));
        }
        results.push(d);
    }
    if let [first, rest @ ..] = results.as_slice() {
        for d in rest {
            out.note(&format!(
                "{} / {}: post {:.2}, bot {:.2}",
                d.name,
                first.name,
                d.post.per_second / first.post.per_second.max(1.0),
                d.bot.per_second / first.bot.per_second.max(1.0)
            ));
        }
    }
    Ok(results)
}
