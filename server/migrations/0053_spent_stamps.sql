-- Suggestion form stamps that have carried a suggestion, so every `serve --workers`
-- process refuses a stamp spent through another. Kept until the stamp would have expired.
CREATE TABLE spent_stamps (
    digest BLOB PRIMARY KEY,
    issued REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX spent_stamps_issued ON spent_stamps (issued);
