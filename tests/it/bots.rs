//! The bot engine of docs/contract.md §4: matching, payloads, sequential activation,
//! reply validation and every student-facing failure message.

use std::time::{Duration, Instant};

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn a_matched_bot_gets_exactly_the_spec_payload_and_its_reply_is_posted() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| {
        Answer::json(json!({
            "text": "<i>hi</i>", "image": "pic.png", "media": 7, "css": "s.css", "js": "s.js",
            "room": "elsewhere", "extra": true
        }))
    })
    .await;
    app.add_bot("r", "Greeter", &bot.url("/greet"), None).await;
    let user = app.say("r", "hello GREETER!").await;

    let calls = bot.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/greet");
    assert_eq!(
        calls[0].body,
        json!({"room": "r", "author": "student", "text": "hello GREETER!", "params": {}})
    );
    let replies = app.messages_after("r", &user).await;
    assert_eq!(replies.len(), 1);
    let reply = &replies[0];
    assert_eq!(reply["kind"], "bot");
    assert_eq!(
        reply["author"], "Greeter",
        "author defaults to the bot's name"
    );
    assert_eq!(reply["text"], "<i>hi</i>");
    assert_eq!(reply["image"], "pic.png");
    assert_eq!(reply["media"], Value::Null, "non-string media is dropped");
    assert_eq!(reply["css"], "s.css");
    assert_eq!(reply["js"], "s.js");
    assert_eq!(reply["room"], "r", "a reply's room key is ignored");
    assert_eq!(
        reply["from_bot"],
        app.get("/api/bots?room=r").await.1[0]["id"]
    );
    assert_eq!(reply["base_url"], bot.url("/greet"));
    assert_eq!(reply["state"], Value::Null);
    assert!(app.messages("elsewhere").await.is_empty());
}

#[tokio::test]
async fn the_example_echo_bot_answers() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    app.add_bot("r", "EchoBot", &format!("{bots}/echo"), Some(""))
        .await;
    let user = app.say("r", "Hi EchoBot <3").await;
    let replies = app.messages_after("r", &user).await;
    assert_eq!(
        texts(&replies),
        ["Hello! Your message was: Hi EchoBot &lt;3"]
    );
    assert_eq!(replies[0]["author"], "EchoBot");
}

#[tokio::test]
async fn named_groups_become_params_and_unmatched_ones_are_null() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    app.add_bot(
        "r",
        "Repeat",
        &bot.url("/"),
        Some(r"repeat (?P<word>\w+) (?P<count>\d+) times(?P<bang>!)?"),
    )
    .await;
    app.say("r", "Please REPEAT hello 5 times.").await;
    app.say("r", "no match here").await;
    let calls = bot.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].body["params"],
        json!({"word": "hello", "count": "5", "bang": null})
    );
}

#[tokio::test]
async fn names_match_literally_and_case_insensitively() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    app.add_bot("r", "C++", &bot.url("/cpp"), None).await;
    app.add_bot("r", "a.b", &bot.url("/dot"), Some("")).await;
    app.say("r", "I like c++ a lot").await;
    app.say("r", "axb is not a.b's name? yes it is").await;
    app.say("r", "axb only").await;
    let paths: Vec<String> = bot.calls().into_iter().map(|c| c.path).collect();
    assert_eq!(paths, ["/cpp", "/dot"]);
}

#[tokio::test]
async fn bots_run_one_after_another_in_id_order() {
    let app = spawn_app().await;
    let slow = recording_bot(|_, _| {
        Answer::json(json!({"text": "slow done"})).after(Duration::from_millis(400))
    })
    .await;
    let fast = recording_bot(|_, _| Answer::json(json!({"text": "fast done"}))).await;
    app.add_bot("r", "first", &slow.url("/"), Some("go")).await;
    app.add_bot("r", "second", &fast.url("/"), Some("go")).await;
    let user = app.say("r", "go").await;
    // The POST answers only once every reply is stored.
    let replies = app.messages_after("r", &user).await;
    assert_eq!(texts(&replies), ["slow done", "fast done"]);
    let (slow_call, fast_call) = (&slow.calls()[0], &fast.calls()[0]);
    assert!(
        fast_call.received >= slow_call.answered,
        "the second bot was called before the first one answered"
    );
}

