-- Rights articles in any of the site's languages (a catalog and its articles add one), not
-- only English and Spanish: the table is rebuilt without its CHECK on lang. The data loader
-- and the organizer forms decide which languages exist.
CREATE TABLE rights_new (
    slug TEXT NOT NULL,
    lang TEXT NOT NULL CHECK (length(lang) BETWEEN 2 AND 12),
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    ord INTEGER NOT NULL DEFAULT 100,
    reviewed TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    added TEXT,
    sources TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (slug, lang)
);
INSERT INTO rights_new (slug, lang, title, summary, body, ord, reviewed, source, added, sources)
    SELECT slug, lang, title, summary, body, ord, reviewed, source, added, sources FROM rights;
DROP TABLE rights;
ALTER TABLE rights_new RENAME TO rights;

-- A native speaker's check of a translation, as an organizer who reads the language
-- recorded it: a rights article (by slug) or the card ("card"), in one language, bound to
-- the text checked (its hash). A page says its translation is unchecked until the text it
-- shows is one that was checked.
CREATE TABLE translation_checks (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL,
    lang TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    checked_by TEXT NOT NULL,
    checked TEXT NOT NULL
);
CREATE INDEX translation_checks_item ON translation_checks (slug, lang);
