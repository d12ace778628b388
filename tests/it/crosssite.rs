//! No cross-site actions, and who may read /metrics, through the real
//! binary: a browser showing another site's page cannot change anything
//! (JSON, `text/plain` and form posts alike), while scripts (curl, Python's
//! `requests`) and the room page itself work as before; reading stays open;
//! a tutor can allow a site, or open everything with `--open`.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::common::*;

struct Page<'a> {
    http: reqwest::Client,
    base: &'a str,
}

impl Page<'_> {
    /// POSTs `body` with `content_type` and the given browser headers; the
    /// status and the answer's text.
    async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: String,
        browser: &[(&str, &str)],
    ) -> (u16, String) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, content_type)
            // As through the proxy: a student elsewhere.
            .header("x-forwarded-for", "203.0.113.7")
            .body(body);
        for (name, value) in browser {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn messages(&self, room: &str) -> Vec<Value> {
        let url = format!("{}/api/messages?room={room}", self.base);
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn message(room: &str, text: &str) -> String {
    json!({"room": room, "author": "eve", "text": text}).to_string()
}

#[tokio::test]
async fn other_sites_pages_cannot_change_anything_scripts_and_the_room_page_can() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let app = Binary::start_with(dir.path().join("necsus.db"), port, &[]).await;
    let page = Page {
        http: reqwest::Client::new(),
        base: &app.base,
    };
    let own = format!("http://127.0.0.1:{port}");
    let elsewhere = format!("http://127.0.0.1:{}", free_port());
    let json = "application/json";
    // A JSON fetch from another page (another port is another origin).
    let (status, answer) = page
        .post(
            "/api/actions/message",
            json,
            message("r", "forged"),
            &[("origin", &elsewhere)],
        )
        .await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("another website"), "{answer}");
    assert!(answer.contains(&elsewhere), "names the page: {answer}");
    // A text/plain fetch, which needs no preflight.
    let plain = [
        ("origin", elsewhere.as_str()),
        ("sec-fetch-site", "same-site"),
    ];
    let (status, _) = page
        .post(
            "/api/actions/message",
            "text/plain",
            message("r", "forged"),
            &plain,
        )
        .await;
    assert_eq!(status, 403);
    // A plain HTML form, no script at all.
    let form = "room=r&author=eve&text=forged".to_owned();
    let cross = [("sec-fetch-site", "cross-site"), ("origin", "null")];
    let form_type = "application/x-www-form-urlencoded";
    let (status, _) = page
        .post("/api/actions/message", form_type, form, &cross)
        .await;
    assert_eq!(status, 403);
    // Bots and clears the same way.
    let bot = json!({"room": "r", "name": "B", "url": "http://127.0.0.1:9/"}).to_string();
    let (status, _) = page.post("/api/actions/bot", json, bot, &cross).await;
    assert_eq!(status, 403);
    let clear = json!({"room": "r"}).to_string();
    let (status, _) = page
        .post(
            "/api/actions/clear-room-messages",
            "text/plain",
            clear.clone(),
            &cross,
        )
        .await;
    assert_eq!(status, 403);
    assert!(
        page.messages("r").await.is_empty(),
        "nothing forged was stored"
    );

    // The room page itself, and scripts with no browser headers at all.
    let same = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let (status, answer) = page
        .post("/api/actions/message", json, message("r", "page"), &same)
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = page
        .post("/api/actions/message", json, message("r", "curl"), &[])
        .await;
    assert_eq!(status, 200, "{answer}");
    // Python's requests, as a student's script sends it.
    let script = format!(
        "import requests\n\
         r = requests.post('{base}/api/actions/message', json={{'room': 'r', 'author': 'py', 'text': 'requests'}})\n\
         b = requests.post('{base}/api/actions/bot', json={{'room': 'r', 'name': 'PyBot', 'url': 'http://127.0.0.1:9/'}})\n\
         print(r.status_code, b.status_code)",
        base = app.base
    );
    match std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    {
        Ok(out) if out.status.success() => {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200 200");
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'requests'") => {
            assert!(std::env::var("CI").is_err(), "CI needs Python's requests");
            eprintln!("!!! SKIPPING the requests check: pip install requests");
        }
        other => panic!("python3 failed: {other:?}"),
    }
    let texts: Vec<String> = page
        .messages("r")
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(texts.contains(&"page".to_owned()) && texts.contains(&"curl".to_owned()));
    // Reading stays open to every page.
    let read = page
        .http
        .get(format!("{}/api/messages?room=r", app.base))
        .header("origin", &elsewhere)
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
}

#[tokio::test]
async fn a_tutor_can_allow_a_site_or_open_everything() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let lab = "http://127.0.0.3:8080";
    let allowing = Binary::start_with(
        dir.path().join("a.db"),
        free_port(),
        &["--allow-origins", "HTTP://127.0.0.3:8080/"],
    )
    .await;
    let page = Page {
        http: reqwest::Client::new(),
        base: &allowing.base,
    };
    let from_lab = [("origin", lab), ("sec-fetch-site", "cross-site")];
    let (status, answer) = page
        .post(
            "/api/actions/message",
            "text/plain",
            message("r", "lab"),
            &from_lab,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let other = [
        ("origin", "http://127.0.0.4:8080"),
        ("sec-fetch-site", "cross-site"),
    ];
    let (status, _) = page
        .post(
            "/api/actions/message",
            "text/plain",
            message("r", "x"),
            &other,
        )
        .await;
    assert_eq!(status, 403);

    let open = Binary::start_with(dir.path().join("b.db"), free_port(), &["--open"]).await;
    let page = Page {
        http: reqwest::Client::new(),
        base: &open.base,
    };
    let (status, answer) = page
        .post(
            "/api/actions/message",
            "application/json",
            message("r", "open"),
            &other,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn metrics_answer_this_machine_or_the_tutors_token() {
    necsus::botcall::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let token = "a-tutor-token-for-tests-0123456789";
    let token_file = dir.path().join("tutor-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let app = Binary::start_with(
        dir.path().join("necsus.db"),
        free_port(),
        &["--tutor-token-file", token_file.to_str().unwrap()],
    )
    .await;
    let http = reqwest::Client::new();
    let get = |forwarded: bool, bearer: Option<&str>| {
        let mut request = http.get(format!("{}/metrics", app.base));
        if forwarded {
            request = request.header("x-forwarded-for", "203.0.113.7");
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get(false, None).await, 200, "this machine");
    assert_eq!(get(true, None).await, 403, "a student through the proxy");
    assert_eq!(
        get(true, Some("a-tutor-token-for-tests-0123456780")).await,
        403
    );
    assert_eq!(get(true, Some(token)).await, 200, "the tutor's token");
    let body = http
        .get(format!("{}/metrics", app.base))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("tutor"), "says who may: {body}");
}
