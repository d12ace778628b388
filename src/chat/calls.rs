//! Calling bots: a call takes its places among the calls in flight, goes
//! out (never to this machine unless allowed, see `netguard`), and what came
//! of it is stored (a reply, or a notice collapsed per episode) and counted
//! against its post's bounds (see `cascade`); the bot-call log, bot tests
//! and replays.

use super::*;

impl Chat {
    /// Calls a bot, announcing the call to the room while it is in flight.
    pub(super) async fn call(
        &self,
        room: &str,
        target: &Target,
        payload: BotRequest,
        activation: Activation,
        by: &Requester,
    ) -> Result<FinishedCall, Error> {
        let start = self
            .services
            .calls
            .begin(room, target.id, &target.name, &target.url, activation)
            .await?;
        let started = Instant::now();
        // Only a bot saved here, called at the request of someone here, may
        // reach this machine (see `netguard`).
        let reach = if by.from_here && target.saved_locally {
            Reach::Local
        } else {
            Reach::Remote
        };
        // A place among the calls in flight first (see `calllimits`).
        let wait = self.services.caller.timeout().min(CALL_PLACE_WAIT);
        let exchange = match self
            .services
            .call_limits
            .enter(room, &by.client, wait)
            .await
        {
            Ok(_place) => {
                let cascade = self.cascades.header(&by.cascade, by.depth);
                let body = &payload.body;
                self.services
                    .caller
                    .call(&target.url, body, reach, Some(&cascade))
                    .await
            }
            Err(crowded) => Exchange::failed(BotFailure::Crowded(crowded)),
        };
        let elapsed = started.elapsed();
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        let outcome = match &exchange.result {
            Ok(_) => "ok",
            Err(f) => f.outcome(),
        };
        metrics::counter!(telemetry::BOT_CALLS, "outcome" => outcome).increment(1);
        telemetry::observe_seconds(telemetry::BOT_CALL_SECONDS, elapsed);
        tracing::info!(
            room,
            call_id = start.id,
            bot_id = target.id,
            bot = %target.name,
            url = %target.url,
            activation = activation.as_str(),
            outcome,
            latency_ms,
            "bot call"
        );
        Ok(FinishedCall {
            start,
            request: payload.logged,
            exchange,
            latency_ms,
        })
    }

    /// Posts what a call produced (the reply, or a system message saying
    /// what went wrong), and hands the call's record to the call log.
    pub(super) async fn store_result(
        &self,
        room: &str,
        target: &Target,
        call: FinishedCall,
        by: &Requester,
    ) -> Result<Option<Message>, Error> {
        let (message, error) = match &call.exchange.result {
            Ok(reply) => {
                let reply = reply.clone();
                let message = NewMessage {
                    room: room.to_owned(),
                    author: reply.author.unwrap_or_else(|| target.name.clone()),
                    kind: Some(Kind::Bot),
                    text: reply.text,
                    image: reply.image,
                    media: reply.media,
                    css: reply.css,
                    js: reply.js,
                    from_bot: target.id,
                    base_url: Some(target.url.clone()),
                    state: reply.state,
                };
                (message, None)
            }
            Err(failure) => {
                let url = call.exchange.final_url(&target.url);
                let text = texts::bot_failure(&target.name, url, failure);
                let cause = Cause {
                    outcome: failure.outcome(),
                    status: failure.status(),
                };
                if !self.episodes.should_tell(room, &target.url, cause) {
                    // Told already in this episode: the log has the call.
                    let record = self.services.calls.finish(call, target.id, Some(text));
                    self.services.calls.keep(record).await;
                    return Ok(None);
                }
                (system_message(room, text.clone()), Some(text))
            }
        };
        let mut record = self.services.calls.finish(call, target.id, error);
        let stored = self.services.writer.insert(message).await;
        if let Ok(inserted) = &stored {
            record.message_id = Some(inserted.message.id);
            self.caused(room, by).await;
        }
        // Subscribers hear that the call finished even if its message could
        // not be stored.
        self.services.calls.keep(record).await;
        Ok(stored.map(|inserted| Some(inserted.message))?)
    }

    /// Counts a message a post caused: against its cascade, and in the
    /// room's and its client's posting budgets (see `ratelimit::charge`).
    pub(super) async fn caused(&self, room: &str, by: &Requester) {
        by.cascade.caused_one();
        let client = (!by.from_here).then_some(by.client.as_str());
        if let Err(e) = self.services.feed.charge(room, client, 1).await {
            // The message is stored; only the budget misses one.
            tracing::warn!(room, error = %e, "could not charge a caused message");
        }
    }

