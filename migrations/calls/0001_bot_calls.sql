-- The bot-call log, in its own database file beside the main one: every
-- call NeCSuS made to a bot, so students can see exactly what their bot was
-- sent and what it answered. The newest calls of each room are kept (the
-- server prunes older ones as it records new ones). Ids are handed out by
-- the server when a call starts.
CREATE TABLE bot_calls (
    id                 INTEGER PRIMARY KEY,
    room               TEXT    NOT NULL,
    bot_id             INTEGER,
    bot_name           TEXT    NOT NULL,
    url                TEXT    NOT NULL,
    activation         TEXT    NOT NULL,
    -- JSON text of the request body sent.
    request            TEXT    NOT NULL,
    started            REAL    NOT NULL,
    latency_ms         REAL,
    status             INTEGER,
    content_type       TEXT,
    content_length     INTEGER,
    -- The start of the response body as text (invalid UTF-8 replaced).
    response_body      TEXT,
    response_truncated INTEGER NOT NULL DEFAULT 0,
    outcome            TEXT    NOT NULL,
    error              TEXT,
    -- The message the call posted, in the main database.
    message_id         INTEGER
);
CREATE INDEX bot_calls_room_id ON bot_calls (room, id);
