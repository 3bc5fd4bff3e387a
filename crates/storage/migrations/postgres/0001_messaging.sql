-- Messaging tables present in every module database: the transactional outbox of events this
-- module emits, the inbox of events its consumers have handled, and the events they gave up on.
CREATE TABLE outbox (
    id           TEXT PRIMARY KEY,   -- the event id (UUID v7, so ordered by creation)
    event_type   TEXT NOT NULL,
    envelope     TEXT NOT NULL,      -- the whole envelope as JSON
    created_at   TEXT NOT NULL,
    published_at TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id         TEXT PRIMARY KEY,
    consumer   TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    event_type TEXT NOT NULL,
    envelope   TEXT NOT NULL,
    error      TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    failed_at  TEXT NOT NULL
);
CREATE INDEX dead_letters_by_consumer ON dead_letters (consumer, failed_at);
