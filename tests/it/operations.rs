//! Running it for a summer school: backups while the server writes, restore,
//! metrics, trusted proxies in the access log, graceful shutdown, clear
//! start-up errors, migrations, and the committed Caddyfile in front.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// The real `necsus` binary as a child process, its log lines collected.
struct Server {
    child: Child,
    base: String,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

fn spawn_binary(db: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_necsus"))
        .arg("--db")
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the necsus binary starts")
}

impl Server {
    async fn start(db: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut args = vec!["--bind", &bind, "--log-format", "json"];
        args.extend_from_slice(extra);
        let mut child = spawn_binary(db, &args);
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        let base = format!("http://{bind}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not come up: {:?}",
                log.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server {
            child,
            base,
            port,
            log,
        }
    }

    fn log_lines(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its exit code.
    fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    necsus::botcall::install_crypto_provider();
    reqwest::Client::new()
}

async fn post_message(http: &reqwest::Client, base: &str, room: &str, text: &str) -> Value {
    let response = http
        .post(format!("{base}/api/actions/message"))
        .json(&json!({"room": room, "author": "ops", "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn get_messages(http: &reqwest::Client, base: &str, room: &str) -> Vec<Value> {
    get_list(http, base, "messages", room).await
}

/// GET /api/{what}?room={room}, e.g. messages or bot-calls.
async fn get_list(http: &reqwest::Client, base: &str, what: &str, room: &str) -> Vec<Value> {
    http.get(format!("{base}/api/{what}?room={room}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_clients_post_is_consistent_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let db_text = db.to_string_lossy().into_owned();
    let app = spawn_app_with(|c| c.db = db_text).await;

    let acknowledged: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut posters = Vec::new();
    for p in 0..4 {
        let (http, url) = (app.http.clone(), app.url("/api/actions/message"));
        let (acked, stop) = (Arc::clone(&acknowledged), Arc::clone(&stop));
        posters.push(tokio::spawn(async move {
            let room = format!("room{p}");
            for i in 0..5000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let response = http
                    .post(&url)
                    .json(&json!({"room": room, "author": "a", "text": format!("m{i}")}))
                    .send()
                    .await
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                acked
                    .lock()
                    .unwrap()
                    .push((room.clone(), body["id"].as_i64().unwrap()));
            }
        }));
    }
    // Back up while posting is under way: after at least 400 ms and more
    // than ten acknowledgements, however long a loaded machine takes to get
    // there (the deadline only stops a server that never answers).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let acked = acknowledged.lock().unwrap().len();
        if acked > 10 && started.elapsed() >= Duration::from_millis(400) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {acked} posts acknowledged in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<(String, i64)> = acknowledged.lock().unwrap().clone();
    assert!(before.len() > 10, "the posters got going");
    let backups = dir.path().join("backups");
    let snapshot = necsus::backup::backup(&db, &backups, Some(5))
        .await
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for p in posters {
        p.await.unwrap();
    }
    let name = snapshot.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("necsus-") && name.ends_with("Z.db.gz"),
        "{name}"
    );
    assert!(
        !name.contains(':'),
        "no characters that break on some filesystems"
    );

    let restored_db = dir.path().join("restored.db");
    let restored = necsus::backup::restore(&snapshot, &restored_db)
        .await
        .unwrap();
    assert!(restored.messages as usize >= before.len());
    assert!(restored.replaced.is_none());
    let restored_text = restored_db.to_string_lossy().into_owned();
    let second = spawn_app_with(|c| c.db = restored_text).await;
    for p in 0..4 {
        let room = format!("room{p}");
        let ids: std::collections::HashSet<i64> = second
            .messages(&room)
            .await
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        for (r, id) in before.iter().filter(|(r, _)| *r == room) {
            assert!(
                ids.contains(id),
                "message {id} of {r} acknowledged before the backup is in it"
            );
        }
    }
    // New messages in the restored server keep ids above the old ones.
    let newest = before.iter().map(|(_, id)| *id).max().unwrap();
    let fresh = second.say("room0", "after restore").await;
    assert!(fresh["id"].as_i64().unwrap() > newest);
}

#[tokio::test]
async fn restore_refuses_a_database_in_use_and_a_broken_backup_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("in-use.db");
    let db_text = db.to_string_lossy().into_owned();
    let app = spawn_app_with(|c| c.db = db_text).await;
    app.say("r", "precious").await;
    let snapshot = necsus::backup::backup(&db, dir.path(), None).await.unwrap();

    let refused = necsus::backup::restore(&snapshot, &db).await.unwrap_err();
    assert!(
        refused.contains("another NeCSuS server is using"),
        "{refused}"
    );

    let broken = dir.path().join("broken.db.gz");
    std::fs::write(&broken, b"not a backup").unwrap();
    let other = dir.path().join("other.db");
    let error = necsus::backup::restore(&broken, &other).await.unwrap_err();
    assert!(error.contains("cannot read the backup"), "{error}");
    assert!(!other.exists(), "nothing put in place");

    // A gzipped file that is not a SQLite database fails the check.
    let fake = dir.path().join("fake.db.gz");
    {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&fake).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(&[7u8; 8192]).unwrap();
        gz.finish().unwrap();
    }
    let error = necsus::backup::restore(&fake, &other).await.unwrap_err();
    assert!(
        error.contains("not a") || error.contains("integrity"),
        "{error}"
    );
    assert!(!other.exists());

    // Stopped, the restore goes through and keeps the replaced file aside.
    app.shutdown.cancel();
    app.task.await.unwrap();
    let done = necsus::backup::restore(&snapshot, &db).await.unwrap();
    assert_eq!(done.messages, 1);
    let aside = done.replaced.expect("the old database is kept");
    assert!(aside.exists());
    assert!(aside.to_string_lossy().contains(".replaced-"));
}

#[tokio::test]
async fn metrics_report_requests_messages_bot_calls_subscribers_and_writes() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    app.add_bot("m", "Counter", &bot.url("/"), None).await;
    let _ws = app.subscribe("m", None).await;
    app.say("m", "hello counter").await;
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "necsus_http_requests_total{",
        "route=\"/api/actions/message\"",
        "necsus_messages_total{kind=\"user\"}",
        "necsus_messages_total{kind=\"bot\"}",
        "necsus_bot_calls_total{outcome=\"ok\"}",
        "necsus_bot_call_duration_seconds_bucket",
        "necsus_websocket_subscribers",
        "necsus_websocket_lagged_total",
        "necsus_db_write_duration_seconds_bucket",
        "necsus_db_write_batch_size_bucket",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
}

fn access_lines(server: &Server, path: &str) -> Vec<Value> {
    server
        .log_lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "request" && l["fields"]["path"] == path)
        .collect()
}

/// The newest access log line for `path`, once the server has written it
/// and the pipe has carried it over (milliseconds normally; the deadline
/// leaves a loaded machine plenty of room).
async fn last_access_line(server: &Server, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = access_lines(server, path).pop() {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no access log line for {path}: {:?}",
            server.log.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_access_log_believes_forwarded_addresses_only_from_trusted_proxies() {
    let dir = tempfile::tempdir().unwrap();
    let http = client();
    let trusting = Server::start(&dir.path().join("a.db"), &[]).await;
    http.get(format!("{}/api/bots?room=x", trusting.base))
        .header("x-forwarded-for", "198.51.100.20, 203.0.113.7")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let line = last_access_line(&trusting, "/api/bots").await;
    assert_eq!(line["fields"]["client"], "203.0.113.7", "{line}");
    assert_eq!(line["fields"]["scheme"], "https");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["status"], 200);
    assert!(line["timestamp"].is_string(), "log lines carry timestamps");
    // Lines are written off the requests' path; dropped ones are counted.
    let metrics = http
        .get(format!("{}/metrics", trusting.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("necsus_log_lines_dropped_total 0"),
        "{metrics}"
    );

    let wary = Server::start(
        &dir.path().join("b.db"),
        &["--trusted-proxies", "192.0.2.1"],
    )
    .await;
    http.get(format!("{}/api/bots?room=x", wary.base))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    let line = last_access_line(&wary, "/api/bots").await;
    assert_eq!(line["fields"]["client"], "127.0.0.1", "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_activation_finish_closes_websockets_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("term.db");
    let http = client();
    let bot = recording_bot(|_, _| {
        Answer::json(json!({"text": "finished after the signal"}))
            .after(Duration::from_millis(1500))
    })
    .await;
    let mut server = Server::start(&db, &["--shutdown-grace", "20"]).await;
    let (status, _) = {
        let r = http
            .post(format!("{}/api/actions/bot", server.base))
            .json(&json!({"room": "t", "name": "Slow", "url": bot.url("/")}))
            .send()
            .await
            .unwrap();
        (r.status(), ())
    };
    assert_eq!(status, 200);
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/ws/t", server.port))
            .await
            .unwrap();
    let post = {
        let (http, base) = (http.clone(), server.base.clone());
        tokio::spawn(async move { post_message(&http, &base, "t", "slow, please").await })
    };
    // Signal once the bot call is under way (the bot then takes 1.5 s more),
    // however long a loaded machine takes to get there.
    use futures_util::StreamExt;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["kind"] == "bot_call_started" {
                    break;
                }
            }
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected the bot call to start, got {other:?}"),
        }
    }
    server.signal("TERM");

    // The stream is closed with 1001 "going away".
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(u16::from(close.expect("a close frame").code), 1001);
    // The activation already started finishes and answers.
    let user = post.await.unwrap();
    assert_eq!(server.wait(Duration::from_secs(20)), 0, "exit code 0");
    drop(server);

    let again = Server::start(&db, &[]).await;
    let messages = get_messages(&http, &again.base, "t").await;
    let after: Vec<&Value> = messages
        .iter()
        .filter(|m| m["id"].as_i64() > user["id"].as_i64())
        .collect();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["text"], "finished after the signal");
    // And its bot-call record, made after the signal, was written before
    // the server exited.
    let calls = get_list(&http, &again.base, "bot-calls", "t").await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["message_id"], after[0]["id"]);
}

