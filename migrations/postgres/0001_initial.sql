-- NeCSuS on PostgreSQL: the same data as the SQLite schema, shared by any
-- number of instances. Every write transaction locks the rows of the rooms
-- it touches (in name order) before taking ids, so within a room id order
-- is commit order, and announces what it did with NOTIFY in the same
-- transaction (see src/store/postgres and src/feed).

-- One row per room that has ever been written to: the lock that orders the
-- room's writes, and what the room is in right now.
CREATE TABLE rooms (
    name          TEXT PRIMARY KEY,
    -- Id of the last message removed by the room's latest clear.
    clear_point   BIGINT,
    -- The conversation after the room's newest message (bot and state as
    -- the bot sent it), or NULL.
    conv_bot_id   BIGINT,
    conv_state    TEXT,
    -- The per-room rate limit's bucket.
    rate_tokens   DOUBLE PRECISION,
    rate_at       TIMESTAMPTZ,
    rate_limiting BOOLEAN NOT NULL DEFAULT false
);

-- Message ids: global, increasing, never reused. CACHE 1 so that ids are
-- handed out in the order rooms are locked (a cache per connection would
-- let a later transaction take a smaller id).
CREATE SEQUENCE message_ids CACHE 1;

CREATE TABLE messages (
    id       BIGINT PRIMARY KEY,
    room     TEXT    NOT NULL,
    author   TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('user', 'bot', 'system')),
    text     TEXT    NOT NULL,
    "when"   DOUBLE PRECISION NOT NULL,
    image    TEXT,
    media    TEXT,
    css      TEXT,
    js       TEXT,
    from_bot BIGINT,
    base_url TEXT,
    -- The conversation state as the bot sent it (Python JSON), or NULL.
    state    TEXT,
    -- The whole message as its API JSON, written once at insert.
    json     TEXT    NOT NULL
);
CREATE INDEX messages_room_id ON messages (room, id);

CREATE TABLE bots (
    id          BIGSERIAL PRIMARY KEY,
    room        TEXT NOT NULL,
    name        TEXT NOT NULL,
    responds_to TEXT,
    url         TEXT NOT NULL
);
CREATE INDEX bots_room_id ON bots (room, id);

-- Bot-call ids and the bot-call log: one row per finished call, its record
-- as the API's BotCall JSON. Each room keeps its newest N (a janitor
-- prunes; listings cut to exactly N).
CREATE SEQUENCE bot_call_ids;
CREATE TABLE bot_calls (
    id     BIGINT PRIMARY KEY,
    room   TEXT   NOT NULL,
    bot_id BIGINT,
    record TEXT   NOT NULL
);
CREATE INDEX bot_calls_room_id ON bot_calls (room, id);

-- Calls in flight on any instance, so a browser connecting to another
-- instance sees them. Unlogged: after a crash they are gone, as the calls
-- are; rows of a crashed instance expire.
CREATE UNLOGGED TABLE calls_in_flight (
    id         BIGINT PRIMARY KEY,
    room       TEXT   NOT NULL,
    start      TEXT   NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX calls_in_flight_room ON calls_in_flight (room, id);

-- Turn-taking in conversations: a person's message that needs a turn has a
-- row here, registered in the transaction that stored it. A turn starts
-- when the row before it in the room is done (or expired), with the
-- conversation that row left.
CREATE UNLOGGED TABLE turns (
    room        TEXT    NOT NULL,
    message_id  BIGINT  NOT NULL,
    done        BOOLEAN NOT NULL DEFAULT false,
    -- The conversation the turn starts with when it is the first of a run.
    before_bot_id BIGINT,
    before_state  TEXT,
    -- The conversation the turn left, once done.
    after_bot_id  BIGINT,
    after_state   TEXT,
    expires_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (room, message_id)
);

-- Frames too large for a notification (the limit is 8,000 bytes), read by
-- the listeners by id; a janitor deletes old ones.
CREATE UNLOGGED TABLE spilled_frames (
    id      BIGSERIAL PRIMARY KEY,
    frame   TEXT NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
