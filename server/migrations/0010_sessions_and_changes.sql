-- Organizer sessions live on the server, so signing out or changing a password ends them
-- and an organizer can see and end their other sessions. Only a hash of the cookie's token
-- is kept.
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    organizer_id INTEGER NOT NULL REFERENCES organizers (id) ON DELETE CASCADE,
    device TEXT NOT NULL DEFAULT '',
    started REAL NOT NULL,
    last_used REAL NOT NULL
);
CREATE INDEX sessions_organizer ON sessions (organizer_id);

-- A change to published facts, waiting for a second organizer: the public keeps `before`
-- until someone other than the proposer approves `after`.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed TEXT NOT NULL,
    -- pending, approved, declined, superseded
    status TEXT NOT NULL DEFAULT 'pending',
    decided_by TEXT,
    decided TEXT
);
CREATE INDEX changes_pending ON changes (status, entity, entity_key);

-- Who took an alert or listing down (retracted, ended) while another organizer has yet to
-- see it: set until someone restores it or, for an alert, confirms it to phones.
ALTER TABLE alerts ADD COLUMN taken_down_by TEXT;
ALTER TABLE listings ADD COLUMN taken_down_by TEXT;
