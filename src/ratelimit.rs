//! The per-room rate limit (docs/contract.md §7): a room that receives posts faster
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
        self.with_bucket(room, |bucket, burst, rate| {
            take(&mut bucket.tokens, &mut bucket.limiting, burst, rate)
        })
    }

    /// Takes `n` messages a post caused (bot replies, notices) from the
    /// bucket without refusing them: the bucket may go into debt, down to
    /// minus a burst, and later posts wait until it is repaid.
    pub fn charge(&self, room: &str, n: u32) {
        self.with_bucket(room, |bucket, burst, _| {
            bucket.tokens = charge(bucket.tokens, n, burst);
        });
    }

    fn with_bucket<T>(&self, key: &str, f: impl FnOnce(&mut Bucket, f64, f64) -> T) -> T {
        let now = Instant::now();
        let mut rooms = crate::sync::lock(&self.rooms);
        if rooms.len() > PRUNE_ABOVE {
            let (rate, burst) = (self.rate, self.burst);
            rooms.retain(|_, b| b.tokens + b.refill(now, rate) < burst);
        }
        let bucket = rooms.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
            limiting: false,
        });
        bucket.tokens = (bucket.tokens + bucket.refill(now, self.rate)).min(self.burst);
        bucket.updated = now;
        f(bucket, self.burst, self.rate)
    }
}

/// A bucket holding `tokens` after `n` caused messages are charged to it:
/// never below minus `burst`, so a debt is repaid within two bursts' time.
pub fn charge(tokens: f64, n: u32, burst: f64) -> f64 {
    (tokens - f64::from(n)).max(-burst)
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
        // Caused messages put a room in debt, down to minus a burst.
        limit.charge("third", 100);
        assert!(matches!(
            limit.check("third"),
            Verdict::Limited { retry_after, .. } if retry_after.as_secs_f64() > 3.9
        ));
        assert!(RoomRateLimit::new(0.0, 10).is_none());
    }
}
