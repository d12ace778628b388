//! The bot-call log: every call recorded with what was sent and received,
//! bounded per room, listed with filters, announced on the room stream, and
//! test and replay calls that post nothing into the room.

use std::time::Duration;

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

async fn calls(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/bot-calls?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test]
async fn every_call_is_recorded_with_request_response_and_message() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    let echo = app
        .add_bot("r", "EchoBot", &format!("{bots}/echo"), None)
        .await;
    let user = app.say("r", "hi echobot").await;
    let reply = app.messages_after("r", &user).await.remove(0);

    let recorded = calls(&app, "room=r").await;
    assert_eq!(recorded.len(), 1);
    let call = &recorded[0];
    assert_eq!(call["room"], "r");
    assert_eq!(call["bot_id"], echo["id"]);
    assert_eq!(call["bot_name"], "EchoBot");
    assert_eq!(call["url"], format!("{bots}/echo"));
    assert_eq!(call["activation"], "match");
    assert_eq!(
        call["request"],
        json!({"room": "r", "author": "student", "text": "hi echobot", "params": {}})
    );
    assert_eq!(call["status"], 200);
    assert!(
        call["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = serde_json::from_str(call["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(body["text"], reply["text"]);
    assert_eq!(call["response_truncated"], false);
    assert_eq!(call["outcome"], "ok");
    assert_eq!(call["error"], Value::Null);
    assert_eq!(call["message_id"], reply["id"]);
    assert!(call["latency_ms"].as_f64().unwrap() > 0.0);
    assert!(call["started"].as_f64().unwrap() > 1.0e9);
}

#[tokio::test]
async fn a_failed_call_records_the_error_and_links_the_system_message() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| Answer::raw(404, "<h1>Not Found</h1>")).await;
    app.add_bot("r", "Lost", &bot.url("/missing"), None).await;
    let user = app.say("r", "lost?").await;
    let system = app.messages_after("r", &user).await.remove(0);
    let call = calls(&app, "room=r").await.remove(0);
    assert_eq!(call["outcome"], "bad_status");
    assert_eq!(call["status"], 404);
    assert_eq!(call["response_body"], "<h1>Not Found</h1>");
    assert_eq!(call["error"], system["text"]);
    assert_eq!(call["message_id"], system["id"]);

    let dead = dead_url().await;
    app.add_bot("r", "Dead", &dead, Some("^dead")).await;
    app.say("r", "dead").await;
    let call = calls(&app, "room=r").await.pop().unwrap();
    assert_eq!(call["outcome"], "cannot_connect");
    assert_eq!(call["status"], Value::Null);
    assert_eq!(call["response_body"], Value::Null);
}

