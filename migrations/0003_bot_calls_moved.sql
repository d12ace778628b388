-- The bot-call log moved to a database file of its own beside this one
-- (see migrations/calls), so that its churn never holds up the messages.
-- The records kept here are a debugging aid and are not carried over.
DROP TABLE bot_calls;
