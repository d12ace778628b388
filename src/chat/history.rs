//! Reading: a room's messages (streamed in pages), its bots, a subscription
//! to its stream with what the subscriber missed, and the health check.

use super::*;

/// A cursor over a room's messages, ascending by id.
pub struct History {
    store: Arc<dyn Store>,
    room: String,
    after: i64,
}

impl History {
    /// The next page: at most `limit` messages as JSON objects joined by
    /// `separator`, or `None` at the end.
    pub async fn next_page(
        &mut self,
        limit: usize,
        separator: &str,
    ) -> Result<Option<JsonPage>, Error> {
        let page = self
            .store
            .message_page(&self.room, self.after, limit, separator)
            .await?;
        if let Some(p) = &page {
            self.after = p.last_id;
        }
        Ok(page)
    }
}

impl Chat {
    /// The room's messages after `since`, read page by page so a long
    /// history never sits in memory whole.
    pub fn messages(&self, room: &RoomName, since: i64) -> Result<History, Error> {
        Ok(History {
            store: Arc::clone(&self.services.store),
            room: room.to_string(),
            after: since,
        })
    }

    pub async fn bots(&self, room: Option<&RoomName>) -> Result<Vec<Bot>, Error> {
        Ok(self.services.store.bots(room.map(RoomName::as_str)).await?)
    }

    /// Subscribes to a room, then reads what a new subscriber is sent
    /// first. Everything committed before a read is in it, everything
    /// after the subscription is on the subscription; the websocket drops
    /// the overlap by message id.
    pub async fn subscribe(
        &self,
        room: &RoomName,
        since: i64,
    ) -> Result<(Subscription, Replay), Error> {
        let subscription = self.services.broker.subscribe(room);
        let clear_point = self.services.store.clear_point(room).await?;
        let bots = self.services.store.bots(Some(room)).await?;
        let reset = since > 0 && clear_point.is_none_or(|c| since > c) && {
            let newest = self.services.store.newest_message_id(room).await?;
            newest.is_none_or(|n| since > n) || self.services.store.id_in_restore_gap(since).await?
        };
        let after = match clear_point {
            _ if reset => clear_point.unwrap_or(-1),
            Some(c) if c >= since => c,
            _ => since,
        };
        let replay = Replay {
            clear_point,
            reset,
            bots,
            calls_in_flight: self.services.calls.in_flight(room).await?,
            history: self.messages(room, after)?,
        };
        Ok((subscription, replay))
    }

    /// Whether the database answers a read promptly.
    pub async fn healthy(&self) -> Result<(), Error> {
        self.services.feed.healthy().map_err(Error::unavailable)?;
        match tokio::time::timeout(HEALTH_WAIT, self.services.store.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(Error::unavailable(texts::database_silent(
                HEALTH_WAIT.as_secs(),
            ))),
        }
    }
}
