-- Alert kinds: a phrase translated ahead of time into every language ("Urgent: come to
-- %(place)s now"), filled in with the place and time the organizer gave. NULL kind: a
-- free-form alert, its title and message as the organizer wrote them. `at` is the moment
-- (ISO 8601 with its offset) and `tz` the zone it is told in.
ALTER TABLE alerts ADD COLUMN kind TEXT;
ALTER TABLE alerts ADD COLUMN place TEXT;
ALTER TABLE alerts ADD COLUMN at TEXT;
ALTER TABLE alerts ADD COLUMN tz TEXT;
