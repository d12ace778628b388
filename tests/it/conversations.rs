//! Stateful conversations and forms (docs/contract.md §5).

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn state_keeps_the_conversation_with_one_bot_until_null_or_absent() {
    let app = spawn_app().await;
    let keeper = recording_bot(|_, payload| {
        let text = payload["text"].as_str().unwrap_or_default();
        match text {
            "end absent" => Answer::json(json!({"text": "bye"})),
            "end null" => Answer::json(json!({"text": "bye", "state": null})),
            "empty" => Answer::json(json!({"text": "still", "state": ""})),
            "zero" => Answer::json(json!({"text": "still", "state": 0})),
            "false" => Answer::json(json!({"text": "still", "state": false})),
            _ => Answer::json(json!({"text": "on", "state": {"n": 1}})),
        }
    })
    .await;
    let bystander = recording_bot(|_, _| Answer::json(json!({"text": "me too"}))).await;
    app.add_bot("r", "Keeper", &keeper.url("/k"), Some("^start"))
        .await;
    app.add_bot("r", "Bystander", &bystander.url("/b"), Some(""))
        .await;

    app.say("r", "start").await;
    for (text, expected_state) in [
        ("empty", json!({"n": 1})),
        ("zero", json!("")),
        ("false", json!(0)),
        ("bystander please", json!(false)),
        ("end null", json!({"n": 1})),
    ] {
        app.say("r", text).await;
        let last = keeper.calls().last().unwrap().body.clone();
        assert_eq!(
            last,
            json!({"room": "r", "author": "student", "text": text, "params": {}, "state": expected_state}),
        );
    }
    assert!(
        bystander.calls().is_empty(),
        "no other bot runs in a conversation"
    );
    // Ended by null: normal matching again.
    app.say("r", "bystander please").await;
    assert_eq!(bystander.calls().len(), 1);
    assert_eq!(keeper.calls().len(), 6);

    // Ended by an absent state too.
    app.say("r", "start").await;
    app.say("r", "end absent").await;
    app.say("r", "bystander please").await;
    assert_eq!(bystander.calls().len(), 2);
    assert_eq!(keeper.calls().len(), 8);
}

#[tokio::test]
async fn the_example_state_bot_stops_three_ways() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    app.add_bot("r", "StateBot", &format!("{bots}/state"), Some("^count"))
        .await;
    app.say("r", "count").await;
    app.say("r", "again").await;
    let msgs = app.messages("r").await;
    assert_eq!(msgs.last().unwrap()["state"], json!({"count": 2}));
    app.say("r", "stop empty").await;
    assert_eq!(app.messages("r").await.last().unwrap()["state"], json!(""));
    app.say("r", "still talking").await;
    assert_eq!(
        app.messages("r").await.last().unwrap()["state"],
        json!({"count": 1})
    );
    app.say("r", "stop null").await;
    assert_eq!(
        app.messages("r").await.last().unwrap()["state"],
        Value::Null
    );
    let user = app.say("r", "not a conversation").await;
    assert!(app.messages_after("r", &user).await.is_empty());
}

#[tokio::test]
async fn a_message_nobody_answers_or_a_failure_ends_the_conversation() {
    let app = spawn_app().await;
    let bot = recording_bot(|_, payload| {
        if payload["text"] == "crash" {
            Answer::raw(500, "")
        } else {
            Answer::json(json!({"text": "on", "state": 1}))
        }
    })
    .await;
    app.add_bot("r", "Talker", &bot.url("/"), Some("^talk"))
        .await;
    app.say("r", "talk").await;
    app.say("r", "crash").await; // the system error message carries no state
    app.say("r", "hello?").await;
    assert_eq!(
        bot.calls().len(),
        2,
        "the conversation ended with the error"
    );
}

#[tokio::test]
async fn deleting_the_conversation_bot_ends_the_conversation() {
    let app = spawn_app().await;
    let talker = recording_bot(|_, _| Answer::json(json!({"text": "on", "state": 1}))).await;
    let other = recording_bot(|_, _| Answer::json(json!({"text": "other"}))).await;
    let bot = app
        .add_bot("r", "Talker", &talker.url("/"), Some("^talk"))
        .await;
    app.add_bot("r", "Other", &other.url("/"), Some("hello"))
        .await;
    app.say("r", "talk").await;
    app.delete("/api/actions/bot", json!({"id": bot["id"]}))
        .await;
    app.say("r", "hello").await;
    assert_eq!(talker.calls().len(), 1);
    assert_eq!(other.calls().len(), 1);
}

