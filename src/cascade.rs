//! How many messages one person's post may cause (issue "safe on the open
//! internet", §3): a bot whose URL is this server's own
//! `/api/actions/message` posts back into the room, that post activates
//! the bots again, and so on; twenty such bots once turned one post into
//! thousands of messages in two seconds.
//!
//! A *cascade* is a person's post (or form) and everything it causes. Each
//! bot call made for it carries the cascade's id in the `X-Necsus-Cascade`
//! header; a post that arrives carrying a live id (the call came straight
//! back to this server) joins that cascade instead of starting one. Every
//! message a cascade causes (a bot's reply, a failure notice, a post that
//! joined it) counts against its budget; once the budget is spent, no bot
//! is called for it any more, posts that would join it are refused, and
//! the room is told once. Only calls already in flight can still add their
//! reply, so one post causes at most the budget plus the calls in flight.
//!
//! A bot that relays through a program of its own (a Flask bot that
//! `requests.post`s to the room) does not forward the header: its posts are
//! new cascades, bounded by the client's and the room's posting budgets
//! instead. Cascades live in this instance's memory; a call that comes back
//! through another instance starts a new one there.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// The header a bot call carries its cascade in: the id (32 hex digits), a
/// dot, and the depth of the post it was made for (0: a person's).
pub const HEADER: &str = "x-necsus-cascade";

/// Posts a cascade may nest: a post that comes back from a call made for a
/// post this deep is refused. With the budget alone, a chain of calls into
/// this server would nest until the calls in flight ran out, each level
/// holding a call open; the depth keeps a cascade's open calls few.
pub const MAX_DEPTH: u32 = 8;

/// The cascades of this instance whose id went out with a bot call.
pub struct Cascades {
    budget: u32,
    live: Mutex<Live>,
    ids: RandomState,
    minted: AtomicU64,
}

struct Live {
    by_id: HashMap<u128, Weak<Cascade>>,
    /// Entries at the last sweep of dead ones; the next sweep comes when
    /// the map has doubled.
    swept_at: usize,
}

/// One person's post and everything it causes; shared by the posts that
/// join it.
#[derive(Debug)]
pub struct Cascade {
    budget: u32,
    caused: AtomicU32,
    told: AtomicBool,
    /// Given when the first bot call goes out (most posts call none).
    id: OnceLock<u128>,
}

impl Cascades {
    /// At most `budget` messages caused per post (0: no bound).
    pub fn new(budget: u32) -> Cascades {
        Cascades {
            budget: if budget == 0 { u32::MAX } else { budget },
            live: Mutex::new(Live {
                by_id: HashMap::new(),
                swept_at: 0,
            }),
            ids: RandomState::new(),
            minted: AtomicU64::new(0),
        }
    }

    /// The cascade a request belongs to, and its depth in it: the live
    /// cascade its header names, one deeper than the post whose call sent
    /// it; or else a new one, at depth 0 (a header naming no live cascade,
    /// forged, stale or another instance's, starts one).
    pub fn of(&self, header: Option<&str>) -> (Arc<Cascade>, u32) {
        let joined = header
            .and_then(|h| h.trim().split_once('.'))
            .and_then(|(id, depth)| {
                let id = u128::from_str_radix(id, 16).ok()?;
                let depth = depth.parse::<u32>().ok()?;
                let live = crate::sync::lock(&self.live);
                let cascade = live.by_id.get(&id).and_then(Weak::upgrade)?;
                Some((cascade, depth.saturating_add(1)))
            });
        joined.unwrap_or_else(|| (Arc::new(Cascade::new(self.budget)), 0))
    }

    /// The header value for a call made for a post at `depth` in
    /// `cascade`; registers the cascade the first time, so a post that
    /// comes straight back can join.
    pub fn header(&self, cascade: &Arc<Cascade>, depth: u32) -> String {
        let id = *cascade.id.get_or_init(|| {
            let n = self.minted.fetch_add(1, Ordering::Relaxed);
            // Two keyed hashes of a counter: unguessable without the
            // process's random keys, and never repeated.
            let high = u128::from(self.ids.hash_one((n, 0u8)));
            let low = u128::from(self.ids.hash_one((n, 1u8)));
            let id = high << 64 | low;
            let mut live = crate::sync::lock(&self.live);
            if live.by_id.len() >= 2 * live.swept_at.max(512) {
                live.by_id.retain(|_, c| c.strong_count() > 0);
                live.swept_at = live.by_id.len();
            }
            live.by_id.insert(id, Arc::downgrade(cascade));
            id
        });
        format!("{id:032x}.{depth}")
    }
}

impl Cascade {
    /// A cascade of its own with this budget (`u32::MAX`: none), for a
    /// request that no post caused.
    pub fn new(budget: u32) -> Cascade {
        Cascade {
            budget,
            caused: AtomicU32::new(0),
            told: AtomicBool::new(false),
            id: OnceLock::new(),
        }
    }

    /// Whether the cascade may still cause a message (call a bot, take a
    /// joining post).
    pub fn may_cause(&self) -> bool {
        self.caused.load(Ordering::Relaxed) < self.budget
    }

    /// Counts one message caused.
    pub fn caused_one(&self) {
        self.caused.fetch_add(1, Ordering::Relaxed);
    }

    /// The budget, for the room's notice.
    pub fn budget(&self) -> u32 {
        self.budget
    }

    /// True the first time it is asked: the room is told once per cascade
    /// that its budget is spent.
    pub fn first_to_tell(&self) -> bool {
        !self.told.swap(true, Ordering::Relaxed)
    }
}
