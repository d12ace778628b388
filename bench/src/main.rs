//! `necsus-bench`: load benchmark for a NeCSuS server on loopback.

use std::time::Duration;

use clap::Parser;
use necsus_bench::client::Server;
use necsus_bench::plan::{self, Plan};
use necsus_bench::report::Reporter;

#[derive(Parser)]
#[command(
    name = "necsus-bench",
    about = "Benchmarks a running NeCSuS server on this machine",
    after_help = "Scenarios: post, history, bot, recording, fanout, catchup, memory, ceiling, attack, all;\n\
                  scaleout (with --postgres and/or --instances).\n\
                  One JSON line per measurement goes to stdout, a table to stderr."
)]
struct Args {
    /// Scenario to run.
    #[arg(default_value = "all")]
    scenario: String,
    /// Server to benchmark (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:6277")]
    base: String,
    /// A second server, started with `--bot-calls-per-room 0`, for the
    /// recording scenario (the bot-call log's cost).
    #[arg(long)]
    compare: Option<String>,
    /// One NeCSuS instance on PostgreSQL, for the scaleout scenario.
    #[arg(long)]
    postgres: Option<String>,
    /// Several instances on one PostgreSQL behind one address (Caddy), for
    /// the scaleout scenario.
    #[arg(long)]
    instances: Option<String>,
    /// Server process id, for the memory scenario.
    #[arg(long)]
    pid: Option<u32>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Posts per room in the post scenario before moving to a fresh room.
    #[arg(long, default_value_t = 100)]
    posts_per_room: usize,
    /// Messages in the big room of the history and catchup scenarios.
    #[arg(long, default_value_t = 100_000)]
    history: usize,
    /// Client counts of the post scenario (comma-separated).
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Subscriber counts of the fanout scenario (comma-separated).
    #[arg(long, value_delimiter = ',')]
    subscribers: Option<Vec<usize>>,
    /// Use the tiny smoke-test sizes.
    #[arg(long)]
    smoke: bool,
}

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("serve-trivial") {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        runtime.block_on(necsus_bench::ceiling::serve_trivial());
        return std::process::ExitCode::SUCCESS;
    }
    let args = Args::parse();
    for base in std::iter::once(&args.base)
        .chain(&args.compare)
        .chain(&args.postgres)
        .chain(&args.instances)
    {
        if let Err(e) = necsus_bench::check_loopback(base) {
            eprintln!("necsus-bench: {e}");
            return std::process::ExitCode::from(2);
        }
    }
    let mut plan = if args.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    if !args.smoke {
        plan.duration = Duration::from_secs_f64(args.duration.clamp(0.1, 600.0));
        plan.posts_per_room = args.posts_per_room;
        plan.history = args.history;
        plan.recording_round = plan.duration.mul_f64(0.3);
    }
    if let Some(counts) = &args.clients {
        plan.post_clients = counts.clone();
    }
    if let Some(counts) = &args.subscribers {
        plan.subscribers = counts.clone();
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if args.scenario == "scaleout" {
        return runtime.block_on(scaleout(&args, &plan));
    }
    runtime.block_on(async move {
        let server = Server::new(&args.base, 64);
        let compare = args.compare.as_deref().map(|base| Server::new(base, 64));
        let mut out = Reporter::default();
        let result = plan::run(
            &args.scenario,
            &plan,
            &server,
            compare.as_ref(),
            args.pid,
            &mut out,
        );
        match result.await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("necsus-bench: {e}");
                std::process::ExitCode::FAILURE
            }
        }
    })
}

/// The same work on the SQLite server (`--base`), one PostgreSQL instance
/// (`--postgres`) and several behind one address (`--instances`).
async fn scaleout(args: &Args, plan: &Plan) -> std::process::ExitCode {
    let mut servers = vec![("sqlite", Server::new(&args.base, 1100))];
    if let Some(url) = &args.postgres {
        servers.push(("postgres-one", Server::new(url, 1100)));
    }
    if let Some(url) = &args.instances {
        servers.push(("postgres-many", Server::new(url, 1100)));
    }
    if servers.len() < 2 {
        eprintln!("necsus-bench: scaleout needs --postgres and/or --instances");
        return std::process::ExitCode::from(2);
    }
    let mut out = Reporter::default();
    for (_, s) in &servers {
        match s.room_rate_limit().await {
            Ok(r) if r > 0.0 => {
                eprintln!(
                    "necsus-bench: {} limits posts per room; {}",
                    s.base,
                    necsus_bench::client::RATE_LIMITED
                );
                return std::process::ExitCode::FAILURE;
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("necsus-bench: {}: {e}", s.base);
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    out.note("room rate limit: off on every server benchmarked (--room-rate-limit 0)");
    let sizes = necsus_bench::scaleout::Sizes {
        post_clients: 64,
        bot_clients: 16,
        subscribers: if args.smoke { 20 } else { 1000 },
        rate: plan.fanout_rate,
        duration: plan.duration,
        posts_per_room: plan.posts_per_room,
        max_posts: plan.max_posts,
    };
    let deployments: Vec<(&str, &Server)> = servers.iter().map(|(n, s)| (*n, s)).collect();
    let prefix = necsus_bench::run_id();
    match necsus_bench::scaleout::run(&deployments, &prefix, &sizes, &mut out).await {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("necsus-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
