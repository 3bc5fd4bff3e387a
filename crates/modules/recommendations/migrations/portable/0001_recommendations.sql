-- Recommendations: what products were bought together in confirmed orders. A read model fed by
-- ordering's events (or rebuilt from ordering); no other module's tables are referenced.

-- Every order the module has heard of. `state`:
--   counted  its products are in the counts below;
--   removed  cancelled or fully refunded: not counted, and never counted again (a late or
--            redelivered `order.checkout.completed` changes nothing);
--   unseen   a refund arrived before the order itself: its amount waits here.
-- A counted order is never counted twice, whatever event (or rebuild) brings it again.
CREATE TABLE recommendations_orders (
    order_id   TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    currency   TEXT,                -- NULL while unseen
    gross      BIGINT,              -- what the customer paid, minor units; NULL while unseen
    refunded   BIGINT NOT NULL,     -- refunded so far, minor units
    updated_at TEXT NOT NULL
);

-- The distinct products a counted order counted for, to take it back out exactly. `paired`: one
-- of the order's first 50 distinct products, the only ones that make pairs.
CREATE TABLE recommendations_order_products (
    order_id   TEXT NOT NULL,
    product_id TEXT NOT NULL,
    paired     INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- Per product: the counted orders holding it, and its name on the latest order line seen.
CREATE TABLE recommendations_products (
    product_id TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    named_at   TEXT NOT NULL,       -- when the order that named it was placed (RFC 3339, UTC)
    orders     BIGINT NOT NULL
);

-- Counted orders holding both products. Each pair is stored in both directions, so that the
-- products bought with one are one range of the primary key (reads are the hot path: every
-- product page and cart asks; writes happen once per order).
CREATE TABLE recommendations_pairs (
    product_id TEXT NOT NULL,
    other_id   TEXT NOT NULL,
    orders     BIGINT NOT NULL,
    PRIMARY KEY (product_id, other_id)
);

-- The number of counted orders with at least one product. Every writer updates this row first,
-- which serialises the module's writers (a rebuild and the consumer never interleave).
CREATE TABLE recommendations_totals (
    id     INTEGER PRIMARY KEY,
    orders BIGINT NOT NULL
);
INSERT INTO recommendations_totals (id, orders) VALUES (1, 0);