#[tokio::test]
async fn clearing_room_state_posts_a_message_that_ends_it() {
    let app = spawn_app().await;
    let talker = recording_bot(|_, _| Answer::json(json!({"text": "on", "state": [1]}))).await;
    app.add_bot("r", "Talker", &talker.url("/"), Some("^talk"))
        .await;
    app.say("r", "talk").await;
    let (status, body) = app
        .post("/api/actions/clear-room-state", json!({"room": "r"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"room": "r"})));
    let last = app.messages("r").await.pop().unwrap();
    assert_eq!(last["kind"], "system");
    assert_eq!(last["text"], "The room state has been cleared");
    assert_eq!(last["state"], Value::Null);
    app.say("r", "anything").await;
    assert_eq!(talker.calls().len(), 1);
}

#[tokio::test]
async fn form_actions_resolve_against_the_bot_url() {
    let app = spawn_app().await;
    let site = recording_bot(|path, _| Answer::json(json!({"text": format!("at {path}")}))).await;
    let elsewhere = recording_bot(|_, _| Answer::json(json!({"text": "absolute"}))).await;
    let origin = app
        .add_bot("r", "Desserts", &site.url("/bots/desserts"), None)
        .await;
    let cases = [
        (Value::Null, "/bots/desserts"),
        (json!(""), "/bots/desserts"),
        (json!("foo"), "/bots/foo"),
        (json!("/foo"), "/foo"),
    ];
    for (action, expected_path) in cases {
        let (status, body) = app
            .post(
                "/api/actions/message-form",
                json!({"room": "r", "author": "ada", "bot_id": origin["id"], "action_url": action, "form_data": {"dessert": "affogato"}}),
            )
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        let call = site.calls().pop().unwrap();
        assert_eq!(call.path, expected_path, "action {action}");
        assert_eq!(
            call.body,
            json!({"room": "r", "author": "ada", "form_data": {"dessert": "affogato"}}),
            "form payloads have no text"
        );
    }
    app.post(
        "/api/actions/message-form",
        json!({"room": "r", "author": "ada", "bot_id": origin["id"], "action_url": elsewhere.url("/baz"), "form_data": {}}),
    )
    .await;
    assert_eq!(elsewhere.calls()[0].path, "/baz");

    let msgs = app.messages("r").await;
    let bot_texts = texts(&msgs);
    assert_eq!(
        bot_texts,
        [
            "at /bots/desserts",
            "at /bots/desserts",
            "at /bots/foo",
            "at /foo",
            "absolute"
        ]
    );
    // The origin bot answered the first two as itself; the others were
    // transient bots named by their URL.
    assert_eq!(msgs[0]["from_bot"], origin["id"]);
    assert_eq!(msgs[0]["author"], "Desserts");
    assert_eq!(msgs[2]["from_bot"], Value::Null);
    assert_eq!(msgs[2]["author"], site.url("/bots/foo"));
    assert_eq!(msgs[2]["base_url"], site.url("/bots/foo"));
    // No user message is stored for a form submission.
    assert!(msgs.iter().all(|m| m["kind"] == "bot"));
}

#[tokio::test]
async fn the_example_form_bot_round_trip() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    let form = app
        .add_bot("r", "FormBot", &format!("{bots}/form"), None)
        .await;
    app.say("r", "formbot please").await;
    let question = app.messages("r").await.pop().unwrap();
    assert!(
        question["text"]
            .as_str()
            .unwrap()
            .contains("action=\"/form/handler\"")
    );
    app.post(
        "/api/actions/message-form",
        json!({"room": "r", "author": "ada", "bot_id": question["from_bot"], "action_url": "/form/handler", "form_data": {"dessert": "ice-cream"}}),
    )
    .await;
    let answer = app.messages("r").await.pop().unwrap();
    assert_eq!(answer["text"], "You chose <b>ice-cream</b>.");
    assert_eq!(question["from_bot"], form["id"]);
}

