-- An attorney's review of a rights article in one language, as an organizer recorded it:
-- who reviewed it, for which organization, on what date, and the text they reviewed (its
-- hash). A page names the attorney only while its text is still the one reviewed.
CREATE TABLE legal_reviews (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL,
    lang TEXT NOT NULL,
    attorney TEXT NOT NULL,
    organization TEXT NOT NULL,
    reviewed TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded TEXT NOT NULL
);
CREATE INDEX legal_reviews_article ON legal_reviews (slug, lang);
