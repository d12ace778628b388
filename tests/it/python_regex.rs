//! Bot matching compared with the real thing: CPython's
//! `re.search(pattern, text, re.IGNORECASE).groupdict()`, run in a Python
//! process beside the test, on generated Python-syntax patterns and
//! multilingual texts (docs/contract.md §4). Plus the Unicode tables the translation is
//! built from, checked against the same CPython, and the student-visible
//! examples through the HTTP API.

use std::process::Command;
use std::sync::Mutex;

use crate::common::PythonOracle;
use necsus::matcher::{CompiledBot, PatternError};
use necsus::model::Bot;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The CPython process answering `{"p": pattern, "t": text}` lines with
/// `{"error": ...}` or `{"match": bool, "groups": {...}}`.
const ORACLE: &str = r#"
import json, re, sys, warnings
warnings.simplefilter("ignore")
for line in sys.stdin:
    case = json.loads(line)
    try:
        rx = re.compile(case["p"], re.IGNORECASE)
    except Exception as e:
        print(json.dumps({"error": str(e)}), flush=True)
        continue
    try:
        m = rx.search(case["t"])
    except SystemError:
        # _sre refuses to build a match whose group ends before it starts.
        print(json.dumps({"raises": "SystemError"}), flush=True)
        continue
    print(json.dumps({"match": m is not None, "groups": m.groupdict() if m else None}), flush=True)
"#;

fn cpython(pattern: &str, text: &str) -> Value {
    static PY: std::sync::OnceLock<Mutex<PythonOracle>> = std::sync::OnceLock::new();
    let py = PY.get_or_init(|| PythonOracle::start(ORACLE));
    PythonOracle::ask(py, &json!({"p": pattern, "t": text}))
}

fn bot(pattern: &str) -> CompiledBot {
    CompiledBot::new(Bot {
        id: 1,
        room: "r".into(),
        name: "bot".into(),
        responds_to: Some(pattern.into()),
        url: String::new(),
        saved_locally: false,
    })
}

/// What NeCSuS decides, in the oracle's shape; `None` when the pattern was
/// too slow to match (bounded time, reported to the student).
fn necsus(pattern: &str, text: &str) -> Option<Value> {
    match bot(pattern).matches(text) {
        Ok(None) => Some(json!({"match": false, "groups": null})),
        Ok(Some(params)) => Some(json!({"match": true, "groups": params})),
        Err(PatternError::Invalid(e)) => Some(json!({"error": e})),
        Err(PatternError::PythonRaises) => Some(json!({"raises": "SystemError"})),
        Err(PatternError::TooSlow) => None,
    }
}

fn agree(pattern: &str, text: &str) -> Result<(), String> {
    let expected = cpython(pattern, text);
    let Some(got) = necsus(pattern, text) else {
        return Ok(());
    };
    let same = match (expected.get("error"), got.get("error")) {
        (Some(_), Some(_)) => true,
        (None, None) => expected == got,
        _ => false,
    };
    if same {
        Ok(())
    } else {
        Err(format!(
            "pattern {pattern:?} text {text:?}: CPython {expected}, NeCSuS {got}"
        ))
    }
}

// Generated patterns: the syntax students use, and the corners where
// Python differs from other engines.

fn literal_char() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a", "b", "k", "s", "i", "I", "z", "0", "7", " ", "-", "é", "É", "ß", "ẞ", "İ", "ı", "ş",
        "Ş", "σ", "Σ", "ς", "π", "K", "ſ", "ü", "Ü", "😀", "_", "\\n", "\\.", "\\-", "\\$", "\\t",
        "\\x41", "\\u00e9", "\\0", "\\101", "\\\\", "\\Z", "\\A",
    ])
    .prop_map(str::to_owned)
}

fn class() -> impl Strategy<Value = String> {
    let item = prop::sample::select(vec![
        "a",
        "z",
        "A-Z",
        "a-f",
        "0-9",
        "é",
        "İ",
        "ı",
        "i",
        "ß",
        "σ",
        "\\w",
        "\\W",
        "\\d",
        "\\s",
        "\\S",
        "-",
        "]",
        "[",
        "^",
        "&&",
        "--",
        "~~",
        "\\]",
        "\\b",
        "ş",
        "K",
        "k-m",
        "\\x41-\\x5a",
        "😀",
        "α-ω",
        "\\u0130",
    ]);
    (any::<bool>(), prop::collection::vec(item, 1..4))
        .prop_map(|(neg, items)| format!("[{}{}]", if neg { "^" } else { "" }, items.concat()))
}