#[tokio::test]
async fn ping_pong_moves_the_conversation_and_nowhere_creates_an_auto_bot() {
    let app = spawn_app().await;
    let bots = spawn_example_bots().await;
    let ping = app
        .add_bot("r", "PingBot", &format!("{bots}/ping"), Some("^ping"))
        .await;
    let pong = app
        .add_bot("r", "PongBot", &format!("{bots}/pong"), Some("^never$"))
        .await;
    let mut ws = app.subscribe("r", None).await;
    ws.next().await; // put_bot PingBot
    ws.next().await; // put_bot PongBot

    app.say("r", "ping").await;
    let started = app.messages("r").await.pop().unwrap();
    assert_eq!(started["from_bot"], ping["id"]);
    app.post(
        "/api/actions/message-form",
        json!({"room": "r", "author": "ada", "bot_id": ping["id"], "action_url": "pong", "form_data": {"to": "pong"}}),
    )
    .await;
    let ponged = app.messages("r").await.pop().unwrap();
    assert_eq!(ponged["from_bot"], pong["id"]);
    assert_eq!(ponged["state"]["at"], "pong");
    assert_eq!(
        ponged["state"]["previous"]["at"], "ping",
        "the form carried the room state"
    );

    // The nowhere URL has no bot in the room: a transient bot answers with
    // state, so an (Auto) bot is made to hold the conversation.
    app.post(
        "/api/actions/message-form",
        json!({"room": "r", "author": "ada", "bot_id": ping["id"], "action_url": "/nowhere", "form_data": {"to": "nowhere"}}),
    )
    .await;
    let (_, all_bots) = app.get("/api/bots?room=r").await;
    let auto = all_bots.as_array().unwrap().last().unwrap().clone();
    assert_eq!(auto["name"], format!("(Auto) {bots}/nowhere"));
    assert_eq!(auto["url"], format!("{bots}/nowhere"));
    let nowhere = app.messages("r").await.pop().unwrap();
    assert_eq!(nowhere["from_bot"], auto["id"]);
    // Subscribers were told about the new bot.
    let mut saw_auto = false;
    // Messages and bot-call announcements come between.
    for _ in 0..30 {
        let frame = ws.next().await;
        if frame["kind"] == "put_bot" && frame["data"] == auto {
            saw_auto = true;
            break;
        }
    }
    assert!(saw_auto);
    // And the conversation now continues with it.
    let user = app.say("r", "where am I?").await;
    let reply = app.messages_after("r", &user).await;
    assert_eq!(reply[0]["from_bot"], auto["id"]);
}

#[tokio::test]
async fn a_form_for_an_unknown_bot_says_so_in_the_room() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/api/actions/message-form",
            json!({"room": "r", "author": "ada", "bot_id": 4242, "form_data": {}}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let msg = app.messages("r").await.pop().unwrap();
    assert_eq!(msg["kind"], "system");
    assert!(msg["text"].as_str().unwrap().contains("can't be found"));
    assert!(msg["text"].as_str().unwrap().contains("deleted"));
}

#[tokio::test]
async fn a_message_sent_while_the_bot_answers_waits_its_turn_and_follows_the_new_state() {
    let app = std::sync::Arc::new(spawn_app().await);
    let bot = counting_bot(std::time::Duration::from_millis(1500)).await;
    app.add_bot("turns", "Counter", &bot.url("/c"), Some("^start"))
        .await;
    app.say("turns", "start").await;
    let mut ws = app.subscribe("turns", None).await;
    let mut frames = Vec::new();
    // Three messages, each sent once the previous one is in the room, while
    // the bot is still answering the first.
    let mut posts = Vec::new();
    for text in ["answer A", "answer B", "answer C"] {
        let poster = std::sync::Arc::clone(&app);
        posts.push(tokio::spawn(async move { poster.say("turns", text).await }));
        loop {
            let Some(WsEvent::Frame(f)) = ws.next_event(std::time::Duration::from_secs(20)).await
            else {
                panic!("no frame for {text}");
            };
            let shown = f["kind"] == "message" && f["data"]["text"] == text;
            frames.push(f);
            if shown {
                break;
            }
        }
    }
    for p in posts {
        p.await.unwrap();
    }
    let calls = bot.calls();
    assert_eq!(
        texts_and_states(&calls),
        [
            ("start".to_owned(), Value::Null),
            ("answer A".to_owned(), json!(1)),
            ("answer B".to_owned(), json!(2)),
            ("answer C".to_owned(), json!(3)),
        ]
    );
    // One call at a time: each began after the previous was answered.
    for pair in calls.windows(2) {
        assert!(pair[1].received >= pair[0].answered);
    }
    // The replies are in the room in order.
    let replies: Vec<String> = texts(&app.messages("turns").await)
        .into_iter()
        .filter(|t| t.starts_with("count"))
        .collect();
    assert_eq!(
        replies,
        [
            "count 1 for start",
            "count 2 for answer A",
            "count 3 for answer B",
            "count 4 for answer C"
        ]
    );
    // Subscribers were told how many messages waited, down to none.
    while let Some(WsEvent::Frame(f)) = ws.next_event(std::time::Duration::from_millis(500)).await {
        frames.push(f);
    }
    let waiting: Vec<u64> = frames
        .iter()
        .filter(|f| f["kind"] == "bot_turn_queue")
        .map(|f| {
            assert_eq!(f["data"]["bot_name"], "Counter");
            f["data"]["waiting"].as_u64().unwrap()
        })
        .collect();
    assert!(waiting.iter().any(|&w| w > 0), "{waiting:?}");
    assert_eq!(waiting.last(), Some(&0), "{waiting:?}");
}

