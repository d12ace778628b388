//! Bounds on bot calls in flight on this instance (docs/contract.md §8): server-wide,
//! per room and per client (the address that asked, as the access log
//! reads it). A call takes a place in all three before it goes out and
//! waits, a bounded time, while any is full; so one script cannot hold the
//! server's calls, nor one room everyone's. Places are counted per
//! instance (several instances behind one proxy each count their own).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::sync::lock;

/// Which bound was full for the whole wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crowded {
    /// The client's own calls.
    Client,
    Room,
    Server,
}

/// The three bounds. Sizes are in calls.
pub struct CallLimits {
    all: Arc<Semaphore>,
    per_room: usize,
    per_client: usize,
    rooms: Mutex<HashMap<String, Arc<Semaphore>>>,
    clients: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A call's place in flight, given back when dropped.
pub struct InFlight {
    limits: Arc<CallLimits>,
    room: String,
    client: String,
    permits: Vec<OwnedSemaphorePermit>,
}

type Table = Mutex<HashMap<String, Arc<Semaphore>>>;

impl CallLimits {
    /// `all` calls at once on this instance, `per_room` in one room,
    /// `per_client` for one client (each at least 1).
    pub fn new(all: usize, per_room: usize, per_client: usize) -> Arc<CallLimits> {
        Arc::new(CallLimits {
            all: Arc::new(Semaphore::new(all.max(1))),
            per_room: per_room.max(1),
            per_client: per_client.max(1),
            rooms: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a place for a call `client` asked for in `room`, waiting at
    /// most `wait` in all; `Err` names the bound that stayed full. The
    /// client's own bound is taken first, so a client's waiting calls
    /// never hold places of the room or the server.
    pub async fn enter(
        self: &Arc<Self>,
        room: &str,
        client: &str,
        wait: Duration,
    ) -> Result<InFlight, Crowded> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut place = InFlight {
            limits: Arc::clone(self),
            room: room.to_owned(),
            client: client.to_owned(),
            permits: Vec::with_capacity(3),
        };
        let client_bound = Self::entry(&self.clients, client, self.per_client);
        let room_bound = Self::entry(&self.rooms, room, self.per_room);
        for (bound, crowded) in [
            (client_bound, Crowded::Client),
            (room_bound, Crowded::Room),
            (Arc::clone(&self.all), Crowded::Server),
        ] {
            match tokio::time::timeout_at(deadline, bound.acquire_owned()).await {
                Ok(Ok(permit)) => place.permits.push(permit),
                // Never closed; a time-out leaves `place` to give back
                // what it took.
                _ => return Err(crowded),
            }
        }
        Ok(place)
    }

    fn entry(table: &Table, key: &str, size: usize) -> Arc<Semaphore> {
        Arc::clone(
            lock(table)
                .entry(key.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(size))),
        )
    }

    /// Forgets `key`'s bound once nobody holds or awaits a place in it, so
    /// the tables hold only clients and rooms with calls.
    fn prune(table: &Table, key: &str, size: usize) {
        let mut table = lock(table);
        if let Some(bound) = table.get(key)
            && Arc::strong_count(bound) == 1
            && bound.available_permits() == size
        {
            table.remove(key);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.permits.clear();
        let limits = &self.limits;
        CallLimits::prune(&limits.clients, &self.client, limits.per_client);
        CallLimits::prune(&limits.rooms, &self.room, limits.per_room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_bound_waits_then_says_which() {
        let limits = CallLimits::new(10, 2, 1);
        let first = limits
            .enter("r", "a", Duration::from_millis(50))
            .await
            .unwrap();
        let short = Duration::from_millis(50);
        assert_eq!(
            limits.enter("r", "a", short).await.err(),
            Some(Crowded::Client)
        );
        let second = limits.enter("r", "b", short).await.unwrap();
        assert_eq!(
            limits.enter("r", "c", short).await.err(),
            Some(Crowded::Room)
        );
        assert!(limits.enter("s", "c", short).await.is_ok(), "another room");
        drop(first);
        assert!(limits.enter("r", "a", short).await.is_ok(), "given back");
        drop(second);
        assert!(lock(&limits.clients).is_empty() && lock(&limits.rooms).is_empty());
    }
}
