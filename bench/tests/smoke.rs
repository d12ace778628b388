//! A few seconds of every scenario at tiny sizes against a real server
//! started on loopback: it checks correctness (no lost, duplicated or
//! out-of-order messages, every bot reply stored), never speed.

use std::time::Duration;

use necsus_bench::client::Server;
use necsus_bench::plan::{self, Plan};
use necsus_bench::report::Reporter;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_correctly_at_smoke_size() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = necsus::config::Config {
        db: dir.path().join("bench.db").to_string_lossy().into_owned(),
        bot_timeout: Duration::from_secs(10),
        // Benchmarks run with the per-room rate limit off.
        room_rate_limit: 0.0,
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let token = CancellationToken::new();
    let server_task = tokio::spawn(necsus::app::serve(listener, config.clone(), token.clone()));
    // The same with the bot-call log off, for the recording scenario.
    let unrecorded = necsus::config::Config {
        db: dir
            .path()
            .join("unrecorded.db")
            .to_string_lossy()
            .into_owned(),
        bot_calls_per_room: 0,
        ..config
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let compare = Server::new(&format!("http://{}", listener.local_addr().unwrap()), 8);
    let compare_task = tokio::spawn(necsus::app::serve(listener, unrecorded, token.clone()));

    let server = Server::new(&base, 8);
    let mut out = Reporter {
        quiet: true,
        ..Default::default()
    };
    let plan = Plan {
        trivial_exe: Some(env!("CARGO_BIN_EXE_necsus-bench").into()),
        ..Plan::smoke()
    };
    let result = plan::run(
        "all",
        &plan,
        &server,
        Some(&compare),
        Some(std::process::id()),
        &mut out,
    )
    .await;
    token.cancel();
    let _ = server_task.await;
    let _ = compare_task.await;
    if let Err(e) = result {
        panic!(
            "a scenario failed its correctness checks: {e}\n{:#?}",
            out.lines
        );
    }

    let count = |s: &str| out.lines.iter().filter(|l| l["scenario"] == s).count();
    for scenario in plan::SCENARIOS {
        assert!(
            count(scenario) > 0,
            "{scenario} reported nothing: {:?}",
            out.lines
        );
    }
    for line in out.lines.iter().filter(|l| l["scenario"] == "fanout") {
        assert!(line["posts"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(
            line["deliveries"],
            line["posts"].as_u64().unwrap() * line["subscribers"].as_u64().unwrap(),
            "{line}"
        );
    }
    let catchup = out
        .lines
        .iter()
        .find(|l| l["scenario"] == "catchup")
        .unwrap();
    // The filled room, plus what the history scenario posted into it.
    assert!(catchup["messages"].as_u64().unwrap() >= 300, "{catchup}");
    assert_eq!(catchup["ws_replayed"], catchup["messages"]);
    let recording = out
        .lines
        .iter()
        .find(|l| l["scenario"] == "recording")
        .unwrap();
    // One call per post, and every call listed up to the 200 a room keeps.
    let posts = recording["on_posts"].as_u64().unwrap();
    let listed = recording["records_listed"].as_u64().unwrap();
    assert!(posts > 0, "{recording}");
    assert!(listed <= posts && listed >= posts.min(200), "{recording}");
}

#[tokio::test]
async fn the_benchmark_refuses_a_server_that_limits_rooms() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = necsus::config::Config {
        db: dir.path().join("limited.db").to_string_lossy().into_owned(),
        ..Default::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(&format!("http://{}", listener.local_addr().unwrap()), 8);
    let token = CancellationToken::new();
    let task = tokio::spawn(necsus::app::serve(listener, config, token.clone()));
    let mut out = Reporter {
        quiet: true,
        ..Default::default()
    };
    let result = plan::run("post", &Plan::smoke(), &server, None, None, &mut out).await;
    token.cancel();
    let _ = task.await;
    let error = result.expect_err("a rate-limited server is not benchmarked");
    assert!(error.contains("--room-rate-limit 0"), "{error}");
}
