//! The HTTP API of docs/contract.md §3: routes, status codes, JSON errors, headers.

use crate::common::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

const MESSAGE_KEYS: [&str; 13] = [
    "id", "room", "author", "kind", "text", "when", "image", "media", "css", "js", "from_bot",
    "base_url", "state",
];

#[tokio::test]
async fn a_posted_message_is_stored_with_every_key_and_listed_in_order() {
    let app = spawn_app().await;
    let first = app.say("lab", "first").await;
    let (status, second) = app
        .post(
            "/api/actions/message",
            json!({"room": "lab", "author": "ada", "text": "<b>second</b>", "image": "http://127.0.0.1/x.png"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for key in MESSAGE_KEYS {
        assert!(second.get(key).is_some(), "missing key {key}: {second}");
    }
    assert_eq!(second.as_object().unwrap().len(), MESSAGE_KEYS.len());
    assert_eq!(second["kind"], "user");
    assert_eq!(second["author"], "ada");
    assert_eq!(second["image"], "http://127.0.0.1/x.png");
    assert!(second["when"].is_f64(), "when is a JSON number: {second}");
    assert!(second["id"].as_i64() > first["id"].as_i64());

    let all = app.messages("lab").await;
    assert_eq!(all, vec![first.clone(), second.clone()]);
    let (_, since) = app
        .get(&format!("/api/messages?room=lab&since={}", first["id"]))
        .await;
    assert_eq!(since, json!([second]));
    let (_, garbage_since) = app.get("/api/messages?room=lab&since=abc").await;
    assert_eq!(
        garbage_since.as_array().unwrap().len(),
        2,
        "non-integer since means all"
    );
    let (_, other) = app.get("/api/messages?room=Lab").await;
    assert_eq!(other, json!([]), "room names are case-sensitive");
}

#[tokio::test]
async fn room_names_may_hold_slashes_spaces_and_unicode() {
    let app = spawn_app().await;
    let room = "group 2/Ōtautahi ☕";
    app.say(room, "kia ora").await;
    let messages = app.messages(room).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["room"], room);
}

#[tokio::test]
async fn listing_messages_without_a_room_is_a_400() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/messages").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("room"));
}

#[tokio::test]
async fn bodies_are_json_whatever_the_content_type() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url("/api/actions/message"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"room": "r", "author": "a", "text": "curl -d"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.messages("r").await.len(), 1);
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_stores_nothing() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/api/actions/message",
            json!({"author": "a", "text": "t"}),
            "`room` is required",
        ),
        (
            "/api/actions/message",
            json!({"room": "r", "text": "t"}),
            "`author` is required",
        ),
        (
            "/api/actions/message",
            json!({"room": "r", "author": "a"}),
            "`text` is required",
        ),
        (
            "/api/actions/message",
            json!({"room": "r", "author": "a", "text": null}),
            "`text` is required",
        ),
        (
            "/api/actions/message",
            json!({"room": 5, "author": "a", "text": "t"}),
            "`room` must be a string",
        ),
        (
            "/api/actions/message",
            json!({"room": "", "author": "a", "text": "t"}),
            "`room` must not be empty",
        ),
        (
            "/api/actions/message",
            json!({"room": "r", "author": "a", "text": "t", "image": 3}),
            "`image` must be a string",
        ),
        (
            "/api/actions/message",
            json!(["room"]),
            "must be a JSON object",
        ),
        (
            "/api/actions/message",
            json!({"room": "x".repeat(300), "author": "a", "text": "t"}),
            "longer than 256",
        ),
        (
            "/api/actions/message-form",
            json!({"room": "r", "author": "a", "form_data": {}}),
            "`bot_id` is required",
        ),
        (
            "/api/actions/message-form",
            json!({"room": "r", "author": "a", "bot_id": 1}),
            "`form_data` is required",
        ),
        (
            "/api/actions/message-form",
            json!({"room": "r", "author": "a", "bot_id": "1", "form_data": {}}),
            "`bot_id` must be an integer",
        ),
        (
            "/api/actions/bot",
            json!({"room": "r", "url": "http://127.0.0.1:1/"}),
            "`name` is required",
        ),
        (
            "/api/actions/bot",
            json!({"room": "r", "name": "n"}),
            "`url` is required",
        ),
        (
            "/api/actions/bot",
            json!({"room": "r", "name": "n", "url": "u", "id": 1.5}),
            "`id` must be an integer",
        ),
        (
            "/api/actions/bot",
            json!({"room": "r", "name": "n", "url": "u", "responds_to": ["x"]}),
            "`responds_to` must be a string",
        ),
        (
            "/api/actions/clear-room-messages",
            json!({}),
            "`room` is required",
        ),
        (
            "/api/actions/clear-room-state",
            json!({"room": ""}),
            "`room` must not be empty",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = app.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{path} {body}: {message:?} lacks {expected:?}"
        );
    }
    let (status, answer) = app.post_raw("/api/actions/message", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    let (status, answer) = app.post_raw("/api/actions/message", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");

    let (_, bots) = app.get("/api/bots").await;
    assert_eq!(bots, json!([]));
    assert!(app.messages("r").await.is_empty());
}

#[tokio::test]
async fn a_huge_body_is_refused_with_413_and_json() {
    let app = spawn_app().await;
    let text = "x".repeat(10 << 20);
    let body = json!({"room": "r", "author": "a", "text": text}).to_string();
    let (status, answer) = app.post_raw("/api/actions/message", body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("1048576 bytes"),
        "{answer}"
    );
    assert!(app.messages("r").await.is_empty());

    let long_text = "y".repeat(70_000);
    let (status, answer) = app
        .post(
            "/api/actions/message",
            json!({"room": "r", "author": "a", "text": long_text}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["message"].as_str().unwrap().contains("65536"),
        "{answer}"
    );
}

#[tokio::test]
async fn every_response_has_no_cache_permissive_cors_and_the_security_headers() {
    let app = spawn_app().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/messages?room=r"),
        (reqwest::Method::GET, "/api/messages"),
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/some-room"),
        (reqwest::Method::GET, "/api/spec"),
        (reqwest::Method::POST, "/api/actions/message"),
    ] {
        let response = app
            .http
            .request(method.clone(), app.url(path))
            .header("origin", "http://127.0.0.1:9999")
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-cache", "{method} {path}");
        assert_eq!(
            headers["access-control-allow-origin"], "*",
            "{method} {path}"
        );
        // No sniffing, no framing by other sites, no room path in referers.
        assert_eq!(
            headers["x-content-type-options"], "nosniff",
            "{method} {path}"
        );
        assert_eq!(
            headers["content-security-policy"], "frame-ancestors 'self'",
            "{method} {path}"
        );
        assert_eq!(headers["x-frame-options"], "SAMEORIGIN", "{method} {path}");
        assert_eq!(headers["referrer-policy"], "same-origin", "{method} {path}");
    }
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/actions/bot"))
        .header("origin", "http://127.0.0.1:9999")
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn bots_are_created_updated_listed_and_deleted() {
    let app = spawn_app().await;
    let mut room_a = app.subscribe("a", None).await;
    // Wait until the stream is live: a bot added during the connect-time
    // replay may be announced twice (put_bot is an idempotent upsert).
    let ready = app.say("a", "ready").await;
    assert_eq!(room_a.next().await["data"], ready);
    let created = app
        .add_bot("a", "Echo", "http://127.0.0.1:1/echo", Some(""))
        .await;
    assert_eq!(
        created,
        json!({"id": created["id"], "room": "a", "name": "Echo", "responds_to": "", "url": "http://127.0.0.1:1/echo"})
    );
    assert_eq!(
        room_a.next().await,
        json!({"kind": "put_bot", "data": created})
    );

    let other = app
        .add_bot("b", "Other", "http://127.0.0.1:1/o", None)
        .await;
    assert_eq!(other["responds_to"], Value::Null);

    // An id that does not exist creates a new bot.
    let (_, ghost) = app
        .post(
            "/api/actions/bot",
            json!({"id": 999, "room": "a", "name": "Ghost", "url": "u"}),
        )
        .await;
    assert_ne!(ghost["id"], 999);
    assert_eq!(room_a.next().await["data"], ghost);

    let (status, updated) = app
        .post(
            "/api/actions/bot",
            json!({"id": created["id"], "room": "a", "name": "Echo2", "responds_to": "^hi", "url": "http://127.0.0.1:2/e"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["name"], "Echo2");
    assert_eq!(
        room_a.next().await,
        json!({"kind": "put_bot", "data": updated})
    );

    let (_, in_a) = app.get("/api/bots?room=a").await;
    assert_eq!(in_a, json!([updated, ghost]));
    let (_, all) = app.get("/api/bots").await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    let (status, deleted) = app
        .delete("/api/actions/bot", json!({"id": created["id"]}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, updated);
    assert_eq!(
        room_a.next().await,
        json!({"kind": "delete_bot", "data": updated})
    );

    let (status, body) = app
        .delete("/api/actions/bot", json!({"id": created["id"]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("no bot"));
    let (status, _) = app.delete("/api/actions/bot", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_room_holds_a_bounded_number_of_bots() {
    let app = spawn_app_with(|c| c.limits.max_bots_per_room = 2).await;
    app.add_bot("full", "one", "u", None).await;
    app.add_bot("full", "two", "u", None).await;
    let (status, body) = app
        .post(
            "/api/actions/bot",
            json!({"room": "full", "name": "three", "url": "u"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("at most 2 bots"));
    let (_, bots) = app.get("/api/bots?room=full").await;
    assert_eq!(bots.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn clearing_a_room_removes_its_messages_only() {
    let app = spawn_app().await;
    app.say("x", "one").await;
    app.say("y", "keep me").await;
    let (status, body) = app
        .post("/api/actions/clear-room-messages", json!({"room": "x"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"room": "x"})));
    assert!(app.messages("x").await.is_empty());
    assert_eq!(app.messages("y").await.len(), 1);
    // Clearing an empty room is fine, and ids keep growing afterwards.
    let (status, _) = app
        .post("/api/actions/clear-room-messages", json!({"room": "x"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let after = app.say("x", "two").await;
    assert!(after["id"].as_i64().unwrap() > 2);
}

#[tokio::test]
async fn clearing_state_outside_a_conversation_posts_nothing() {
    let app = spawn_app().await;
    app.say("calm", "hello").await;
    let (status, body) = app
        .post("/api/actions/clear-room-state", json!({"room": "calm"}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"room": "calm"})));
    assert_eq!(app.messages("calm").await.len(), 1);
}

#[tokio::test]
async fn spec_docs_pages_and_unknown_routes() {
    let app = spawn_app().await;
    let spec = app.http.get(app.url("/api/spec")).send().await.unwrap();
    assert_eq!(spec.status(), 200);
    assert_eq!(spec.headers()["content-type"], "application/yaml");
    let spec_text = spec.text().await.unwrap();
    assert!(spec_text.contains("openapi:"));
    for route in [
        "/api/messages",
        "/api/bots",
        "/api/actions/message",
        "/api/actions/message-form",
        "/api/actions/bot",
        "/api/actions/clear-room-messages",
        "/api/actions/clear-room-state",
        "/ws/{room}",
    ] {
        assert!(
            spec_text.contains(&format!("{route}:")),
            "api.yaml documents {route}"
        );
    }

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let docs = no_redirects.get(app.url("/docs")).send().await.unwrap();
    assert!(docs.status().is_redirection());
    assert_eq!(docs.headers()["location"], "/docs/");
    let ui = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
    let init = app
        .http
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/api/spec"));

    for page in ["/", "/my-room", "/group%202/sub%2Froom"] {
        let response = app.http.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }

    let (status, body) = app.get("/api/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["message"].is_string());
    let response = app
        .http
        .put(app.url("/api/actions/message"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn health_check_answers() {
    let app = spawn_app().await;
    let (status, body) = app.get("/healthz").await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn an_in_memory_database_works() {
    let app = spawn_app_with(|c| c.db = ":memory:".into()).await;
    app.say("m", "remembered").await;
    let (_, listed) = app.get("/api/messages?room=m").await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}
