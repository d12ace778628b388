//! NeCSuS against real Python bots (tests/pybots/app.py served by Flask's
//! development server or gunicorn): docs/contract.md §4's promise that bots behave the way
//! their Python authors expect, checked against Python itself.
//!
//! Needs python3 with flask, gunicorn, brotli and requests (tests/run-all.sh installs
//! tests/pybots/requirements.txt). Without them the tests are skipped loudly,
//! except under CI, where they fail.

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

const SERVE_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pybots/serve.py");

/// How serve.py serves the bots.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// Werkzeug's threaded development server (`flask run`).
    Flask,
    /// gunicorn's gthread worker, closing idle connections after
    /// `keep_alive` seconds.
    Gunicorn { keep_alive: u32 },
}

/// Whether python3 can import the bots' packages; panics under CI if not.
fn python_bots_available() -> bool {
    let available = Command::new("python3")
        .args(["-c", "import flask, gunicorn, brotli, requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the python bot tests, but python3 cannot import flask, gunicorn, brotli \
             and requests: tests/run-all.sh installs tests/pybots/requirements.txt"
        );
        eprintln!(
            "!!! SKIPPING python bot tests: python3 cannot import flask, gunicorn, brotli and requests \
             (python3 -m pip install -r tests/pybots/requirements.txt)"
        );
    }
    available
}