#[tokio::test]
async fn bot_messages_and_system_messages_never_activate_bots() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    // EchoBot's reply repeats its own name, and a failing bot's system message
    // names it: neither may activate anything.
    app.add_bot("r", "EchoBot", &format!("{bots}/echo"), None)
        .await;
    app.add_bot(
        "r",
        "NeCSuS",
        &dead_url().await,
        Some("echobot|necsus|connect"),
    )
    .await;
    let user = app.say("r", "echobot").await;
    let replies = app.messages_after("r", &user).await;
    let kinds: Vec<&str> = replies
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["bot", "system"]);
}

#[tokio::test]
async fn pathological_patterns_finish_promptly() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "matched"}))).await;
    app.add_bot("r", "p1", &bot.url("/1"), Some(r"^(.+)+_$"))
        .await;
    app.add_bot("r", "p2", &bot.url("/2"), Some(r"^(aa|aa)*$"))
        .await;
    app.add_bot("r", "p3", &bot.url("/3"), Some(r"^(a+)+\1_$"))
        .await;
    app.add_bot("r", "p4", &bot.url("/4"), Some(r"^(\w+\s?)*$"))
        .await;
    let started = Instant::now();
    app.say("r", &"a".repeat(32)).await;
    app.say("r", &format!("{}!", "a".repeat(71))).await;
    app.say("r", &format!("{}!", "a ".repeat(40))).await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "matching stalled for {:?}",
        started.elapsed()
    );
    // Whatever the engine decided, the server still answers.
    let (status, _) = app.get("/api/messages?room=r").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_invalid_pattern_is_saved_and_reported_and_other_bots_still_run() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "still here"}))).await;
    let broken = app
        .add_bot("r", "Broken<Bot>", &bot.url("/b"), Some("(unclosed"))
        .await;
    assert_eq!(broken["responds_to"], "(unclosed");
    app.add_bot("r", "Good", &bot.url("/g"), Some("hello"))
        .await;
    let user = app.say("r", "hello").await;
    let replies = app.messages_after("r", &user).await;
    assert_eq!(replies.len(), 2);
    assert_eq!(replies[0]["kind"], "system");
    assert_eq!(replies[0]["author"], "NeCSuS");
    let text = replies[0]["text"].as_str().unwrap();
    assert!(text.contains("Broken&lt;Bot&gt;"), "{text}");
    assert!(text.contains("(unclosed"), "{text}");
    assert!(text.contains("not a valid regular expression"), "{text}");
    assert_eq!(replies[1]["text"], "still here");
}

