//! Deciding which bots a message activates (SPEC §4): Python's
//! `re.search(pattern, text, re.IGNORECASE)`, or for a bot without a
//! pattern `re.search(re.escape(name), text, re.IGNORECASE)`. Patterns are
//! translated by `pyre` (Python's syntax, case rules and classes) and
//! compiled once per bot change; matching is bounded for every pattern
//! (linear-time engine where possible, a backtrack limit otherwise).
//! `BotCache` keeps each room's compiled bots, refreshed on every bot change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::model::Bot;
use crate::pyre;

/// Backtracking steps a pattern may take on one message before it is
/// reported as too slow.
const BACKTRACK_LIMIT: usize = 200_000;
/// Compiled-program size caps, so a huge pattern fails to compile instead of
/// eating memory.
const SIZE_LIMIT: usize = 8 << 20;

enum Pattern {
    /// No pattern: the bot's name, matched literally with Python's case
    /// rules. `None` for an empty name, which matches nothing.
    Name(Option<regex::Regex>),
    Regex {
        re: fancy_regex::Regex,
        /// Python's named groups: (name, group number), in order.
        names: Vec<(String, usize)>,
        empty_iteration_captures: bool,
    },
    /// The pattern does not compile; the error says why.
    Invalid(String),
}

/// Whether the bot's pattern is one where Python's `groupdict` may differ
/// from ours (see `pyre::Translated::empty_iteration_captures`).
impl CompiledBot {
    pub fn params_may_differ_from_python(&self) -> bool {
        matches!(
            &self.pattern,
            Pattern::Regex {
                empty_iteration_captures: true,
                ..
            }
        )
    }
}

/// A bot with its activation rule compiled.
pub struct CompiledBot {
    pub bot: Bot,
    pattern: Pattern,
}

/// Why a pattern could not be matched.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternError {
    Invalid(String),
    TooSlow,
}

impl CompiledBot {
    pub fn new(bot: Bot) -> Self {
        let pattern = match bot.responds_to.as_deref() {
            Some(p) if !p.is_empty() => compile(p),
            _ if bot.name.is_empty() => Pattern::Name(None),
            _ => Pattern::Name(
                regex::RegexBuilder::new(&pyre::literal(&bot.name))
                    .size_limit(SIZE_LIMIT)
                    .build()
                    .ok(),
            ),
        };
        CompiledBot { bot, pattern }
    }

    /// `Ok(Some(params))` when the message activates the bot; `params` is
    /// Python's `match.groupdict()` (a group that did not take part is
    /// `null`), values being exact substrings of `text`.
    pub fn matches(&self, text: &str) -> Result<Option<Map<String, Value>>, PatternError> {
        match &self.pattern {
            Pattern::Name(None) => Ok(None),
            Pattern::Name(Some(re)) => Ok(re.is_match(text).then(Map::new)),
            Pattern::Invalid(e) => Err(PatternError::Invalid(e.clone())),
            Pattern::Regex { re, names, .. } => match re.captures(text) {
                Ok(None) => Ok(None),
                Ok(Some(caps)) => {
                    let mut params = Map::new();
                    for (name, group) in names {
                        let value = caps
                            .get(*group)
                            .map_or(Value::Null, |m| Value::String(m.as_str().to_owned()));
                        params.insert(name.clone(), value);
                    }
                    Ok(Some(params))
                }
                Err(fancy_regex::Error::RuntimeError(_)) => Err(PatternError::TooSlow),
                Err(e) => Err(PatternError::Invalid(e.to_string())),
            },
        }
    }
}

fn compile(pattern: &str) -> Pattern {
    let translated = match pyre::translate(pattern) {
        Ok(t) => t,
        Err(e) => return Pattern::Invalid(e.0),
    };
    let result = fancy_regex::RegexBuilder::new(&translated.pattern)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(SIZE_LIMIT)
        .build();
    match result {
        Ok(re) => Pattern::Regex {
            re,
            names: translated.names,
            empty_iteration_captures: translated.empty_iteration_captures,
        },
        Err(e) => Pattern::Invalid(engine_error(&e)),
    }
}