#[tokio::test]
async fn retention_keeps_the_newest_calls_per_room_and_filters_work() {
    let app = spawn_app_with(|c| c.bot_calls_per_room = 3).await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    let a = app.add_bot("r", "A", &bot.url("/a"), Some("a")).await;
    let b = app.add_bot("r", "B", &bot.url("/b"), Some("b")).await;
    app.add_bot("other", "A", &bot.url("/a"), Some("a")).await;
    for text in ["a", "b", "a", "ab", "b"] {
        app.say("r", text).await;
    }
    app.say("other", "a").await;
    let kept = calls(&app, "room=r").await;
    assert_eq!(kept.len(), 3, "{kept:?}");
    let names: Vec<&str> = kept
        .iter()
        .map(|c| c["bot_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B", "B"], "the newest three, oldest first");
    assert!(
        kept.windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );

    let only_b = calls(&app, &format!("room=r&bot_id={}", b["id"])).await;
    assert_eq!(only_b.len(), 2);
    assert!(only_b.iter().all(|c| c["bot_id"] == b["id"]));
    let since = calls(&app, &format!("room=r&since={}", kept[1]["id"])).await;
    assert_eq!(since, kept[2..]);
    assert_eq!(
        calls(&app, &format!("room=r&bot_id={}", a["id"]))
            .await
            .len(),
        1
    );
    assert_eq!(calls(&app, "room=other").await.len(), 1);

    let (status, _) = app.get("/api/bot-calls").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/bot-calls?room=r&bot_id=x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_stored_log_stays_bounded_however_its_records_were_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bounded.db");
    let db_text = db.to_string_lossy().into_owned();
    let app = spawn_app_with(|c| {
        c.db = db_text;
        c.bot_calls_per_room = 4;
    })
    .await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "ok"}))).await;
    app.add_bot("r", "A", &bot.url("/"), Some("go")).await;
    for i in 0..30 {
        app.say("r", &format!("go {i}")).await;
        // Listing now and then makes the server write what it holds, so
        // the log is written in pieces of every size.
        if i % 7 == 3 {
            let listed = calls(&app, "room=r").await;
            assert_eq!(listed.len(), (i + 1).min(4));
        }
    }
    let listed = calls(&app, "room=r").await;
    assert_eq!(listed.len(), 4);
    // The newest four calls, each pointing at the reply to its post.
    let messages = app.messages("r").await;
    let replies: Vec<&Value> = messages.iter().filter(|m| m["kind"] == "bot").collect();
    let newest: Vec<&Value> = replies[replies.len() - 4..].to_vec();
    for (call, reply) in listed.iter().zip(newest) {
        assert_eq!(call["message_id"], reply["id"]);
    }
    // What the file holds stays near the four kept, not the thirty made.
    let mut conn = {
        use sqlx::ConnectOptions;
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("bounded-calls.db"))
            .read_only(true)
            .connect()
            .await
            .unwrap()
    };
    let stored: i64 = sqlx::query_scalar("SELECT coalesce(sum(count), 0) FROM bot_call_chunks")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!((4..=8).contains(&stored), "{stored} records stored");
    // A call that was pruned away can no longer be replayed.
    let (status, _) = app
        .post(
            "/api/actions/bot-replay",
            json!({"call_id": listed[0]["id"].as_i64().unwrap() - 10}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn calls_are_announced_on_the_stream_including_to_late_joiners() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, _| {
        Answer::json(json!({"text": "slow reply"})).after(Duration::from_millis(800))
    })
    .await;
    let slow = app.add_bot("r", "Slow", &bot.url("/"), None).await;
    let mut early = app.subscribe("r", None).await;
    assert_eq!(early.next().await["kind"], "put_bot");

    let http = app.http.clone();
    let url = app.url("/api/actions/message");
    let post = tokio::spawn(async move {
        http.post(url)
            .json(&json!({"room": "r", "author": "a", "text": "slow"}))
            .send()
            .await
            .unwrap();
    });
    assert_eq!(early.next().await["kind"], "message"); // the user's message
    let started = early.next().await;
    assert_eq!(started["kind"], "bot_call_started");
    assert_eq!(started["data"]["bot_id"], slow["id"]);
    assert_eq!(started["data"]["bot_name"], "Slow");
    assert_eq!(started["data"]["activation"], "match");

    // Someone opening the room mid-call learns the call is in flight.
    let mut late = app.subscribe("r", None).await;
    assert_eq!(late.next().await["kind"], "put_bot");
    assert_eq!(late.next().await, started);
    assert_eq!(late.next().await["kind"], "message");

    for ws in [&mut early, &mut late] {
        let reply = ws.next().await;
        assert_eq!(reply["data"]["text"], "slow reply");
        let finished = ws.next().await;
        assert_eq!(finished["kind"], "bot_call_finished");
        assert_eq!(finished["data"]["id"], started["data"]["id"]);
        assert_eq!(finished["data"]["outcome"], "ok");
        assert_eq!(finished["data"]["message_id"], reply["data"]["id"]);
        assert!(
            finished["data"].get("response_body").is_none(),
            "no body on the stream"
        );
        assert!(finished["data"]["request"].is_object());
    }
    post.await.unwrap();
    // Once finished, a newcomer hears of no call in flight.
    let mut after = app.subscribe("r", None).await;
    assert_eq!(after.next().await["kind"], "put_bot");
    assert_eq!(after.next().await["kind"], "message");
    assert_eq!(after.next().await["kind"], "message");
    after.assert_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn test_and_replay_call_the_bot_without_posting_into_the_room() {
    let app = spawn_app().await;
    let bot =
        recording_bot(|_, p| Answer::json(json!({"text": format!("got {}", p["text"])}))).await;
    let b = app
        .add_bot("r", "Tested", &bot.url("/t"), Some("^go"))
        .await;

    let (status, tested) = app
        .post("/api/actions/bot-test", json!({"id": b["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(
        bot.calls()[0].body,
        json!({"room": "r", "author": "NeCSuS", "text": "test", "params": {}})
    );
    assert_eq!(tested["activation"], "test");
    assert_eq!(tested["outcome"], "ok");
    assert_eq!(tested["message_id"], Value::Null);
    assert!(
        tested["response_body"]
            .as_str()
            .unwrap()
            .contains("got \\\"test\\\"")
    );
    assert!(app.messages("r").await.is_empty(), "a test posts nothing");

    app.say("r", "go now").await;
    let original = calls(&app, "room=r").await.pop().unwrap();
    let before = app.messages("r").await.len();
    let (status, replayed) = app
        .post(
            "/api/actions/bot-replay",
            json!({"call_id": original["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["activation"], "replay");
    assert_eq!(replayed["request"], original["request"]);
    assert_eq!(replayed["url"], original["url"]);
    assert_ne!(replayed["id"], original["id"]);
    assert_eq!(bot.calls().last().unwrap().body, original["request"]);
    assert_eq!(
        app.messages("r").await.len(),
        before,
        "a replay posts nothing"
    );
    assert_eq!(calls(&app, "room=r").await.len(), 3);

    let (status, body) = app.post("/api/actions/bot-test", json!({"id": 999})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = app
        .post("/api/actions/bot-replay", json!({"call_id": 999}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app.post("/api/actions/bot-replay", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn huge_binary_and_invalid_utf8_bodies_are_stored_safely() {
    let app = spawn_app_with(|c| c.bot_max_reply_bytes = 64 * 1024).await;
    let bot = recording_bot(|path, _| match path {
        "/huge" => Answer::raw(200, &"x".repeat(200_000)),
        "/binary" => Answer::bytes(200, (0..=255u8).cycle().take(40_000).collect()),
        _ => Answer::bytes(200, b"{\"text\": \"caf\xe9 \xff\"}".to_vec()),
    })
    .await;
    app.add_bot("r", "Huge", &bot.url("/huge"), Some("huge"))
        .await;
    app.add_bot("r", "Binary", &bot.url("/binary"), Some("binary"))
        .await;
    app.add_bot("r", "Latin1", &bot.url("/latin1"), Some("latin"))
        .await;
    app.say("r", "huge").await;
    app.say("r", "binary").await;
    app.say("r", "latin").await;
    let recorded = calls(&app, "room=r").await;
    assert_eq!(recorded.len(), 3);
    let huge = &recorded[0];
    assert_eq!(huge["outcome"], "too_large");
    assert_eq!(huge["response_truncated"], true);
    assert_eq!(huge["response_body"].as_str().unwrap().len(), 16 * 1024);
    let binary = &recorded[1];
    assert_eq!(binary["outcome"], "not_json");
    assert_eq!(binary["response_truncated"], true);
    assert!(
        binary["response_body"]
            .as_str()
            .unwrap()
            .contains('\u{fffd}')
    );
    let latin = &recorded[2];
    assert_eq!(latin["outcome"], "not_json");
    assert_eq!(
        latin["response_body"],
        "{\"text\": \"caf\u{fffd} \u{fffd}\"}"
    );
    // The room saw clear system messages and the server is fine.
    let msgs = app.messages("r").await;
    assert_eq!(msgs.iter().filter(|m| m["kind"] == "system").count(), 3);
}
