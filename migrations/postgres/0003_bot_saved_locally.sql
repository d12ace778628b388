-- Whether a bot was saved (created or last changed) by a request from the
-- server's own machine: only such a bot's calls may reach that machine's
-- loopback, and only when asked for from it (see netguard). Bots from
-- before this migration count as saved from elsewhere.
ALTER TABLE bots ADD COLUMN saved_locally BOOLEAN NOT NULL DEFAULT false;
