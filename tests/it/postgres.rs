//! Several instances on one PostgreSQL database (docs/contract.md §7,
//! docs/postgres.md): every rule holds whichever instance a request reaches.
//! Needs a PostgreSQL cluster (`NECSUS_TEST_POSTGRES`, which
//! `tests/run-all.sh` sets up); without it these print a loud SKIPPING
//! line, and under CI they fail.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

/// `n` instances on one fresh database.
async fn instances(
    test: &str,
    n: usize,
    configure: impl Fn(&mut necsus::config::Config),
) -> Option<Vec<Arc<TestApp>>> {
    let admin = postgres_or_skip(test)?;
    let url = fresh_postgres_db(&admin).await;
    let mut apps = Vec::new();
    for _ in 0..n {
        let url = url.clone();
        apps.push(Arc::new(
            spawn_app_with(|c| {
                c.db = url;
                configure(c);
            })
            .await,
        ));
    }
    Some(apps)
}

/// Reads message frames until `count` messages arrived (bounded wait).
async fn read_messages(ws: &mut Ws, count: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < count {
        match ws.next_event(Duration::from_secs(30)).await {
            Some(WsEvent::Frame(f)) if f["kind"] == "message" => got.push(f["data"].clone()),
            Some(WsEvent::Frame(_)) => {}
            other => panic!("stream ended after {} of {count}: {other:?}", got.len()),
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_deliver_every_message_exactly_once_in_order() {
    let Some(apps) = instances(
        "three_instances_deliver_every_message_exactly_once_in_order",
        3,
        |_| {},
    )
    .await
    else {
        return;
    };
    let rooms = ["shared-a", "shared-b"];
    // A subscriber on every instance for every room.
    let mut subscribers = Vec::new();
    for app in &apps {
        for room in rooms {
            subscribers.push((room, app.subscribe(room, None).await));
        }
    }
    // Concurrent posters on all three instances into both rooms.
    let per_poster = 40;
    let mut posters = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        for room in rooms {
            for p in 0..2 {
                let app = Arc::clone(app);
                posters.push(tokio::spawn(async move {
                    for n in 0..per_poster {
                        app.say(room, &format!("i{i} p{p} n{n}")).await;
                    }
                }));
            }
        }
    }
    for p in posters {
        p.await.unwrap();
    }
    let expected = apps.len() * 2 * per_poster;
    let mut sequences: HashMap<&str, Vec<Vec<i64>>> = HashMap::new();
    for (room, ws) in &mut subscribers {
        let got = read_messages(ws, expected).await;
        let ids: Vec<i64> = got.iter().map(|m| m["id"].as_i64().unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{room}: out of order or repeated"
        );
        assert!(got.iter().all(|m| m["room"] == *room));
        ws.assert_quiet(Duration::from_millis(300)).await;
        sequences.entry(room).or_default().push(ids);
    }
    for room in rooms {
        let stored: Vec<i64> = apps[0]
            .messages(room)
            .await
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(stored.len(), expected);
        for seq in &sequences[room] {
            assert_eq!(
                seq, &stored,
                "{room}: every subscriber sees the stored sequence"
            );
        }
    }
}

#[tokio::test]
async fn a_bot_added_through_one_instance_answers_a_post_through_another() {
    let Some(apps) = instances(
        "a_bot_added_through_one_instance_answers_a_post_through_another",
        2,
        |_| {},
    )
    .await
    else {
        return;
    };
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "here"}))).await;
    // Warm B's bot cache for the room first: the change must reach it.
    apps[1].say("r", "anyone?").await;
    apps[0]
        .add_bot("r", "Helper", &bot.url("/h"), Some("help"))
        .await;
    let sent = apps[1].say("r", "help me").await;
    let replies = apps[1].messages_after("r", &sent).await;
    assert_eq!(texts(&replies), ["here"]);
    // And a deletion through B stops it answering through A.
    let bots = apps[1].get("/api/bots?room=r").await.1;
    apps[1]
        .delete("/api/actions/bot", json!({"id": bots[0]["id"]}))
        .await;
    let sent = apps[0].say("r", "help again").await;
    assert!(apps[0].messages_after("r", &sent).await.is_empty());
}

