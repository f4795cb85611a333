-- A message's payload in every language beyond English and Spanish (payload, payload_es):
-- a JSON object of language code -> payload JSON.
ALTER TABLE push_messages ADD COLUMN payloads TEXT;
