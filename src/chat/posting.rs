//! Posting: a person's message is checked, admitted (the client's and
//! the room's allowances), stored and broadcast; then it takes its turn in
//! the room's conversation, or activates the bots whose pattern it matches,
//! one after another.

use super::*;

impl Chat {
    /// Stores a person's message, broadcasts it, runs the bots it activates
    /// one after another, and returns it (with its JSON) once every reply
    /// is stored.
    #[tracing::instrument(level = "debug", skip_all, fields(room = %input.room))]
    pub async fn post_message(self: &Arc<Self>, input: UserMessage) -> Result<Posted, Error> {
        let l = &self.settings.limits;
        check_len("author", &input.author, l.max_author_chars)?;
        check_len("text", &input.text, l.max_text_chars)?;
        for (field, value) in [
            ("image", &input.image),
            ("media", &input.media),
            ("css", &input.css),
            ("js", &input.js),
        ] {
            check_opt_len(field, value, l.max_url_chars)?;
        }
        // A bot's call that came straight back joins its cascade, which
        // must still have room for it.
        let by = &input.by;
        if by.depth > 0 && (!by.cascade.may_cause() || by.depth > crate::cascade::MAX_DEPTH) {
            let budget = by.cascade.budget();
            return Err(too_many(CASCADE_RETRY, |_| texts::cascade_refused(budget)));
        }
        self.admit(&input.room, &input.by).await?;
        let by = input.by;
        let Inserted {
            message: stored,
            json,
            admission,
        } = self
            .services
            .writer
            .insert(NewMessage {
                room: input.room.into_string(),
                author: input.author,
                kind: Some(Kind::User),
                text: input.text,
                image: input.image,
                media: input.media,
                css: input.css,
                js: input.js,
                ..NewMessage::default()
            })
            .await?;
        if by.depth > 0 {
            by.cascade.caused_one();
        }

        match admission {
            // No turn: answered now, with the room's conversation as it
            // stands (none: the bots that match run).
            Admission::AtOnce(now) => {
                Box::pin(self.answer(&stored, now, None, &by)).await?;
            }
            // Boxed: most posts take no turn, and need not carry its state.
            Admission::First(turn) => {
                Box::pin(self.take_turn(Asked::Message(&stored, &by), turn, true)).await?;
            }
            // Queued behind the run: its turn is taken by a task of its own,
            // so this request never waits on a bot that may be waiting on
            // it (see `turns`).
            Admission::Queued(turn) => {
                let chat = Arc::clone(self);
                let message = stored.clone();
                tokio::spawn(async move {
                    if let Err(e) = chat
                        .take_turn(Asked::Message(&message, &by), turn, false)
                        .await
                    {
                        tracing::warn!(room = %message.room, error = %e, "a queued turn failed");
                    }
                });
            }
        }
        Ok(Posted {
            message: stored,
            json,
        })
    }

    /// A person's message's turn in the room's conversation (see `turns`):
    /// once the turns before it are done, the bot the conversation is with
    /// (or else the bots that match) answers. The first turn of a run then
    /// waits for the rest of the run. Returns the last reply.
    pub(super) async fn take_turn(
        &self,
        asked: Asked<'_>,
        mut turn: Ticket,
        first: bool,
    ) -> Result<Option<Message>, Error> {
        let room = asked.room();
        let now = turn
            .start(self.settings.turn_wait, async || {
                self.conversation_now(room).await
            })
            .await;
        let left = match asked {
            Asked::Message(stored, by) => self.answer(stored, now, Some(&mut turn), by).await?,
            Asked::Form(input, target) => {
                if let Some(id) = target.id {
                    turn.serving(id, &target.name);
                }
                self.answer_form(input, target.clone(), now).await?
            }
        };
        // The next turn follows the state this one's reply left.
        let wait_run = first.then_some(self.settings.turn_wait);
        turn.finish(left.as_ref().and_then(Conversation::after), wait_run)
            .await;
        Ok(left)
    }

