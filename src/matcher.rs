//! Deciding which bots a message activates (SPEC §4). Patterns use Python's
//! syntax and are compiled once per bot change; matching is bounded for every
//! pattern (linear-time engine where possible, a backtrack limit otherwise).
//! `BotCache` keeps each room's compiled bots, refreshed on every bot change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::model::Bot;

/// Backtracking steps a pattern may take on one message before it is
/// reported as too slow.
const BACKTRACK_LIMIT: usize = 200_000;
/// Compiled-program size caps, so a huge pattern fails to compile instead of
/// eating memory.
const SIZE_LIMIT: usize = 2 << 20;

enum Pattern {
    /// No pattern: the bot's name, lowercased, matched literally.
    Name(String),
    Regex(fancy_regex::Regex),
    /// The pattern does not compile; the error says why.
    Invalid(String),
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
            _ => Pattern::Name(bot.name.to_lowercase()),
        };
        CompiledBot { bot, pattern }
    }

    /// `Ok(Some(params))` when the message activates the bot; `text_lower`
    /// is `text.to_lowercase()`, computed once per message.
    pub fn matches(
        &self,
        text: &str,
        text_lower: &str,
    ) -> Result<Option<Map<String, Value>>, PatternError> {
        match &self.pattern {
            // An empty name would match every message: treat it as matching none.
            Pattern::Name(name) if name.is_empty() => Ok(None),
            Pattern::Name(name) => Ok(text_lower.contains(name.as_str()).then(Map::new)),
            Pattern::Invalid(e) => Err(PatternError::Invalid(e.clone())),
            Pattern::Regex(re) => match re.captures(text) {
                Ok(None) => Ok(None),
                Ok(Some(caps)) => {
                    let mut params = Map::new();
                    for name in re.capture_names().flatten() {
                        if let Some(m) = caps.name(name) {
                            params.insert(name.to_owned(), Value::String(m.as_str().to_owned()));
                        }
                    }
                    Ok(Some(params))
                }
                Err(fancy_regex::Error::RuntimeError(_)) => Err(PatternError::TooSlow),
                Err(e) => Err(PatternError::Invalid(e.to_string())),
            },
        }
    }
}

/// Python's `\Z` (end of text) is `\z` here; everything else students use
/// (`(?P<name>…)`, `(?P=name)`, lookarounds) the engine reads as it is.
fn python_to_engine(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('Z') => out.push_str("\\z"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn compile(pattern: &str) -> Pattern {
    let result = fancy_regex::RegexBuilder::new(&python_to_engine(pattern))
        .case_insensitive(true)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(SIZE_LIMIT)
        .delegate_dfa_size_limit(SIZE_LIMIT)
        .build();
    match result {
        Ok(re) => Pattern::Regex(re),
        Err(e) => Pattern::Invalid(e.to_string()),
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
        })
    }

    fn check(b: &CompiledBot, text: &str) -> Result<Option<Map<String, Value>>, PatternError> {
        b.matches(text, &text.to_lowercase())
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
        assert!(!params.contains_key("bang"));
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
