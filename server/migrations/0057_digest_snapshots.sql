-- A held announcement keeps the listing as it was approved: the digest that goes out later
-- says what the second organizer saw, not what the listing says by then.
ALTER TABLE push_digest_listings ADD COLUMN snapshot TEXT;