    /// The conversation the room is in, as its newest message says.
    pub(super) async fn conversation_now(&self, room: &str) -> Option<Conversation> {
        let newest = self
            .services
            .store
            .latest_message_before(room, i64::MAX)
            .await;
        newest.ok().flatten().as_ref().and_then(Conversation::after)
    }

    /// Answers a person's message in the conversation `now` (the bot it is
    /// with, if it is still in the room), or else runs the bots that match;
    /// returns the last reply.
    pub(super) async fn answer(
        &self,
        stored: &Message,
        now: Option<Conversation>,
        turn: Option<&mut Ticket>,
        by: &Requester,
    ) -> Result<Option<Message>, Error> {
        if now.is_none() {
            return self.run_matching_bots(stored, by).await;
        }
        let room_bots = self.room_bots(&stored.room).await?;
        let Some((bot, state)) = in_conversation(now, &room_bots) else {
            return self.run_matching_bots(stored, by).await;
        };
        if let Some(turn) = turn {
            turn.serving(bot.id, &bot.name);
        }
        if self.cascade_spent(&stored.room, by).await? {
            return Ok(None);
        }
        let payload = BotRequest::new(
            json!({
                "room": stored.room,
                "author": stored.author,
                "text": stored.text,
                "params": {},
            }),
            Some(&state),
        );
        let target = Target::from(&bot);
        let activation = Activation::Conversation;
        self.call_and_store(&stored.room, &target, payload, activation, by)
            .await
    }

    /// Runs the bots `message` activates, one after another; returns the
    /// last message they posted.
    pub(super) async fn run_matching_bots(
        &self,
        stored: &Message,
        by: &Requester,
    ) -> Result<Option<Message>, Error> {
        let room_bots = self.room_bots(&stored.room).await?;
        // Matching is CPU work bounded per message (see `matcher`): off the
        // async workers, so no pattern stalls other rooms.
        let matched = {
            let bots = Arc::clone(&room_bots);
            let text = stored.text.clone();
            tokio::task::spawn_blocking(move || crate::matcher::match_all(&bots, &text))
                .await
                .map_err(|e| Error::unavailable(format!("matching failed: {e}")))?
        };
        let mut last = None;
        for (compiled, matched) in room_bots.iter().zip(matched) {
            let params = match matched {
                Ok(None) => continue,
                Ok(Some(params)) => params,
                // Told once per version of the bot, not on every message.
                Err(PatternError::TooSlow)
                    if !self.services.bots.first_time_too_slow(&compiled.bot) =>
                {
                    continue;
                }
                Err(error) => {
                    let pattern = compiled.bot.responds_to.as_deref().unwrap_or_default();
                    let text = texts::pattern_failure(&compiled.bot.name, pattern, &error);
                    last = Some(self.post_system(&stored.room, text).await?);
                    self.caused(&stored.room, by).await;
                    continue;
                }
            };
            if self.cascade_spent(&stored.room, by).await? {
                break;
            }
            let payload = BotRequest::new(
                json!({
                    "room": stored.room,
                    "author": stored.author,
                    "text": stored.text,
                    "params": params,
                }),
                None,
            );
            let target = Target::from(&compiled.bot);
            let activation = Activation::Match;
            let call = self.call_and_store(&stored.room, &target, payload, activation, by);
            last = Box::pin(call).await?;
        }
        Ok(last)
    }

    /// Calls a bot and stores what came of it. Posting boxes this future:
    /// a bot call's state (the HTTP exchange) is several kilobytes, and
    /// held inline it would make every post's future that large, allocated
    /// and copied per request, though most posts call no bot.
    pub(super) async fn call_and_store(
        &self,
        room: &str,
        target: &Target,
        payload: BotRequest,
        activation: Activation,
        by: &Requester,
    ) -> Result<Option<Message>, Error> {
        let call = self.call(room, target, payload, activation, by).await?;
        self.store_result(room, target, call, by).await
    }
}
