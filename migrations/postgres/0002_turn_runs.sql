-- Turn-taking by author (SPEC §5): a run of turns belongs to the author of
-- its first message; only that author's messages queue, at most a bounded
-- number per run. Each row says which run it is in (the id of the run's
-- first message), its author and its place in the run.
ALTER TABLE turns ADD COLUMN author    TEXT   NOT NULL DEFAULT '';
ALTER TABLE turns ADD COLUMN run_start BIGINT NOT NULL DEFAULT 0;
ALTER TABLE turns ADD COLUMN run_seq   INTEGER NOT NULL DEFAULT 0;
