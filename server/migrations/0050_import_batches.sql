-- Listings imported from one CSV file: one proposal, approved or rejected as a whole by a
-- second organizer. The listings wait as 'pending' with the batch's id.
CREATE TABLE import_batches (
    id INTEGER PRIMARY KEY,
    -- pending (waiting for a second organizer), approved, rejected
    status TEXT NOT NULL DEFAULT 'pending',
    filename TEXT NOT NULL DEFAULT '',
    row_count INTEGER NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed TEXT NOT NULL,
    decided_by TEXT,
    decided TEXT
);
ALTER TABLE listings ADD COLUMN batch_id INTEGER REFERENCES import_batches (id);
CREATE INDEX listings_batch ON listings (batch_id) WHERE batch_id IS NOT NULL;
