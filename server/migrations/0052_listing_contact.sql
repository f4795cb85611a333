-- The organizers' public contact for a listing, as JSON {"value", "label"}: a phone number,
-- an email address or a web address, shown as a link on the listing page. NULL when none.
ALTER TABLE listings ADD COLUMN contact TEXT;
