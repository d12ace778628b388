//! Administration: adding, changing and deleting bots, clearing a room's
//! messages or its conversation.

use super::*;

impl Chat {
    #[tracing::instrument(skip_all, fields(room = %input.room))]
    pub async fn upsert_bot(&self, input: BotInput) -> Result<Bot, Error> {
        let l = &self.settings.limits;
        // A bot's room comes with its other fields (the store's input).
        RoomName::parse(input.room.clone(), l)?;
        check_len("name", &input.name, l.max_bot_name_chars)?;
        check_len("url", &input.url, l.max_url_chars)?;
        check_opt_len("responds_to", &input.responds_to, l.max_pattern_chars)?;
        match self
            .services
            .writer
            .write(WriteOp::UpsertBot {
                bot: input,
                max_bots_per_room: l.max_bots_per_room,
            })
            .await?
        {
            WriteOutcome::Bot { bot, .. } => Ok(bot),
            _ => Err(Error::Invalid(texts::too_many_bots(l.max_bots_per_room))),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn delete_bot(&self, id: i64) -> Result<Bot, Error> {
        match self.services.writer.write(WriteOp::DeleteBot(id)).await? {
            WriteOutcome::Deleted(Some(bot)) => Ok(bot),
            _ => Err(Error::Invalid(texts::unknown_bot(id))),
        }
    }

    #[tracing::instrument(skip(self))]
    pub async fn clear_room_messages(&self, room: &RoomName) -> Result<(), Error> {
        self.services
            .writer
            .write(WriteOp::ClearRoom(room.to_string()))
            .await?;
        Ok(())
    }

    /// Ends a stateful conversation by posting a message without state.
    /// Done whenever the newest message carries state, even if its bot is
    /// gone, so the client's "Leave conversation" always leaves.
    #[tracing::instrument(skip(self))]
    pub async fn clear_room_state(&self, room: &RoomName) -> Result<(), Error> {
        let latest = self
            .services
            .store
            .latest_message_before(room, i64::MAX)
            .await?;
        if latest.is_some_and(|m| m.state.is_some()) {
            self.post_system(room, texts::STATE_CLEARED.to_owned())
                .await?;
        }
        Ok(())
    }
}
