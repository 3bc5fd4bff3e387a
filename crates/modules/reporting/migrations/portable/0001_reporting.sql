-- Reporting: sales, refunds, stock and carts as the reports count them. A read model fed by other
-- modules' events (or rebuilt from their ports); no other module's tables are referenced. Days
-- are UTC days as `YYYY-MM-DD` text; amounts are minor units of the row's currency.

-- Every online order (id = the order's) and till sale (id = the sale's) heard of. `state`:
--   placed     an order placed but not confirmed (yet): known for its channel, not a sale;
--   counted    a sale: in the figures on `day`;
--   cancelled  an order cancelled: never a sale again, whatever event comes late.
-- The columns from `channel` to `charged` are NULL while only a cancellation or a refund was
-- heard of (the order's own event is still on its way).
CREATE TABLE reporting_sales (
    id         TEXT PRIMARY KEY,
    source     TEXT NOT NULL,      -- order | till
    state      TEXT NOT NULL,
    channel    TEXT,
    currency   TEXT,
    day        TEXT,               -- the UTC day it was placed or rung up
    placed_at  TEXT,
    units      BIGINT,
    net        BIGINT,             -- the goods, before tax
    tax        BIGINT,             -- the goods' tax
    gross      BIGINT,             -- the goods, tax included
    shipping   BIGINT,             -- shipping charged, tax included
    charged    BIGINT,             -- what the customer paid in all: refunds never exceed it
    updated_at TEXT NOT NULL
);
CREATE INDEX reporting_sales_by_day ON reporting_sales (day, state);

-- The products of each sale, one row per product (its SKUs added up). Product, category and
-- seller rows are counted from here, joined with the sale for its day, channel and state.
CREATE TABLE reporting_sale_lines (
    sale_id      TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,    -- as the sale named it: the label of a product catalog never told of
    units        BIGINT NOT NULL,
    net          BIGINT NOT NULL,
    tax          BIGINT NOT NULL,
    gross        BIGINT NOT NULL,
    PRIMARY KEY (sale_id, product_id)
);

-- Money given back: online refunds (id = the event's, or `<order>#<n>` when rebuilt) and till
-- returns (id = the return's), on the day it went back.
CREATE TABLE reporting_refunds (
    id       TEXT PRIMARY KEY,
    sale_id  TEXT NOT NULL,
    source   TEXT NOT NULL,        -- order | till
    day      TEXT NOT NULL,
    channel  TEXT,                 -- NULL until the order is heard of
    currency TEXT NOT NULL,
    amount   BIGINT NOT NULL
);
CREATE INDEX reporting_refunds_by_day ON reporting_refunds (day);
CREATE INDEX reporting_refunds_by_sale ON reporting_refunds (sale_id);

-- Products as catalog last described them. A deleted product stays (its name labels its past
-- sales) and loses its prices.
CREATE TABLE reporting_products (
    product_id  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    seller_id   TEXT NOT NULL,
    category_id TEXT,              -- its first category; NULL when it has none
    deleted     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL      -- catalog's: an older reading never replaces a newer one
);

-- Each SKU's price per channel, as catalog shows it (tax included or not, per the channel).
CREATE TABLE reporting_prices (
    sku        TEXT NOT NULL,
    channel    TEXT NOT NULL,
    product_id TEXT NOT NULL,
    amount     BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    PRIMARY KEY (sku, channel)
);
CREATE INDEX reporting_prices_by_product ON reporting_prices (product_id);
CREATE INDEX reporting_prices_by_channel ON reporting_prices (channel, currency);

CREATE TABLE reporting_categories (
    category_id TEXT PRIMARY KEY,
    parent_id   TEXT,
    name        TEXT NOT NULL
);

CREATE TABLE reporting_sellers (
    seller_id TEXT PRIMARY KEY,
    name      TEXT NOT NULL
);

-- Stock locations heard of (created, or named by a stock change).
CREATE TABLE reporting_locations (
    code TEXT PRIMARY KEY
);

-- Units on hand per SKU and location, as inventory said at `as_of` (the event's time): older
-- news than what is stored changes nothing.
CREATE TABLE reporting_stock (
    sku      TEXT NOT NULL,
    location TEXT NOT NULL,
    on_hand  BIGINT NOT NULL,
    as_of    TEXT NOT NULL,
    PRIMARY KEY (sku, location)
);

-- Carts started, on the UTC day and in the channel of their creation. `merged`: a guest's cart
-- merged into a customer's (not counted: the customer's is); `ordered`: checked out into a
-- confirmed order. `day` and `channel` are NULL while the cart's own creation event is on its way.
CREATE TABLE reporting_carts (
    cart_id TEXT PRIMARY KEY,
    channel TEXT,
    day     TEXT,
    merged  INTEGER NOT NULL,
    ordered INTEGER NOT NULL
);
CREATE INDEX reporting_carts_by_day ON reporting_carts (day);

-- One row every writer of the sales, refunds and products updates first: writers (the consumers,
-- a rebuild) never interleave, so a rebuild never loses what an event brought meanwhile.
CREATE TABLE reporting_writers (
    id     INTEGER PRIMARY KEY,
    writes BIGINT NOT NULL
);
INSERT INTO reporting_writers (id, writes) VALUES (1, 0);
