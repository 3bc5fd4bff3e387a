-- Point of sale: the stores set up for selling, the sales rung up at their tills (from the first
-- attempt to the completed sale), their lines, and the returns taken back. No other module's
-- tables are referenced: a sale keeps a snapshot of what was sold, at what price and tax.
-- Portable SQL: ids are UUID text, timestamps fixed-width RFC 3339 text, money BIGINT minor units
-- of the row's currency.

-- A store is an inventory location of kind `store`, by its code.
CREATE TABLE stores (
    location    TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    address     TEXT NOT NULL,                  -- JSON PostalAddress
    channel     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    -- The last sale number given at this store: taken in the unit of work that completes a sale,
    -- so numbers are unique per store (and only completed sales take one).
    last_number BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Every attempt to ring up a sale, by its idempotency key. Only completed ones (and those returned
-- since) are sales. `pending` (recorded) and `reserved` (units held) are attempts in flight: a
-- retry with the key resumes them. `abandoning`: found stale, what it took is being given back.
-- `failed` ones keep why, so that a retry gets the same answer.
CREATE TABLE sales (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    -- What was asked (location, SKUs and quantities, tender): a key reused for another sale is
    -- refused rather than answered with this one.
    fingerprint     TEXT NOT NULL,
    number          TEXT UNIQUE,                -- PARIS-STORE-000042, given on completion
    location        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    currency        TEXT NOT NULL,
    cashier_id      TEXT NOT NULL,
    cashier_name    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'reserved', 'abandoning', 'completed',
                        'partly_returned', 'returned', 'failed')),
    tender_method   TEXT NOT NULL CHECK (tender_method IN ('cash', 'card')),
    tendered        BIGINT,                     -- cash only
    change_given    BIGINT,                     -- cash only
    net             BIGINT NOT NULL,
    tax             BIGINT NOT NULL,
    gross           BIGINT NOT NULL,
    refunded        BIGINT NOT NULL DEFAULT 0,
    reservation_id  TEXT,
    payment_id      TEXT,
    failure_kind    TEXT CHECK (failure_kind IN ('insufficient_stock', 'payment_declined', 'invalid', 'abandoned')),
    failure_field   TEXT,
    failure_message TEXT,
    created_at      TEXT NOT NULL,
    -- Touched by every step: an attempt untouched for longer than a reservation lives is stale.
    updated_at      TEXT NOT NULL,
    completed_at    TEXT,
    CHECK (refunded >= 0 AND refunded <= gross)
);
CREATE INDEX sales_by_completion ON sales (completed_at, id);
CREATE INDEX sales_by_location ON sales (location, completed_at);
CREATE INDEX sales_in_flight ON sales (status, updated_at);

-- One line per SKU of a sale, in the order first scanned.
CREATE TABLE sale_lines (
    sale_id      TEXT NOT NULL REFERENCES sales (id),
    position     BIGINT NOT NULL,
    sku          TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    unit_price   BIGINT NOT NULL,
    tax_rate     TEXT NOT NULL,                 -- decimal, "0.20"
    net          BIGINT NOT NULL,
    tax          BIGINT NOT NULL,
    gross        BIGINT NOT NULL,
    -- Units brought back by completed returns.
    returned     BIGINT NOT NULL DEFAULT 0,
    -- Units and amount held by returns, completed or in flight: what the next return may take and
    -- how much of the line's gross is already promised back.
    taken_units  BIGINT NOT NULL DEFAULT 0,
    taken_amount BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (sale_id, position),
    CHECK (returned >= 0 AND returned <= taken_units AND taken_units <= quantity)
);

-- Returns taken at a till, by their idempotency key. `pending`: recorded, its units held on the
-- sale's lines, refund and restock under way (a retry with the key resumes it).
CREATE TABLE store_returns (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    -- What was asked (sale, SKUs and quantities, restock): a key reused for another return is
    -- refused rather than answered with this one.
    fingerprint     TEXT NOT NULL,
    sale_id         TEXT NOT NULL REFERENCES sales (id),
    cashier_id      TEXT NOT NULL,
    cashier_name    TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    amount          BIGINT NOT NULL CHECK (amount >= 0),
    reason          TEXT NOT NULL,
    restock         BOOLEAN NOT NULL,
    created_at      TEXT NOT NULL,
    completed_at    TEXT
);
CREATE INDEX store_returns_by_sale ON store_returns (sale_id, created_at);

CREATE TABLE return_lines (
    return_id     TEXT NOT NULL REFERENCES store_returns (id),
    position      BIGINT NOT NULL,
    sale_position BIGINT NOT NULL,              -- the sale line the units come from
    sku           TEXT NOT NULL,
    product_id    TEXT NOT NULL,
    quantity      BIGINT NOT NULL CHECK (quantity > 0),
    amount        BIGINT NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (return_id, position)
);