/// Posts `text` into a fresh room whose only bot is at `url`; returns the
/// one message that followed.
async fn failure_for(app: &TestApp, room: &str, url: &str) -> String {
    app.add_bot(room, "Student<Bot>", url, Some("")).await;
    let user = app.say(room, "hey student<bot>").await;
    let replies = app.messages_after(room, &user).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["kind"], "system");
    assert_eq!(replies[0]["author"], "NeCSuS");
    replies[0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_bot_failure_becomes_a_clear_system_message() {
    let app = spawn_app_with(|c| c.bot_timeout = Duration::from_millis(700)).await;
    let bot = recording_bot(|path, _| match path {
        "/404" => Answer::raw(404, "nope"),
        "/405" => Answer::raw(405, ""),
        "/500" => Answer::raw(500, "Traceback"),
        "/418" => Answer::raw(418, ""),
        "/html" => Answer::raw(200, "<html>oops & such</html>"),
        "/list" => Answer::raw(200, "[1, 2]"),
        "/int" => Answer::raw(200, "42"),
        "/null" => Answer::raw(200, "null"),
        "/notext" => Answer::raw(200, r#"{"txt": "typo"}"#),
        "/textint" => Answer::raw(200, r#"{"text": 5}"#),
        "/slow" => Answer::json(json!({"text": "too late"})).after(Duration::from_secs(3)),
        _ => Answer::raw(200, "{}"),
    })
    .await;
    let url_404 = bot.url("/404");
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("empty", String::new(), vec!["has no URL"]),
        (
            "dead",
            dead_url().await,
            vec!["Is the URL correct?", "Student&lt;Bot&gt;"],
        ),
        ("timeout", bot.url("/slow"), vec!["within 0.7 seconds"]),
        (
            "404",
            bot.url("/404"),
            vec![
                "non-ok status code of 404 (Not Found)",
                "@app.post",
                &url_404,
            ],
        ),
        (
            "405",
            bot.url("/405"),
            vec![
                "non-ok status code of 405 (Method Not Allowed)",
                "use <code>@app.post</code>",
                "<code>@app.route</code>",
            ],
        ),
        (
            "500",
            bot.url("/500"),
            vec![
                "non-ok status code of 500 (Internal Server Error)",
                "Flask server's log",
            ],
        ),
        ("418", bot.url("/418"), vec!["non-ok status code of 418"]),
        (
            "html",
            bot.url("/html"),
            vec![
                "not respond with JSON",
                "&lt;html&gt;oops &amp; such&lt;/html&gt;",
            ],
        ),
        (
            "list",
            bot.url("/list"),
            vec!["was <code>list</code> instead of <code>dict</code>"],
        ),
        (
            "int",
            bot.url("/int"),
            vec!["was <code>int</code> instead of <code>dict</code>"],
        ),
        (
            "null",
            bot.url("/null"),
            vec!["was <code>NoneType</code> instead of <code>dict</code>"],
        ),
        (
            "notext",
            bot.url("/notext"),
            vec!["missing the <code>text</code> key"],
        ),
        (
            "textint",
            bot.url("/textint"),
            vec![
                "<code>text</code>",
                "was <code>int</code> instead of <code>str</code>",
            ],
        ),
        (
            "scheme",
            "ftp://127.0.0.1/x".to_owned(),
            vec!["not a valid http"],
        ),
    ];
    for (room, url, expected) in cases {
        let text = failure_for(&app, room, &url).await;
        for piece in expected {
            assert!(text.contains(piece), "{room}: {text:?} lacks {piece:?}");
        }
    }
}

#[tokio::test]
async fn a_hanging_bot_does_not_hold_up_other_rooms() {
    let app = spawn_app_with(|c| c.bot_timeout = Duration::from_secs(3)).await;
    let bot =
        recording_bot(|_, _| Answer::json(json!({"text": "late"})).after(Duration::from_secs(10)))
            .await;
    app.add_bot("stuck", "Hang", &bot.url("/"), None).await;
    let stuck_app = app.url("/api/actions/message");
    let http = app.http.clone();
    let stuck = tokio::spawn(async move {
        http.post(stuck_app)
            .json(&json!({"room": "stuck", "author": "a", "text": "hang"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Other rooms are served while the bot hangs.
    app.say("free", "still responsive").await;
    assert!(
        !stuck.is_finished(),
        "the hanging activation answered before the other room did"
    );
    assert_eq!(stuck.await.unwrap(), 200);
    let stuck_messages = app.messages("stuck").await;
    assert!(
        stuck_messages[1]["text"]
            .as_str()
            .unwrap()
            .contains("within 3 seconds")
    );
}

#[tokio::test]
async fn an_oversized_reply_is_refused() {
    let app = spawn_app_with(|c| c.bot_max_reply_bytes = 1024).await;
    let big = format!(r#"{{"text": "{}"}}"#, "x".repeat(5000));
    let bot = recording_bot(move |_, _| Answer::raw(200, &big)).await;
    let text = failure_for(&app, "big", &bot.url("/")).await;
    assert!(text.contains("larger than 1 KiB"), "{text}");
}
