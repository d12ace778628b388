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
    // With --pid, the CPU time per unit of work is in every line of the
    // scenarios that do work on the server.
    for scenario in ["post", "bot", "fanout", "catchup"] {
        for line in out.lines.iter().filter(|l| l["scenario"] == scenario) {
            assert!(
                line["server_cpu_us_per_unit"]
                    .as_f64()
                    .is_some_and(|us| us >= 0.0)
                    && line["unit"].is_string(),
                "{line}"
            );
        }
    }
    for line in out.lines.iter().filter(|l| l["scenario"] == "fanout") {
        assert!(line["posts"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(
            line["deliveries"],
            line["posts"].as_u64().unwrap() * line["subscribers"].as_u64().unwrap(),
            "{line}"
        );
    }
    // Each fixed-rate fan-out is followed by the trivial broadcast's, with
    // both CPU figures and their ratio.
    let fixed_rate = out
        .lines
        .iter()
        .filter(|l| l["scenario"] == "fanout" && l["target_rate"].is_number())
        .count();
    assert_eq!(count("fanout_ceiling"), fixed_rate, "{:?}", out.lines);
    for line in out
        .lines
        .iter()
        .filter(|l| l["scenario"] == "fanout_ceiling")
    {
        let ceiling = &line["ceiling"];
        assert!(ceiling["posts"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(
            ceiling["deliveries"],
            ceiling["posts"].as_u64().unwrap() * line["subscribers"].as_u64().unwrap(),
            "{line}"
        );
        // The figures are medians of rounds taken in turns.
        let rounds = line["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 3, "{line}");
        for key in [
            "ceiling_cpu_us_per_delivery",
            "server_cpu_us_per_delivery",
            "ratio",
        ] {
            assert!(
                line[key].as_f64().is_some_and(|v| v >= 0.0),
                "{key}: {line}"
            );
            assert!(
                rounds.iter().all(|r| r[key].as_f64().is_some()),
                "{key}: {line}"
            );
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaleout_scenario_runs_against_sqlite_and_postgresql() {
    let Some(admin) = std::env::var("NECSUS_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the scaleout smoke test, but NECSUS_TEST_POSTGRES is not set"
        );
        eprintln!("!!! SKIPPING the scaleout smoke test: NECSUS_TEST_POSTGRES is not set");
        return;
    };
    necsus::botcall::install_crypto_provider();
    // A fresh database in the test cluster.
    let name = format!("necsus_bench_smoke_{}", std::process::id());
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut pg_url = url::Url::parse(&admin).unwrap();
    pg_url.set_path(&format!("/{name}"));
    let dir = tempfile::tempdir().unwrap();
    let token = CancellationToken::new();
    let mut servers = Vec::new();
    let mut tasks = Vec::new();
    for db in [
        dir.path().join("s.db").to_string_lossy().into_owned(),
        pg_url.to_string(),
    ] {
        let config = necsus::config::Config {
            db,
            bot_timeout: Duration::from_secs(10),
            room_rate_limit: 0.0,
            ..Default::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        servers.push(Server::new(
            &format!("http://{}", listener.local_addr().unwrap()),
            64,
        ));
        tasks.push(tokio::spawn(necsus::app::serve(
            listener,
            config,
            token.clone(),
        )));
    }
    let sizes = necsus_bench::scaleout::Sizes {
        post_clients: 8,
        bot_clients: 4,
        subscribers: 10,
        rate: 40.0,
        duration: Duration::from_millis(500),
        posts_per_room: 10,
        max_posts: 200,
    };
    let mut out = Reporter::default();
    let deployments = [("sqlite", &servers[0]), ("postgres-one", &servers[1])];
    let result = necsus_bench::scaleout::run(&deployments, "smoke", &sizes, &mut out).await;
    token.cancel();
    for t in tasks {
        let _ = t.await;
    }
    let results = result.expect("the scaleout scenario's correctness checks");
    assert_eq!(results.len(), 2);
    for d in &results {
        assert!(
            d.post.posts > 0 && d.bot.posts > 0 && d.fanout.posts > 0,
            "{d:?}"
        );
    }
}
