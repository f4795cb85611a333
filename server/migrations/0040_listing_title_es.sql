-- A listing's title in Spanish, shown on the Spanish pages; the English title when empty.
ALTER TABLE listings ADD COLUMN title_es TEXT;