/// tests/pybots/serve.py listening on 127.0.0.1; killed when dropped (and it
/// exits by itself when its stdin closes, should this process die first).
struct PyBots {
    child: Child,
    stdin: Option<ChildStdin>,
    base: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl PyBots {
    /// Starts the bots and waits until they accept connections; `None`
    /// (after a loud notice) when python3 lacks the packages outside CI.
    async fn start(server: Server) -> Option<PyBots> {
        if !python_bots_available() {
            return None;
        }
        let port = free_port();
        let dir = tempfile::tempdir().expect("temporary directory");
        let log = dir.path().join("serve.log");
        let mut args = vec!["--port".to_owned(), port.to_string()];
        match server {
            Server::Flask => args.extend(["--server".to_owned(), "flask".to_owned()]),
            Server::Gunicorn { keep_alive } => args.extend([
                "--server".to_owned(),
                "gunicorn".to_owned(),
                "--keep-alive".to_owned(),
                keep_alive.to_string(),
            ]),
        }
        let mut child = Command::new("python3")
            .arg(SERVE_PY)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve.py's log"))
            .spawn()
            .expect("python3 runs serve.py");
        let stdin = child.stdin.take();
        let mut bots = PyBots {
            child,
            stdin,
            base: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(bots);
            }
            if let Ok(Some(status)) = bots.child.try_wait() {
                panic!(
                    "serve.py {server:?} exited ({status}) before listening:\n{}",
                    bots.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "serve.py {server:?} did not listen on port {port} within 15 s:\n{}",
                bots.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PyBots {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a test body, failing it if it takes longer than `secs`.
async fn within<T>(secs: u64, body: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {secs} s"))
}

/// Adds a bot at `url` answering "ask..." to `room`, says `text` there and
/// returns the messages that followed.
async fn ask(app: &TestApp, room: &str, url: &str, text: &str) -> Vec<Value> {
    app.add_bot(room, "PyBot", url, Some("^ask")).await;
    let user = app.say(room, text).await;
    app.messages_after(room, &user).await
}

/// The text of the one reply, which must come from the bot.
fn bot_text(what: &str, replies: &[Value]) -> String {
    assert_eq!(replies.len(), 1, "{what}: one reply expected: {replies:#?}");
    assert_eq!(replies[0]["kind"], "bot", "{what}: {:#}", replies[0]);
    replies[0]["text"]
        .as_str()
        .expect("a bot message has a text")
        .to_owned()
}

/// The one reply, which must be a system message.
fn system_text(what: &str, replies: &[Value]) -> String {
    assert_eq!(replies.len(), 1, "{what}: one reply expected: {replies:#?}");
    assert_eq!(replies[0]["kind"], "system", "{what}: {:#}", replies[0]);
    assert_eq!(replies[0]["author"], "NeCSuS", "{what}: {:#}", replies[0]);
    replies[0]["text"].as_str().unwrap().to_owned()
}

/// `digits` occurs in `raw` as a JSON number of its own: after a colon,
/// not inside a string, not followed by more digits or a fraction.
fn has_integer_literal(raw: &str, digits: &str) -> bool {
    raw.match_indices(digits).any(|(at, _)| {
        let before = raw[..at].trim_end().chars().next_back();
        let after = raw[at + digits.len()..].chars().next();
        before == Some(':') && matches!(after, Some(',' | '}' | ' ' | '\n'))
    })
}

#[tokio::test]
async fn flask_jsonify_nan_and_big_integers_round_trip() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(20, async {
        let app = spawn_app().await;
        app.add_bot("nan", "NumberBot", &bots.url("/nan"), Some("^start"))
            .await;
        let user = app.say("nan", "start").await;

        // Read the API's raw text: serde_json would round the integer.
        let raw = app
            .http
            .get(app.url("/api/messages?room=nan"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            has_integer_literal(&raw, "123456789012345678901234567890"),
            "the API shows the integer with every digit: {raw}"
        );
        let messages: Value =
            serde_json::from_str(&raw).expect("the API writes valid JSON (no NaN or Infinity)");
        let reply = messages
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"].as_i64() > user["id"].as_i64())
            .unwrap_or_else(|| panic!("the bot replied: {raw}"));
        assert_eq!(reply["kind"], "bot", "{reply:#}");
        assert_eq!(reply["text"], "numbers Python can write");
        let state = reply["state"].as_object().expect("the state is an object");
        let mut keys: Vec<&str> = state.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["f", "inf", "n", "ninf", "s", "x"], "{state:?}");
        for key in ["x", "inf", "ninf"] {
            assert_eq!(state[key], Value::Null, "{key} becomes null for the API");
        }
        assert_eq!(state["f"], json!(1.5));
        assert_eq!(state["s"], "é");

        // The bot gets back exactly what it sent, as Python reads it.
        let python = Command::new("python3")
            .args([
                "-c",
                r#"import json; print("got " + json.dumps({"f": 1.5, "inf": float("inf"), "n": 123456789012345678901234567890, "ninf": float("-inf"), "s": "\u00e9", "x": float("nan")}, sort_keys=True), end="")"#,
            ])
            .output()
            .expect("python3 runs");
        assert!(python.status.success(), "{python:?}");
        let expected = String::from_utf8(python.stdout).unwrap();
        assert!(expected.contains("NaN"), "{expected}");
        let user = app.say("nan", "next").await;
        let replies = app.messages_after("nan", &user).await;
        assert_eq!(bot_text("state round trip", &replies), expected);
        assert_eq!(
            replies[0]["state"],
            Value::Null,
            "the reply without state ends the conversation"
        );
    })
    .await;
}

#[tokio::test]
async fn flask_redirects_keep_the_post_and_its_body() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(30, async {
        let app = spawn_app().await;
        // /slash: Werkzeug's strict-slashes redirect (308, absolute) to /slash/.
        for path in [
            "/moved-301",
            "/moved-302",
            "/moved-307",
            "/moved-308",
            "/slash",
        ] {
            let room = format!("redirect-{}", path.trim_start_matches('/'));
            let text = format!("ask through {path}");
            let replies = ask(&app, &room, &bots.url(path), &text).await;
            let reply = bot_text(path, &replies);
            let body = reply
                .strip_prefix("POST {")
                .map(|rest| format!("{{{rest}"))
                .unwrap_or_else(|| panic!("{path}: the redirect target got a POST: {reply}"));
            assert!(body.contains(&text), "{path}: {reply}");
            let sent: Value = serde_json::from_str(&body)
                .unwrap_or_else(|e| panic!("{path}: the body arrived whole ({e}): {reply}"));
            assert_eq!(
                sent,
                json!({"room": room, "author": "student", "text": text, "params": {}}),
                "{path}"
            );
        }

        // A redirect to a route that does not exist: the error names the
        // URL that answered 404, not the bot's.
        let replies = ask(
            &app,
            "redirect-missing",
            &bots.url("/moved-to-missing"),
            "ask for nothing",
        )
        .await;
        let error = system_text("redirect to a 404", &replies);
        assert!(error.contains("404"), "{error}");
        assert!(error.contains("/nowhere"), "names the final URL: {error}");
    })
    .await;
}

#[tokio::test]
async fn compressed_flask_replies_are_decoded() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(20, async {
        let app = spawn_app().await;
        for enc in ["gzip", "deflate", "br"] {
            let replies = ask(
                &app,
                &format!("compressed-{enc}"),
                &bots.url(&format!("/compressed?enc={enc}")),
                "ask compressed",
            )
            .await;
            assert_eq!(bot_text(enc, &replies), format!("compressed {enc}"));
        }
    })
    .await;
}

#[tokio::test]
async fn utf_boms_and_utf_16_and_32_replies_read_as_python_does() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(30, async {
        let app = spawn_app().await;
        for encoding in [
            "utf-8-sig",
            "utf-16",
            "utf-16-le",
            "utf-16-be",
            "utf-32",
            "utf-32-le",
            "utf-32-be",
        ] {
            let replies = ask(
                &app,
                &format!("encoded-{encoding}"),
                &bots.url(&format!("/encoded?as={encoding}")),
                "ask encoded",
            )
            .await;
            assert_eq!(bot_text(encoding, &replies), "héllo ☃ 😀", "{encoding}");
        }
    })
    .await;
}

#[tokio::test]
async fn a_lone_surrogate_escape_becomes_a_replacement_character() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(20, async {
        let app = spawn_app().await;
        let replies = ask(&app, "surrogate", &bots.url("/surrogate"), "ask half").await;
        assert_eq!(bot_text("surrogate", &replies), "half \u{FFFD} of a pair");
    })
    .await;
}

#[tokio::test]
async fn an_empty_flask_reply_says_the_body_was_empty() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(20, async {
        let app = spawn_app().await;
        let replies = ask(&app, "empty", &bots.url("/empty"), "ask nothing").await;
        let error = system_text("empty body", &replies);
        assert!(error.to_lowercase().contains("empty"), "{error}");
        assert!(
            !error.contains("Is the URL correct"),
            "the bot was reached: {error}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_chart_of_1_3_megabytes_is_posted_whole_and_streamed() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(30, async {
        let app = spawn_app().await;
        let text = "ask for a chart";
        // What the bot sends (always the same: a fixed seed).
        let sent: Value = app
            .http
            .post(bots.url("/chart"))
            .json(&json!({"room": "chart", "author": "student", "text": text, "params": {}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected = sent["text"].as_str().unwrap().to_owned();
        assert!(
            expected.len() > 1_300_000 && expected.starts_with("<img src=\"data:image/png;base64,"),
            "the bot's chart is {} bytes",
            expected.len()
        );

        app.add_bot("chart", "ChartBot", &bots.url("/chart"), Some("^ask"))
            .await;
        let mut ws = app.subscribe("chart", None).await;
        let user = app.say("chart", text).await;
        let replies = app.messages_after("chart", &user).await;
        assert_eq!(replies.len(), 1, "one reply");
        assert_eq!(
            replies[0]["kind"],
            "bot",
            "{:.500}",
            replies[0]["text"].as_str().unwrap_or_default()
        );
        let posted = replies[0]["text"].as_str().unwrap();
        assert_eq!(posted.len(), expected.len(), "the chart is posted whole");
        assert!(posted == expected, "the chart is posted unchanged");

        // A websocket subscriber gets the same message.
        let mut seen = Vec::new();
        loop {
            let frame = ws.next().await;
            if frame["kind"] == "message" && frame["data"]["id"] == replies[0]["id"] {
                let streamed = frame["data"]["text"].as_str().unwrap();
                assert_eq!(streamed.len(), expected.len(), "the frame holds the chart");
                assert!(streamed == expected, "the frame holds the chart unchanged");
                break;
            }
            seen.push(frame["kind"].clone());
            assert!(
                seen.len() < 50,
                "no frame for the chart message; got {seen:?}"
            );
        }
    })
    .await;
}

/// Takes about 31 s (29 pauses of 0.8 to 1.2 s; the other tests run beside
/// it). The 120 s bound only stops a hang: the pauses are fixed, and the
/// sixty requests between them, milliseconds each normally, may take many
/// times that on a loaded machine.
#[tokio::test]
async fn gunicorn_keep_alive_closes_are_retried_not_reported() {
    let Some(bots) = PyBots::start(Server::Gunicorn { keep_alive: 1 }).await else {
        return;
    };
    within(120, async {
        let app = spawn_app().await;
        app.add_bot("keep-alive", "OkBot", &bots.url("/ok"), Some("^ping"))
            .await;
        let mut failures = Vec::new();
        for i in 0..30u64 {
            if i > 0 {
                // Sweep the idle time across gunicorn's keep-alive: it
                // closes idle connections 1 to 2 s after their last request.
                tokio::time::sleep(Duration::from_millis(800 + (i - 1) * 400 / 28)).await;
            }
            let text = format!("ping {i}");
            let user = app.say("keep-alive", &text).await;
            let replies = app.messages_after("keep-alive", &user).await;
            let ok = replies.len() == 1
                && replies[0]["kind"] == "bot"
                && replies[0]["text"] == format!("ok {text}");
            if !ok {
                failures.push(format!("{text}: {replies:?}"));
            }
        }
        assert!(
            failures.is_empty(),
            "{} of 30 posts did not get the bot's reply:\n{}",
            failures.len(),
            failures.join("\n")
        );
    })
    .await;
}

/// Posts `text` as `author` to the real binary; returns the stored message
/// and how long the answer took.
async fn say_to(
    http: &reqwest::Client,
    base: &str,
    room: &str,
    author: &str,
    text: &str,
) -> (Value, Duration) {
    let started = Instant::now();
    let response = http
        .post(format!("{base}/api/actions/message"))
        .json(&json!({"room": room, "author": author, "text": text}))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 200, "posting {text:?}");
    (response.json().await.unwrap(), started.elapsed())
}

async fn room_messages(http: &reqwest::Client, base: &str, room: &str) -> Vec<Value> {
    let url = format!("{base}/api/messages?room={room}");
    let body: Value = http.get(url).send().await.unwrap().json().await.unwrap();
    body.as_array().expect("a list of messages").clone()
}

/// The real binary with a Flask bot that posts a note into its own room
/// with `requests.post` while it answers (tests/pybots/app.py
/// `/helper-note`), `same_author`: as the person it answers, else as
/// "helper". Returns what the test needs, the binary first.
async fn note_posting_bot(bots: &PyBots, same_author: bool) -> (Binary, tempfile::TempDir) {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let app = Binary::start(dir.path().join("necsus.db"), free_port()).await;
    let url = format!(
        "{}?chat={}{}",
        bots.url("/helper-note"),
        app.base,
        if same_author { "&as=same" } else { "" }
    );
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/api/actions/bot", app.base))
        .json(&json!({"room": "notes", "name": "Talker", "url": url, "responds_to": "^talk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    (app, dir)
}

/// docs/contract.md §5: a conversation bot whose helper posts a note into the room
/// while it answers is answered at once, as on the original: the note is
/// shown, the turn's reply follows, the note is not fed back to the bot,
/// and the conversation goes on. (Before turn-taking was by author, the
/// note's POST waited for the turn that waited for the note: 120 s, then
/// "did not finish responding" and the conversation was lost.)
#[tokio::test]
async fn a_bot_whose_helper_posts_into_its_room_never_hangs_its_conversation() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(60, async {
        let (app, _dir) = note_posting_bot(&bots, false).await;
        let http = reqwest::Client::new();
        let mut took = Vec::new();
        for text in ["talk", "second", "third"] {
            let (_, elapsed) = say_to(&http, &app.base, "notes", "student", text).await;
            took.push(elapsed);
        }
        let shown: Vec<(String, String)> = room_messages(&http, &app.base, "notes")
            .await
            .iter()
            .map(|m| {
                (
                    m["author"].as_str().unwrap().to_owned(),
                    m["text"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = [
            ("student", "talk"),
            ("helper", "note 1"),
            ("Talker", "turn 1"),
            ("student", "second"),
            ("helper", "note 2"),
            ("Talker", "turn 2"),
            ("student", "third"),
            ("helper", "note 3"),
            ("Talker", "turn 3"),
        ]
        .iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect();
        assert_eq!(shown, expected, "the room, in order");
        eprintln!("answered after {took:?}");
        // "Within a second" on the original; a loaded machine gets slack,
        // the fault this guards against took the whole bot timeout.
        for (text, elapsed) in ["talk", "second", "third"].iter().zip(&took) {
            assert!(
                *elapsed < Duration::from_secs(3),
                "{text:?} was answered after {elapsed:?}"
            );
        }
    })
    .await;
}

/// A bot that posts its note as the very person it answers: such a note
/// takes its turn (the rule cannot tell it from the person typing), so it
/// is fed back to the bot, which notes again; the request is never held
/// by the bot's own post, and a run's bounded length ends the chain.
#[tokio::test]
async fn a_bot_that_posts_as_the_person_it_answers_completes() {
    let Some(bots) = PyBots::start(Server::Flask).await else {
        return;
    };
    within(60, async {
        let (app, _dir) = note_posting_bot(&bots, true).await;
        let http = reqwest::Client::new();
        say_to(&http, &app.base, "notes", "student", "talk").await;
        let (second, elapsed) = say_to(&http, &app.base, "notes", "student", "second").await;
        assert!(
            elapsed < Duration::from_secs(20),
            "answered after {elapsed:?}"
        );
        // Once the chain has settled, nothing more is posted.
        let mut settled = room_messages(&http, &app.base, "notes").await;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = room_messages(&http, &app.base, "notes").await;
            if now.len() == settled.len() {
                break;
            }
            settled = now;
        }
        let after: Vec<&Value> = settled
            .iter()
            .filter(|m| m["id"].as_i64() > second["id"].as_i64())
            .collect();
        assert!(
            after.iter().all(|m| m["kind"] != "system"),
            "no failure notice: {after:#?}"
        );
        assert!(
            after.iter().any(|m| m["text"] == "turn 2"),
            "the turn was answered: {after:#?}"
        );
        eprintln!(
            "{} messages followed \"second\" (answered after {elapsed:?})",
            after.len()
        );
        // One turn and one note per queued turn, a few more at the end.
        let bound = 2 * (necsus::turns::MAX_RUN_TURNS + 4);
        assert!(
            after.len() <= bound,
            "{} messages followed one post (bound {bound})",
            after.len()
        );
        // The room still answers at once.
        let (_, elapsed) = say_to(&http, &app.base, "notes", "other", "hello").await;
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    })
    .await;
}
