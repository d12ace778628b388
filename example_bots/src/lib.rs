//! The example bots: small HTTP endpoints showing every kind of reply a
//! NeCSuS bot can give (text, images, media, state, forms, css/js, errors).
//! Students read them as examples; the server's tests use them as a real
//! peer. Each bot is a POST route taking the JSON NeCSuS sends.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_http::cors::CorsLayer;

/// Longest the sleep bot sleeps, so a test or a typo cannot hold it forever.
pub const MAX_SLEEP_SECONDS: u64 = 30;

pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/hello", post(hello))
        .route("/echo", post(echo))
        .route("/debug", post(debug))
        .route("/image", post(image))
        .route("/media", post(media))
        .route("/meme", post(meme))
        .route("/state", post(state))
        .route("/sleep", post(sleep))
        .route("/slowcount", post(slowcount))
        .route("/form", post(form))
        .route("/form/handler", post(form_handler))
        .route("/numberwang", post(numberwang))
        .route("/ping", post(ping))
        .route("/pong", post(pong))
        .route("/nowhere", post(nowhere))
        .route("/button", post(button))
        .route("/script", post(script))
        .route("/error", post(error))
        .route("/static/{file}", get(static_file))
        .layer(CorsLayer::permissive())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The JSON NeCSuS sent; anything unreadable counts as an empty object.
fn payload(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|_| json!({}))
}

fn field<'a>(p: &'a Value, key: &str) -> &'a str {
    p.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Absolute URL of a static file on this server, as the caller reached it.
fn static_url(headers: &HeaderMap, file: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:1234");
    format!("http://{host}/static/{file}")
}

async fn index() -> Html<&'static str> {
    Html(
        "<h1>NeCSuS example bots</h1><p>The server is running. POST to /hello, /echo, /debug, \
         /image, /media, /meme, /state, /sleep, /form, /numberwang, /ping, /pong, /button, \
         /script, /slowcount or /error.</p>",
    )
}

async fn hello(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    Json(json!({ "text": format!("Hello, {}!", escape(field(&p, "author"))) }))
}

async fn echo(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    Json(json!({
        "author": "EchoBot",
        "text": format!("Hello! Your message was: {}", escape(field(&p, "text"))),
    }))
}

async fn debug(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let pretty = serde_json::to_string_pretty(&p).unwrap_or_default();
    Json(json!({
        "author": "DebugBot",
        "text": format!(
            "This is what NeCSuS sent me:<pre>{}</pre>\
             <form><button name=\"pressed\" value=\"debug-button\">Send a form activation</button></form>",
            escape(&pretty)
        ),
    }))
}

async fn image(headers: HeaderMap) -> Json<Value> {
    Json(json!({
        "text": "Here is a picture.",
        "image": static_url(&headers, "necsus.png"),
    }))
}

async fn media(headers: HeaderMap) -> Json<Value> {
    Json(json!({
        "text": "Beep!",
        "media": static_url(&headers, "beep.wav"),
    }))
}

/// Relative URLs, resolved by the client against this bot's URL.
async fn meme() -> Json<Value> {
    Json(json!({
        "text": "A meme, linked relatively: <img class=\"meme-inline\" src=\"/static/meme.png\" alt=\"meme\">",
        "image": "/static/meme.png",
    }))
}

