//! Bot replies read as CPython's `json.loads(body_bytes)` reads them
//! (docs/contract.md §4): generated bodies (valid and broken JSON, NaN and Infinity,
//! big integers, floats, escapes and lone surrogates, duplicate keys,
//! UTF-8 with and without BOM, UTF-16 and UTF-32) compared with the real
//! thing in a Python process beside the test.

use std::sync::Mutex;

use crate::common::PythonOracle;
use necsus::botcall::pyjson;
use proptest::prelude::*;
use serde_json::{Value, json};

const ORACLE: &str = r#"
import json, sys
def clean(v):
    # NeCSuS stores UTF-8: a lone surrogate becomes U+FFFD.
    if isinstance(v, str):
        return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(v, list):
        return [clean(x) for x in v]
    if isinstance(v, dict):
        return {clean(k): clean(x) for k, x in v.items()}
    return v
for line in sys.stdin:
    case = json.loads(line)
    body = bytes.fromhex(case["hex"])
    try:
        value = json.loads(body)
    except Exception as e:
        print(json.dumps({"error": str(e)}), flush=True)
        continue
    print(json.dumps({"value": json.dumps(clean(value), separators=(",", ":"))}), flush=True)
"#;

/// CPython's verdict on `body`: its error, or the value written back as
/// compact JSON.
fn cpython(body: &[u8]) -> Value {
    static PY: std::sync::OnceLock<Mutex<PythonOracle>> = std::sync::OnceLock::new();
    let py = PY.get_or_init(|| PythonOracle::start(ORACLE));
    let hex: String = body.iter().map(|b| format!("{b:02x}")).collect();
    PythonOracle::ask(py, &json!({ "hex": hex }))
}

fn agree(body: &[u8]) -> Result<(), String> {
    let expected = cpython(body);
    let got = pyjson::loads(body);
    match (expected.get("value"), got) {
        (None, Err(_)) => Ok(()),
        (Some(v), Ok(value)) => {
            // Our writing, read back and written by Python the same way.
            let ours = cpython(value.to_python_json().as_bytes());
            if ours.get("value") == Some(v) {
                Ok(())
            } else {
                Err(format!("{body:?}: CPython {v}, NeCSuS {ours}"))
            }
        }
        (None, Ok(value)) => Err(format!(
            "{body:?}: CPython refuses ({expected}), NeCSuS reads {}",
            value.to_python_json()
        )),
        (Some(v), Err(e)) => Err(format!(
            "{body:?}: CPython reads {v}, NeCSuS refuses ({})",
            e.0
        )),
    }
}

fn token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "0",
        "-0",
        "1",
        "-1",
        "10",
        "007",
        "1.5",
        "-2.25e3",
        "1e400",
        "-1e400",
        "1E-7",
        "2.",
        ".5",
        "1e",
        "123456789012345678901234567890",
        "-98765432109876543210",
        "NaN",
        "Infinity",
        "-Infinity",
        "nan",
        "infinity",
        "true",
        "false",
        "null",
        "None",
        "\"text\"",
        "\"é\"",
        "\"\\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\"",
        "\"\\ude00x\"",
        "\"a\\nb\"",
        "\"\\/\"",
        "\"\\x\"",
        "\"tab\there\"",
        "\"😀\"",
        "'single'",
        "\"\"",
    ])
    .prop_map(str::to_owned)
}

fn value() -> impl Strategy<Value = String> {
    token().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["\"text\"", "\"state\"", "\"a\"", "\"é\""]),
                    inner
                ),
                0..4
            )
            .prop_map(|kv| {
                let items: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", items.join(", "))
            }),
        ]
    })
}

fn encoded(text: &str, how: u8) -> Vec<u8> {
    let utf16 = |big: bool| -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    let utf32 = |big: bool| -> Vec<u8> {
        text.chars()
            .flat_map(|c| {
                if big {
                    (c as u32).to_be_bytes()
                } else {
                    (c as u32).to_le_bytes()
                }
            })
            .collect()
    };
    match how {
        0 => text.as_bytes().to_vec(),
        1 => [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
        2 => [b"\xFF\xFE".as_slice(), &utf16(false)].concat(),
        3 => utf16(true),
        4 => utf16(false),
        5 => [b"\x00\x00\xFE\xFF".as_slice(), &utf32(true)].concat(),
        6 => utf32(false),
        _ => [text.as_bytes(), b"\xFF"].concat(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES explores further (e.g. 100000 before a release).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_replies_read_exactly_as_cpython_reads_them(
        text in value(),
        space in prop::sample::select(vec!["", " ", "\n", "\t ", " x"]),
        how in 0u8..8,
    ) {
        let body = encoded(&format!("{space}{text}{space}"), how);
        if let Err(e) = agree(&body) {
            return Err(TestCaseError::fail(e));
        }
    }
}

#[test]
fn replies_students_send_read_as_in_python() {
    for body in [
        r#"{"text": "hi", "state": {"n": 123456789012345678901234567890, "x": NaN}}"#,
        r#"{"text": "a", "text": "b"}"#,
        r#"{"text": "\ud83d half"}"#,
        "",
        " ",
        r#"{"text": "ok"} trailing"#,
    ] {
        agree(body.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
}
