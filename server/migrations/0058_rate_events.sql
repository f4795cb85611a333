-- What anonymous clients did, for limits every process shares (suggestions per client,
-- push subscriptions per client): a keyed hash of the client's address, whose key changes
-- every UTC day, and when. Rows older than their limit's window are deleted as new ones
-- come, so the table holds at most a window's worth.
CREATE TABLE rate_events (
    purpose TEXT NOT NULL,
    client BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX rate_events_client ON rate_events (purpose, client, at);
