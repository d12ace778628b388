//! The per-room rate limit (SPEC §7): a room that receives posts faster
//! than people type (a bot that posts back into its own room and triggers
//! itself, a script in a loop) is slowed with 429 and `Retry-After`, and
//! told once per episode; other rooms never notice.
//!
//! Each room has a token bucket: `burst` posts at once, refilled at `rate`
//! posts per second. An episode starts with the first refused post and ends
//! once the bucket has refilled completely (the room calmed down), so a
//! loop that keeps hammering gets one system message, not one per refusal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before idle (full) ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub struct RoomRateLimit {
    rate: f64,
    burst: f64,
    rooms: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    /// An episode of refusals is under way.
    limiting: bool,
}

/// The answer for one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; try again after this long. `first` is true for the first
    /// refusal of an episode (the room is told once).
    Limited {
        retry_after: Duration,
        first: bool,
    },
}

impl RoomRateLimit {
    /// `rate` posts per second with bursts of `burst`; `None` (no limit)
    /// when `rate` is 0.
    pub fn new(rate: f64, burst: u32) -> Option<RoomRateLimit> {
        (rate > 0.0).then(|| RoomRateLimit {
            rate,
            burst: f64::from(burst.max(1)),
            rooms: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one post from the room's bucket.
    pub fn check(&self, room: &str) -> Verdict {
        let now = Instant::now();
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        if rooms.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            rooms.retain(|_, b| b.tokens + b.refill(now, rate) < burst);
        }
        let bucket = rooms.entry(room.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
            limiting: false,
        });
        bucket.tokens = (bucket.tokens + bucket.refill(now, self.rate)).min(self.burst);
        bucket.updated = now;
        take(
            &mut bucket.tokens,
            &mut bucket.limiting,
            self.burst,
            self.rate,
        )
    }
}

/// Takes one post from a token bucket that holds `tokens` (refilled up to
/// now, at most `burst`) and refills at `rate` a second; `limiting` says
/// whether an episode of refusals is under way. Updates both and returns
/// the verdict: an episode ends once the bucket is full again. Shared by
/// every bucket, wherever it is kept (memory here, a database row).
pub fn take(tokens: &mut f64, limiting: &mut bool, burst: f64, rate: f64) -> Verdict {
    if *tokens >= burst {
        *limiting = false;
    }
    if *tokens >= 1.0 {
        *tokens -= 1.0;
        return Verdict::Allowed;
    }
    let first = !*limiting;
    *limiting = true;
    Verdict::Limited {
        retry_after: Duration::from_secs_f64((1.0 - *tokens) / rate),
        first,
    }
}

impl Bucket {
    fn refill(&self, now: Instant, rate: f64) -> f64 {
        now.duration_since(self.updated).as_secs_f64() * rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_episode_of_refusals() {
        let limit = RoomRateLimit::new(1.0, 3).unwrap();
        for _ in 0..3 {
            assert_eq!(limit.check("r"), Verdict::Allowed);
        }
        assert!(matches!(
            limit.check("r"),
            Verdict::Limited { first: true, .. }
        ));
        assert!(matches!(
            limit.check("r"),
            Verdict::Limited { first: false, .. }
        ));
        // Other rooms are not affected.
        assert_eq!(limit.check("other"), Verdict::Allowed);
        assert!(RoomRateLimit::new(0.0, 10).is_none());
    }
}
