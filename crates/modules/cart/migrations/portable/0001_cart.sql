-- Carts and their lines. A cart is anonymous (reached with a token, of which only the SHA-256 hash
-- is kept) or belongs to a customer; a customer has at most one active cart per channel.
CREATE TABLE carts (
    id          TEXT PRIMARY KEY,
    customer_id TEXT,
    token_hash  TEXT,                 -- hex SHA-256 of the anonymous cart's token
    channel     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,        -- active | merged | checked_out
    merged_into TEXT,                 -- the customer cart an anonymous cart was merged into
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX carts_one_active_per_customer_channel
    ON carts (customer_id, channel) WHERE status = 'active' AND customer_id IS NOT NULL;

-- Each line keeps a snapshot of the product and of the unit price it was added at.
CREATE TABLE cart_lines (
    cart_id      TEXT NOT NULL REFERENCES carts (id),
    sku          TEXT NOT NULL,
    product_id   TEXT NOT NULL,
    product_name TEXT NOT NULL,
    quantity     BIGINT NOT NULL,
    unit_price   BIGINT NOT NULL,     -- minor units
    currency     TEXT NOT NULL,
    position     BIGINT NOT NULL,     -- order in which lines were added
    PRIMARY KEY (cart_id, sku)
);
