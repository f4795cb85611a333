-- Public content. Localised text lives in *_en / *_es columns; lists are JSON arrays.
CREATE TABLE listings (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    description_en TEXT NOT NULL DEFAULT '',
    description_es TEXT NOT NULL DEFAULT '',
    address TEXT,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    lat REAL,
    lon REAL,
    starts TEXT,
    ends TEXT,
    schedule TEXT,
    -- draft (from a suggestion), pending (waiting for a second organizer), active, ended
    status TEXT NOT NULL DEFAULT 'active',
    links TEXT NOT NULL DEFAULT '[]',
    needs TEXT NOT NULL DEFAULT '[]',
    facility TEXT,
    statement TEXT,
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX listings_status_state ON listings (status, state);

CREATE TABLE facilities (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT,
    city TEXT NOT NULL,
    state TEXT NOT NULL,
    lat REAL,
    lon REAL,
    operator TEXT,
    website TEXT,
    note_en TEXT,
    note_es TEXT,
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    organization TEXT NOT NULL,
    description_en TEXT NOT NULL DEFAULT '',
    description_es TEXT NOT NULL DEFAULT '',
    phones TEXT NOT NULL DEFAULT '[]',
    hours_en TEXT,
    hours_es TEXT,
    website TEXT,
    states TEXT NOT NULL DEFAULT '["*"]',
    languages TEXT NOT NULL DEFAULT '[]',
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL
);

CREATE TABLE rights (
    slug TEXT NOT NULL,
    lang TEXT NOT NULL CHECK (lang IN ('en', 'es')),
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    ord INTEGER NOT NULL DEFAULT 100,
    reviewed TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (slug, lang)
);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    publisher TEXT NOT NULL,
    date TEXT NOT NULL,
    url TEXT,
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL
);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    about_en TEXT NOT NULL DEFAULT '',
    about_es TEXT NOT NULL DEFAULT '',
    website TEXT,
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL
);

CREATE TABLE statements (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    date TEXT NOT NULL,
    summary_en TEXT NOT NULL,
    summary_es TEXT NOT NULL,
    attribution TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    verified TEXT NOT NULL
);

-- Organizers and what they do.
CREATE TABLE organizers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    -- bumped on password change so older sessions stop working
    session_epoch INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    organizer TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    entity_key TEXT,
    before TEXT,
    after TEXT
);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    url TEXT,
    states TEXT NOT NULL DEFAULT '[]',
    urgent INTEGER NOT NULL DEFAULT 0,
    expires TEXT,
    -- pending (needs approval), sent, retracted
    status TEXT NOT NULL DEFAULT 'pending',
    revision INTEGER NOT NULL DEFAULT 1,
    author TEXT NOT NULL,
    approver TEXT,
    created TEXT NOT NULL,
    sent TEXT,
    updated TEXT NOT NULL
);

-- Public suggestions wait here for moderation. Nothing about the sender but what they typed.
CREATE TABLE suggestions (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    city TEXT,
    state TEXT,
    contact TEXT,
    spam_score INTEGER NOT NULL DEFAULT 0,
    spam_reasons TEXT NOT NULL DEFAULT '[]',
    status TEXT NOT NULL DEFAULT 'waiting',
    reason TEXT,
    created TEXT NOT NULL
);

-- Push: subscriptions tied to no identity, and a durable outbox.
CREATE TABLE subscriptions (
    id INTEGER PRIMARY KEY,
    endpoint TEXT NOT NULL UNIQUE,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE subscription_topics (
    subscription_id INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    PRIMARY KEY (topic, subscription_id)
) WITHOUT ROWID;
CREATE INDEX subscription_topics_sub ON subscription_topics (subscription_id);

CREATE TABLE push_messages (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    topics TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    urgency TEXT NOT NULL DEFAULT 'normal',
    topic_header TEXT NOT NULL,
    -- filling (deliveries still being enqueued), ready
    state TEXT NOT NULL DEFAULT 'filling',
    created TEXT NOT NULL
);

CREATE TABLE deliveries (
    message_id INTEGER NOT NULL REFERENCES push_messages (id) ON DELETE CASCADE,
    subscription_id INTEGER NOT NULL,
    -- pending, sent, failed, gone
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_code INTEGER,
    PRIMARY KEY (message_id, subscription_id)
) WITHOUT ROWID;
CREATE INDEX deliveries_pending ON deliveries (status, next_attempt);

CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('revision', '1');
