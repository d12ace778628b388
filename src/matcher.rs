//! Deciding which bots a message activates (docs/contract.md §4): Python's
//! `re.search(pattern, text, re.IGNORECASE)`, or for a bot without a
//! pattern `re.search(re.escape(name), text, re.IGNORECASE)`. Patterns are
//! parsed by `pyre` (Python's syntax, errors, case rules and classes) and
//! compiled once per bot change, for two engines:
//!
//! - `pyre::engine`, a backtracking matcher with `_sre`'s semantics, decides
//!   every match that needs backtracking and every `params`
//!   (`match.groupdict()`), within a budget of steps;
//! - the linear-time `regex` crate, when the pattern needs nothing it
//!   lacks, first decides whether there is a match at all: most messages
//!   match no bot, and that answer then costs linear time, never a
//!   backtracking search over the whole message.
//!
//! `BotCache` keeps each room's compiled bots, refreshed on every bot change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::model::Bot;
use crate::pyre;

/// Steps (`pyre::engine`'s unit: an instruction, a character tested, a
/// return to a saved choice; each a few nanoseconds) one pattern may take
/// on one message before it is reported as too slow: about 5 ms.
pub const STEP_BUDGET: u64 = 2_000_000;
/// Steps all of a room's bots may take together on one message, beyond
/// the floor each bot keeps: about 50 ms, whatever the patterns.
pub const MESSAGE_STEP_BUDGET: u64 = 20_000_000;
/// What each bot may still take once the message's budget is spent, so
/// cheap patterns after expensive ones still match.
const SHARE_FLOOR: u64 = 100_000;
/// Compiled-program size caps for the linear engine, so a huge pattern
/// is left to the budgeted matcher instead of eating memory.
const SIZE_LIMIT: usize = 8 << 20;

enum Pattern {
    /// No pattern: the bot's name, matched literally with Python's case
    /// rules. `None` for an empty name, which matches nothing.
    Name(Option<regex::Regex>),
    Regex {
        python: pyre::engine::Regex,
        /// The same pattern in the linear engine, when it can take it.
        linear: Option<regex::Regex>,
    },
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
    /// CPython's `re` raises `SystemError` on this pattern and message
    /// (see `pyre::engine::Captures::python_raises`).
    PythonRaises,
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
        self.matches_within(text, STEP_BUDGET).0
    }

    /// `matches` within `budget` steps; also returns the steps taken.
    fn matches_within(&self, text: &str, budget: u64) -> (Matched, u64) {
        match &self.pattern {
            Pattern::Name(None) => (Ok(None), 0),
            Pattern::Name(Some(re)) => (Ok(re.is_match(text).then(Map::new)), 0),
            Pattern::Invalid(e) => (Err(PatternError::Invalid(e.clone())), 0),
            Pattern::Regex { python, linear } => {
                if linear.as_ref().is_some_and(|re| !re.is_match(text)) {
                    return (Ok(None), 0);
                }
                let (found, steps) = python.search_counted(text, budget);
                (found_params(python, found, text), steps)
            }
        }
    }
}

/// What matching a message against one bot gives.
pub type Matched = Result<Option<Map<String, Value>>, PatternError>;

/// Matches `text` against each of a room's bots, in order, within the
/// message's budget: each bot may take up to `STEP_BUDGET` steps while the
/// message's `MESSAGE_STEP_BUDGET` lasts, and `SHARE_FLOOR` after that, so
/// no set of patterns costs more than about 75 ms of one core per message
/// (at most 100 bots in a room). CPU-bound: callers run it off the async
/// workers.
pub fn match_all(bots: &[CompiledBot], text: &str) -> Vec<Matched> {
    let mut left = MESSAGE_STEP_BUDGET;
    bots.iter()
        .map(|bot| {
            let share = left.clamp(SHARE_FLOOR, STEP_BUDGET);
            let (matched, steps) = bot.matches_within(text, share);
            left = left.saturating_sub(steps);
            matched
        })
        .collect()
}

/// The match `python` found, as `params`.
fn found_params(
    python: &pyre::engine::Regex,
    found: Result<Option<pyre::engine::Captures>, pyre::engine::BudgetExceeded>,
    text: &str,
) -> Matched {
    let Some(caps) = found.map_err(|_| PatternError::TooSlow)? else {
        return Ok(None);
    };
    if caps.python_raises() {
        return Err(PatternError::PythonRaises);
    }
    let mut params = Map::new();
    for (name, value) in python.groupdict(&caps, text) {
        let value = value.map_or(Value::Null, |v| Value::String(v.to_owned()));
        params.insert(name.to_owned(), value);
    }
    Ok(Some(params))
}

fn compile(pattern: &str) -> Pattern {
    let translated = match pyre::translate(pattern) {
        Ok(t) => t,
        Err(e) => return Pattern::Invalid(e.0),
    };
    let linear = regex::RegexBuilder::new(&translated.pattern)
        .size_limit(SIZE_LIMIT)
        .dfa_size_limit(SIZE_LIMIT)
        .build()
        .ok();
    Pattern::Regex {
        python: pyre::engine::Regex::from_translated(&translated),
        linear,
    }
}

/// Each room's bots, compiled, in id order. A generation counter per room
/// keeps a load that raced with a bot change from installing a stale list.
#[derive(Default)]
pub struct BotCache {
    rooms: Mutex<HashMap<String, Entry>>,
    /// Bots (id and pattern) whose pattern was found too slow and whose
    /// room was told: told once, not on every message; a new pattern is
    /// told again.
    slow: Mutex<std::collections::HashSet<(i64, String)>>,
}

/// Most remembered slow patterns; past it the memory starts afresh (a
/// pattern is then told once more).
const SLOW_REMEMBERED: usize = 10_000;

#[derive(Default)]
struct Entry {
    generation: u64,
    bots: Option<Arc<Vec<CompiledBot>>>,
}

impl BotCache {
    /// True the first time `bot`'s current pattern is found too slow.
    pub fn first_time_too_slow(&self, bot: &Bot) -> bool {
        let mut slow = crate::sync::lock(&self.slow);
        if slow.len() >= SLOW_REMEMBERED {
            slow.clear();
        }
        slow.insert((bot.id, bot.responds_to.clone().unwrap_or_default()))
    }

    /// The cached list, or the generation to quote when installing one.
    pub fn get(&self, room: &str) -> Result<Arc<Vec<CompiledBot>>, u64> {
        let rooms = crate::sync::lock(&self.rooms);
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
        let mut rooms = crate::sync::lock(&self.rooms);
        let entry = rooms.entry(room.to_owned()).or_default();
        if entry.generation == generation {
            entry.bots = Some(Arc::clone(&compiled));
        }
        compiled
    }

    /// Forgets every room's list (bot changes may have been missed).
    pub fn invalidate_all(&self) {
        let mut rooms = crate::sync::lock(&self.rooms);
        for entry in rooms.values_mut() {
            entry.generation += 1;
            entry.bots = None;
        }
    }

    /// Forgets a room's list after one of its bots changed.
    pub fn invalidate(&self, room: &str) {
        let mut rooms = crate::sync::lock(&self.rooms);
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