    /// True when the post's cascade may cause no more messages (see
    /// `cascade`); the room is told the first time.
    pub(super) async fn cascade_spent(&self, room: &str, by: &Requester) -> Result<bool, Error> {
        if by.cascade.may_cause() {
            return Ok(false);
        }
        if by.cascade.first_to_tell() {
            let budget = by.cascade.budget();
            tracing::warn!(room, budget, "a post caused as many messages as one may");
            self.post_system(room, texts::cascade_spent(budget)).await?;
        }
        Ok(true)
    }

    /// Records a call that posted nothing (a test, a replay).
    pub(super) async fn record(
        &self,
        call: FinishedCall,
        bot_id: Option<i64>,
        error: Option<String>,
    ) -> BotCall {
        let record = self.services.calls.finish(call, bot_id, error);
        self.services.calls.keep(record.clone()).await;
        record
    }

    /// Takes one bot test or replay from the client's and the bot's
    /// allowances (docs/contract.md §8): they make the server call a bot on demand, so
    /// a script cannot make it call one without end.
    pub(super) fn test_limit(&self, by: &Requester, bot_id: Option<i64>) -> Result<(), Error> {
        let Some((clients, bots)) = &self.bot_tests else {
            return Ok(());
        };
        let (per_client, per_bot) = self.settings.bot_tests_per_minute;
        let refused = |whose: &str, per_minute: f64, retry_after| {
            too_many(retry_after, |secs| {
                texts::bot_tests_limited(whose, per_minute, secs)
            })
        };
        if let Verdict::Limited { retry_after, .. } = clients.check(&by.client) {
            return Err(refused("you", per_client, retry_after));
        }
        if let Some(id) = bot_id
            && let Verdict::Limited { retry_after, .. } = bots.check(&id.to_string())
        {
            return Err(refused("this bot", per_bot, retry_after));
        }
        Ok(())
    }

    /// Sends a bot a clearly marked test message; nothing is posted into
    /// the room. Returns the call's record.
    #[tracing::instrument(skip(self))]
    pub async fn test_bot(&self, id: i64, by: &Requester) -> Result<BotCall, Error> {
        let bot = self
            .services
            .store
            .bot(id)
            .await?
            .ok_or_else(|| Error::Invalid(texts::unknown_bot(id)))?;
        self.test_limit(by, Some(bot.id))?;
        let payload = BotRequest::new(
            json!({
                "room": bot.room,
                "author": texts::SYSTEM_AUTHOR,
                "text": "test",
                "params": {},
            }),
            None,
        );
        let target = Target::from(&bot);
        let call = self
            .call(&bot.room, &target, payload, Activation::Test, by)
            .await?;
        Ok(self.record_without_message(call, &target).await)
    }

    /// Sends a recorded request again to the same URL; nothing is posted
    /// into the room. Returns the new call's record.
    #[tracing::instrument(skip(self))]
    pub async fn replay_call(&self, call_id: i64, by: &Requester) -> Result<BotCall, Error> {
        self.services.calls.flush().await?;
        let old = self
            .services
            .store
            .bot_call(call_id)
            .await?
            .ok_or_else(|| Error::Invalid(texts::unknown_call(call_id)))?;
        self.test_limit(by, old.bot_id)?;
        // The recorded URL reaches this machine only if it is still the URL
        // of a bot saved here.
        let saved_locally = match old.bot_id {
            Some(id) => self
                .services
                .store
                .bot(id)
                .await?
                .is_some_and(|b| b.saved_locally && b.url == old.url),
            None => false,
        };
        let target = Target {
            id: old.bot_id,
            name: old.bot_name.clone(),
            url: old.url.clone(),
            saved_locally,
        };
        let call = self
            .call(
                &old.room,
                &target,
                BotRequest::replay(old.request),
                Activation::Replay,
                by,
            )
            .await?;
        Ok(self.record_without_message(call, &target).await)
    }

    pub(super) async fn record_without_message(
        &self,
        call: FinishedCall,
        target: &Target,
    ) -> BotCall {
        // What would have been posted, so the student sees the same words.
        let error = call
            .exchange
            .result
            .as_ref()
            .err()
            .map(|f| texts::bot_failure(&target.name, call.exchange.final_url(&target.url), f));
        self.record(call, target.id, error).await
    }

    /// Recorded calls of a room, ascending, optionally of one bot.
    pub async fn bot_calls(
        &self,
        room: &RoomName,
        bot_id: Option<i64>,
        since: i64,
    ) -> Result<Vec<BotCall>, Error> {
        let keep = self.services.calls.keep_per_room();
        self.services.calls.flush().await?;
        Ok(self
            .services
            .store
            .bot_calls(room, bot_id, since, keep)
            .await?)
    }
}
