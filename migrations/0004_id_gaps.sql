-- Message ids that a database replaced by `necsus restore` had issued and
-- this one never had: (after_id, up_to_id]. New ids start above them, and
-- a browser that saw one of them is told to clear and replay the room.
-- (The restore itself may have created the table already.)
CREATE TABLE IF NOT EXISTS id_gaps (
    after_id INTEGER NOT NULL,
    up_to_id INTEGER NOT NULL
);
