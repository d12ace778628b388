-- Each client's posting allowance (a token bucket by client address, as
-- the access log reads it), shared by every instance so that spreading a
-- client's posts over them gains nothing. Rows of clients that have been
-- quiet a while are deleted by the janitor (their bucket is full again).
CREATE UNLOGGED TABLE client_rates (
    client TEXT PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    at     TIMESTAMPTZ NOT NULL
);
