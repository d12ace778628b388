//! Failure notices collapse per episode: when a bot keeps failing the same
//! way in quick succession (a script flooding a room, a bot whose calls
//! come back to this server, a bot that is down while its room is busy),
//! the room is told once, not once per call. Every call is still in the
//! bot-call log with its error.
//!
//! An episode is a run of failures of one bot (by URL) in one room with one
//! cause (the outcome, and the status for an HTTP error) where each follows
//! the one before within `gap`. Answers in between do not end it: a bot
//! whose calls come back to this server answers and fails by turns. A
//! person who types at human speed to a broken bot (more than `gap`
//! between posts) is told every time. Kept in this instance's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Episodes kept before ended ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

/// Why a call failed, as far as collapsing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cause {
    pub outcome: &'static str,
    pub status: Option<u16>,
}

pub struct FailureEpisodes {
    gap: Duration,
    open: Mutex<HashMap<(String, String, Cause), Instant>>,
}

impl FailureEpisodes {
    /// Failures more than `gap` apart are separate episodes.
    pub fn new(gap: Duration) -> FailureEpisodes {
        FailureEpisodes {
            gap,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// A call to `bot_url` in `room` failed with `cause`: true when the
    /// room should be told (the failure starts an episode).
    pub fn should_tell(&self, room: &str, bot_url: &str, cause: Cause) -> bool {
        let now = Instant::now();
        let mut open = crate::sync::lock(&self.open);
        if open.len() > PRUNE_ABOVE {
            let gap = self.gap;
            open.retain(|_, last| now.duration_since(*last) < gap);
        }
        let key = (room.to_owned(), bot_url.to_owned(), cause);
        match open.insert(key, now) {
            Some(last) => now.duration_since(last) >= self.gap,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_repeats_are_told_once_per_cause_bot_and_room() {
        let episodes = FailureEpisodes::new(Duration::from_secs(60));
        let timeout = Cause {
            outcome: "timeout",
            status: None,
        };
        let status = Cause {
            outcome: "bad_status",
            status: Some(429),
        };
        assert!(episodes.should_tell("r", "http://b", timeout));
        assert!(!episodes.should_tell("r", "http://b", timeout));
        // Another cause, bot or room is another episode.
        assert!(episodes.should_tell("r", "http://b", status));
        assert!(episodes.should_tell("r", "http://c", timeout));
        assert!(episodes.should_tell("s", "http://b", timeout));
        // Failures further apart than the gap are each told.
        let quick = FailureEpisodes::new(Duration::ZERO);
        assert!(quick.should_tell("r", "http://b", timeout));
        assert!(quick.should_tell("r", "http://b", timeout));
    }
}
