-- Webhooks: the URLs third-party applications subscribed to events, one delivery per event and
-- matching subscription, and every attempt at POSTing it.

CREATE TABLE subscriptions (
    id                         TEXT PRIMARY KEY,   -- UUID v7, so ordered by creation
    url                        TEXT NOT NULL,
    patterns                   TEXT NOT NULL,      -- JSON array of event type patterns
    description                TEXT NOT NULL,
    enabled                    BOOLEAN NOT NULL,
    -- Needed in clear to sign (HMAC); never shown again after creation or rotation.
    secret                     TEXT NOT NULL,
    -- The secret before the last rotation: it still signs, as a second v1, until it expires.
    previous_secret            TEXT,
    previous_secret_expires_at TEXT,
    consecutive_failures       BIGINT NOT NULL,
    failing_since              TEXT,
    disabled_reason            TEXT,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL
);

CREATE TABLE deliveries (
    id                 TEXT PRIMARY KEY,     -- sent as Comptoir-Webhook-Id
    subscription_id    TEXT NOT NULL,
    event_id           TEXT NOT NULL,
    event_type         TEXT NOT NULL,
    payload            TEXT NOT NULL,        -- the exact body POSTed (and signed)
    status             TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts           BIGINT NOT NULL,      -- every attempt, manual ones included
    scheduled_attempts BIGINT NOT NULL,      -- automatic attempts: where the retry schedule stands
    next_attempt_at    TEXT,                 -- set while pending
    -- A dispatcher that claims the delivery holds it until then: no other one sends it meanwhile.
    lease_token        TEXT,
    leased_until       TEXT,
    last_response_code BIGINT,
    last_error         TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    delivered_at       TEXT,
    -- One delivery per event and subscription: a second line of defence behind the inbox.
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_subscription ON deliveries (subscription_id, created_at, id);

CREATE TABLE delivery_attempts (
    delivery_id   TEXT NOT NULL,
    number        BIGINT NOT NULL,     -- 1 for the first attempt
    manual        BOOLEAN NOT NULL,
    attempted_at  TEXT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    response_code BIGINT,
    response_body TEXT,                -- at most 1 KiB of it
    error         TEXT,
    succeeded     BOOLEAN NOT NULL,
    PRIMARY KEY (delivery_id, number)
);
