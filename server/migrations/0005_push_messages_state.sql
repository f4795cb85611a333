-- A message and its deliveries are written in one transaction, so a half-filled message
-- can never be seen and its state column said nothing.
ALTER TABLE push_messages DROP COLUMN state;
