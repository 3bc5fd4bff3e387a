-- Notification: the mailbox of every message written, customers' preferences, and what it knows
-- of orders so that shipping events (which carry no email address) can be addressed.

-- Every message, sent or not: staff read it here whatever happened to the SMTP delivery.
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,   -- UUID v7, so ordered by creation
    recipient   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    template    TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('transactional', 'marketing', 'merchant')),
    delivery    TEXT NOT NULL CHECK (delivery IN ('mailbox', 'smtp', 'failed', 'suppressed')),
    error       TEXT,
    event_id    TEXT NOT NULL,      -- the event that caused it
    customer_id TEXT,
    created_at  TEXT NOT NULL,
    -- One message per template and event: a second line of defence behind the inbox.
    UNIQUE (event_id, template)
);
CREATE INDEX messages_by_time ON messages (created_at, id);
CREATE INDEX messages_by_recipient ON messages (recipient, created_at);
CREATE INDEX messages_by_template ON messages (template, created_at);

-- A customer without a row has not opted out.
CREATE TABLE preferences (
    customer_id       TEXT PRIMARY KEY,
    marketing_opt_out BOOLEAN NOT NULL,
    updated_at        TEXT NOT NULL
);

-- Orders learnt from ordering's events: only what addressing a message needs.
CREATE TABLE orders (
    order_id    TEXT PRIMARY KEY,
    number      TEXT NOT NULL,
    email       TEXT NOT NULL,
    customer_id TEXT,
    updated_at  TEXT NOT NULL
);
