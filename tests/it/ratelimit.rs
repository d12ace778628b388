//! Rooms protect themselves (docs/contract.md §7): a bot that posts into its own room
//! and triggers itself, or a script in a loop, is slowed with 429 and
//! `Retry-After` and told once in the room; other rooms never notice; a
//! room of people posting at once is never bothered.

use std::sync::Arc;
use std::time::Duration;

use crate::common::*;
use axum::body::Bytes;
use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A student's bot that, while answering, posts into its own room a text
/// its own pattern matches: it recurses until the server stops it.
async fn recursive_bot(necsus: String) -> String {
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let (http, necsus) = (http.clone(), necsus.clone());
        async move {
            let payload: Value = serde_json::from_slice(&body).unwrap_or_default();
            let room = payload["room"].as_str().unwrap_or_default().to_owned();
            let status = http
                .post(format!("{necsus}/api/actions/message"))
                .json(&json!({"room": room, "author": "loopbot", "text": "again"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0);
            axum::Json(json!({"text": format!("posted again: {status}")}))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/loop")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_that_triggers_itself_is_stopped_and_the_room_is_told_once() {
    let app = Arc::new(
        spawn_app_with(|c| {
            c.room_rate_limit = 5.0;
            c.room_rate_burst = 20;
            c.bot_timeout = Duration::from_secs(60);
        })
        .await,
    );
    let url = recursive_bot(app.base.clone()).await;
    app.add_bot("loop", "Looper", &url, Some("^(start|again)$"))
        .await;

    // Another room keeps being served while the loop runs.
    let other = Arc::clone(&app);
    let bystander = tokio::spawn(async move {
        let mut answered = 0;
        for i in 0..10 {
            let (status, _) = other
                .post(
                    "/api/actions/message",
                    json!({"room": "quiet", "author": "ada", "text": format!("hello {i}")}),
                )
                .await;
            assert_eq!(status, StatusCode::OK);
            answered += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        answered
    });
    // The chain ends: the first post is answered (bounded wait: a server
    // that never stops the loop fails here).
    let start = tokio::time::timeout(Duration::from_secs(60), app.say("loop", "start"))
        .await
        .expect("the loop ended");
    assert_eq!(bystander.await.unwrap(), 10);

    let messages = app.messages("loop").await;
    let posts = messages.iter().filter(|m| m["kind"] == "user").count();
    assert!((20..=25).contains(&posts), "{posts} posts got through");
    let told: Vec<&Value> = messages
        .iter()
        .filter(|m| {
            m["kind"] == "system"
                && m["text"]
                    .as_str()
                    .unwrap()
                    .contains("faster than people type")
        })
        .collect();
    assert_eq!(told.len(), 1, "told once per episode");
    // The innermost call saw the refusal.
    assert!(
        messages
            .iter()
            .any(|m| m["text"].as_str().unwrap().contains("posted again: 429")),
        "{messages:?}"
    );
    assert!(start["id"].is_i64());

    // A script keeps hammering: 429 with Retry-After and a clear message.
    let mut refused = None;
    for _ in 0..100 {
        let response = app
            .http
            .post(app.url("/api/actions/message"))
            .json(&json!({"room": "loop", "author": "script", "text": "spam"}))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
            break;
        }
    }
    let response = refused.expect("the script was refused");
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("too fast"),
        "{body}"
    );
    let still_told_once = app
        .messages("loop")
        .await
        .iter()
        .filter(|m| m["kind"] == "system" && m["text"].as_str().unwrap().contains("faster than"))
        .count();
    assert_eq!(still_told_once, 1);

    // Once the room calms down, posting works again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let (status, _) = app
        .post(
            "/api/actions/message",
            json!({"room": "loop", "author": "ada", "text": "calm now"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lecture_hall_posting_at_once_is_never_limited_by_default() {
    let defaults = necsus::config::Config::default();
    let app = Arc::new(
        spawn_app_with(|c| {
            c.room_rate_limit = defaults.room_rate_limit;
            c.room_rate_burst = defaults.room_rate_burst;
        })
        .await,
    );
    let mut students = Vec::new();
    for s in 0..100 {
        let app = Arc::clone(&app);
        students.push(tokio::spawn(async move {
            app.post(
                "/api/actions/message",
                json!({"room": "hall", "author": format!("student{s}"), "text": "here!"}),
            )
            .await
            .0
        }));
    }
    for s in students {
        assert_eq!(s.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(app.messages("hall").await.len(), 100);
}

/// Replies and notices a post causes count in the room's allowance, on
/// either backend (the PostgreSQL pass runs this against the shared
/// bucket rows): after one post and its four replies, a room of six takes
/// one more post and refuses the next.
#[tokio::test]
async fn bot_replies_count_in_the_rooms_allowance() {
    let app = spawn_app_with(|c| {
        c.room_rate_limit = 0.5;
        c.room_rate_burst = 6;
    })
    .await;
    let bot = recording_bot(|_, _| Answer::json(json!({"text": "hi back"}))).await;
    for i in 0..4 {
        app.add_bot("busy", &format!("Hi{i}"), &bot.url("/"), Some("^hi"))
            .await;
    }
    let first = app.say("busy", "hi").await;
    assert_eq!(app.messages_after("busy", &first).await.len(), 4);
    app.say("busy", "no bots answer this").await;
    let (status, body) = app
        .post(
            "/api/actions/message",
            json!({"room": "busy", "author": "student", "text": "again"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "replies were not counted: {body}"
    );
}
