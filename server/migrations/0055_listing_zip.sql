-- A listing's ZIP code, as organizers give it in the form or an event platform's CSV
-- export: shown after the state and sent with the directions.
ALTER TABLE listings ADD COLUMN zip TEXT;
