//! Property tests through the HTTP layer: arbitrary JSON (and non-JSON)
//! bodies on every JSON endpoint never give a 5xx or a panic, and every
//! answer has the shape the spec gives it.

use std::sync::OnceLock;

use crate::common::*;
use proptest::prelude::*;
use serde_json::{Map, Value};

const FIELDS: [&str; 12] = [
    "room",
    "author",
    "text",
    "image",
    "media",
    "css",
    "js",
    "bot_id",
    "action_url",
    "form_data",
    "id",
    "call_id",
];

const ENDPOINTS: [(&str, &str); 9] = [
    ("POST", "/api/actions/message"),
    ("POST", "/api/actions/message-form"),
    ("POST", "/api/actions/bot"),
    ("DELETE", "/api/actions/bot"),
    ("POST", "/api/actions/clear-room-messages"),
    ("POST", "/api/actions/clear-room-state"),
    ("POST", "/api/actions/bot-test"),
    ("POST", "/api/actions/bot-replay"),
    ("POST", "/api/no-such-action"),
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
        prop_oneof![Just("r"), Just(""), Just("a/b"), Just("x")]
            .prop_map(|s| Value::String(s.into())),
        (0i64..5).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects made mostly of the fields the endpoints read, with any values.
fn body() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop::collection::vec((prop::sample::select(&FIELDS[..]), json_value()), 0..8)
            .prop_map(|pairs| {
                let mut m = Map::new();
                for (k, v) in pairs {
                    m.insert(k.to_owned(), v);
                }
                Value::Object(m)
            }),
        1 => json_value(),
    ]
}

struct Shared {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let app = runtime.block_on(async {
            let app =
                spawn_app_with(|c| c.bot_timeout = std::time::Duration::from_millis(300)).await;
            // Something to find: a bot (nothing listens at its URL) and a call.
            app.add_bot("r", "x", &dead_url().await, Some("")).await;
            app.say("r", "x").await;
            app
        });
        Shared { runtime, app }
    })
}

fn check(method: &str, path: &str, body: Vec<u8>) -> Result<(), TestCaseError> {
    let s = shared();
    let (status, answer) = s.runtime.block_on(async {
        let request = match method {
            "DELETE" => s.app.http.delete(s.app.url(path)),
            _ => s.app.http.post(s.app.url(path)),
        };
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, text)
    });
    prop_assert!(status < 500, "{method} {path} gave {status}: {answer}");
    let json: Value = serde_json::from_str(&answer)
        .map_err(|e| TestCaseError::fail(format!("{status} not JSON ({e}): {answer}")))?;
    if status >= 400 {
        prop_assert!(
            json["message"].is_string(),
            "{status} without a message: {answer}"
        );
        prop_assert!(
            matches!(status, 400 | 404 | 405 | 413 | 429),
            "unexpected status {status}"
        );
    } else {
        prop_assert!(json.is_object(), "{answer}");
        if path == "/api/actions/message" {
            for key in [
                "id", "room", "author", "kind", "text", "when", "image", "media", "css", "js",
                "from_bot", "base_url", "state",
            ] {
                prop_assert!(json.get(key).is_some(), "message lacks {key}: {answer}");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 150, ..ProptestConfig::default() })]

    #[test]
    fn any_json_body_gets_a_4xx_or_a_well_formed_answer(endpoint in 0..ENDPOINTS.len() - 1, body in body()) {
        let (method, path) = ENDPOINTS[endpoint];
        check(method, path, serde_json::to_vec(&body).unwrap())?;
    }

    #[test]
    fn any_bytes_get_a_4xx_or_a_well_formed_answer(endpoint in 0..ENDPOINTS.len(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let (method, path) = ENDPOINTS[endpoint];
        check(method, path, bytes)?;
    }

    #[test]
    fn any_query_string_on_the_listings_is_handled(query in "\\PC{0,60}", which in 0..3usize) {
        let s = shared();
        let path = ["/api/messages", "/api/bots", "/api/bot-calls"][which];
        let encoded: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
        for url in [format!("{path}?{query}"), format!("{path}?room={encoded}&since={encoded}&bot_id={encoded}")] {
            let (status, text) = s.runtime.block_on(async {
                let r = s.app.http.get(s.app.url(&url)).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            });
            prop_assert!(status < 500, "{url} gave {status}: {text}");
            let json: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
            prop_assert!(json.is_array() || json["message"].is_string(), "{text}");
        }
    }
}
