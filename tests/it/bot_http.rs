//! The HTTP client as bots see it (docs/contract.md §4): a pooled connection the bot's
//! server closed is retried once on a fresh one and never reported as a
//! wrong URL; redirects keep the POST and show in the bot-call log.
//! (tests/python_bots.rs checks the same against real Flask and gunicorn.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP request (head and a JSON body) from `s`; false if the
/// connection ended first.
async fn read_request(s: &mut TcpStream) -> bool {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.ends_with(b"}") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    true
}

async fn answer(s: &mut TcpStream, text: &str) {
    let body = json!({ "text": text }).to_string();
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(format!("{head}{body}").as_bytes()).await;
}

/// A bot whose server answers the first request on each connection and
/// keeps the connection open, then closes it as the next request arrives
/// (what a server closing idle connections does when the close races
/// with a reused connection).
async fn closes_reused_connections() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                if read_request(&mut s).await {
                    answer(&mut s, &format!("answered on connection {n}")).await;
                }
                // The next request on this connection is read and dropped.
                let _ = read_request(&mut s).await;
            });
        }
    });
    (format!("http://{addr}/bot"), connections)
}

#[tokio::test]
async fn a_reused_connection_closed_by_the_bot_is_retried_on_a_fresh_one() {
    let app = spawn_app().await;
    let (url, connections) = closes_reused_connections().await;
    app.add_bot("keep", "Kept", &url, Some("ping")).await;
    for i in 0..5 {
        let sent = app.say("keep", &format!("ping {i}")).await;
        let replies = app.messages_after("keep", &sent).await;
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(
            replies[0]["kind"], "bot",
            "ping {i}: {}",
            replies[0]["text"]
        );
    }
    // Every reply after the first came on a fresh connection, after the
    // reused one was closed under it.
    assert!(connections.load(Ordering::SeqCst) >= 5);
}

#[tokio::test]
async fn a_server_that_closes_without_answering_is_not_called_a_wrong_url() {
    let app = spawn_app().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = read_request(&mut s).await;
            });
        }
    });
    app.add_bot("crash", "Crashy", &format!("http://{addr}/bot"), Some("hi"))
        .await;
    let sent = app.say("crash", "hi").await;
    let replies = app.messages_after("crash", &sent).await;
    let text = replies[0]["text"].as_str().unwrap();
    assert_eq!(replies[0]["kind"], "system");
    assert!(text.contains("closed it without answering"), "{text}");
    assert!(!text.contains("Is the URL correct"), "{text}");
    // A real connection failure still says so.
    app.add_bot("dead", "Gone", &dead_url().await, Some("hi"))
        .await;
    let sent = app.say("dead", "hi").await;
    let replies = app.messages_after("dead", &sent).await;
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Is the URL correct"),
        "{}",
        replies[0]["text"]
    );
}

#[tokio::test]
async fn redirects_resend_the_post_and_the_log_shows_the_chain() {
    let app = spawn_app().await;
    let bot = recording_bot(|path, _| match path {
        "/old" => Answer::raw(301, "").with_header("location", "/moved"),
        "/moved" => Answer::raw(302, "").with_header("location", "/new/"),
        "/missing" => Answer::raw(302, "").with_header("location", "/nowhere"),
        "/nowhere" => Answer::raw(404, "not here"),
        _ => Answer::json(json!({"text": "arrived"})),
    })
    .await;
    app.add_bot("r", "Mover", &bot.url("/old"), Some("go"))
        .await;
    let sent = app.say("r", "go").await;
    let replies = app.messages_after("r", &sent).await;
    assert_eq!(replies[0]["text"], "arrived");
    let calls = bot.calls();
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/old", "/moved", "/new/"]);
    // Every hop got the POST with its body (the recording bot parses it).
    assert!(calls.iter().all(|c| c.body["text"] == "go"), "{calls:?}");
    let (_, log) = app.get("/api/bot-calls?room=r").await;
    let call = &log.as_array().unwrap()[0];
    assert_eq!(
        call["redirects"],
        json!([bot.url("/moved"), bot.url("/new/")])
    );
    // An error after a redirect names the URL that answered.
    app.add_bot("r2", "Lost", &bot.url("/missing"), Some("go"))
        .await;
    let sent = app.say("r2", "go").await;
    let replies: Vec<Value> = app.messages_after("r2", &sent).await;
    let text = replies[0]["text"].as_str().unwrap();
    assert!(text.contains("404") && text.contains("/nowhere"), "{text}");
}
