-- Payment: one row per charge attempt, the refunds taken from it, and the provider webhook events
-- already processed. Card tokens are never stored: only the provider's reference for the charge.

CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,
    order_id           TEXT NOT NULL,
    customer_id        TEXT,
    provider           TEXT NOT NULL,
    -- The provider's reference for the charge; NULL when it was declined.
    provider_reference TEXT,
    status             TEXT NOT NULL CHECK (status IN
                           ('authorized', 'captured', 'declined', 'voided', 'partially_refunded', 'refunded')),
    currency           TEXT NOT NULL,
    amount             BIGINT NOT NULL CHECK (amount > 0),
    captured           BIGINT NOT NULL DEFAULT 0,
    refunded           BIGINT NOT NULL DEFAULT 0,
    decline_reason     TEXT,
    -- A charge retried with the same key finds this row instead of charging twice.
    idempotency_key    TEXT NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    -- The service checks every refund; these are the last line of defence against refunding more
    -- than was captured.
    CHECK (captured >= 0 AND captured <= amount),
    CHECK (refunded >= 0 AND refunded <= captured)
);
CREATE INDEX payments_by_order ON payments (order_id, created_at);
CREATE INDEX payments_by_time ON payments (created_at, id);
-- Webhooks name the charge by the provider's reference.
CREATE INDEX payments_by_reference ON payments (provider, provider_reference);

CREATE TABLE refunds (
    id                 TEXT PRIMARY KEY,
    payment_id         TEXT NOT NULL REFERENCES payments (id),
    currency           TEXT NOT NULL,
    amount             BIGINT NOT NULL CHECK (amount > 0),
    reason             TEXT,
    -- The caller's key for refunds asked of Comptoir; NULL for refunds the provider reported.
    idempotency_key    TEXT UNIQUE,
    -- The provider's reference for the refund, when it gave one.
    provider_reference TEXT,
    created_at         TEXT NOT NULL
);
CREATE INDEX refunds_by_payment ON refunds (payment_id, created_at);

-- Provider webhook events already handled: a redelivered event changes nothing.
CREATE TABLE webhook_events (
    provider    TEXT NOT NULL,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (provider, event_id)
);
