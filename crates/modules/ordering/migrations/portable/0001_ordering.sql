-- Ordering: orders as they were placed (a snapshot of lines, prices, tax, shipping and addresses),
-- their timeline of state changes, returns, and the counter that numbers orders without gaps.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('order_number', 0);

CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    number              TEXT NOT NULL UNIQUE,   -- CO-000001
    customer_id         TEXT,
    checkout_key        TEXT,                   -- the Idempotency-Key of the checkout that placed it
    cart_id             TEXT,
    email               TEXT NOT NULL,
    channel             TEXT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('pending', 'stock_reserved', 'paid', 'confirmed',
                            'shipped', 'delivered', 'cancelled', 'partially_refunded', 'refunded')),
    prices_include_tax  BOOLEAN NOT NULL,
    shipping_method     TEXT NOT NULL,
    shipping_name       TEXT NOT NULL,
    shipping_carrier    TEXT NOT NULL,
    shipping_net        BIGINT NOT NULL,        -- minor units of `currency`, like every amount here
    shipping_tax        BIGINT NOT NULL,
    shipping_gross      BIGINT NOT NULL,
    shipping_address    TEXT NOT NULL,          -- JSON PostalAddress
    billing_address     TEXT NOT NULL,          -- JSON PostalAddress
    net                 BIGINT NOT NULL,
    tax                 BIGINT NOT NULL,
    gross               BIGINT NOT NULL,        -- what was charged
    refunded            BIGINT NOT NULL DEFAULT 0,
    refund_count        BIGINT NOT NULL DEFAULT 0,   -- numbers the refunds' idempotency keys
    reservation_id      TEXT,
    payment_id          TEXT,
    cancellation_reason TEXT,
    -- A checkout refused for missing stock or a declined payment: enough to answer a retry of the
    -- same checkout with the same error.
    failure_kind        TEXT CHECK (failure_kind IN ('insufficient_stock', 'payment_declined')),
    failure_field       TEXT,
    failure_message     TEXT,
    version             BIGINT NOT NULL,        -- bumped by every change, for optimistic concurrency
    placed_at           TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CHECK (refunded >= 0 AND refunded <= gross)
);
-- One order per checkout: a retried or concurrent duplicate checkout finds the first one.
CREATE UNIQUE INDEX orders_checkout_key ON orders (customer_id, checkout_key);
CREATE INDEX orders_by_customer ON orders (customer_id, placed_at);
CREATE INDEX orders_by_placed ON orders (placed_at);
CREATE INDEX orders_by_status ON orders (status, placed_at);

CREATE TABLE order_lines (
    order_id     TEXT NOT NULL REFERENCES orders (id),
    position     BIGINT NOT NULL,
    sku          TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    unit_price   BIGINT NOT NULL,
    tax_rate     TEXT NOT NULL,                 -- decimal (`0.2`), never a float
    net          BIGINT NOT NULL,
    tax          BIGINT NOT NULL,
    gross        BIGINT NOT NULL,
    weight_grams BIGINT,
    restocked    BIGINT NOT NULL DEFAULT 0,     -- units put back on the shelf by refunds
    PRIMARY KEY (order_id, position),
    CHECK (restocked >= 0 AND restocked <= quantity)
);

CREATE TABLE order_transitions (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    position    BIGINT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    cause       TEXT NOT NULL,
    actor       TEXT NOT NULL,                  -- customer:<id>, staff:<id>, app:<id>, system
    at          TEXT NOT NULL,
    PRIMARY KEY (order_id, position)
);

CREATE TABLE order_returns (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL REFERENCES orders (id),
    status     TEXT NOT NULL CHECK (status IN ('requested', 'received', 'refunded')),
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX order_returns_by_order ON order_returns (order_id, created_at);

CREATE TABLE return_lines (
    return_id TEXT NOT NULL REFERENCES order_returns (id),
    position  BIGINT NOT NULL,
    sku       TEXT NOT NULL,
    quantity  BIGINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (return_id, position)
);
