-- Alerts in both languages: Spanish text is optional, so Spanish pages and Spanish
-- subscribers fall back to English when an organizer wrote none. A subscription keeps the
-- language of the page it was made on, and a message keeps one payload per language.
ALTER TABLE alerts ADD COLUMN title_es TEXT;
ALTER TABLE alerts ADD COLUMN body_es TEXT;
ALTER TABLE subscriptions ADD COLUMN lang TEXT NOT NULL DEFAULT 'en';
ALTER TABLE push_messages ADD COLUMN payload_es TEXT;
