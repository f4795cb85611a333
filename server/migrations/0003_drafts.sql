-- Resources can wait as drafts (from an approved suggestion) until an organizer publishes
-- them; a suggestion can point at the listing it corrects.
ALTER TABLE articles ADD COLUMN status TEXT NOT NULL DEFAULT 'published';
ALTER TABLE organizations ADD COLUMN status TEXT NOT NULL DEFAULT 'published';
ALTER TABLE suggestions ADD COLUMN listing_slug TEXT;
ALTER TABLE suggestions ADD COLUMN decided_by TEXT;
ALTER TABLE suggestions ADD COLUMN decided TEXT;