#[tokio::test]
async fn conversations_and_turns_hold_across_instances() {
    let Some(apps) = instances("conversations_and_turns_hold_across_instances", 2, |_| {}).await
    else {
        return;
    };
    let bot = counting_bot(Duration::from_millis(1500)).await;
    apps[0]
        .add_bot("turns", "Counter", &bot.url("/c"), Some("^start"))
        .await;
    apps[0].say("turns", "start").await;
    let mut ws = apps[1].subscribe("turns", None).await;
    // "answer A" through the first instance, "answer B" through the second
    // while the bot is still answering A.
    let first = Arc::clone(&apps[0]);
    let a = tokio::spawn(async move { first.say("turns", "answer A").await });
    loop {
        if let Some(WsEvent::Frame(f)) = ws.next_event(Duration::from_secs(20)).await
            && f["kind"] == "message"
            && f["data"]["text"] == "answer A"
        {
            break;
        }
    }
    apps[1].say("turns", "answer B").await;
    a.await.unwrap();
    assert_eq!(
        texts_and_states(&bot.calls()),
        [
            ("start".to_owned(), Value::Null),
            ("answer A".to_owned(), json!(1)),
            ("answer B".to_owned(), json!(2)),
        ]
    );
    let calls = bot.calls();
    assert!(
        calls[2].received >= calls[1].answered,
        "B waited for A's reply"
    );
}