fn atom() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => literal_char(),
        2 => class(),
        2 => prop::sample::select(vec![
            ".", "\\w", "\\W", "\\d", "\\D", "\\s", "\\S", "\\b", "\\B", "^", "$",
        ]).prop_map(str::to_owned),
        1 => prop::sample::select(vec![
            "\\N{LATIN SMALL LETTER SHARP S}", "\\N{kelvin sign}", "\\N{GREEK CAPITAL LETTER SIGMA}",
            "\\N{LATIN CAPITAL LETTER I WITH DOT ABOVE}", "\\N{EM DASH}", "\\N{NOPE}",
        ]).prop_map(str::to_owned),
    ]
}

fn quantifier() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "", "", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "*?", "+?", "??", "*+",
        "{,}", "{", "{x}",
    ])
    .prop_map(str::to_owned)
}

fn pattern() -> impl Strategy<Value = String> {
    let leaf = (atom(), quantifier()).prop_map(|(a, q)| format!("{a}{q}"));
    let seq = prop::collection::vec(leaf, 1..4).prop_map(|v| v.concat());
    seq.prop_recursive(3, 24, 4, |inner| {
        let group_kind = prop::sample::select(vec![
            "(",
            "(?:",
            "(?P<g>",
            "(?P<h>",
            "(?P<ünï>",
            "(?=",
            "(?!",
            "(?<=",
            "(?<!",
            "(?>",
            "(?-i:",
            "(?s:",
            "(?m:",
            "(?x:",
            "(?a:",
        ]);
        prop_oneof![
            (group_kind, inner.clone(), quantifier()).prop_map(|(g, i, q)| format!("{g}{i}){q}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}|{b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}{b}")),
            (
                inner.clone(),
                prop::sample::select(vec!["\\1", "(?P=g)", "(?P=h)", "\\2"])
            )
                .prop_map(|(a, r)| format!("{a}{r}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, y, n)| format!("(?P<g>{c})?(?(g){y}|{n})")),
            // Conditionals on groups that can match empty or be skipped:
            // anchors, lookarounds, optional and repeated items inside.
            (empty_able(), quantifier(), inner.clone(), inner)
                .prop_map(|(c, q, y, n)| format!("(?P<g>{c}){q}(?(g){y}|{n})")),
        ]
    })
}

/// What a group can match without consuming text, or skip.
fn empty_able() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "^", "$", "\\A", "\\Z", "\\b", "\\B", "(?=a)", "(?!a)", "(?<=a)", "(?<!b)", "a*", "a?",
        "|", "a|", "|a", "(?:)", "a*?", "(?=.)", "b*|a", "^|a", "(?:a|)",
    ])
    .prop_map(str::to_owned)
}

fn flags_prefix() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "", "", "(?m)", "(?s)", "(?a)", "(?x)", "(?ms)", "(?u)",
    ])
    .prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "a",
        "b",
        "k",
        "K",
        "s",
        "S",
        "i",
        "I",
        "z",
        "0",
        "7",
        "42",
        " ",
        "-",
        ".",
        "$",
        "\n",
        "é",
        "É",
        "ß",
        "ẞ",
        "SS",
        "İ",
        "ı",
        "İSTANBUL",
        "istanbul",
        "ş",
        "Ş",
        "σ",
        "Σ",
        "ς",
        "ΣΊΣΥΦΟΣ",
        "π",
        "K",
        "ſ",
        "ü",
        "Ü",
        "straße",
        "😀",
        "_",
        "\t",
        "e\u{301}",
        "²",
        "٣",
        "\u{a0}",
        "\u{2028}",
        "{",
        "}",
        "[",
        "]",
    ]);
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES explores further (e.g. 100000 before a release).
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000),
        max_shrink_iters: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_patterns_match_exactly_as_cpython_does(
        flags in flags_prefix(),
        pattern in pattern(),
        texts in prop::collection::vec(text(), 1..4),
    ) {
        let pattern = format!("{flags}{pattern}");
        for text in &texts {
            if let Err(e) = agree(&pattern, text) {
                return Err(TestCaseError::fail(e));
            }
        }
    }
}

