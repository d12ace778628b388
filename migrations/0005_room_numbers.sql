-- Rooms by number, numbered in the order they first got a message. The
-- messages' room index is keyed by (room number, id) instead of (room, id):
-- every post dirties the index leaf its room's newest entries are on, and
-- SQLite writes each dirtied page whole to the WAL at every commit. An
-- integer key is a fraction of a room name's size, so a leaf holds several
-- times the entries; and new rooms get the highest numbers, so the rooms
-- being started now share the leaves at the index's right edge instead of
-- being spread through it by name. A batch of posts to many rooms writes
-- far fewer pages.
CREATE TABLE rooms (
    no   INTEGER PRIMARY KEY,
    name TEXT    NOT NULL UNIQUE
);
INSERT INTO rooms (name) SELECT room FROM messages GROUP BY room ORDER BY min(id);
ALTER TABLE messages ADD COLUMN room_no INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET room_no = (SELECT no FROM rooms WHERE rooms.name = messages.room);
DROP INDEX messages_room_id;
CREATE INDEX messages_room_no_id ON messages (room_no, id);