#[tokio::test]
async fn a_form_sent_while_the_bot_answers_waits_its_turn_and_follows_the_new_state() {
    let app = std::sync::Arc::new(spawn_app().await);
    let bot = counting_bot(std::time::Duration::from_millis(1500)).await;
    let counter = app
        .add_bot("forms", "Counter", &bot.url("/c"), Some("^start"))
        .await;
    app.say("forms", "start").await;
    let mut ws = app.subscribe("forms", None).await;
    let poster = std::sync::Arc::clone(&app);
    let a = tokio::spawn(async move { poster.say("forms", "answer A").await });
    loop {
        let Some(WsEvent::Frame(f)) = ws.next_event(std::time::Duration::from_secs(20)).await
        else {
            panic!("no frame for answer A");
        };
        if f["kind"] == "message" && f["data"]["text"] == "answer A" {
            break;
        }
    }
    // The same person sends a form while the bot answers A.
    let (status, body) = app
        .post(
            "/api/actions/message-form",
            json!({"room": "forms", "author": "student", "bot_id": counter["id"], "form_data": {"n": 1}}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    // A's request is answered once its run (the form's turn with it) ends.
    a.await.unwrap();
    let calls = bot.calls();
    assert_eq!(calls.len(), 3, "{:#?}", texts_and_states(&calls));
    assert_eq!(calls[1].body["state"], json!(1));
    assert_eq!(
        calls[2].body,
        json!({"room": "forms", "author": "student", "form_data": {"n": 1}, "state": 2}),
        "the form follows the state A's answer left"
    );
    assert!(calls[2].received >= calls[1].answered, "one call at a time");
}

#[tokio::test]
async fn someone_else_is_answered_at_once_while_the_bot_answers() {
    let app = std::sync::Arc::new(spawn_app().await);
    let bot = counting_bot(std::time::Duration::from_millis(1500)).await;
    app.add_bot("others", "Counter", &bot.url("/c"), Some("^start"))
        .await;
    app.say("others", "start").await;
    let mut ws = app.subscribe("others", None).await;
    let poster = std::sync::Arc::clone(&app);
    let a = tokio::spawn(async move { poster.say("others", "answer A").await });
    loop {
        let Some(WsEvent::Frame(f)) = ws.next_event(std::time::Duration::from_secs(20)).await
        else {
            panic!("no frame for answer A");
        };
        if f["kind"] == "message" && f["data"]["text"] == "answer A" {
            break;
        }
    }
    // Another student's message does not wait for the bot answering A: it
    // is handled as the room stands (its newest message is A, which carries
    // no state: no conversation, and it matches no bot).
    let (status, body) = app
        .post(
            "/api/actions/message",
            json!({"room": "others", "author": "bob", "text": "hi all"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let bob_answered = std::time::Instant::now();
    a.await.unwrap();
    let calls = bot.calls();
    assert_eq!(
        texts_and_states(&calls),
        [
            ("start".to_owned(), Value::Null),
            ("answer A".to_owned(), json!(1)),
        ],
        "bob's message went to no bot"
    );
    assert!(
        bob_answered < calls[1].answered,
        "bob was answered before the bot answered A"
    );
}
