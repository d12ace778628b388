//! The room stream of docs/contract.md §6: connect-time replay, live events, clears,
//! exactly-once ordering under concurrent posting, and lagging subscribers.

use std::collections::HashSet;
use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};

fn ids_of(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f["kind"] == "message")
        .map(|f| f["data"]["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn connecting_replays_bots_then_messages_since_then_goes_live() {
    let app = spawn_app().await;
    let bot = app
        .add_bot("r", "Quiet", "http://127.0.0.1:9/never", Some("^never$"))
        .await;
    let m1 = app.say("r", "one").await;
    let m2 = app.say("r", "two").await;
    app.say("other", "elsewhere").await;

    let mut all = app.subscribe("r", None).await;
    assert_eq!(all.next().await, json!({"kind": "put_bot", "data": bot}));
    assert_eq!(all.next().await, json!({"kind": "message", "data": m1}));
    assert_eq!(all.next().await, json!({"kind": "message", "data": m2}));

    let mut since = app.subscribe("r", m1["id"].as_i64()).await;
    assert_eq!(since.next().await["kind"], "put_bot");
    assert_eq!(since.next().await, json!({"kind": "message", "data": m2}));
    let mut garbage = app
        .subscribe_url(&format!("{}?since=abc", app.ws_url("r", None)))
        .await;
    assert_eq!(garbage.next().await["kind"], "put_bot");
    assert_eq!(
        garbage.next().await["data"],
        m1,
        "a non-integer since means everything"
    );

    let m3 = app.say("r", "three").await;
    assert_eq!(all.next().await, json!({"kind": "message", "data": m3}));
    assert_eq!(since.next().await, json!({"kind": "message", "data": m3}));
    app.delete("/api/actions/bot", json!({"id": bot["id"]}))
        .await;
    assert_eq!(all.next().await, json!({"kind": "delete_bot", "data": bot}));
    app.post("/api/actions/clear-room-messages", json!({"room": "r"}))
        .await;
    assert_eq!(
        all.next().await,
        json!({"kind": "clear_messages", "data": {}})
    );
    all.assert_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_reconnect_after_a_clear_is_told_to_clear_and_replays_from_the_clear_point() {
    let app = spawn_app().await;
    let m1 = app.say("r", "one").await;
    app.say("r", "two").await;
    let m3 = app.say("r", "three").await;
    app.post("/api/actions/clear-room-messages", json!({"room": "r"}))
        .await;
    let m4 = app.say("r", "four").await;
    let m5 = app.say("r", "five").await;

    // It had seen up to m1, so it must drop what it shows and take m4, m5.
    let mut behind = app.subscribe("r", m1["id"].as_i64()).await;
    assert_eq!(
        behind.next().await,
        json!({"kind": "clear_messages", "data": {}})
    );
    assert_eq!(behind.next().await["data"], m4);
    assert_eq!(behind.next().await["data"], m5);
    behind.assert_quiet(Duration::from_millis(200)).await;

    // Exactly at the clear point: still told to clear.
    let mut at = app.subscribe("r", m3["id"].as_i64()).await;
    assert_eq!(at.next().await["kind"], "clear_messages");
    assert_eq!(at.next().await["data"], m4);

    // Past the clear point: nothing to clear.
    let mut after = app.subscribe("r", m4["id"].as_i64()).await;
    assert_eq!(after.next().await["data"], m5);
    after.assert_quiet(Duration::from_millis(200)).await;

    let mut fresh = app.subscribe("r", None).await;
    assert_eq!(fresh.next().await["kind"], "clear_messages");
    assert_eq!(fresh.next().await["data"], m4);
}

#[tokio::test]
async fn every_subscriber_sees_every_message_once_in_order_under_concurrent_posting() {
    let app = spawn_app().await;
    const POSTERS: usize = 6;
    const EACH: usize = 40;
    let mut early_a = app.subscribe("busy", None).await;
    let mut early_b = app.subscribe("busy", None).await;

    let mut posters = Vec::new();
    for p in 0..POSTERS {
        let http = app.http.clone();
        let url = app.url("/api/actions/message");
        posters.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..EACH {
                let response: Value = http
                    .post(&url)
                    .json(&json!({"room": "busy", "author": format!("p{p}"), "text": format!("{p}-{i}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(response["id"].as_i64().unwrap());
            }
            ids
        }));
    }
    // A subscriber that joins mid-stream must stitch replay and live events.
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut late = app.subscribe("busy", None).await;
    let mut acknowledged = HashSet::new();
    for poster in posters {
        acknowledged.extend(poster.await.unwrap());
    }
    let total = POSTERS * EACH;
    assert_eq!(acknowledged.len(), total);

    let mut sequences = Vec::new();
    for ws in [&mut early_a, &mut early_b, &mut late] {
        let mut frames = Vec::new();
        while frames.len() < total {
            frames.push(ws.next().await);
        }
        ws.assert_quiet(Duration::from_millis(200)).await;
        let ids = ids_of(&frames);
        assert_eq!(ids.len(), total, "every frame is a message");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "strictly increasing ids"
        );
        assert_eq!(ids.iter().copied().collect::<HashSet<_>>(), acknowledged);
        sequences.push(ids);
    }
    assert_eq!(sequences[0], sequences[1]);
    assert_eq!(sequences[0], sequences[2]);
}

#[tokio::test]
async fn a_lagging_subscriber_is_closed_with_a_reason_and_resumes_without_loss() {
    let app = spawn_app_with(|c| {
        c.ws_lag_events = 8;
        c.ws_send_timeout = Duration::from_secs(60);
    })
    .await;
    let mut slow = app.subscribe("flood", None).await;
    let mut healthy = app.subscribe("flood", None).await;
    let big = "x".repeat(60_000);
    const POSTS: usize = 400;
    let mut posted = Vec::new();
    for _ in 0..POSTS {
        posted.push(app.say("flood", &big).await["id"].as_i64().unwrap());
        // The healthy subscriber keeps up and is never closed.
        let frame = healthy.next().await;
        assert_eq!(frame["data"]["id"], *posted.last().unwrap());
    }

    // The slow one never read; its buffers filled and it fell behind.
    let mut seen = Vec::new();
    let close = loop {
        match slow.next_event(Duration::from_secs(20)).await {
            Some(WsEvent::Frame(frame)) => seen.push(frame["data"]["id"].as_i64().unwrap()),
            Some(WsEvent::Closed(close)) => break close,
            None => panic!("the lagging subscriber was neither fed nor closed"),
        }
    };
    let (code, reason) = close.expect("a close frame with a reason");
    assert_eq!(code, 1013);
    assert!(seen.len() < POSTS, "it really fell behind");
    let last = *seen.last().unwrap();
    assert!(reason.contains(&format!("since={last}")), "{reason}");

    let mut resumed = app.subscribe("flood", Some(last)).await;
    while seen.len() < POSTS {
        seen.push(resumed.next().await["data"]["id"].as_i64().unwrap());
    }
    resumed.assert_quiet(Duration::from_millis(200)).await;
    assert_eq!(
        seen, posted,
        "nothing lost or duplicated across the reconnect"
    );
}

#[tokio::test]
async fn client_frames_are_ignored_and_oversized_ones_close_the_socket() {
    let app = spawn_app().await;
    let mut ws = app.subscribe("r", None).await;
    ws.send_text("hello server").await;
    let m = app.say("r", "still streaming").await;
    assert_eq!(ws.next().await["data"], m);
    ws.send_text(&"x".repeat(10_000)).await;
    match ws.next_event(Duration::from_secs(5)).await {
        Some(WsEvent::Closed(Some((code, _)))) => assert_eq!(code, 1009),
        other => panic!("expected a 1009 close, got {other:?}"),
    }
}

#[tokio::test]
async fn room_names_with_slashes_and_unicode_stream_too() {
    let app = spawn_app().await;
    let room = "group 2/bots ☕";
    let mut ws = app.subscribe(room, None).await;
    let m = app.say(room, "hi").await;
    assert_eq!(ws.next().await["data"], m);
    // The slash may also come unencoded in the path.
    let mut raw = app
        .subscribe_url(&format!("ws://{}/ws/group%202/bots%20%E2%98%95", app.addr))
        .await;
    assert_eq!(raw.next().await["data"], m);
}

#[tokio::test]
async fn long_histories_stream_and_replay_across_pages() {
    let app = spawn_app_with(|c| {
        c.history_page = 7;
        c.replay_page = 5;
    })
    .await;
    let mut posted = Vec::new();
    for i in 0..53 {
        posted.push(app.say("long", &format!("m{i}")).await);
    }
    let listed = app.messages("long").await;
    assert_eq!(listed, posted, "GET streams every page in order");
    let (_, since) = app
        .get(&format!(
            "/api/messages?room=long&since={}",
            posted[20]["id"]
        ))
        .await;
    assert_eq!(since.as_array().unwrap()[..], posted[21..]);

    let mut ws = app.subscribe("long", posted[9]["id"].as_i64()).await;
    for expected in &posted[10..] {
        assert_eq!(&ws.next().await["data"], expected);
    }
    ws.assert_quiet(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_clear_during_replay_leaves_the_subscriber_with_exactly_the_later_messages() {
    let app = spawn_app_with(|c| c.replay_page = 2).await;
    for i in 0..40 {
        app.say("churn", &format!("old {i}")).await;
    }
    const NEW: usize = 5;
    // Connect, and clear and post while the replay is paging.
    let ws_task = {
        let url = app.ws_url("churn", None);
        let last_text = format!("new {}", NEW - 1);
        tokio::spawn(async move {
            let (mut stream, _) = tokio_tungstenite::connect_async(url).await.unwrap();
            let mut shown: Vec<Value> = Vec::new();
            let mut seen_last = false;
            use futures_util::StreamExt;
            // Until the last post arrives, wait as long as a loaded machine
            // may need between frames; after it, two quiet seconds show
            // that nothing else follows.
            let wait = |seen_last: bool| Duration::from_secs(if seen_last { 2 } else { 30 });
            while let Ok(Some(Ok(msg))) = tokio::time::timeout(wait(seen_last), stream.next()).await
            {
                let frame: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
                match frame["kind"].as_str().unwrap() {
                    "clear_messages" => shown.clear(),
                    "message" => {
                        seen_last |= frame["data"]["text"] == last_text.as_str();
                        shown.push(frame["data"].clone());
                    }
                    _ => {}
                }
            }
            shown
        })
    };
    app.post("/api/actions/clear-room-messages", json!({"room": "churn"}))
        .await;
    let mut after = Vec::new();
    for i in 0..NEW {
        after.push(app.say("churn", &format!("new {i}")).await);
    }
    let shown = ws_task.await.unwrap();
    assert_eq!(
        shown, after,
        "the browser ends up showing exactly the post-clear messages"
    );
}

#[tokio::test]
async fn rooms_of_multi_mebibyte_messages_page_through_history_and_replay_whole() {
    let app = spawn_app_with(|c| {
        c.limits.max_text_chars = 3_000_000;
        c.limits.max_body_bytes = 4 << 20;
    })
    .await;
    let big: Vec<String> = (0..5)
        .map(|i| format!("{i}{}", "x".repeat(2_000_000)))
        .collect();
    for text in &big {
        app.say("charts", text).await;
    }
    let listed = app.messages("charts").await;
    assert_eq!(texts(&listed), big);
    let mut ws = app.subscribe("charts", None).await;
    let mut replayed = Vec::new();
    while replayed.len() < big.len() {
        let frame = ws.next().await;
        if frame["kind"] == "message" {
            replayed.push(frame["data"]["text"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(replayed, big);
}
