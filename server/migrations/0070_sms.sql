-- Text-message subscribers. The number is kept only encrypted (number_enc, AES-GCM under a
-- key derived from VIGIL_SECRET_KEY) and found by a keyed hash (number_hash); STOP deletes
-- the row. topics is a JSON array of "state:XX" and "urgent".
CREATE TABLE sms_subscribers (
    id INTEGER PRIMARY KEY,
    number_hash TEXT NOT NULL UNIQUE,
    number_enc BLOB NOT NULL,
    lang TEXT NOT NULL DEFAULT 'en',
    topics TEXT NOT NULL DEFAULT '[]',
    confirmed INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);

-- Texts to send. An alert's text names its subscriber, and goes with the subscriber's row
-- (STOP during a fanout cancels what is still queued); a reply to a keyword carries the
-- number itself, encrypted, which is erased once the reply is sent or given up. While
-- status is 'sending', next_attempt is when the sender's lease runs out. sid is the
-- provider's id for the sent message, stored as soon as the provider answers.
CREATE TABLE sms_outbox (
    id INTEGER PRIMARY KEY,
    subscriber_id INTEGER REFERENCES sms_subscribers (id) ON DELETE CASCADE,
    number_enc BLOB,
    alert_id INTEGER,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    last_code INTEGER,
    sid TEXT,
    created TEXT NOT NULL
);
CREATE INDEX sms_outbox_due ON sms_outbox (status, next_attempt);
CREATE INDEX sms_outbox_subscriber ON sms_outbox (subscriber_id);
CREATE INDEX sms_outbox_alert ON sms_outbox (alert_id);

-- One process sends at a time, so VIGIL_SMS_RATE holds for the deployment however many
-- workers serve it: the sender that holds this lease (renewed while it runs) sends.
CREATE TABLE sms_sender (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT,
    expires REAL NOT NULL DEFAULT 0
);
INSERT INTO sms_sender (id, owner, expires) VALUES (1, NULL, 0);
