//! Forms: a form in a bot's message, submitted from the browser, goes to
//! the bot its action points at (resolved as a browser would), taking its
//! turn in the conversation like a message.

use super::*;

impl Chat {
    /// Sends a submitted form to the bot its action points at and stores
    /// the reply (docs/contract.md §5).
    #[tracing::instrument(level = "debug", skip_all, fields(room = %input.room, bot_id = input.bot_id))]
    pub async fn submit_form(self: &Arc<Self>, input: FormSubmission) -> Result<(), Error> {
        check_len(
            "author",
            &input.author,
            self.settings.limits.max_author_chars,
        )?;
        check_opt_len(
            "action_url",
            &input.action_url,
            self.settings.limits.max_url_chars,
        )?;
        self.admit(&input.room, &input.by).await?;
        let room = &input.room;
        let room_bots = self.room_bots(room).await?;
        let Some(origin) = room_bots.iter().find(|b| b.bot.id == input.bot_id) else {
            self.post_system(room, texts::form_bot_not_found(input.bot_id))
                .await?;
            return Ok(());
        };
        let target_url = match resolve_action(&origin.bot.url, input.action_url.as_deref()) {
            Ok(url) => url,
            Err(why) => {
                let action = input.action_url.as_deref().unwrap_or_default();
                let text = texts::form_bad_action(&origin.bot.name, action, &why);
                self.post_system(room, text).await?;
                return Ok(());
            }
        };
        let target = room_bots
            .iter()
            .find(|b| same_url(&b.bot.url, &target_url))
            .map(|b| Target::from(&b.bot))
            .unwrap_or_else(|| Target {
                id: None,
                name: target_url.clone(),
                url: target_url.clone(),
                // Where the saved bot's own form points.
                saved_locally: origin.bot.saved_locally,
            });
        // A form takes turns by the same rule as a message (see `turns`).
        let now = self.conversation_now(room).await;
        match self
            .services
            .feed
            .form_turn(room, &input.author, now)
            .await?
        {
            Admission::AtOnce(now) => {
                Box::pin(self.answer_form(&input, target, now)).await?;
            }
            Admission::First(turn) => {
                Box::pin(self.take_turn(Asked::Form(&input, &target), turn, true)).await?;
            }
            Admission::Queued(turn) => {
                let chat = Arc::clone(self);
                tokio::spawn(async move {
                    let room = input.room.clone();
                    let asked = Asked::Form(&input, &target);
                    if let Err(e) = chat.take_turn(asked, turn, false).await {
                        tracing::warn!(%room, error = %e, "a queued form turn failed");
                    }
                });
            }
        }
        Ok(())
    }

    /// Sends a form to its target with the state of the conversation
    /// `now` (if its bot is still in the room) and stores the reply;
    /// returns it.
    pub(super) async fn answer_form(
        &self,
        input: &FormSubmission,
        mut target: Target,
        now: Option<Conversation>,
    ) -> Result<Option<Message>, Error> {
        let room = &input.room;
        let room_bots = self.room_bots(room).await?;
        let state = in_conversation(now, &room_bots).map(|(_, state)| state);
        if self.cascade_spent(room, &input.by).await? {
            return Ok(None);
        }
        let payload = BotRequest::new(
            json!({
                "room": room,
                "author": input.author,
                "form_data": input.form_data,
            }),
            state.as_ref(),
        );
        let call = self
            .call(room, &target, payload, Activation::Form, &input.by)
            .await?;
        let reply = call.exchange.result.as_ref();
        if target.id.is_none() && reply.is_ok_and(|r| r.state.is_some()) {
            // The conversation needs a bot id to come back to.
            let created = self
                .services
                .writer
                .write(WriteOp::UpsertBot {
                    bot: BotInput {
                        id: None,
                        room: room.to_string(),
                        name: texts::auto_bot_name(&target.url),
                        responds_to: None,
                        url: target.url.clone(),
                        saved_locally: input.by.from_here && target.saved_locally,
                    },
                    max_bots_per_room: self.settings.limits.max_bots_per_room,
                })
                .await?;
            match created {
                WriteOutcome::Bot { bot, .. } => target.id = Some(bot.id),
                _ => tracing::warn!(%room, "room full: no (Auto) bot for the conversation"),
            }
        }
        self.store_result(room, &target, call, &input.by).await
    }
}

/// Resolves a form's action against its bot's URL as a browser would.
pub fn resolve_action(bot_url: &str, action: Option<&str>) -> Result<String, String> {
    let base =
        url::Url::parse(bot_url.trim()).map_err(|e| format!("the bot's URL is invalid ({e})"))?;
    match action.map(str::trim) {
        None | Some("") => Ok(base.to_string()),
        Some(action) => base
            .join(action)
            .map(|u| u.to_string())
            .map_err(|e| e.to_string()),
    }
}

fn same_url(bot_url: &str, resolved: &str) -> bool {
    bot_url == resolved || url::Url::parse(bot_url.trim()).is_ok_and(|u| u.as_str() == resolved)
}

#[cfg(test)]
mod tests {
    use super::resolve_action;

    #[test]
    fn form_actions_resolve_like_a_browser() {
        let base = "http://127.0.0.1:1234/bots/desserts";
        assert_eq!(resolve_action(base, None).unwrap(), base);
        assert_eq!(resolve_action(base, Some("")).unwrap(), base);
        assert_eq!(
            resolve_action(base, Some("foo")).unwrap(),
            "http://127.0.0.1:1234/bots/foo"
        );
        assert_eq!(
            resolve_action(base, Some("/foo")).unwrap(),
            "http://127.0.0.1:1234/foo"
        );
        assert_eq!(
            resolve_action(base, Some("http://127.0.0.2:9/baz")).unwrap(),
            "http://127.0.0.2:9/baz"
        );
    }
}