/// The engine's refusal in the words Python would use, where Python
/// refuses the same thing; otherwise the engine's own words.
fn engine_error(e: &fancy_regex::Error) -> String {
    let text = e.to_string();
    let lower = text.to_lowercase();
    if lower.contains("look") && lower.contains("behind") {
        "look-behind requires fixed-width pattern".to_owned()
    } else if lower.contains("size limit") || lower.contains("too big") {
        "the pattern is too large for NeCSuS to match safely (a repeat like {1000} on a \
         big group?); make it smaller"
            .to_owned()
    } else {
        text
    }
}

/// Each room's bots, compiled, in id order. A generation counter per room
/// keeps a load that raced with a bot change from installing a stale list.
#[derive(Default)]
pub struct BotCache {
    rooms: Mutex<HashMap<String, Entry>>,
}

#[derive(Default)]
struct Entry {
    generation: u64,
    bots: Option<Arc<Vec<CompiledBot>>>,
}

impl BotCache {
    /// The cached list, or the generation to quote when installing one.
    pub fn get(&self, room: &str) -> Result<Arc<Vec<CompiledBot>>, u64> {
        let rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        match rooms.get(room) {
            Some(Entry {
                bots: Some(bots), ..
            }) => Ok(Arc::clone(bots)),
            Some(entry) => Err(entry.generation),
            None => Err(0),
        }
    }

    /// Installs a freshly loaded list unless a bot changed since `generation`.
    pub fn install(&self, room: &str, generation: u64, bots: Vec<Bot>) -> Arc<Vec<CompiledBot>> {
        let compiled = Arc::new(bots.into_iter().map(CompiledBot::new).collect::<Vec<_>>());
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let entry = rooms.entry(room.to_owned()).or_default();
        if entry.generation == generation {
            entry.bots = Some(Arc::clone(&compiled));
        }
        compiled
    }

    /// Forgets every room's list (bot changes may have been missed).
    pub fn invalidate_all(&self) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        for entry in rooms.values_mut() {
            entry.generation += 1;
            entry.bots = None;
        }
    }

    /// Forgets a room's list after one of its bots changed.
    pub fn invalidate(&self, room: &str) {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        let entry = rooms.entry(room.to_owned()).or_default();
        entry.generation += 1;
        entry.bots = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot(name: &str, responds_to: Option<&str>) -> CompiledBot {
        CompiledBot::new(Bot {
            id: 1,
            room: "r".into(),
            name: name.into(),
            responds_to: responds_to.map(Into::into),
            url: String::new(),
            saved_locally: false,
        })
    }

    fn check(b: &CompiledBot, text: &str) -> Result<Option<Map<String, Value>>, PatternError> {
        b.matches(text)
    }

    #[test]
    fn names_match_literally_and_case_insensitively() {
        let b = bot("C++", None);
        assert!(check(&b, "hello c++ bot").unwrap().is_some());
        assert!(check(&b, "hello c bot").unwrap().is_none());
    }

    #[test]
    fn python_named_groups_become_params() {
        let b = bot(
            "x",
            Some(r"repeat (?P<word>\w+) (?P<count>\d+) times(?P<bang>!)?"),
        );
        let params = check(&b, "Please REPEAT hello 5 times.").unwrap().unwrap();
        assert_eq!(params["word"], "hello");
        assert_eq!(params["count"], "5");
        assert_eq!(params["bang"], Value::Null);
    }

    #[test]
    fn python_end_of_text_anchor() {
        let b = bot("x", Some(r"bye\Z"));
        assert!(check(&b, "good bye").unwrap().is_some());
        assert!(check(&b, "bye now").unwrap().is_none());
    }

    #[test]
    fn invalid_and_pathological_patterns_are_errors_not_stalls() {
        assert!(matches!(
            check(&bot("x", Some("(unclosed")), "a"),
            Err(PatternError::Invalid(_))
        ));
        let slow = bot("x", Some(r"^(a+)+\1b$"));
        let start = std::time::Instant::now();
        let _ = check(&slow, &"a".repeat(40));
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}