#[test]
fn the_issue_examples_match_as_in_python() {
    for (p, t) in [
        (r"at (?P<h>\d+)(:(?P<m>\d+))?", "am I free at 9"),
        (r"at (?P<h>\d+)(:(?P<m>\d+))?", "at 9:30"),
        ("^weather$", "weather\n"),
        ("^weather$", "weather\n\n"),
        ("^weather\\Z", "weather\n"),
        ("istanbul", "İSTANBUL"),
        ("izmir", "İZMİR'e gidiyorum"),
        ("ISTANBUL", "ıstanbul"),
        ("straße", "STRASSE"),
        ("straße", "STRAẞE"),
        ("σοφία", "ΣΟΦΊΑ"),
        (r"\bcafé\b", "un café noir"),
        (r"(?P<w>\w+)", "e\u{301}té"),
        (r"[^\W\d_]+", "ab12_cd"),
        (r"(?i:a)(?-i:b)", "AB"),
        (r"(?-i:b)", "B"),
        ("a{,2}b", "aaab"),
        ("x{1,", "x{1,"),
        ("[[a]]", "[]"),
        ("[a&&b]", "&"),
        (r"\x41\u00e9\101", "aéa"),
        (r"(?x) h e l l o  # greeting", "HELLO"),
        ("(?s)a.b", "a\nb"),
        ("a.b", "a\nb"),
        ("(?m)^b$", "a\nb\nc"),
        (r"(a)|b", "b"),
        (r"(?P<x>a)|(?P<y>b)", "b"),
    ] {
        agree(p, t).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn python_refusals_are_refusals_here_too() {
    for p in [
        "(unclosed",
        "a)",
        "*a",
        "a**",
        "a{3,2}",
        r"\q",
        "[z-a]",
        "(?P<1a>x)",
        r"(a)\2",
        r"(a\1)",
        "a(?i)b",
        "[abc",
        r"(?<=a+)b",
        "(?L)a",
        "(?au)a",
        r"\x4",
        "(?P=x)",
        "a|*",
        r"(?<=(a)\1)",
        "(?z)",
    ] {
        let expected = cpython(p, "a");
        assert!(expected.get("error").is_some(), "CPython accepts {p:?}");
        let got = necsus(p, "a").expect("not a time-out");
        assert!(
            got.get("error").is_some(),
            "{p:?}: CPython refuses ({expected}), NeCSuS {got}"
        );
    }
}

#[test]
fn named_unicode_escapes_work_as_in_python() {
    for (p, t) in [
        (r"\N{EM DASH}", "a\u{2014}b"),
        (r"\N{em dash}", "\u{2014}"),
        (r"[\N{EM DASH}\N{EN DASH}]+", "\u{2013}\u{2014}"),
        (r"\N{LATIN SMALL LETTER SHARP S}", "SS ẞ ß"),
        (r"\N{GREEK SMALL LETTER FINAL SIGMA}", "Σ"),
        (r"\N{KELVIN SIGN}", "k"),
        (r"\N{LATIN CAPITAL LETTER GHA}", "ƣ"),
        (r"\N{CJK UNIFIED IDEOGRAPH-4E00}", "\u{4e00}"),
        (r"\N{HANGUL SYLLABLE GA}", "\u{ac00}"),
        (r"\N{SNOWMAN}", "☃"),
        (r"\N{NOPE}", "x"),
        (r"a\N{NOPE}", "x"),
        (r"\N{ EM DASH}", "x"),
        (r"\N{LATIN CAPITAL LETTER A WITH MACRON AND GRAVE}", "x"),
        (r"\N{EM DASH", "x"),
        (r"\N{}", "x"),
        (r"\N", "x"),
        (r"\NX", "x"),
        (r"[\N{NOPE}]", "x"),
    ] {
        agree_exactly(p, t);
    }
}

/// Every case the generated-pattern test ever failed on, kept so a fixed
/// fault cannot come back unseen (add each new one here).
#[test]
fn every_disagreement_ever_found_stays_fixed() {
    for (p, t) in [
        // An optional group that matched the empty string, then a
        // conditional on it: Python backtracks into "group not taken".
        (r"(?P<g>^)?(?(g)a|[^a])", "b"),
        (r"(?:(a)|a)(?(1)x|y)", "ay"),
        (r"(?P<g>(?=b))?(?(g)a|b)", "b"),
        (r"(?P<g>$)?(?(g)|\n)", "\n"),
        (r"(?P<g>\b)?(?(g)a|.)", "b"),
        (r"(?P<g>a*)?(?(g)b|c)", "c"),
        (r"(?P<g>a|)(?(g)x|a)", "a"),
        (r"(?P<g>(?<=a))?(?(g)c|b)", "ab"),
        (r"(?:(?P<g>a)|a)*(?(g)x|y)", "aay"),
        // A lazy repeat inside a repeated group (the engine before stopped
        // after one iteration).
        (r"(?P<g>[^a]+?)*+", "bk"),
        (r"(?P<g>[^-]+?)*+", "straße"),
        (r"(?P<g>[^a]+?)*", "bk"),
        // Found while building the matcher against CPython.
        (r"(?P<g>^)?(?(g)a|[^a])", "ba"),
        (r"(?:(?P<g>a)|(?P<h>a))(?(g)b|c)", "ac"),
        (r"((a)(?:b|bc)(?(1)x|y))z", "abcxz"),
        (r"(?:(a)|b)+?c", "abc"),
        (r"(?:()|a)*b", "aab"),
        (r"(?:(a)|(b))*+c", "abac"),
        (r"(?>(a)|ab)c", "abc"),
        (r"(b()(?:[ac]|[ac])*(?(1)c|d))d", "bcdx"),
        (r"(b()(?:(?:a)|a)*(?(1)c|d))d", "badx"),
        (r"(?P<g>(a|)(?:(?:a|c)|b)*(?(1)c|))[db]", ".aab-K$xS"),
        (
            r"(?m)(?:((b)(?:a|)(?(2)|c)) {,}[0-9]{0,1}+|(?>[ß]{0}){0}){1,2}+",
            "bad$\n",
        ),
        (r"(?m)(?a:\S)", "\u{2028}-ϑ"),
        (r"(?x)(?a:(?-i:\W))", "iμş"),
        (r"(?a:\S)+", "\u{2028}-"),
        (r"(?a)(?u:\w)+", "éa"),
        (r"(?a)(?u:s)", "ſ"),
        (r"(?a)(?u:\b)é", "é"),
        (
            r"(?a)(?P<g>(?u:[^ſ[]{2,}[~~\n\S]i{0,1}+)){0,2}(?(1)(?a:(I*)\2)+?|(?<!(i)ς))",
            "7]²SSabab",
        ),
    ] {
        agree_exactly(p, t);
    }
}

/// `agree`, and the outcome must be a real comparison (the pattern was
/// not too slow to decide).
fn agree_exactly(p: &str, t: &str) {
    assert!(
        necsus(p, t).is_some(),
        "{p} on {t:?} was too slow to decide"
    );
    agree(p, t).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn backreferences_ignore_case_as_python_lowers_both_sides() {
    // CPython compares lower(a) == lower(b) character by character, with
    // its own simple lowercase mapping: the sharp s and its capital, the
    // Kelvin sign and k match; final sigma and capital sigma do not.
    for (p, t) in [
        (r"(\w)\1", "aA"),
        (r"(?P<x>σ)(?P=x)", "σΣ"),
        (r"(é)\1", "éÉ"),
        (r"(?P<s>ß)(?P=s)", "ßẞ"),
        (r"(?P<k>k)(?P=k)", "k\u{212A}"),
        (r"(?P<k>K)(?P=k)", "\u{212A}k"),
        (r"(ς)\1", "ςΣ"),
        (r"(?P<i>i)(?P=i)", "iİ"),
        (r"(ı)\1", "ıI"),
        (r"(µ)\1", "µΜ"),
        (r"(?a)(\w)\1", "k\u{212A}"),
        (r"(\w+) \1", "STRASSE straße"),
    ] {
        agree_exactly(p, t);
    }
    assert_eq!(necsus(r"(?P<s>ß)(?P=s)", "ßẞ").unwrap()["match"], true);
    assert_eq!(necsus(r"(ς)\1", "ςΣ").unwrap()["match"], false);
}

#[test]
fn empty_iterations_of_repeated_groups_are_recorded_as_python_does() {
    // Python records one more, empty, iteration of a repeated group that
    // can match nothing, after the last one that consumed text.
    for (p, t) in [
        (r"(?P<g>a*)*", "a"),
        (r"(?P<g>a+)*", "aaa"),
        (r"(?P<g>a|)+b", "aab"),
    ] {
        agree_exactly(p, t);
    }
    assert_eq!(necsus(r"(?P<g>a*)*", "a").unwrap()["groups"]["g"], "");
}

#[test]
fn unicode_tables_are_cpythons() {
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tools/gen_pyre_tables.py"
        ))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = String::from_utf8(out.stdout).expect("utf-8");
    let committed = include_str!("../../src/pyre/tables.rs");
    // The first line names the CPython version; the data must be equal.
    let body = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert!(
        body(&fresh) == body(committed),
        "src/pyre/tables.rs differs from this machine's CPython ({}): regenerate it with \
         python3 tools/gen_pyre_tables.py > src/pyre/tables.rs",
        fresh.lines().next().unwrap_or_default()
    );
}

#[tokio::test]
async fn students_see_python_matching_through_the_api() {
    let app = crate::common::spawn_app().await;
    let bot =
        crate::common::recording_bot(|_, _| crate::common::Answer::json(json!({"text": "ok"})))
            .await;
    app.add_bot("tr", "izmir", &bot.url("/"), None).await;
    app.add_bot(
        "tr",
        "clock",
        &bot.url("/"),
        Some(r"at (?P<h>\d+)(:(?P<m>\d+))?"),
    )
    .await;
    app.add_bot("tr", "weather", &bot.url("/"), Some("^weather$"))
        .await;
    app.say("tr", "İZMİR'e gidiyorum").await;
    app.say("tr", "am I free at 9").await;
    app.say("tr", "weather\n").await;
    let calls = bot.calls();
    let params: Vec<&Value> = calls.iter().map(|c| &c.body["params"]).collect();
    assert_eq!(params.len(), 3, "{calls:?}");
    assert_eq!(params[0], &json!({}));
    assert_eq!(params[1], &json!({"h": "9", "m": null}));
    assert_eq!(params[2], &json!({}));
}

/// `PROBE='pattern' PROBE_TEXT='text' cargo test --test python_regex probe -- --ignored --nocapture`
/// prints both sides for one case (one pattern per line in PROBE).
#[test]
#[ignore]
fn probe() {
    let text = std::env::var("PROBE_TEXT").unwrap_or_default();
    for p in std::env::var("PROBE").unwrap_or_default().lines() {
        println!(
            "{p:?} on {text:?}\n  CPython {}\n  NeCSuS  {:?}",
            cpython(p, &text),
            necsus(p, &text)
        );
        if std::env::var("PROBE_ENGINE").is_ok() {
            println!(
                "  engine  {:?}",
                necsus::pyre::translate(p).map(|t| t.pattern)
            );
        }
    }
}

/// The kinds fixed with the matcher of our own, as a student sees them:
/// through the API, one room per case, the bot called (with CPython's
/// `params`) or not.
#[tokio::test]
async fn conditionals_named_escapes_and_backreferences_through_the_api() {
    let app = crate::common::spawn_app().await;
    let bot =
        crate::common::recording_bot(|_, _| crate::common::Answer::json(json!({"text": "ok"})))
            .await;
    let cases: [(&str, &str, Option<Value>); 6] = [
        (r"(?P<g>^)?(?(g)a|[^a])", "b", Some(json!({"g": null}))),
        (
            r"say \N{EM DASH}(?P<w>\w+)",
            "say \u{2014}hello",
            Some(json!({"w": "hello"})),
        ),
        (r"(?P<s>ß)(?P=s)", "ßẞ", Some(json!({"s": "ß"}))),
        (r"(?P<k>k)(?P=k)", "k\u{212A}", Some(json!({"k": "k"}))),
        (r"(ς)\1", "ςΣ", None),
        (r"(?P<g>[^a]+?)*", "bk", Some(json!({"g": "k"}))),
    ];
    for (i, (pattern, text, _)) in cases.iter().enumerate() {
        let room = format!("kind{i}");
        app.add_bot(&room, "Kind", &bot.url(&format!("/{i}")), Some(pattern))
            .await;
        app.say(&room, text).await;
        let expected = cpython(pattern, text);
        assert_eq!(
            expected["match"],
            json!(cases[i].2.is_some()),
            "{pattern} on {text:?}: CPython says {expected}"
        );
    }
    let calls = bot.calls();
    for (i, (pattern, text, params)) in cases.iter().enumerate() {
        let call = calls.iter().find(|c| c.path == format!("/{i}"));
        match params {
            Some(params) => {
                let call = call.unwrap_or_else(|| panic!("{pattern} on {text:?}: not called"));
                assert_eq!(&call.body["params"], params, "{pattern} on {text:?}");
                assert_eq!(params, &cpython(pattern, text)["groups"], "{pattern}");
            }
            None => assert!(call.is_none(), "{pattern} on {text:?}: called"),
        }
    }
}
