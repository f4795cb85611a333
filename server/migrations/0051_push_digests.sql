-- Listings announced per state and local day, so that a burst of them reaches a state's
-- subscribers as one notification (server/push/digest.py). Kept in the database, not in a
-- process, because every serving process announces and any of them may flush.
CREATE TABLE push_digests (
    state TEXT NOT NULL,
    day TEXT NOT NULL,  -- the state's local date, YYYY-MM-DD
    last_sent REAL NOT NULL,  -- unix time its last notification was queued
    due REAL,  -- when the held listings go out as one message; NULL while none are held
    PRIMARY KEY (state, day)
) WITHOUT ROWID;
CREATE INDEX push_digests_due ON push_digests (due) WHERE due IS NOT NULL;

CREATE TABLE push_digest_listings (
    state TEXT NOT NULL,
    day TEXT NOT NULL,
    slug TEXT NOT NULL,
    held INTEGER NOT NULL,  -- 1 while it waits for its state's digest
    PRIMARY KEY (state, day, slug),
    FOREIGN KEY (state, day) REFERENCES push_digests (state, day) ON DELETE CASCADE
) WITHOUT ROWID;
