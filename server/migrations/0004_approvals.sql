-- Who proposed and who approved a listing that notifies subscribers; pending alert
-- corrections; the push messages each item sent (for delivery counts).
ALTER TABLE listings ADD COLUMN author TEXT;
ALTER TABLE listings ADD COLUMN approver TEXT;
ALTER TABLE listings ADD COLUMN message_id INTEGER;
ALTER TABLE alerts ADD COLUMN proposed TEXT;
ALTER TABLE alerts ADD COLUMN proposed_by TEXT;
ALTER TABLE alerts ADD COLUMN message_ids TEXT NOT NULL DEFAULT '[]';