#[tokio::test]
async fn calls_in_flight_and_the_call_log_are_seen_from_every_instance() {
    let Some(apps) = instances(
        "calls_in_flight_and_the_call_log_are_seen_from_every_instance",
        2,
        |_| {},
    )
    .await
    else {
        return;
    };
    let bot = recording_bot(|_, _| {
        Answer::json(json!({"text": "slow"})).after(Duration::from_millis(1500))
    })
    .await;
    apps[0]
        .add_bot("log", "Slow", &bot.url("/s"), Some("go"))
        .await;
    let poster = Arc::clone(&apps[0]);
    let post = tokio::spawn(async move { poster.say("log", "go").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // A browser connecting to the other instance mid-call is told of it.
    let mut late = apps[1].subscribe("log", None).await;
    let mut started = None;
    while let Some(WsEvent::Frame(f)) = late.next_event(Duration::from_secs(5)).await {
        if f["kind"] == "bot_call_started" {
            started = Some(f);
            break;
        }
    }
    let started = started.expect("the call in flight on the other instance");
    assert_eq!(started["data"]["bot_name"], "Slow");
    // When it finishes, the log of the other instance lists it at once.
    loop {
        match late.next_event(Duration::from_secs(10)).await {
            Some(WsEvent::Frame(f)) if f["kind"] == "bot_call_finished" => break,
            Some(WsEvent::Frame(_)) => {}
            other => panic!("no bot_call_finished: {other:?}"),
        }
    }
    let (_, log) = apps[1].get("/api/bot-calls?room=log").await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["id"], started["data"]["id"]);
    post.await.unwrap();
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_the_instances() {
    let Some(apps) = instances("the_rate_limit_is_shared_by_the_instances", 3, |c| {
        c.room_rate_limit = 1.0;
        c.room_rate_burst = 9;
    })
    .await
    else {
        return;
    };
    let mut statuses = Vec::new();
    for n in 0..15 {
        let (status, _) = apps[n % 3]
            .post(
                "/api/actions/message",
                json!({"room": "busy", "author": "script", "text": format!("{n}")}),
            )
            .await;
        statuses.push(status.as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!((9..=10).contains(&accepted), "{statuses:?}");
    assert!(statuses[12..].iter().all(|s| *s == 429), "{statuses:?}");
    let told = apps[2]
        .messages("busy")
        .await
        .iter()
        .filter(|m| m["kind"] == "system")
        .count();
    assert_eq!(told, 1, "told once, whichever instance refused first");
}

/// A client's own allowance is one across the instances: spreading its
/// posts over three instances gains it nothing.
#[tokio::test]
async fn a_clients_allowance_is_shared_by_the_instances() {
    let Some(apps) = instances("a_clients_allowance_is_shared_by_the_instances", 3, |c| {
        c.client_rate_limit = 1.0;
        c.client_rate_burst = 5;
    })
    .await
    else {
        return;
    };
    let mut statuses = Vec::new();
    for n in 0..15 {
        let app = &apps[n % 3];
        let response = app
            .http
            .post(app.url("/api/actions/message"))
            .header("x-forwarded-for", "203.0.113.50")
            .json(&json!({"room": format!("r{n}"), "author": "script", "text": "x"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    assert!((5..=6).contains(&accepted), "{statuses:?}");
    // Another client has its own.
    let response = apps[0]
        .http
        .post(apps[0].url("/api/actions/message"))
        .header("x-forwarded-for", "203.0.113.51")
        .json(&json!({"room": "r0", "author": "ann", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listener_resyncs_and_subscribers_lose_nothing() {
    let Some(admin) = postgres_or_skip("a_lost_listener_resyncs_and_subscribers_lose_nothing")
    else {
        return;
    };
    let url = fresh_postgres_db(&admin).await;
    let db_name = url::Url::parse(&url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let u = url.clone();
    let a = Arc::new(spawn_app_with(|c| c.db = u).await);
    let u = url.clone();
    let b = Arc::new(spawn_app_with(|c| c.db = u).await);
    let total = 200;
    let poster = Arc::clone(&a);
    let posting = tokio::spawn(async move {
        for n in 0..total {
            poster.say("lossless", &format!("m{n}")).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // A subscriber on B that resumes with `since` whenever it is closed.
    let reader = Arc::clone(&b);
    let reading = tokio::spawn(async move {
        let mut ids: Vec<i64> = Vec::new();
        let mut resumes = 0;
        while ids.len() < total {
            let since = ids.last().copied();
            let mut ws = reader.subscribe("lossless", since).await;
            loop {
                match ws.next_event(Duration::from_secs(30)).await {
                    Some(WsEvent::Frame(f)) if f["kind"] == "message" => {
                        ids.push(f["data"]["id"].as_i64().unwrap());
                        if ids.len() == total {
                            break;
                        }
                    }
                    Some(WsEvent::Frame(_)) => {}
                    Some(WsEvent::Closed(_)) | None => {
                        resumes += 1;
                        break;
                    }
                }
            }
        }
        (ids, resumes)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Kill every listening connection to this database, twice.
    for _ in 0..2 {
        use sqlx::Connection;
        let mut admin_conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND query ILIKE 'LISTEN%'",
        )
        .bind(&db_name)
        .execute(&mut admin_conn)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    posting.await.unwrap();
    let (ids, resumes) = tokio::time::timeout(Duration::from_secs(60), reading)
        .await
        .expect("the subscriber caught up")
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "no repeats, in order");
    let stored: Vec<i64> = a
        .messages("lossless")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, stored, "nothing lost");
    assert!(resumes >= 1, "the subscriber was told to resync");
    let (status, _) = b.get("/healthz").await;
    assert_eq!(status, 200, "healthy again once the listener hears");
}

#[tokio::test]
async fn start_up_refuses_a_message_id_sequence_that_caches_ids() {
    let Some(admin) = postgres_or_skip("start_up_refuses_a_message_id_sequence_that_caches_ids")
    else {
        return;
    };
    let url = fresh_postgres_db(&admin).await;
    let u = url.clone();
    let app = spawn_app_with(|c| c.db = u).await;
    app.say("r", "hi").await;
    app.shutdown.cancel();
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("ALTER SEQUENCE message_ids CACHE 20")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    necsus::botcall::install_crypto_provider();
    let error = necsus::postgres::PostgresStore::open(&url, Duration::from_secs(5))
        .await
        .err()
        .expect("refused");
    let error = error.to_string();
    assert!(error.contains("CACHE 1"), "{error}");
}

/// Posts `count` messages into `room` through `base`, retrying a post the
/// server did not acknowledge; returns the acknowledged ids.
async fn post_all(base: String, room: &'static str, tag: &'static str, count: usize) -> Vec<i64> {
    let http = reqwest::Client::new();
    let mut acked = Vec::new();
    for n in 0..count {
        for _attempt in 0..200 {
            let sent = http
                .post(format!("{base}/api/actions/message"))
                .timeout(Duration::from_secs(10))
                .json(&json!({"room": room, "author": tag, "text": format!("{tag} {n}")}))
                .send()
                .await;
            if let Ok(response) = sent
                && response.status() == 200
                && let Ok(body) = response.json::<Value>().await
            {
                acked.push(body["id"].as_i64().unwrap());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_one_instance_loses_no_acknowledged_message() {
    let Some(admin) = postgres_or_skip("kill_9_of_one_instance_loses_no_acknowledged_message")
    else {
        return;
    };
    necsus::botcall::install_crypto_provider();
    let url = fresh_postgres_db(&admin).await;
    let mut doomed = Binary::start(&url, free_port()).await;
    let survivor = Binary::start(&url, free_port()).await;
    let http = reqwest::Client::new();
    let acked = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut posters = Vec::new();
    for base in [doomed.base.clone(), survivor.base.clone()] {
        let (http, acked) = (http.clone(), Arc::clone(&acked));
        posters.push(tokio::spawn(async move {
            for n in 0..100_000 {
                let Ok(response) = http
                    .post(format!("{base}/api/actions/message"))
                    .json(&json!({"room": "crash", "author": "p", "text": format!("{n}")}))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                match body["id"].as_i64() {
                    Some(id) => acked.lock().unwrap().push(id),
                    None => return,
                }
            }
        }));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 100 {
        assert!(std::time::Instant::now() < deadline, "posting got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    doomed.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in posters {
        p.abort();
    }
    let acknowledged: Vec<i64> = acked.lock().unwrap().clone();
    let stored: std::collections::HashSet<i64> = http
        .get(format!("{}/api/messages?room=crash", survivor.base))
        .send()
        .await
        .unwrap()
        .json::<Vec<Value>>()
        .await
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    for id in &acknowledged {
        assert!(stored.contains(id), "acknowledged message {id} is stored");
    }
}

/// A PostgreSQL cluster of this test's own, for restarting it.
struct OwnCluster {
    dir: String,
    url: String,
}

impl OwnCluster {
    fn start(name: &str) -> Option<OwnCluster> {
        let dir = format!("/tmp/necsus-test-pg-{name}-{}", std::process::id());
        let out =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg-cluster.sh"))
                .arg("start")
                .env("NECSUS_TEST_PG_DIR", &dir)
                .output()
                .ok()?;
        out.status.success().then(|| OwnCluster {
            dir,
            url: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }

    fn run(&self, what: &str) {
        let status =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pg-cluster.sh"))
                .arg(what)
                .env("NECSUS_TEST_PG_DIR", &self.dir)
                .status()
                .unwrap();
        assert!(status.success(), "pg-cluster.sh {what}");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        self.run("stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_mid_stream_loses_and_repeats_nothing() {
    if postgres_or_skip("a_postgresql_restart_mid_stream_loses_and_repeats_nothing").is_none() {
        return;
    }
    let cluster = OwnCluster::start("restart").expect("a cluster of the test's own");
    let url = fresh_postgres_db(&cluster.url).await;
    let u = url.clone();
    let a = Arc::new(spawn_app_with(|c| c.db = u).await);
    let u = url.clone();
    let b = Arc::new(spawn_app_with(|c| c.db = u).await);
    let total = 150;
    let posting = tokio::spawn(post_all(a.base.clone(), "restart", "a", total));
    let reader = Arc::clone(&b);
    let reading = tokio::spawn(async move {
        let mut ids: Vec<i64> = Vec::new();
        while ids.len() < total {
            let since = ids.last().copied();
            let mut ws = reader.subscribe_url(&reader.ws_url("restart", since)).await;
            loop {
                match ws.next_event(Duration::from_secs(30)).await {
                    Some(WsEvent::Frame(f)) if f["kind"] == "message" => {
                        ids.push(f["data"]["id"].as_i64().unwrap());
                        if ids.len() == total {
                            break;
                        }
                    }
                    Some(WsEvent::Frame(_)) => {}
                    Some(WsEvent::Closed(_)) | None => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
            }
        }
        ids
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    cluster.run("restart");
    let acknowledged = posting.await.unwrap();
    assert_eq!(
        acknowledged.len(),
        total,
        "every message was acknowledged in the end"
    );
    let ids = tokio::time::timeout(Duration::from_secs(90), reading)
        .await
        .expect("the subscriber caught up")
        .unwrap();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "no repeats, in order");
    let stored: Vec<i64> = b
        .messages("restart")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, stored, "nothing lost");
    for id in &acknowledged {
        assert!(stored.contains(id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_db_moves_a_school_from_sqlite_to_postgresql() {
    let Some(admin) = postgres_or_skip("copy_db_moves_a_school_from_sqlite_to_postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("school.db");
    let s = sqlite.to_string_lossy().into_owned();
    let old = spawn_app_with(|c| c.db = s).await;
    let bot = counting_bot(Duration::ZERO).await;
    old.add_bot("quiz", "Counter", &bot.url("/c"), Some("^start"))
        .await;
    old.say("quiz", "start").await;
    old.say("cleared", "gone soon").await;
    old.post(
        "/api/actions/clear-room-messages",
        json!({"room": "cleared"}),
    )
    .await;
    old.say("cleared", "after the clear").await;
    let before_quiz = old.get("/api/messages?room=quiz").await.1;
    let before_cleared = old.get("/api/messages?room=cleared").await.1;
    let bots_before = old.get("/api/bots").await.1;
    old.shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !old.task.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    let target = fresh_postgres_db(&admin).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(["copy-db", "--from"])
        .arg(&sqlite)
        .args(["--to", &target])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("copied 3 of 3 messages"));
    // A second copy into the same database is refused.
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(["copy-db", "--from"])
        .arg(&sqlite)
        .args(["--to", &target])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds"));

    let t = target.clone();
    let new = spawn_app_with(|c| c.db = t).await;
    assert_eq!(new.get("/api/messages?room=quiz").await.1, before_quiz);
    assert_eq!(
        new.get("/api/messages?room=cleared").await.1,
        before_cleared
    );
    assert_eq!(new.get("/api/bots").await.1, bots_before);
    // The conversation carries on, and new ids continue above the old.
    let sent = new.say("quiz", "next").await;
    let newest_old = before_cleared.as_array().unwrap().last().unwrap()["id"]
        .as_i64()
        .unwrap();
    assert!(sent["id"].as_i64().unwrap() > newest_old);
    assert_eq!(bot.calls().last().unwrap().body["state"], 1);
    // A browser that saw the cleared messages is told to clear.
    let mut ws = new.subscribe("cleared", Some(1)).await;
    assert_eq!(ws.next().await["kind"], "clear_messages");

    // backup and restore point to PostgreSQL's own tools.
    let backup = std::process::Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(["backup", "--db", &target])
        .output()
        .unwrap();
    assert!(!backup.status.success());
    assert!(String::from_utf8_lossy(&backup.stderr).contains("pg_dump"));
    let restore = std::process::Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(["restore", "x.dump", "--db", &target])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&restore.stderr).contains("pg_restore"));
}

#[tokio::test]
async fn health_is_503_while_the_listener_cannot_hear_and_200_once_it_does() {
    let Some(admin) =
        postgres_or_skip("health_is_503_while_the_listener_cannot_hear_and_200_once_it_does")
    else {
        return;
    };
    let url = fresh_postgres_db(&admin).await;
    let db_name = url::Url::parse(&url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let u = url.clone();
    let app = spawn_app_with(|c| c.db = u).await;
    assert_eq!(app.get("/healthz").await.0, 200);
    use sqlx::Connection;
    let mut admin_conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    // The listener's connection goes, and no new connection is allowed.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {db_name} ALLOW_CONNECTIONS false"
    )))
    .execute(&mut admin_conn)
    .await
    .unwrap();
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND query ILIKE 'LISTEN%'",
    )
    .bind(&db_name)
    .execute(&mut admin_conn)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        // (A 503 for a refused pool connection may come first; the one
        // awaited here says the listener cannot hear.)
        let (status, body) = app.get("/healthz").await;
        if status == 503 && body.to_string().contains("notifications") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never 503 for the listener: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {db_name} ALLOW_CONNECTIONS true"
    )))
    .execute(&mut admin_conn)
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.get("/healthz").await.0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never healthy again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