fn run_to_exit(args: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout),
    )
}

#[tokio::test]
async fn start_up_refuses_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let db = dir.path().join("x.db");
    let (code, text) = run_to_exit(&["--bind", &bind, "--db", db.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        text.contains("cannot listen on") && text.contains(&bind),
        "{text}"
    );

    let free = format!("127.0.0.1:{}", free_port());
    let nowhere = dir.path().join("no/such/folder/x.db");
    let (code, text) = run_to_exit(&["--bind", &free, "--db", nowhere.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        text.contains("cannot") && text.contains("no/such/folder"),
        "{text}"
    );

    let first = Server::start(&db, &[]).await;
    let (code, text) = run_to_exit(&[
        "--bind",
        &format!("127.0.0.1:{}", free_port()),
        "--db",
        db.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(text.contains("another NeCSuS server is using"), "{text}");
    drop(first);
}

#[tokio::test]
async fn an_older_schema_is_migrated_forward_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    // A database as the first release left it: only the first migration.
    let first_only = dir.path().join("migrations");
    std::fs::create_dir(&first_only).unwrap();
    let first = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("0001_initial.sql"))
        .collect::<Vec<PathBuf>>();
    std::fs::copy(&first[0], first_only.join("0001_initial.sql")).unwrap();
    {
        use sqlx::ConnectOptions;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(first_only.as_path())
            .await
            .unwrap()
            .run(&mut conn)
            .await
            .unwrap();
        // Two rooms' messages interleaved, as any school's database has them.
        for (room, text) in [
            ("old", "from before"),
            ("other", "elsewhere"),
            ("old", "later"),
        ] {
            sqlx::query(
                "INSERT INTO messages (room, author, kind, text, \"when\", json) \
                 VALUES (?1, 'a', 'user', ?2, 1.0, \
                 json_object('id', (SELECT coalesce(max(id), 0) + 1 FROM messages), 'room', ?1, \
                 'author', 'a', 'kind', 'user', 'text', ?2, 'when', 1.0, 'image', NULL, 'media', NULL, \
                 'css', NULL, 'js', NULL, 'from_bot', NULL, 'base_url', NULL, 'state', NULL))",
            )
            .bind(room)
            .bind(text)
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
    let texts = |messages: Vec<Value>| -> Vec<(i64, String)> {
        messages
            .iter()
            .map(|m| {
                (
                    m["id"].as_i64().unwrap(),
                    m["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    for round in 0..2 {
        let db_text = db.to_string_lossy().into_owned();
        let app = spawn_app_with(|c| c.db = db_text).await;
        if round == 0 {
            assert_eq!(
                texts(app.messages("old").await),
                [(1, "from before".to_owned()), (3, "later".to_owned())]
            );
            assert_eq!(
                texts(app.messages("other").await),
                [(2, "elsewhere".to_owned())]
            );
            // Rooms from before and new ones take posts and clears as usual.
            assert_eq!(app.say("other", "after the upgrade").await["id"], 4);
            assert_eq!(app.say("new", "a new room").await["id"], 5);
            let (status, _) = app
                .post("/api/actions/clear-room-messages", json!({"room": "old"}))
                .await;
            assert_eq!(status, StatusCode::OK);
        }
        let since_clear = [(6, "once more".to_owned())];
        assert_eq!(texts(app.messages("old").await), since_clear[..round]);
        assert_eq!(
            texts(app.messages("other").await),
            [
                (2, "elsewhere".to_owned()),
                (4, "after the upgrade".to_owned())
            ]
        );
        assert_eq!(
            texts(app.messages("new").await),
            [(5, "a new room".to_owned())]
        );
        if round == 0 {
            assert_eq!(app.say("old", "once more").await["id"], 6);
        }
        let (status, calls) = app.get("/api/bot-calls?room=old").await;
        assert_eq!(
            (status, calls),
            (StatusCode::OK, json!([])),
            "the bot-call log exists"
        );
        assert!(
            dir.path().join("old-calls.db").exists(),
            "the bot-call log lives beside the database"
        );
        app.shutdown.cancel();
        app.task.await.unwrap();
    }
}

#[tokio::test]
async fn the_committed_caddyfile_proxies_the_api_websockets_and_client() {
    if Command::new("caddy").arg("version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have caddy installed"
        );
        eprintln!("!!! SKIPPING the Caddy test: caddy is not installed (apt-get install caddy)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("c.db"), &[]).await;
    let proxy_port = free_port();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Caddyfile")).unwrap();
    assert!(committed.contains(":8000") && committed.contains("127.0.0.1:6277"));
    // The admin API must be off: on localhost:2019 anything on the machine
    // could reconfigure the proxy.
    assert!(
        committed.contains("\tadmin off\n"),
        "the Caddyfile turns the admin API off"
    );
    let config = committed
        .replace(":8000", &format!(":{proxy_port}"))
        .replace("127.0.0.1:6277", &format!("127.0.0.1:{}", server.port));
    let caddyfile = dir.path().join("Caddyfile");
    std::fs::write(&caddyfile, config).unwrap();
    let mut caddy = Command::new("caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _caddy = Kill(&mut caddy);

    // Connect from another loopback address, as a remote browser would.
    necsus::botcall::install_crypto_provider();
    let http = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let proxied = format!("http://127.0.0.1:{proxy_port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http.get(format!("{proxied}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "caddy did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{proxy_port}/ws/proxied"))
            .await
            .expect("websocket through caddy");
    let posted = post_message(&http, &proxied, "proxied", "through caddy").await;
    use futures_util::StreamExt;
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let frame: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(frame["data"], posted);
    assert_eq!(get_messages(&http, &proxied, "proxied").await, vec![posted]);
    for page in ["/", "/proxied"] {
        let response = http.get(format!("{proxied}{page}")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.text().await.unwrap().contains("<html"));
    }
    let line = last_access_line(&server, "/api/actions/message").await;
    assert_eq!(
        line["fields"]["client"], "127.0.0.2",
        "the client's address from X-Forwarded-For: {line}"
    );
}

#[tokio::test]
async fn health_turns_503_while_the_database_does_not_answer_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("health.db");
    let db_text = db.to_string_lossy().into_owned();
    let app = spawn_app_with(|c| c.db = db_text).await;
    app.say("h", "hello").await;
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);

    // Another program holds the database's write lock and does not let go.
    use sqlx::{ConnectOptions, Connection};
    let mut hog = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&db)
        .connect()
        .await
        .unwrap();
    let mut tx = hog.begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("INSERT INTO clears (room, last_cleared_id) VALUES ('hog', 0)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("database"),
        "{body}"
    );

    tx.rollback().await.unwrap();
    hog.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = app.get("/healthz").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "health did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the real binary with `args` and returns its stdout; panics on failure.
fn necsus_command(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_necsus"))
        .args(args)
        .output()
        .expect("the necsus binary runs");
    assert!(
        out.status.success(),
        "necsus {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn after_restoring_an_older_snapshot_ids_never_repeat_and_browsers_replay() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("school.db");
    let backups = dir.path().join("backups");
    let mut server = Binary::start(&db, free_port()).await;
    let http = reqwest::Client::new();
    let say = |base: String, room: &'static str, text: &'static str| {
        let http = http.clone();
        async move {
            let m: Value = http
                .post(format!("{base}/api/actions/message"))
                .json(&json!({"room": room, "author": "ada", "text": text}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            m["id"].as_i64().unwrap()
        }
    };
    for text in ["one", "two", "three"] {
        say(server.base.clone(), "r", text).await;
    }
    necsus_command(&[
        "backup".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--dir".as_ref(),
        backups.as_os_str(),
    ]);
    // After the snapshot: more messages, which a browser saw.
    say(server.base.clone(), "r", "four").await;
    let seen = say(server.base.clone(), "r", "five").await;
    let issued = say(server.base.clone(), "other", "elsewhere").await;
    server.kill();
    drop(server);

    let snapshot = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".db.gz"))
        .expect("a snapshot");
    necsus_command(&[
        "restore".as_ref(),
        snapshot.as_os_str(),
        "--db".as_ref(),
        db.as_os_str(),
    ]);
    let server = Binary::start(&db, free_port()).await;
    // The browser reconnects with the last id it saw: it is told to clear,
    // then gets the room as the snapshot has it.
    let ws_url = format!(
        "ws://{}/ws/r?since={seen}",
        server.base.trim_start_matches("http://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let mut frames = Vec::new();
    use futures_util::StreamExt;
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(Duration::from_millis(500), ws.next()).await
    {
        if let Ok(text) = frame.to_text() {
            frames.push(serde_json::from_str::<Value>(text).unwrap());
        }
    }
    assert_eq!(frames[0]["kind"], "clear_messages", "{frames:?}");
    let replayed: Vec<&str> = frames
        .iter()
        .filter(|f| f["kind"] == "message")
        .map(|f| f["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, ["one", "two", "three"]);
    // New messages get ids above every id the replaced database issued.
    let fresh = say(server.base.clone(), "r", "after restore").await;
    assert!(fresh > issued, "{fresh} must be above {issued}");
    let live = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let live: Value = serde_json::from_str(live.to_text().unwrap()).unwrap();
    assert_eq!(live["data"]["id"], fresh);
}