/// Counts messages in a conversation. "stop" ends it by leaving out state,
/// "stop null" by sending null; "stop empty" sends "" which carries on.
async fn state(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let text = field(&p, "text").trim().to_lowercase();
    let count = p
        .get("state")
        .and_then(|s| s.get("count"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    Json(match text.as_str() {
        "stop" => json!({ "text": "Conversation over (no state)." }),
        "stop null" => json!({ "text": "Conversation over (state null).", "state": null }),
        "stop empty" => json!({
            "text": "State is now an empty string, which still carries the conversation on.",
            "state": "",
        }),
        _ => json!({
            "text": format!("Message {count} of our conversation. Say <i>stop</i> to end it."),
            "state": { "count": count },
        }),
    })
}

/// A slow conversation: takes a second to answer, counts the messages of
/// the conversation in its state (a plain number) and never ends it. Shows
/// turn-taking: a message sent while it is still answering waits its turn.
async fn slowcount(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let count = p.get("state").and_then(Value::as_i64).unwrap_or(0) + 1;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Json(json!({
        "text": format!("count {count} (you said {})", escape(field(&p, "text"))),
        "state": count,
    }))
}

async fn sleep(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let seconds = field(&p, "text")
        .split_whitespace()
        .find_map(|w| w.parse::<f64>().ok())
        .unwrap_or(1.0)
        .clamp(0.0, MAX_SLEEP_SECONDS as f64);
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    Json(json!({ "text": format!("I slept for {seconds} seconds.") }))
}

async fn form() -> Json<Value> {
    Json(json!({
        "author": "FormBot",
        "text": "What is your favourite dessert?\
                 <form action=\"/form/handler\">\
                 <button name=\"dessert\" value=\"apple-crumble\">Apple crumble</button>\
                 <button name=\"dessert\" value=\"ice-cream\">Ice cream</button>\
                 <button name=\"dessert\" value=\"affogato\">Affogato</button>\
                 </form>",
    }))
}

async fn form_handler(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let choice = p
        .get("form_data")
        .and_then(|f| f.get("dessert"))
        .and_then(Value::as_str)
        .unwrap_or("nothing");
    Json(json!({
        "author": "FormBot",
        "text": format!("You chose <b>{}</b>.", escape(choice)),
    }))
}

/// A guessing game played with buttons: state keeps the round.
async fn numberwang(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    let round = p
        .get("state")
        .and_then(|s| s.get("round"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let picked = p
        .get("form_data")
        .and_then(|f| f.get("number"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let buttons: String = (1..=5)
        .map(|n| format!("<button name=\"number\" value=\"{n}\">{n}</button>"))
        .collect();
    let board = format!("<form>{buttons}</form>");
    Json(match picked {
        Some(n) if n == "3" || round >= 3 => json!({
            "author": "Numberwang",
            "text": format!("{} — <b>That's Numberwang!</b>", escape(&n)),
        }),
        Some(n) => json!({
            "author": "Numberwang",
            "text": format!("{} is not Numberwang. Pick again: {board}", escape(&n)),
            "state": { "round": round + 1 },
        }),
        None if round > 0 => json!({
            "author": "Numberwang",
            "text": format!("Use the buttons! {board}"),
            "state": { "round": round },
        }),
        None => json!({
            "author": "Numberwang",
            "text": format!("Let's play Numberwang! Pick a number: {board}"),
            "state": { "round": 1 },
        }),
    })
}

/// Starts a conversation and offers to hand it to PongBot (a sibling URL) or
/// to a URL no bot in the room has.
async fn ping(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    Json(json!({
        "author": "PingBot",
        "text": "Ping! Where to next?\
                 <form action=\"pong\"><button name=\"to\" value=\"pong\">Pong</button></form>\
                 <form action=\"/nowhere\"><button name=\"to\" value=\"nowhere\">Nowhere</button></form>",
        "state": { "at": "ping", "previous": p.get("state").cloned().unwrap_or(Value::Null) },
    }))
}

async fn pong(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    Json(json!({
        "author": "PongBot",
        "text": "Pong! <form action=\"ping\"><button name=\"to\" value=\"ping\">Back to Ping</button></form>",
        "state": { "at": "pong", "previous": p.get("state").cloned().unwrap_or(Value::Null) },
    }))
}

async fn nowhere(body: Bytes) -> Json<Value> {
    let p = payload(&body);
    Json(json!({
        "text": "You reached nowhere, which keeps talking.",
        "state": { "at": "nowhere", "previous": p.get("state").cloned().unwrap_or(Value::Null) },
    }))
}

/// Relative css and js, resolved by the client against this bot's URL.
async fn button() -> Json<Value> {
    Json(json!({
        "author": "ButtonBot",
        "text": "<button class=\"necsus-example-button\">Click me</button>",
        "css": "/static/button.css",
        "js": "/static/button.js",
    }))
}

async fn script() -> Json<Value> {
    Json(json!({
        "author": "ScriptBot",
        "text": "<span class=\"script-bot-marker\">This message ran a script.</span>\
                 <script>window.necsusScriptRuns = (window.necsusScriptRuns || 0) + 1;</script>",
    }))
}

/// "error 404" answers with that status; "error json BODY" answers 200 with
/// BODY as it is, JSON or not.
async fn error(body: Bytes) -> Response {
    let p = payload(&body);
    let text = field(&p, "text");
    let after = |word: &str| {
        text.find(word)
            .map(|i| text[i + word.len()..].trim_start().to_owned())
    };
    if let Some(raw) = after("error json") {
        return ([(header::CONTENT_TYPE, "application/json")], raw).into_response();
    }
    let code = after("error")
        .and_then(|rest| {
            rest.split_whitespace()
                .next()
                .and_then(|w| w.parse::<u16>().ok())
        })
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, format!("This is an error with status {code}")).into_response()
}

async fn static_file(Path(file): Path<String>) -> Response {
    let (bytes, mime): (&'static [u8], &str) = match file.as_str() {
        "necsus.png" => (include_bytes!("../static/necsus.png"), "image/png"),
        "meme.png" => (include_bytes!("../static/meme.png"), "image/png"),
        "beep.wav" => (include_bytes!("../static/beep.wav"), "audio/wav"),
        "button.css" => (include_bytes!("../static/button.css"), "text/css"),
        "button.js" => (include_bytes!("../static/button.js"), "text/javascript"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, mime)], bytes).into_response()
}
