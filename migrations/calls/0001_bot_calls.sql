-- The bot-call log, in its own database file beside the main one: every
-- call NeCSuS made to a bot, so students can see exactly what their bot was
-- sent and what it answered.
--
-- Records are written in bulk, every so often: each row holds the records
-- one write added for one room, as a JSON array in call-id order (objects
-- of the API's BotCall schema, response body included). The server keeps
-- each room's newest rows that hold its newest N records and deletes older
-- ones; listings cut to exactly N.
CREATE TABLE bot_call_chunks (
    room     TEXT    NOT NULL,
    -- Smallest and largest call id among the row's records.
    first_id INTEGER NOT NULL,
    last_id  INTEGER NOT NULL,
    count    INTEGER NOT NULL,
    calls    TEXT    NOT NULL
);
CREATE INDEX bot_call_chunks_room ON bot_call_chunks (room, last_id);
CREATE INDEX bot_call_chunks_ids ON bot_call_chunks (last_id, first_id);
