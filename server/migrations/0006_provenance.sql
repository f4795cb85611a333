-- Provenance: when a record was written into Vigil's data ("added"), and for legal contacts
-- and rights articles the public pages their facts come from ("sources", JSON [{title, url}]).
-- "verified"/"reviewed" stay as the date an organizer last marked the record checked; pages
-- show it only when the audit log holds that check.
ALTER TABLE listings ADD COLUMN added TEXT;
ALTER TABLE facilities ADD COLUMN added TEXT;
ALTER TABLE contacts ADD COLUMN added TEXT;
ALTER TABLE contacts ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
ALTER TABLE articles ADD COLUMN added TEXT;
ALTER TABLE organizations ADD COLUMN added TEXT;
ALTER TABLE statements ADD COLUMN added TEXT;
ALTER TABLE rights ADD COLUMN added TEXT;
ALTER TABLE rights ADD COLUMN sources TEXT NOT NULL DEFAULT '[]';
UPDATE listings SET added = verified;
UPDATE facilities SET added = verified;
UPDATE contacts SET added = verified;
UPDATE articles SET added = verified;
UPDATE organizations SET added = verified;
UPDATE statements SET added = verified;
UPDATE rights SET added = reviewed;
-- Where a contact belongs on /legal: legal, reporting, locating or information.
ALTER TABLE contacts ADD COLUMN role TEXT NOT NULL DEFAULT 'legal';
