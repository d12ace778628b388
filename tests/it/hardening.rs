//! Faulty bots, hostile input, slow and many clients, crashes and a full
//! disk: the server keeps serving everyone, loses no acknowledged message,
//! and says clearly what went wrong.

use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A bot server that answers each connection with `respond` written at the
/// TCP level, for replies no well-behaved HTTP library would send.
async fn raw_bot<F, Fut>(respond: F) -> String
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = std::sync::Arc::clone(&respond);
            tokio::spawn(async move {
                // Read the request head and its JSON body before answering.
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while !seen.ends_with(b"}") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                respond(stream).await;
            });
        }
    });
    format!("http://{addr}/bot")
}

async fn only_reply(app: &TestApp, room: &str, url: &str) -> Value {
    app.add_bot(room, "Faulty", url, Some("")).await;
    let user = app.say(room, "hello faulty").await;
    let mut after = app.messages_after(room, &user).await;
    assert_eq!(after.len(), 1, "{after:?}");
    after.remove(0)
}

#[tokio::test]
async fn a_bot_that_drips_one_byte_a_second_hits_the_total_time_limit() {
    let app = spawn_app_with(|c| c.bot_timeout = Duration::from_secs(2)).await;
    let url = raw_bot(|mut s| async move {
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
        let _ = s.write_all(head).await;
        for _ in 0..100 {
            if s.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
    .await;
    let started = Instant::now();
    let reply = only_reply(&app, "drip", &url).await;
    // About 2 s normally. The bound only tells a total limit (2 s) from
    // none, or a per-read one, which would wait out all 100 bytes (100 s);
    // it leaves a loaded machine plenty of room.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the drip took {:?}",
        started.elapsed()
    );
    assert_eq!(reply["kind"], "system");
    assert!(
        reply["text"].as_str().unwrap().contains("within 2 seconds"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_fifty_mebibyte_reply_is_cut_off_with_a_clear_message() {
    let app = spawn_app().await;
    // No Content-Length: the cap has to hold while streaming.
    let url = raw_bot(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = vec![b'x'; 64 * 1024];
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        for _ in 0..800 {
            if s.write_all(&framed).await.is_err() {
                return;
            }
        }
        let _ = s.write_all(b"0\r\n\r\n").await;
    })
    .await;
    let reply = only_reply(&app, "flood", &url).await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("larger than 8 MiB"),
        "{reply}"
    );
    // And it says what to do instead: a picture goes at a URL, in `image`.
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("<code>image</code>"),
        "{reply}"
    );
}

#[tokio::test]
async fn redirects_are_followed_a_few_times_then_refused() {
    let app = spawn_app().await;
    let target = recording_bot(|path, _| match path {
        "/final" => Answer::json(json!({"text": "arrived"})),
        _ => Answer::raw(404, ""),
    })
    .await;
    let final_url = target.url("/final");
    let hop = raw_bot(move |mut s| {
        let location = final_url.clone();
        async move {
            let head = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n");
            let _ = s.write_all(head.as_bytes()).await;
        }
    })
    .await;
    let reply = only_reply(&app, "hop", &hop).await;
    assert_eq!(reply["text"], "arrived", "one redirect is followed");
    // A redirect to itself, forever.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let looping = format!("http://127.0.0.1:{port}/loop");
    let app_loop = axum::Router::new().fallback(move || {
        let to = format!("http://127.0.0.1:{port}/loop");
        async move { (StatusCode::FOUND, [("location", to)], "") }
    });
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    tokio::spawn(async move { axum::serve(l, app_loop).await.unwrap() });
    let reply = only_reply(&app, "loop", &looping).await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("redirected NeCSuS too many times"),
        "{reply}"
    );
}

#[tokio::test]
async fn broken_and_quirky_http_replies() {
    let app = spawn_app().await;
    let cut = raw_bot(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\": \"cut")
            .await;
    })
    .await;
    let reply = only_reply(&app, "cut", &cut).await;
    assert_eq!(reply["kind"], "system");
    assert!(reply["text"].as_str().unwrap().contains("broke"), "{reply}");

    let http10 = raw_bot(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"text\": \"old but fine\"}")
            .await;
    })
    .await;
    assert_eq!(
        only_reply(&app, "http10", &http10).await["text"],
        "old but fine"
    );

    let chunked = raw_bot(|mut s| async move {
        let _ = s
            .write_all(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"te\r\n10\r\nxt\": \"in pieces\"\r\n1\r\n}\r\n0\r\n\r\n",
            )
            .await;
    })
    .await;
    assert_eq!(
        only_reply(&app, "chunked", &chunked).await["text"],
        "in pieces"
    );

    let plain = recording_bot(|_, _| Answer::json(json!({"text": "plain"}))).await;
    let tls_to_plain = plain.url("/x").replacen("http://", "https://", 1);
    let reply = only_reply(&app, "tls", &tls_to_plain).await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{reply}"
    );

    let reply = only_reply(&app, "dns", "http://no-such-host.invalid/bot").await;
    assert!(
        reply["text"]
            .as_str()
            .unwrap()
            .contains("could not connect"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_hanging_bots_do_not_hold_up_other_rooms() {
    // The twenty quick activations below must finish before the hanging
    // ones time out: well under a second normally, so the timeout leaves a
    // loaded machine more than ten times that.
    let app = spawn_app_with(|c| c.bot_timeout = Duration::from_secs(12)).await;
    let hang =
        recording_bot(|_, _| Answer::json(json!({"text": "late"})).after(Duration::from_secs(30)))
            .await;
    let quick = recording_bot(|_, _| Answer::json(json!({"text": "quick"}))).await;
    for r in 0..50 {
        app.add_bot(&format!("hang{r}"), "Hang", &hang.url("/"), None)
            .await;
    }
    app.add_bot("busy", "Quick", &quick.url("/"), None).await;
    let mut hanging = Vec::new();
    for r in 0..50 {
        let (http, url) = (app.http.clone(), app.url("/api/actions/message"));
        hanging.push(tokio::spawn(async move {
            http.post(url)
                .json(&json!({"room": format!("hang{r}"), "author": "a", "text": "hang"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Twenty full activations elsewhere finish while all fifty still hang.
    for i in 0..20 {
        let user = app.say("busy", &format!("quick {i}")).await;
        assert_eq!(texts(&app.messages_after("busy", &user).await), ["quick"]);
    }
    assert!(
        hanging.iter().all(|h| !h.is_finished()),
        "the hanging activations are still waiting"
    );
    for h in hanging {
        assert_eq!(h.await.unwrap(), 200);
    }
}

/// A student's requests as they reach the server through the proxy: the
/// peer is the proxy on this machine, the student's address is forwarded.
struct Student {
    http: reqwest::Client,
    base: String,
    /// `None`: a request from the server's own machine (no proxy).
    forwarded_for: Option<&'static str>,
}

impl Student {
    /// A student at `address`, behind the proxy.
    fn at(base: &str, address: &'static str) -> Student {
        Student {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            forwarded_for: Some(address),
        }
    }

    fn remote(base: &str) -> Student {
        Student::at(base, "203.0.113.7")
    }

    fn on_the_server(base: &str) -> Student {
        Student {
            forwarded_for: None,
            ..Student::remote(base)
        }
    }

    /// POSTs `body`; the status, the `Retry-After` header and the answer.
    async fn send(&self, path: &str, body: &Value) -> (u16, Option<String>, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(address) = self.forwarded_for {
            request = request.header("x-forwarded-for", address);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, retry_after, response.json().await.unwrap())
    }

    /// POSTs `body`, which must be taken; the answer.
    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, _, answer) = self.send(path, &body).await;
        assert_eq!(status, 200, "{path} {body}: {answer}");
        answer
    }

    /// The room's messages after `since` (every one: -1).
    async fn messages(&self, room: &str, since: i64) -> Vec<Value> {
        let url = format!("{}/api/messages?room={room}&since={since}", self.base);
        let listed: Value = self
            .http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        listed.as_array().unwrap().clone()
    }

    async fn add_bot(&self, room: &str, url: &str) -> Value {
        let bot = json!({"room": room, "name": "Probe", "url": url, "responds_to": "^probe"});
        self.post("/api/actions/bot", bot).await
    }

    /// Says "probe" in `room`; returns what followed it.
    async fn probe(&self, room: &str) -> Vec<Value> {
        let user = self
            .post(
                "/api/actions/message",
                json!({"room": room, "author": "eve", "text": "probe"}),
            )
            .await;
        self.messages(room, user["id"].as_i64().unwrap()).await
    }
}

fn refused(after: &[Value]) -> bool {
    after.len() == 1
        && after[0]["kind"] == "system"
        && after[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("refused to call") && t.contains("--allow-bot-networks"))
}

/// docs/contract.md §8: by default no bot call reaches the server's own machine or a
/// private network, whatever the spelling of the address, through a name
/// that resolves there, or through a redirect; the refusal says why and
/// what a tutor can do; nothing of an internal answer is readable.
#[tokio::test]
async fn bots_cannot_reach_the_servers_machine_or_private_networks() {
    necsus::botcall::install_crypto_provider();
    let inside = recording_bot(|_, _| Answer::json(json!({"text": "internal secret"}))).await;
    let port = inside.base.rsplit(':').next().unwrap().to_owned();
    // A bot on an address the tutor allowed (127.0.0.2 stands for a public
    // host: a test may only use loopback) that redirects to the inside.
    let redirector = TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind 127.0.0.2");
    let redirector_port = redirector.local_addr().unwrap().port();
    let target = format!("{}/stolen", inside.base);
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(move || {
            let target = target.clone();
            async move { (StatusCode::TEMPORARY_REDIRECT, [("location", target)]) }
        });
        axum::serve(redirector, app).await.unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        // One student probes many rooms at once here, faster than the
        // posting allowance (with what the probes cause) would let them.
        &[
            "--allow-bot-networks",
            "127.0.0.2/32",
            "--client-rate-limit",
            "0",
        ],
    )
    .await;
    let eve = Student::remote(&app.base);
    let forms = [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
        format!("http://[::1]:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://127.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f000001:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "http://10.0.0.1/".to_owned(),
        "http://192.168.1.1/".to_owned(),
        "http://100.64.0.1/".to_owned(),
        format!("http://127.0.0.2:{redirector_port}/moved"),
    ];
    for (i, url) in forms.iter().enumerate() {
        let room = format!("ssrf{i}");
        let bot = eve.add_bot(&room, url).await;
        let after = eve.probe(&room).await;
        assert!(refused(&after), "{url}: {after:#?}");
        // The bot-test route is refused the same way, and the call log
        // holds nothing of an answer.
        let call = eve
            .post("/api/actions/bot-test", json!({"id": bot["id"]}))
            .await;
        assert!(
            call["error"]
                .as_str()
                .is_some_and(|e| e.contains("refused to call")),
            "{url}: {call:#}"
        );
        let listed: Value = eve
            .http
            .get(format!("{}/api/bot-calls?room={room}", app.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for record in listed.as_array().unwrap() {
            assert!(
                !record.to_string().contains("internal secret"),
                "{url}: {record:#}"
            );
        }
    }
    assert!(inside.calls().is_empty(), "the inside was never called");

    // The quick start on a laptop: a bot on this machine saved and used
    // from this machine is called...
    let me = Student::on_the_server(&app.base);
    let local_url = format!("{}/", inside.base);
    me.add_bot("laptop", &local_url).await;
    let after = me.probe("laptop").await;
    assert_eq!(after[0]["text"], "internal secret", "{after:#?}");
    // ...but not when a remote student says the word,
    assert!(refused(&eve.probe("laptop").await));
    // nor when a remote student saved it and someone here says it.
    eve.add_bot("saved-remotely", &local_url).await;
    assert!(refused(&me.probe("saved-remotely").await));
    // A remote student's edit makes it a remote bot.
    let bot = me.add_bot("edited", &local_url).await;
    let mut edit = bot.clone();
    edit["name"] = json!("Probe2");
    eve.post("/api/actions/bot", edit).await;
    assert!(refused(&me.probe("edited").await));
}

/// A tutor's allow-list: addresses in it are called whoever saved the bot.
#[tokio::test]
async fn a_tutor_can_allow_a_network() {
    necsus::botcall::install_crypto_provider();
    let lan = recording_bot(|_, _| Answer::json(json!({"text": "from the LAN"}))).await;
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        &["--allow-bot-networks", "10.0.0.0/8,127.0.0.0/8"],
    )
    .await;
    let eve = Student::remote(&app.base);
    eve.add_bot("lan", &format!("{}/", lan.base)).await;
    let after = eve.probe("lan").await;
    assert_eq!(after[0]["text"], "from the LAN", "{after:#?}");
    assert_eq!(lan.calls().len(), 1);
}

#[tokio::test]
async fn odd_room_names_are_served_or_refused_never_escaped() {
    let app = spawn_app().await;
    for room in [
        "a/b",
        "100%",
        "..",
        "../etc",
        "☕ café",
        "a?b#c",
        "%2F",
        &"r".repeat(256),
    ] {
        app.say(room, "hi").await;
        let messages = app.messages(room).await;
        assert_eq!(messages.len(), 1, "{room}");
        assert_eq!(messages[0]["room"], room);
        let mut ws = app.subscribe(room, None).await;
        assert_eq!(ws.next().await["data"]["room"], room);
    }
    for (room, expected) in [
        ("line\nbreak", "control characters"),
        ("nul\u{0}", "control characters"),
        (&"r".repeat(10_000)[..], "longer than 256"),
    ] {
        let (status, body) = app
            .post(
                "/api/actions/message",
                json!({"room": room, "author": "a", "text": "t"}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{body}"
        );
    }
    let long_room = "r".repeat(10_000);
    let response = app
        .http
        .get(app.url(&format!("/{long_room}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the room page itself is just a page"
    );
    // Static files never leave the client's folder.
    for path in [
        "/assets/../../Cargo.toml",
        "/assets/..%2F..%2FCargo.toml",
        "/assets/%2e%2e/%2e%2e/Cargo.toml",
    ] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        let text = response.text().await.unwrap();
        assert!(!text.contains("[workspace]"), "{path} escaped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_hundred_posters_keeps_exactly_once_order() {
    let app = spawn_app().await;
    let mut a = app.subscribe("burst", None).await;
    let mut b = app.subscribe("burst", None).await;
    let mut posters = Vec::new();
    for p in 0..100 {
        let (http, url) = (app.http.clone(), app.url("/api/actions/message"));
        posters.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..3 {
                let body: Value = http
                    .post(&url)
                    .json(&json!({"room": "burst", "author": format!("p{p}"), "text": format!("{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(body["id"].as_i64().unwrap());
            }
            ids
        }));
    }
    let mut acked = HashSet::new();
    for p in posters {
        acked.extend(p.await.unwrap());
    }
    for ws in [&mut a, &mut b] {
        let mut ids = Vec::new();
        while ids.len() < 300 {
            ids.push(ws.next().await["data"]["id"].as_i64().unwrap());
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids.into_iter().collect::<HashSet<_>>(), acked);
        ws.assert_quiet(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_posting_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    necsus::botcall::install_crypto_provider();
    let http = reqwest::Client::new();
    let mut server = Binary::start(&db, port).await;
    let base = server.base.clone();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let mut posters = Vec::new();
    for p in 0..4 {
        let (http, url, acked) = (
            http.clone(),
            format!("{base}/api/actions/message"),
            acked.clone(),
        );
        posters.push(tokio::spawn(async move {
            for i in 0..100_000 {
                let Ok(response) = http
                    .post(&url)
                    .json(&json!({"room": "crash", "author": format!("p{p}"), "text": format!("{i}")}))
                    .send()
                    .await
                else {
                    return;
                };
                let Ok(body) = response.json::<Value>().await else { return };
                acked.lock().unwrap().push(body["id"].as_i64().unwrap());
            }
        }));
    }
    // Kill it mid-posting: after at least 700 ms and more than twenty
    // acknowledgements, however long a loaded machine takes to get there
    // (the deadline only stops a server that never answers).
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let acknowledged = acked.lock().unwrap().len();
        if acknowledged > 20 && started.elapsed() >= Duration::from_millis(700) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {acknowledged} posts acknowledged in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    for p in posters {
        p.await.unwrap();
    }
    let acked: Vec<i64> = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "posting was under way");

    let mut again = Binary::start(&db, port).await;
    let stored: Vec<Value> = http
        .get(format!("{base}/api/messages?room=crash"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: HashSet<i64> = stored.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    for id in &acked {
        assert!(ids.contains(id), "acknowledged message {id} was lost");
    }
    let next: Value = http
        .post(format!("{base}/api/actions/message"))
        .json(&json!({"room": "crash", "author": "a", "text": "after"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        next["id"].as_i64().unwrap() > *ids.iter().max().unwrap(),
        "ids keep increasing"
    );
    again.kill();
}

#[tokio::test]
async fn a_full_disk_gives_503_keeps_what_was_stored_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("tiny");
    std::fs::create_dir(&mount).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&mount)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a small tmpfs"
        );
        eprintln!("!!! SKIPPING the full-disk test: cannot mount a tmpfs here");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.clone());
    let db = mount.join("full.db").to_string_lossy().into_owned();
    let app = spawn_app_with(|c| c.db = db).await;
    // Fill the disk until the database cannot grow.
    let big = "x".repeat(60_000);
    let mut stored = Vec::new();
    let mut refusal = None;
    for _ in 0..200 {
        let (status, body) = app
            .post(
                "/api/actions/message",
                json!({"room": "full", "author": "a", "text": big}),
            )
            .await;
        if status == StatusCode::OK {
            stored.push(body["id"].as_i64().unwrap());
        } else {
            refusal = Some((status, body));
            break;
        }
    }
    let (status, body) = refusal.expect("the disk filled up");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("database is unavailable"),
        "{body}"
    );
    // Make room, as a tutor would, and the same server carries on.
    let remounted = Command::new("mount")
        .args(["-o", "remount,size=8m"])
        .arg(&mount)
        .status()
        .unwrap();
    assert!(remounted.success());
    let after = app.say("full", "space again").await;
    let listed: Vec<i64> = app
        .messages("full")
        .await
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    for id in &stored {
        assert!(listed.contains(id), "stored message {id} survived");
    }
    assert!(listed.contains(&after["id"].as_i64().unwrap()));
    assert_eq!(listed.len(), stored.len() + 1, "nothing half-written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_dropped_and_delays_no_one() {
    let app = spawn_app_with(|c| c.ws_send_timeout = Duration::from_secs(1)).await;
    let stuck = app.subscribe("jam", None).await; // never read from
    let mut reader = app.subscribe("jam", None).await;
    let big = "y".repeat(60_000);
    for _ in 0..150 {
        let posted = app.say("jam", &big).await;
        // The reading subscriber gets each message as it is posted.
        assert_eq!(reader.next().await["data"]["id"], posted["id"]);
    }
    // Once its buffers are full and a send blocks past the limit (1 s),
    // the server lets the stuck client go; the other one stays.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let last = app.say("jam", "still flowing").await;
    assert_eq!(reader.next().await["data"], last);
    // The stuck client, reading at last, finds what its buffers held and
    // then the end of the stream, not the rest of the room: the server
    // dropped it (a client still served would get every message, then
    // wait for more).
    let mut stuck = stuck;
    let mut held = 0;
    let closed = loop {
        match stuck.next_event(Duration::from_secs(10)).await {
            Some(WsEvent::Frame(frame)) => {
                held += 1;
                assert_ne!(frame["data"], last, "the stuck client was still served");
                assert!(held <= 150, "the stuck client got every message");
            }
            Some(WsEvent::Closed(_)) => break true,
            None => break false,
        }
    };
    assert!(
        closed,
        "the stuck subscriber was never dropped ({held} frames held)"
    );
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_idle_websockets_stay_within_the_memory_budget() {
    const CONNECTIONS: usize = 10_000;
    // A guard against gross regressions, not the memory target: the figure
    // of record is the benchmark's `memory` scenario (`necsus-bench memory`
    // on the release build, README's table), and the 8 KiB target is
    // checked there. This debug build uses about 12 KiB per socket, and its
    // allocator growth differs from machine to machine (12.2 KiB on one
    // fresh machine), so the bound is deliberately loose: about four times
    // the usual figure, yet still well under what a leak or an unsized
    // per-socket buffer of 64 KiB or more would cost (tungstenite's
    // defaults alone are over 100 KiB per socket).
    const BUDGET_KIB: f64 = 48.0;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = Binary::start(&dir.path().join("idle.db"), port).await;
    let pid = server.pid();
    // One warm connection first, so the baseline includes the runtime's
    // one-off allocations rather than charging them to the sockets.
    let (warm, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/warm"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(pid);
    let mut sockets = Vec::with_capacity(CONNECTIONS);
    for chunk in 0..CONNECTIONS / 200 {
        let connects = (0..200).map(|i| {
            let url = format!("ws://127.0.0.1:{port}/ws/idle-{}", (chunk * 200 + i) % 100);
            async move {
                tokio_tungstenite::connect_async(url)
                    .await
                    .map(|(ws, _)| ws)
            }
        });
        for ws in futures_util::future::join_all(connects).await {
            sockets.push(ws.expect("connects"));
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = rss_kib(pid);
    let per_socket = loaded.saturating_sub(idle) as f64 / CONNECTIONS as f64;
    eprintln!(
        "idle RSS {idle} KiB, with {CONNECTIONS} websockets {loaded} KiB: {per_socket:.2} KiB each"
    );
    assert!(
        per_socket <= BUDGET_KIB,
        "{per_socket:.2} KiB per idle websocket, over the {BUDGET_KIB} KiB guard: a leak or a per-socket buffer?"
    );
    drop(sockets);
    drop(warm);
}

/// Peak resident memory of a process, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

/// docs/contract.md §8: however many bots answer at once with large replies, the reply
/// bytes held together stay within the budget (64 MiB by default): sixty
/// calls to bots that each send 8 KB of gzip (8 MiB decoded) and hold the
/// last bytes for 4 s take the real binary's peak memory up by at most
/// 256 MiB (with the budget raised out of the way they took it up by 508 MiB), and every
/// call still gets its answer.
#[tokio::test]
async fn sixty_large_compressed_replies_at_once_stay_within_the_memory_budget() {
    use std::io::Write;
    necsus::botcall::install_crypto_provider();
    // 8 MiB of JSON once decoded (whitespace, then a small object: what
    // `json.loads` reads as {"text": "ok"}), about 8 KB compressed.
    let mut decoded = vec![b' '; (8 << 20) - 64];
    decoded.extend_from_slice(br#"{"text": "ok"}"#);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&decoded).unwrap();
    let gz = std::sync::Arc::new(gz.finish().unwrap());
    drop(decoded);
    assert!(gz.len() < 12 * 1024, "{} bytes compressed", gz.len());
    let url = raw_bot(move |mut s| {
        let gz = std::sync::Arc::clone(&gz);
        async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                gz.len()
            );
            let (most, last) = gz.split_at(gz.len() - 16);
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(most).await;
            tokio::time::sleep(Duration::from_secs(4)).await;
            let _ = s.write_all(last).await;
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start(dir.path().join("necsus.db"), free_port()).await;
    let http = reqwest::Client::new();
    for i in 0..60 {
        let bot =
            json!({"room": format!("big{i}"), "name": "Big", "url": url, "responds_to": "^big"});
        let response = http
            .post(format!("{}/api/actions/bot", app.base))
            .json(&bot)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let before = peak_rss(app.pid());
    let posts: Vec<_> = (0..60)
        .map(|i| {
            let http = http.clone();
            let base = app.base.clone();
            tokio::spawn(async move {
                let message = json!({"room": format!("big{i}"), "author": "a", "text": "big"});
                let response = http
                    .post(format!("{base}/api/actions/message"))
                    .json(&message)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                let listed: Value = http
                    .get(format!("{base}/api/messages?room=big{i}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                listed[1]["text"].clone()
            })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), "ok", "every call was answered");
    }
    let grew = peak_rss(app.pid()).saturating_sub(before);
    eprintln!("peak RSS grew by {} MiB", grew >> 20);
    assert!(grew <= 256 << 20, "peak RSS grew by {} MiB", grew >> 20);
}

/// docs/contract.md §4: no pattern stalls the server. Two bots whose pattern,
/// `(?=[\s\S]*z)a`, is short and valid but takes quadratic time on a long
/// message, and four 60,000-character posts at once into their room: every
/// post is answered, each slow bot is reported once (not on every
/// message), a cheap bot after them still runs for every post, and a
/// history read in another room meanwhile stays fast. (The latencies are
/// measured properly by the benchmark; the bounds here only catch a stall.)
#[tokio::test]
async fn an_expensive_pattern_stalls_no_other_room() {
    necsus::botcall::install_crypto_provider();
    let cheap = recording_bot(|_, _| Answer::json(json!({"text": "cheap"}))).await;
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start(dir.path().join("necsus.db"), free_port()).await;
    let http = reqwest::Client::new();
    let add = |name: &'static str, pattern: &'static str, url: String| {
        let http = http.clone();
        let base = app.base.clone();
        async move {
            let bot = json!({"room": "attack", "name": name, "url": url, "responds_to": pattern});
            let response = http
                .post(format!("{base}/api/actions/bot"))
                .json(&bot)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    add("Slow1", r"(?=[\s\S]*z)a", cheap.url("/never")).await;
    add("Slow2", r"(?=[\s\S]*z)a", cheap.url("/never")).await;
    add("Cheap", r"^a{3}", cheap.url("/cheap")).await;
    let long = "a".repeat(60_000);
    let posts: Vec<_> = (0..4)
        .map(|_| {
            let http = http.clone();
            let base = app.base.clone();
            let text = long.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let response = http
                    .post(format!("{base}/api/actions/message"))
                    .json(&json!({"room": "attack", "author": "eve", "text": text}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                started.elapsed()
            })
        })
        .collect();
    let mut quiet = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let response = http
            .get(format!("{}/api/messages?room=quiet", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        quiet.push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answered = Vec::new();
    for post in posts {
        answered.push(post.await.unwrap());
    }
    quiet.sort();
    eprintln!(
        "posts answered after {answered:?}; quiet reads median {:?} max {:?}",
        quiet[10], quiet[19]
    );
    assert!(
        answered.iter().all(|t| *t < Duration::from_secs(30)),
        "{answered:?}"
    );
    assert!(quiet[19] < Duration::from_secs(5), "{quiet:?}");
    let messages: Value = http
        .get(format!("{}/api/messages?room=attack", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] != "user")
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    let slow_notices = texts.iter().filter(|t| t.contains("took too long")).count();
    assert_eq!(slow_notices, 2, "each slow bot told once: {texts:#?}");
    assert!(texts.iter().any(|t| t.contains("Slow1")) && texts.iter().any(|t| t.contains("Slow2")));
    assert_eq!(
        cheap.calls().iter().filter(|c| c.path == "/cheap").count(),
        4
    );
    assert!(cheap.calls().iter().all(|c| c.path == "/cheap"));
}

/// docs/contract.md §8: one client holds at most 64 bot calls in flight (the rest
/// wait for a place), and another client's call is not held up by them.
#[tokio::test]
async fn one_client_holds_at_most_sixty_four_bot_calls_in_flight() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    necsus::botcall::install_crypto_provider();
    // A bot that answers after 5 s and counts the calls it holds at once.
    let holding = std::sync::Arc::new(AtomicUsize::new(0));
    let peak = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let app_bot = {
        let (holding, peak) = (holding.clone(), peak.clone());
        axum::Router::new().fallback(move || {
            let (holding, peak) = (holding.clone(), peak.clone());
            async move {
                let now = holding.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(5)).await;
                holding.fetch_sub(1, Ordering::SeqCst);
                axum::Json(json!({"text": "done"}))
            }
        })
    };
    tokio::spawn(async move { axum::serve(listener, app_bot).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    // The bot is on loopback; behind the proxy every client is remote.
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        // The script's hundred posts at once are what this test is about;
        // its own posting allowance would refuse most of them first.
        &[
            "--allow-bot-networks",
            "127.0.0.0/8",
            "--client-rate-limit",
            "0",
        ],
    )
    .await;
    let script = std::sync::Arc::new(Student::at(&app.base, "203.0.113.9"));
    let ann = Student::at(&app.base, "203.0.113.10");
    for i in 0..100 {
        let bot =
            json!({"room": format!("flood{i}"), "name": "Slow", "url": url, "responds_to": "^go"});
        script.post("/api/actions/bot", bot).await;
    }
    let bot = json!({"room": "other", "name": "Slow", "url": url, "responds_to": "^go"});
    ann.post("/api/actions/bot", bot).await;
    let flood: Vec<_> = (0..100)
        .map(|i| {
            let script = std::sync::Arc::clone(&script);
            let message = json!({"room": format!("flood{i}"), "author": "bot", "text": "go"});
            tokio::spawn(async move { script.post("/api/actions/message", message).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    ann.post(
        "/api/actions/message",
        json!({"room": "other", "author": "ann", "text": "go"}),
    )
    .await;
    let other = started.elapsed();
    for f in flood {
        f.await.unwrap();
    }
    let peak = peak.load(Ordering::SeqCst);
    eprintln!("peak calls held by the bot: {peak}; the other client's post took {other:?}");
    assert!(
        peak <= 65,
        "the script's 64 and the other client's one: {peak}"
    );
    assert!(peak >= 60, "the script's calls did run at once: {peak}");
    // Held up behind the script's calls, it would take 10 s.
    assert!(
        other < Duration::from_millis(8500),
        "the other client waited: {other:?}"
    );
    // Every one of the script's calls was made in the end (waiting for a
    // place, not refused).
    for i in 0..100 {
        let listed = script.messages(&format!("flood{i}"), -1).await;
        assert_eq!(listed[1]["text"], "done", "flood{i}: {listed:#?}");
    }
}

/// docs/contract.md §8: bot tests and replays make the server call a bot on demand, so
/// they are rate-limited per client and per bot, with a message saying
/// whose allowance ran out and when to try again.
#[tokio::test]
async fn bot_tests_are_rate_limited_per_client_and_per_bot() {
    necsus::botcall::install_crypto_provider();
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    let dir = tempfile::tempdir().unwrap();
    // 30 a minute per client (10 at once), 45 per bot (15 at once).
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        &[
            "--allow-bot-networks",
            "127.0.0.0/8",
            "--bot-tests-per-minute-per-client",
            "30",
            "--bot-tests-per-minute-per-bot",
            "45",
        ],
    )
    .await;
    let post = async |client: &'static str, path: &str, body: Value| {
        Student::at(&app.base, client).send(path, &body).await
    };
    let (_, _, created) = post(
        "203.0.113.1",
        "/api/actions/bot",
        json!({"room": "t", "name": "T", "url": bot.url("/")}),
    )
    .await;
    let test = json!({"id": created["id"]});
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(post("203.0.113.1", "/api/actions/bot-test", test.clone()).await);
    }
    assert!(
        statuses[..10].iter().all(|(s, ..)| *s == 200),
        "{statuses:?}"
    );
    let (status, retry_after, body) = &statuses[10];
    assert_eq!(*status, 429, "{body}");
    assert!(retry_after.is_some(), "Retry-After");
    assert!(
        body["message"].as_str().unwrap().contains("by you"),
        "{body}"
    );
    // Another client still may, until the bot's own allowance is spent.
    for _ in 0..5 {
        let (status, _, body) = post("203.0.113.2", "/api/actions/bot-test", test.clone()).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, body) = post("203.0.113.3", "/api/actions/bot-test", test.clone()).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("this bot"),
        "{body}"
    );
    // Replays take from the same allowances.
    let (status, _, body) = post(
        "203.0.113.1",
        "/api/actions/bot-replay",
        json!({"call_id": 1}),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        bot.calls().len(),
        15,
        "the refused ones never called the bot"
    );
}

/// docs/contract.md §8: a per-client allowance stands in front of the room's, so a
/// script that floods a room is slowed first and people typing are not:
/// while one client sends 300 posts at once and then two loops of 30 a
/// second, another client's 8 posts, one every half second, are all taken.
#[tokio::test]
async fn a_flooding_client_is_slowed_before_the_room_is() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        // The server's defaults: the tests' binary otherwise starts with
        // the room's limit off.
        &["--room-rate-limit", "20", "--room-rate-burst", "120"],
    )
    .await;
    let base = app.base.clone();
    let post = move |client: &'static str, text: String| {
        let student = Student::at(&base, client);
        async move {
            let message = json!({"room": "lecture", "author": client, "text": text});
            let (status, _, body) = student.send("/api/actions/message", &message).await;
            (status, body)
        }
    };
    let script = "203.0.113.66";
    let burst: Vec<_> = (0..300)
        .map(|i| tokio::spawn(post(script, format!("spam {i}"))))
        .collect();
    let mut refused = None;
    for b in burst {
        let (status, body) = b.await.unwrap();
        if status == 429 {
            refused = Some(body);
        }
    }
    let refused = refused.expect("the script was slowed");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("You are sending messages"),
        "{refused}"
    );
    let loops: Vec<_> = (0..2)
        .map(|l| {
            let post = post.clone();
            tokio::spawn(async move {
                for i in 0..150 {
                    post(script, format!("loop {l} {i}")).await;
                    tokio::time::sleep(Duration::from_millis(33)).await;
                }
            })
        })
        .collect();
    let mut people = Vec::new();
    for i in 0..8 {
        people.push(post("198.51.100.8", format!("question {i}")).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for l in loops {
        l.await.unwrap();
    }
    for (status, body) in &people {
        assert_eq!(*status, 200, "a person was refused: {body}");
    }
}

/// Waits until `room` has had no new message for `quiet` (at most 90 s);
/// every message after `since`.
async fn settled(student: &Student, room: &str, since: i64, quiet: Duration) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = student.messages(room, since).await;
    let mut calm_since = Instant::now();
    while Instant::now() < deadline && calm_since.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = student.messages(room, since).await;
        if now.len() != seen.len() {
            calm_since = Instant::now();
        }
        seen = now;
    }
    seen
}

fn system_texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .filter(|m| m["kind"] == "system")
        .filter_map(|m| m["text"].as_str())
        .collect()
}

/// §3: twenty bots whose URL is this server's own post endpoint (a tutor
/// allowed loopback) turn one post into a bounded number of messages, with
/// the rate limits on (the server's defaults) and with them off, where the
/// per-post bound alone holds. The room works again afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_post_cannot_multiply_into_thousands_of_messages() {
    necsus::botcall::install_crypto_provider();
    for limits in [
        &["--room-rate-limit", "20", "--room-rate-burst", "120"][..],
        &["--room-rate-limit", "0", "--client-rate-limit", "0"][..],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut flags = vec!["--allow-bot-networks", "127.0.0.0/8"];
        flags.extend_from_slice(limits);
        let app = Binary::start_with(dir.path().join("necsus.db"), port, &flags).await;
        let student = Student::remote(&app.base);
        let own_api = format!("{}/api/actions/message", app.base);
        for i in 0..20 {
            let bot = json!({"room": "amp", "name": format!("Echo{i}"), "url": own_api,
                             "responds_to": "echo"});
            student.post("/api/actions/bot", bot).await;
        }
        let started = Instant::now();
        let (status, _, user) = student
            .send(
                "/api/actions/message",
                &json!({"room": "amp", "author": "mallory", "text": "echo"}),
            )
            .await;
        assert_eq!(status, 200, "{user}");
        let after = settled(
            &student,
            "amp",
            user["id"].as_i64().unwrap(),
            Duration::from_secs(3),
        )
        .await;
        let notices = system_texts(&after);
        eprintln!(
            "{limits:?}: {} messages caused, {} notices, settled after {:?}",
            after.len(),
            notices.len(),
            started.elapsed()
        );
        assert!(
            after.len() <= 400,
            "one post caused {} messages",
            after.len()
        );
        assert!(after.len() >= 20, "the bots were called: {after:?}");
        // Repeated failures are told once per episode, not per call.
        assert!(notices.len() <= 30, "{notices:#?}");
        if limits.contains(&"0") {
            // No rate limit stopped it: the per-post bound did, once.
            let spent = notices
                .iter()
                .filter(|t| t.contains("the most one message may cause"));
            assert_eq!(spent.count(), 1, "{notices:#?}");
        }
        // The room and the school keep working.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (status, _, answer) = Student::at(&app.base, "198.51.100.9")
            .send(
                "/api/actions/message",
                &json!({"room": "other", "author": "ann", "text": "hello"}),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
}

/// §3: a bot's replies count in the room's posting budget, so a room whose
/// posts each cause several replies is slowed sooner.
#[tokio::test]
async fn bot_replies_count_in_the_rooms_budget() {
    necsus::botcall::install_crypto_provider();
    let bot = raw_bot(|mut stream| async move {
        let body = br#"{"text": "hi"}"#;
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body).await;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--room-rate-limit", "0.5", "--room-rate-burst", "6"];
    let app = Binary::start_with(dir.path().join("necsus.db"), free_port(), &flags).await;
    let here = Student::on_the_server(&app.base);
    for i in 0..4 {
        let bot =
            json!({"room": "busy", "name": format!("Hi{i}"), "url": bot, "responds_to": "hi"});
        here.post("/api/actions/bot", bot).await;
    }
    let say = |text: &str| json!({"room": "busy", "author": "ann", "text": text});
    // One post (1) and its four replies (4) leave one of six.
    here.post("/api/actions/message", say("hi")).await;
    assert_eq!(here.messages("busy", -1).await.len(), 5);
    here.post("/api/actions/message", say("no bots")).await;
    let (status, retry_after, answer) = here.send("/api/actions/message", &say("again")).await;
    assert_eq!(status, 429, "replies were not counted: {answer}");
    assert!(retry_after.is_some());
    // A room without bots takes as many posts as its burst.
    for i in 0..6 {
        here.post(
            "/api/actions/message",
            json!({"room": "quiet", "author": "ann", "text": i.to_string()}),
        )
        .await;
    }
}

/// §3: a bot that keeps failing the same way in quick succession is told
/// once; each call is still in the bot-call log; once the failures are
/// further apart than the gap, or the bot has answered, it is told again.
#[tokio::test]
async fn repeated_failure_notices_collapse_into_one_per_episode() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--failure-notice-gap", "1.5"];
    let app = Binary::start_with(dir.path().join("necsus.db"), free_port(), &flags).await;
    let here = Student::on_the_server(&app.base);
    let down = format!("http://127.0.0.1:{}/", free_port());
    let bot = json!({"room": "r", "name": "Down", "url": down, "responds_to": "."});
    here.post("/api/actions/bot", bot).await;
    let say = |text: &str| json!({"room": "r", "author": "ann", "text": text});
    for i in 0..10 {
        here.post("/api/actions/message", say(&format!("quick {i}")))
            .await;
    }
    let all = here.messages("r", -1).await;
    let notices = system_texts(&all);
    assert_eq!(notices.len(), 1, "{notices:#?}");
    assert!(notices[0].contains("Down"), "{notices:#?}");
    let log: Value = here
        .http
        .get(format!("{}/api/bot-calls?room=r", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let calls = log.as_array().unwrap();
    assert_eq!(calls.len(), 10, "{log}");
    assert!(
        calls.iter().all(|c| c["outcome"] == "cannot_connect"),
        "{log}"
    );
    // A person typing slower than the gap is told each time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    here.post("/api/actions/message", say("later")).await;
    assert_eq!(system_texts(&here.messages("r", -1).await).len(), 2);
}
