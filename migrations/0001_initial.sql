-- Messages of every room. AUTOINCREMENT keeps ids monotonic across the
-- server's whole life: a cleared room's ids are never handed out again.
CREATE TABLE messages (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    room     TEXT    NOT NULL,
    author   TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('user', 'bot', 'system')),
    text     TEXT    NOT NULL,
    "when"   REAL    NOT NULL,
    image    TEXT,
    media    TEXT,
    css      TEXT,
    js       TEXT,
    from_bot INTEGER,
    base_url TEXT,
    -- JSON text of the conversation state; NULL when the message carries none.
    state    TEXT,
    -- The whole message as its API JSON, written once at insert so history
    -- is served without decoding and encoding every row again.
    json     TEXT    NOT NULL
);
CREATE INDEX messages_room_id ON messages (room, id);

CREATE TABLE bots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    room        TEXT NOT NULL,
    name        TEXT NOT NULL,
    responds_to TEXT,
    url         TEXT NOT NULL
);
CREATE INDEX bots_room_id ON bots (room, id);

-- Per room, the id of the last message removed by the latest clear, so a
-- reconnecting websocket can be told to clear what it still shows.
CREATE TABLE clears (
    room            TEXT PRIMARY KEY NOT NULL,
    last_cleared_id INTEGER NOT NULL
);
