-- Billing: tax rules, whether each channel's prices include tax, invoices with their lines and
-- tax summary, credit notes, and the gap-free numbering sequences of both documents.

CREATE TABLE tax_rules (
    id         TEXT PRIMARY KEY,
    country    TEXT NOT NULL,            -- ISO 3166-1 alpha-2
    region     TEXT,                     -- NULL: the whole country
    -- The region in upper case, '' for the country-wide rule: one rule per place, and a unique
    -- key that NULLs cannot slip through.
    region_key TEXT NOT NULL,
    rate       TEXT NOT NULL,            -- a decimal, `0.2` for 20 %
    label      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (country, region_key)
);

-- A channel without a row shows prices tax included.
CREATE TABLE channel_tax_modes (
    channel            TEXT PRIMARY KEY,
    prices_include_tax BOOLEAN NOT NULL,
    updated_at         TEXT NOT NULL
);

-- One counter per series (`INV`, `CN`) and year. A number is taken in the unit of work that
-- issues the document, so a rolled-back issue gives its number back: no gaps, no reuse.
CREATE TABLE number_sequences (
    series      TEXT NOT NULL,
    year        BIGINT NOT NULL,
    last_number BIGINT NOT NULL CHECK (last_number > 0),
    PRIMARY KEY (series, year)
);

-- One invoice per order. Issuing is the only change an invoice ever sees: a draft gets its
-- number and issue date; lines and totals are written once, with the draft.
CREATE TABLE invoices (
    id           TEXT PRIMARY KEY,
    order_id     TEXT NOT NULL UNIQUE,
    order_number TEXT NOT NULL,
    customer_id  TEXT,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'issued')),
    number       TEXT UNIQUE,
    seller       TEXT NOT NULL,          -- JSON: the shop as printed on the invoice
    buyer        TEXT NOT NULL,          -- JSON: name, email and billing address
    currency     TEXT NOT NULL,
    net          BIGINT NOT NULL,
    tax          BIGINT NOT NULL,
    gross        BIGINT NOT NULL,
    issued_at    TEXT,
    created_at   TEXT NOT NULL,
    CHECK (net + tax = gross),
    CHECK ((status = 'draft' AND number IS NULL AND issued_at IS NULL)
        OR (status = 'issued' AND number IS NOT NULL AND issued_at IS NOT NULL))
);
CREATE INDEX invoices_newest ON invoices (created_at, id);

CREATE TABLE invoice_lines (
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    position    BIGINT NOT NULL,
    description TEXT NOT NULL,
    sku         TEXT,                    -- NULL for the shipping line
    quantity    BIGINT NOT NULL CHECK (quantity > 0),
    rate        TEXT NOT NULL,
    net         BIGINT NOT NULL,
    tax         BIGINT NOT NULL,
    gross       BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position),
    CHECK (net + tax = gross)
);

CREATE TABLE invoice_tax_summary (
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    position   BIGINT NOT NULL,
    label      TEXT NOT NULL,
    rate       TEXT NOT NULL,
    base       BIGINT NOT NULL,
    tax        BIGINT NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- One credit note per refund, against the order's issued invoice.
CREATE TABLE credit_notes (
    id         TEXT PRIMARY KEY,
    number     TEXT NOT NULL UNIQUE,
    invoice_id TEXT NOT NULL REFERENCES invoices (id),
    order_id   TEXT NOT NULL,
    refund_id  TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL,
    currency   TEXT NOT NULL,
    gross      BIGINT NOT NULL CHECK (gross > 0),
    tax        BIGINT NOT NULL,
    reason     TEXT,
    issued_at  TEXT NOT NULL
);
CREATE INDEX credit_notes_by_order ON credit_notes (order_id, issued_at);
CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id);
